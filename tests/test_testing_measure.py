"""The c00 checkers accept the reference answers and reject plausible wrong ones."""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from course_lib.measure import work
from course_lib.measure.amdahl import amdahl_speedup, fit_serial_fraction
from course_lib.testing import CheckTimeout, call_with_timeout, check_close, check_raises
from course_lib.testing.exercises import c00_measure as m
from contract import case, right, wrong


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


AMDAHL = "c00_measure:test_amdahl"
SERIAL = "c00_measure:test_serial_fraction"
ROBUST = "c00_measure:test_robust_time"
SPIN = "c00_measure:test_parallel_spin"


def good_amdahl(s, n):
    if not 0 <= s <= 1 or n < 1:
        raise ValueError("bad")
    return 1.0 / (s + (1.0 - s) / n)


def amdahl_classic_slip(s, n):
    if not 0 <= s <= 1 or n < 1:
        raise ValueError("bad")
    return 1 / (s + (1 - s) * n)


def amdahl_clamps(s, n):
    return good_amdahl(min(max(s, 0), 1), max(n, 1))


@right(AMDAHL)
def test_amdahl_accepts_the_textbook_form():
    m.check_amdahl(good_amdahl)


@pytest.mark.parametrize("answer, match", [
    case(amdahl_classic_slip, "expected", mark=wrong(AMDAHL, "formula"), id="multiplies by n"),
    case(amdahl_clamps, "ValueError", mark=wrong(AMDAHL, "bad input accepted"), id="clamps bad input"),
    case(lambda s, n: amdahl_speedup(s, n), "write it yourself", mark=wrong(AMDAHL, "delegation"),
         id="calls course_lib"),
])
def test_amdahl_rejects(answer, match):
    with pytest.raises(AssertionError, match=match):
        m.check_amdahl(answer)


def _checked(threads, speedups):
    if len(threads) != len(speedups):
        raise ValueError("each thread count needs its speedup")
    return np.asarray(threads, float), np.asarray(speedups, float)


def serial_by_loop(threads, speedups):
    """Least squares written out: s = sum(x*y) / sum(x*x) with x = 1 - 1/n, y = 1/S - 1/n."""
    threads, speedups = _checked(threads, speedups)
    sxy = sxx = 0.0
    for n, sp in zip(threads, speedups):
        x, y = 1 - 1 / n, 1 / sp - 1 / n
        sxy += x * y
        sxx += x * x
    return min(max(sxy / sxx, 0.0), 1.0)


def serial_by_lstsq(threads, speedups):
    """The same fit through numpy's solver, on the points with more than one thread."""
    n, sp = _checked(threads, speedups)
    keep = n > 1
    x = (1 - 1 / n[keep])[:, None]
    (s,), *_ = np.linalg.lstsq(x, 1 / sp[keep] - 1 / n[keep], rcond=None)
    return float(np.clip(s, 0, 1))


def serial_mean_of_inversions(threads, speedups):
    """A plausible different estimator: invert Amdahl point by point and average."""
    n, sp = _checked(threads, speedups)
    n, sp = n[1:], sp[1:]
    return float(np.mean((n / sp - 1) / (n - 1)))


def serial_no_clip(threads, speedups):
    """The right fit, but a better-than-linear run gets a negative serial fraction."""
    n, sp = _checked(threads, speedups)
    x, y = 1 - 1 / n, 1 / sp - 1 / n
    return float(x @ y / (x @ x))


def serial_no_length_check(threads, speedups):
    """The right fit, but mismatched lists are silently truncated by zip."""
    pairs = list(zip(threads, speedups))
    return serial_by_loop([p[0] for p in pairs], [p[1] for p in pairs])


def serial_delegated(threads, speedups):
    _checked(threads, speedups)
    return fit_serial_fraction(threads, speedups)


@pytest.mark.parametrize("answer", [case(serial_by_loop, mark=right(SERIAL, "loop")),
                                    case(serial_by_lstsq, mark=right(SERIAL, "lstsq"))])
def test_serial_fraction_accepts(answer):
    m.check_serial_fraction(answer)


@pytest.mark.parametrize("answer, match", [
    case(serial_mean_of_inversions, "expected", mark=wrong(SERIAL, "estimator")),
    case(serial_no_clip, "clip to 0", mark=wrong(SERIAL, "no clip")),
    case(serial_no_length_check, "ValueError", mark=wrong(SERIAL, "bad input accepted")),
    case(serial_delegated, "write it yourself", mark=wrong(SERIAL, "delegation")),
])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the truncating answer divides 0 by 0
def test_serial_fraction_rejects(answer, match):
    with pytest.raises(AssertionError, match=match):
        m.check_serial_fraction(answer)


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


def constant_time(fn, repeats):
    for _ in range(repeats + 1):
        fn()
    return 2e-4


@right(ROBUST, "median")
def test_robust_time_accepts_the_median_after_a_warm_up():
    m.check_robust_time(median_after_warmup)


@pytest.mark.parametrize("answer, match", [
    case(naive_total, "too slow", mark=wrong(ROBUST, "times the warm-up")),
    case(mean_after_warmup, "too slow", mark=wrong(ROBUST, "mean pulled by spikes")),
    case(constant_time, "less than half|too slow", mark=wrong(ROBUST, "constant")),
    case(lambda fn, r: [fn() for _ in range(r)] and 2e-4, "warm-up", mark=wrong(ROBUST, "no warm-up call")),
])
def test_robust_time_rejects(answer, match):
    with pytest.raises(AssertionError, match=match):
        m.check_robust_time(answer)


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


def threads_parallel_spin(threads, total, seed=1):
    """Plain threads writing into their own slots, joined at the end."""
    import threading as th

    out = [None] * threads
    def run(i, k):
        out[i] = work.spin(k, seed + i)
    workers = [th.Thread(target=run, args=(i, k)) for i, k in enumerate(m.spin_chunks(threads, total))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return out


def map_parallel_spin(threads, total, seed=1):
    """Executor.map over the chunks and their seeds."""
    chunks = m.spin_chunks(threads, total)
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work.spin, chunks, [seed + i for i in range(threads)]))


@pytest.mark.parametrize("answer", [case(reference_parallel_spin, mark=right(SPIN, "submit then wait")),
                                    case(threads_parallel_spin, mark=right(SPIN, "threads")),
                                    case(map_parallel_spin, mark=right(SPIN, "map"))])
def test_parallel_spin_accepts(answer, capsys):
    m.check_parallel_spin(answer, total=4_000_000)
    assert "at the same time" in capsys.readouterr().out


@pytest.mark.parametrize("answer, total, match", [
    case(serialised_parallel_spin, 4_000_000, "one after the other", mark=wrong(SPIN, "result after each submit")),
    case(sequential_spin, 4_000_000, "one after the other", mark=wrong(SPIN, "serial")),
    case(lambda t, n, s=1: sequential_spin(t, n, s)[::-1], 1000, "expected", mark=wrong(SPIN, "chunk order")),
])
def test_parallel_spin_rejects(answer, total, match):
    with pytest.raises(AssertionError, match=match):
        m.check_parallel_spin(answer, total=total, patience=0.5)
