"""Tests for course_lib.testing.exercises.c03_atomics: each checker passes a right answer and fails the
plausible wrong ones (racy, serial, lucky, too-weak orderings, wrong predictions)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from numba import njit, prange

from course_lib.atomics import (Ordering, compare_exchange, compare_exchange_weak, fence, fetch_add,
                                fetch_max, load, spin_loop, store)
from course_lib.atomics.litmus import allowed
from course_lib.measure.machine import usable_cores
from course_lib.testing.exercises.c03_atomics import (check_fetch_max, check_one_shot,
                                                      check_parallel_histogram, check_prediction)


# ----------------------------------------------------------------------------- histogram
@njit(parallel=True)
def hist_atomic(data, bins):
    for i in prange(data.size):
        fetch_add(bins, data[i], 1, Ordering.Relaxed)


@njit(parallel=True)
def hist_racy(data, bins):
    for i in prange(data.size):
        bins[data[i]] += 1


@njit
def hist_serial_not_parallel(data, bins):
    for i in range(data.size):
        bins[data[i]] += 1


@njit(parallel=True)
def hist_serial_in_parallel_jit(data, bins):
    for i in range(data.size):  # parallel=True, but no prange: one thread
        fetch_add(bins, data[i], 1, Ordering.Relaxed)


@njit(parallel=True)
def hist_folded(data, bins):
    # Correct counts with a parallel loop, but no atomic at all: a per-thread-free trick.
    counts = np.bincount(data, minlength=bins.size)
    for b in prange(bins.size):
        bins[b] += counts[b]


@njit(parallel=True)
def hist_bincount_then_fetch_add(data, bins):
    # Both structural checks once passed: a parallel loop, and an atomic add in it.
    counts = np.bincount(data, minlength=bins.size)
    for b in prange(bins.size):
        fetch_add(bins, b, counts[b], Ordering.Relaxed)


def test_histogram_accepts_atomic():
    check_parallel_histogram(hist_atomic)


@pytest.mark.parametrize("wrong,message", [
    (hist_serial_not_parallel, "parallel=True"),
    (hist_serial_in_parallel_jit, "no parallel loop"),
    (hist_folded, "bincount"),
    (hist_bincount_then_fetch_add, "bincount"),
])
def test_histogram_rejects_serial_and_folded(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_parallel_histogram(wrong)


def test_histogram_rejects_racy():
    # Usually lost updates; when the threads happen not to overlap (one core, or the other core
    # busy) the counts may be lucky, and then the check of the compiled code fails it.
    with pytest.raises(AssertionError, match="lost|no atomic add"):
        check_parallel_histogram(hist_racy)


def _run_in_subprocess(code: str, threads: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.timeout(300)
def test_histogram_accepts_atomic_with_one_numba_thread():
    # NUMBA_NUM_THREADS=1 is the machine's setting, not the learner's mistake: a correct answer
    # passes, the note goes to stdout and nothing to stderr (stderr zeroes a graded cell).
    out = _run_in_subprocess("""
        import numba
        from numba import njit, prange
        from course_lib.atomics import Ordering, fetch_add
        from course_lib.testing.exercises.c03_atomics import check_parallel_histogram

        @njit(parallel=True)
        def histogram(data, bins):
            for i in prange(data.size):
                fetch_add(bins, data[i], 1, Ordering.Relaxed)

        numba.set_num_threads(1)  # and a learner's own setting on the main thread is no fault
        check_parallel_histogram(histogram)
        print("PASSED")
    """, threads=1)
    assert out.returncode == 0 and "PASSED" in out.stdout, out.stdout + out.stderr
    assert "1 thread" in out.stdout
    assert out.stderr == "", out.stderr


def test_histogram_rejects_non_numba():
    with pytest.raises(AssertionError, match="numba function"):
        check_parallel_histogram(lambda data, bins: None)


# ----------------------------------------------------------------------------- fetch_max
@njit
def max_cas(cells, i, value):
    seen = load(cells, i, Ordering.Relaxed)
    while seen < value:
        ok, seen = compare_exchange_weak(cells, i, seen, value, Ordering.AcqRel,
                                         Ordering.Relaxed)
        if ok:
            break
    return seen


@njit
def max_ready_made(cells, i, value):
    return fetch_max(cells, i, value, Ordering.AcqRel)


@njit
def max_racy(cells, i, value):
    seen = cells[i]
    if value > seen:
        cells[i] = value
    return seen


@njit
def max_returns_new(cells, i, value):
    seen = load(cells, i, Ordering.Relaxed)
    while seen < value:
        ok, seen = compare_exchange(cells, i, seen, value, Ordering.AcqRel, Ordering.Relaxed)
        if ok:
            return value
    return seen


@njit
def max_one_try(cells, i, value):  # gives up after one failed CAS: loses updates
    seen = load(cells, i, Ordering.Relaxed)
    if seen < value:
        compare_exchange(cells, i, seen, value, Ordering.AcqRel, Ordering.Relaxed)
    return seen


def test_fetch_max_accepts_cas_loop():
    check_fetch_max(max_cas)


@pytest.mark.parametrize("wrong,message", [
    (max_ready_made, "write it yourself"),
    (max_racy, "no compare_exchange"),
    (max_returns_new, "must return the value before"),
])
def test_fetch_max_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_fetch_max(wrong)


@pytest.mark.skipif(usable_cores() < 2, reason="needs two cores to lose an update")
def test_fetch_max_rejects_single_try():
    with pytest.raises(AssertionError, match="lost"):
        for _ in range(20):  # losing needs the threads to overlap; retry in case they did not
            check_fetch_max(max_one_try, n=200_000)


@pytest.mark.timeout(300)
@pytest.mark.skipif(usable_cores() < 2 or numba.config.NUMBA_NUM_THREADS < 2,
                    reason="needs two numba threads racing")
def test_fetch_max_accepts_cas_loop_after_set_num_threads():
    # The kernel runs on a helper thread, whose numba thread count is not the notebook's: the
    # chunks the check expects must be the ones the kernel used, or a correct answer fails.
    out = _run_in_subprocess("""
        import numba
        from numba import njit
        from course_lib.atomics import Ordering, compare_exchange_weak, load
        from course_lib.testing.exercises.c03_atomics import check_fetch_max

        @njit
        def my_fetch_max(cells, i, value):
            seen = load(cells, i, Ordering.Relaxed)
            while seen < value:
                ok, seen = compare_exchange_weak(cells, i, seen, value, Ordering.AcqRel,
                                                 Ordering.Relaxed)
                if ok:
                    break
            return seen

        numba.set_num_threads(1)
        for _ in range(3):
            check_fetch_max(my_fetch_max)
        print("PASSED")
    """, threads=2)
    assert out.returncode == 0 and "PASSED" in out.stdout, out.stdout + out.stderr
    assert out.stderr == "", out.stderr


# ----------------------------------------------------------------------------- one-shot flag
@njit(nogil=True)
def publish_ok(data, flag, value):
    data[0] = value
    store(flag, 0, 1, Ordering.Release)


@njit(nogil=True)
def consume_ok(data, flag):
    while load(flag, 0, Ordering.Acquire) == 0:
        spin_loop()
    return data[0]


@njit(nogil=True)
def publish_relaxed(data, flag, value):
    data[0] = value
    store(flag, 0, 1, Ordering.Relaxed)


@njit(nogil=True)
def consume_relaxed(data, flag):
    while load(flag, 0, Ordering.Relaxed) == 0:
        spin_loop()
    return data[0]


@njit(nogil=True)
def publish_release_on_data(data, flag, value):  # the Release is on the wrong variable
    store(data, 0, value, Ordering.Release)
    store(flag, 0, 1, Ordering.Relaxed)


@njit(nogil=True)
def consume_acquire_on_data(data, flag):  # the Acquire is on the wrong variable
    while load(flag, 0, Ordering.Relaxed) == 0:
        spin_loop()
    return load(data, 0, Ordering.Acquire)


@njit(nogil=True)
def publish_release_plain_flag(data, flag, value):
    store(data, 0, value, Ordering.Release)
    flag[0] = 1


@njit(nogil=True)
def publish_fence(data, flag, value):  # a Release fence before a Relaxed store: correct
    data[0] = value
    fence(Ordering.Release)
    store(flag, 0, 1, Ordering.Relaxed)


@njit(nogil=True)
def consume_fence(data, flag):  # a Relaxed load, then an Acquire fence: correct
    while load(flag, 0, Ordering.Relaxed) == 0:
        spin_loop()
    fence(Ordering.Acquire)
    return data[0]


@njit(nogil=True)
def publish_fence_too_late(data, flag, value):
    data[0] = value
    store(flag, 0, 1, Ordering.Relaxed)
    fence(Ordering.Release)


@njit
def consume_gil(data, flag):
    while load(flag, 0, Ordering.Acquire) == 0:
        spin_loop()
    return data[0]


@njit(nogil=True)
def consume_never(data, flag):
    while load(flag, 0, Ordering.Acquire) != 7:  # waits for the wrong value
        spin_loop()
    return data[0]


def test_one_shot_accepts_release_acquire():
    check_one_shot(publish_ok, consume_ok, rounds=50)


def test_one_shot_accepts_fences():
    check_one_shot(publish_fence, consume_fence, rounds=20)


@pytest.mark.parametrize("pub,con,message", [
    (publish_relaxed, consume_ok, "without Release"),
    (publish_ok, consume_relaxed, "without Acquire"),
    (publish_ok, consume_gil, "nogil"),
    (publish_release_on_data, consume_ok, "flag with Ordering.Relaxed"),
    (publish_ok, consume_acquire_on_data, "flag with Ordering.Relaxed"),
    (publish_release_plain_flag, consume_ok, "never writes flag"),
    (publish_fence_too_late, consume_ok, "flag with Ordering.Relaxed"),
])
def test_one_shot_rejects(pub, con, message):
    with pytest.raises(AssertionError, match=message):
        check_one_shot(pub, con, rounds=5)


@pytest.mark.timeout(60)
def test_one_shot_hang_is_a_timeout_not_a_hang():
    with pytest.raises(AssertionError, match="did not return|still spinning"):
        check_one_shot(publish_ok, consume_never, rounds=1)


# ----------------------------------------------------------------------------- predictions
def test_prediction_accepts_the_truth():
    for test in ("SB", "MP", "LB", "2+2W", "IRIW"):
        for model in ("SC", "TSO"):
            check_prediction(test, model, allowed(test, model))
            check_prediction(test, model, list(allowed(test, model)))


def test_prediction_messages_teach():
    with pytest.raises(AssertionError, match=r"\(0, 0\) is possible under TSO: both stores"):
        check_prediction("SB", "TSO", {(0, 1), (1, 0), (1, 1)})
    with pytest.raises(AssertionError, match=r"\(1, 0\) is not possible under TSO"):
        check_prediction("MP", "TSO", {(0, 0), (0, 1), (1, 1), (1, 0)})
    with pytest.raises(AssertionError, match="2 values"):
        check_prediction("SB", "SC", {(0, 1, 1)})
    with pytest.raises(AssertionError, match="set of tuples"):
        check_prediction("SB", "SC", 5)
