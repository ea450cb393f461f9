"""The c00 checkers accept the reference answers and reject plausible wrong ones."""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from course_lib.measure import work
from course_lib.measure.amdahl import amdahl_speedup, fit_serial_fraction
from course_lib.testing import CheckTimeout, call_with_timeout, check_close, check_raises
from course_lib.testing.exercises import c00_measure as m


def test_call_with_timeout_returns_raises_and_gives_up():
    assert call_with_timeout(lambda x: x + 1, 1, timeout=1) == 2
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda: 1 / 0, timeout=1)
    start = time.perf_counter()
    with pytest.raises(CheckTimeout, match="did not return within 0.2 s"):
        call_with_timeout(time.sleep, 5, timeout=0.2)
    assert time.perf_counter() - start < 2


def test_check_close_and_raises_messages():
    check_close(1.0, 1.0 + 1e-12)
    with pytest.raises(AssertionError, match="expected 2.0"):
        check_close(1.0, 2.0)
    with pytest.raises(AssertionError, match="should be a number"):
        check_close("x", 2.0)
    check_raises(ValueError, int, "x")
    with pytest.raises(AssertionError, match="returned 3"):
        check_raises(ValueError, int, "3")


def good_amdahl(s, n):
    if not 0 <= s <= 1 or n < 1:
        raise ValueError("bad")
    return 1.0 / (s + (1.0 - s) / n)


def test_amdahl_checker():
    m.check_amdahl(good_amdahl)
    with pytest.raises(AssertionError):
        m.check_amdahl(lambda s, n: 1 / (s + (1 - s) * n))  # classic slip
    with pytest.raises(AssertionError, match="ValueError"):
        m.check_amdahl(lambda s, n: good_amdahl(min(max(s, 0), 1), max(n, 1)))  # clamps instead of raising
    with pytest.raises(AssertionError, match="write it yourself"):
        m.check_amdahl(lambda s, n: amdahl_speedup(s, n))  # course_lib's, not the learner's


def test_serial_fraction_checker():
    def good(threads, speedups):
        if len(threads) != len(speedups):
            raise ValueError
        return fit_serial_fraction(threads, speedups)

    def mean_of_inversions(threads, speedups):  # a plausible, different estimator
        if len(threads) != len(speedups):
            raise ValueError
        n, sp = np.asarray(threads[1:], float), np.asarray(speedups[1:], float)
        return float(np.mean((n / sp - 1) / (n - 1)))

    # `good` stands on course_lib's fit: call the checker's body, past the delegation check
    m.check_serial_fraction.__wrapped__(good)
    with pytest.raises(AssertionError, match="write it yourself"):
        m.check_serial_fraction(good)
    with pytest.raises(AssertionError):
        m.check_serial_fraction(mean_of_inversions)


def median_after_warmup(fn, repeats):
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return float(np.median(out))


def naive_total(fn, repeats):
    t = time.perf_counter()
    for _ in range(repeats + 1):
        fn()
    return (time.perf_counter() - t) / (repeats + 1)


def mean_after_warmup(fn, repeats):
    fn()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats


def test_robust_time_checker_catches_the_traps():
    m.check_robust_time(median_after_warmup)
    with pytest.raises(AssertionError, match="too slow"):
        m.check_robust_time(naive_total)
    with pytest.raises(AssertionError, match="too slow"):
        m.check_robust_time(mean_after_warmup)
    with pytest.raises(AssertionError, match="warm-up"):
        m.check_robust_time(lambda fn, r: [fn() for _ in range(r)] and 2e-4)


def test_spin_chunks():
    assert m.spin_chunks(3, 10) == [4, 3, 3]
    assert m.spin_chunks(4, 3) == [1, 1, 1, 0]


def reference_parallel_spin(threads, total, seed=1):
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(work.spin, k, seed + i) for i, k in enumerate(m.spin_chunks(threads, total))]
        return [f.result() for f in futures]


def serialised_parallel_spin(threads, total, seed=1):
    with ThreadPoolExecutor(threads) as pool:
        return [pool.submit(work.spin, k, seed + i).result() for i, k in enumerate(m.spin_chunks(threads, total))]


def sequential_spin(threads, total, seed=1):
    return [work.spin(k, seed + i) for i, k in enumerate(m.spin_chunks(threads, total))]


def test_parallel_spin_checker_does_not_depend_on_load(capsys):
    """Even with the other cores saturated, correctly submitted chunks pass the check."""
    import threading as th

    stop = th.Event()
    spin = work.spin  # bound now: the check swaps work.spin for its recorder, and must not see these calls
    hogs = [th.Thread(target=lambda: [spin(50_000_000) for _ in iter(stop.is_set, True)]) for _ in range(3)]
    for h in hogs:
        h.start()
    try:
        for _ in range(3):
            m.check_parallel_spin(reference_parallel_spin, total=400_000)
    finally:
        stop.set()
        for h in hogs:
            h.join(30)


def test_parallel_spin_checker(capsys):
    m.check_parallel_spin(reference_parallel_spin, total=4_000_000)
    assert "at the same time" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="one after the other"):
        m.check_parallel_spin(serialised_parallel_spin, total=4_000_000, patience=0.5)
    with pytest.raises(AssertionError, match="one after the other"):
        m.check_parallel_spin(sequential_spin, total=4_000_000, patience=0.5)
    with pytest.raises(AssertionError, match="expected"):
        m.check_parallel_spin(lambda t, n, s=1: sequential_spin(t, n, s)[::-1], total=1000)
