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
from contract import case, right, wrong

HIST = "c03_atomics:test_histogram"
FETCH_MAX = "c03_atomics:test_fetch_max"
ONE_SHOT = "c03_atomics:test_one_shot"
PREDICT = "c03_atomics:test_predict"


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


@njit(parallel=True)
def hist_atomic_chunks(data, bins):  # correct, written differently: chunks, AcqRel, a while loop
    chunks = 16
    for c in prange(chunks):
        i, end = c * data.size // chunks, (c + 1) * data.size // chunks
        while i < end:
            fetch_add(bins, data[i], 1, Ordering.AcqRel)
            i += 1


@pytest.mark.parametrize("answer", [case(hist_atomic, mark=right(HIST, "fetch_add in a prange")),
                                    case(hist_atomic_chunks, mark=right(HIST, "chunks, AcqRel"))])
def test_histogram_accepts_atomic(answer):
    check_parallel_histogram(answer)


@pytest.mark.parametrize("wrong,message", [
    case(hist_serial_not_parallel, "parallel=True", mark=wrong(HIST, "serial, no parallel=True")),
    case(hist_serial_in_parallel_jit, "no parallel loop", mark=wrong(HIST, "serial range loop")),
    case(hist_folded, "bincount", mark=wrong(HIST, "bincount, no atomic")),
    case(hist_bincount_then_fetch_add, "bincount", mark=wrong(HIST, "bincount behind a fetch_add")),
])
def test_histogram_rejects_serial_and_folded(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_parallel_histogram(wrong)


@wrong(HIST, "race")
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


@right(FETCH_MAX, "weak CAS loop")
def test_fetch_max_accepts_cas_loop():
    check_fetch_max(max_cas)


@pytest.mark.parametrize("wrong,message", [
    case(max_ready_made, "write it yourself", mark=wrong(FETCH_MAX, "delegation")),
    case(max_racy, "no compare_exchange", mark=wrong(FETCH_MAX, "race: load then store")),
    case(max_returns_new, "must return the value before", mark=wrong(FETCH_MAX, "returns the new value")),
])
def test_fetch_max_rejects(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_fetch_max(wrong)


@wrong(FETCH_MAX, "one try, no retry")
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
def publish_swap_seqcst(data, flag, value):  # correct, written differently: a SeqCst swap
    store(data, 0, value, Ordering.Relaxed)
    compare_exchange(flag, 0, 0, 1, Ordering.SeqCst, Ordering.SeqCst)


@njit(nogil=True)
def consume_seqcst(data, flag):
    seen = load(flag, 0, Ordering.SeqCst)
    while seen != 1:
        spin_loop()
        seen = load(flag, 0, Ordering.SeqCst)
    return load(data, 0, Ordering.Relaxed)


@pytest.mark.parametrize("pub, con, rounds", [
    case(publish_ok, consume_ok, 50, mark=right(ONE_SHOT, "Release store, Acquire load")),
    case(publish_fence, consume_fence, 20, mark=right(ONE_SHOT, "fences")),
    case(publish_swap_seqcst, consume_seqcst, 20, mark=right(ONE_SHOT, "SeqCst CAS and loads")),
])
def test_one_shot_accepts(pub, con, rounds):
    check_one_shot(pub, con, rounds=rounds)


@pytest.mark.parametrize("pub,con,message", [
    case(publish_relaxed, consume_ok, "without Release", mark=wrong(ONE_SHOT, "Relaxed publish")),
    case(publish_ok, consume_relaxed, "without Acquire", mark=wrong(ONE_SHOT, "Relaxed consume")),
    case(publish_ok, consume_gil, "nogil", mark=wrong(ONE_SHOT, "holds the GIL while spinning")),
    case(publish_release_on_data, consume_ok, "flag with Ordering.Relaxed", mark=wrong(ONE_SHOT, "Release on the data")),
    case(publish_ok, consume_acquire_on_data, "flag with Ordering.Relaxed", mark=wrong(ONE_SHOT, "Acquire on the data")),
    case(publish_release_plain_flag, consume_ok, "never writes flag", mark=wrong(ONE_SHOT, "plain flag store")),
    case(publish_fence_too_late, consume_ok, "flag with Ordering.Relaxed", mark=wrong(ONE_SHOT, "fence after the store")),
])
def test_one_shot_rejects(pub, con, message):
    with pytest.raises(AssertionError, match=message):
        check_one_shot(pub, con, rounds=5)


@wrong(ONE_SHOT, "waits for the wrong value")
@pytest.mark.timeout(120)
def test_one_shot_hang_is_a_timeout_not_a_hang():
    # In a subprocess: the consume that never returns keeps spinning on its (nogil) thread after
    # the check gives up on it, and a test process that collected twenty of those (make soak)
    # would have no CPU left for the tests after it. A graded notebook loses only that cell.
    out = _run_in_subprocess("""
        import os
        from numba import njit
        from course_lib.atomics import Ordering, load, spin_loop, store
        from course_lib.testing.exercises.c03_atomics import check_one_shot

        @njit(nogil=True)
        def publish(data, flag, value):
            data[0] = value
            store(flag, 0, 1, Ordering.Release)

        @njit(nogil=True)
        def consume_never(data, flag):
            while load(flag, 0, Ordering.Acquire) != 7:  # waits for the wrong value
                spin_loop()
            return data[0]

        try:
            check_one_shot(publish, consume_never, rounds=1)
            print("PASSED", flush=True)
        except AssertionError as exc:
            print("FAILED:", exc, flush=True)
        os._exit(0)  # the spinning thread would keep a normal exit waiting
    """, threads=2)
    assert "FAILED:" in out.stdout and ("did not return" in out.stdout or "still spinning" in out.stdout), \
        out.stdout + out.stderr


# ----------------------------------------------------------------------------- predictions
@right(PREDICT, "sets and lists from the model")
def test_prediction_accepts_the_truth():
    for test in ("SB", "MP", "LB", "2+2W", "IRIW"):
        for model in ("SC", "TSO"):
            check_prediction(test, model, allowed(test, model))
            check_prediction(test, model, list(allowed(test, model)))


@pytest.mark.parametrize("test, model, answer, match", [
    case("SB", "TSO", {(0, 1), (1, 0), (1, 1)}, r"\(0, 0\) is possible under TSO: both stores",
         mark=wrong(PREDICT, "SC intuition under TSO")),
    case("MP", "TSO", {(0, 0), (0, 1), (1, 1), (1, 0)}, r"\(1, 0\) is not possible under TSO",
         mark=wrong(PREDICT, "ARM intuition under TSO")),
    case("SB", "SC", {(0, 1), (1, 0), (1, 1), (0, 0)}, r"\(0, 0\) is not possible under SC",
         mark=wrong(PREDICT, "TSO intuition under SC")),
    case("SB", "SC", {(0, 1, 1)}, "2 values", mark=wrong(PREDICT, "three registers")),
    case("SB", "SC", 5, "set of tuples", mark=wrong(PREDICT, "a number")),
])
def test_prediction_messages_teach(test, model, answer, match):
    with pytest.raises(AssertionError, match=match):
        check_prediction(test, model, answer)
