"""Tests for course_lib.testing.exercises.c01_par_iter: the c01 checkers accept correct answers and reject
plausible wrong ones with a message that teaches."""
from __future__ import annotations

import numba
import numpy as np
import pytest
from numba import njit, prange

from course_lib import par
from course_lib.measure.machine import usable_cores
from course_lib.par.kernels import _hist_thread, sum_prange
from course_lib.testing.exercises import c01_par_iter as checks
from contract import case, right, wrong

pytestmark = pytest.mark.timeout(300)
SUMSQ = "c01_par_iter:test_sum_of_squares"
HIST = "c01_par_iter:test_histogram_fixed"
TREE = "c01_par_iter:test_tree_sum"
CHUNK = "c01_par_iter:test_pick_chunk_size"
MULTICORE = usable_cores() >= 2 and numba.config.NUMBA_NUM_THREADS >= 2


# ---------------------------------------------------------------------------- exercise 1
@njit(parallel=True)
def sum_sq_good(x, mu):
    s = 0.0
    for i in prange(x.shape[0]):
        d = x[i] - mu
        s += d * d
    return s


@njit(parallel=True)
def sum_sq_range(x, mu):  # parallel=True but a plain range: nothing to parallelise
    s = 0.0
    for i in range(x.shape[0]):
        d = x[i] - mu
        s += d * d
    return s


@njit
def sum_sq_not_parallel(x, mu):
    s = 0.0
    for i in prange(x.shape[0]):
        d = x[i] - mu
        s += d * d
    return s


@njit(parallel=True)
def sum_sq_wrong(x, mu):  # forgot the square
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i] - mu
    return s


def sum_sq_python(x, mu):
    return float(((x - mu) ** 2).sum())


@right(SUMSQ, "scalar reduction")
def test_prange_reduction_accepts_a_correct_answer():
    checks.check_prange_reduction(sum_sq_good)


@njit(parallel=True)
def sum_sq_shared_cell(x, mu):  # every iteration adds into out[0]: a data race
    out = np.zeros(1)
    for i in prange(x.shape[0]):
        out[0] += (x[i] - mu) ** 2
    return out[0]


@pytest.mark.parametrize("fn, message", [
    case(sum_sq_wrong, "sum_of_squares", mark=wrong(SUMSQ, "result")),
    case(sum_sq_python, "numba function", mark=wrong(SUMSQ, "not numba")),
    case(sum_sq_not_parallel, "parallel=True", mark=wrong(SUMSQ, "no parallel=True")),
    case(sum_sq_range, "prange", mark=wrong(SUMSQ, "serial loop")),
    case(sum_sq_shared_cell, "sum_of_squares|data race", mark=wrong(SUMSQ, "race")),
])
def test_prange_reduction_rejects(fn, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_prange_reduction(fn)


@pytest.mark.skipif(not MULTICORE, reason="needs two usable cores")
def test_work_split_reports_but_never_fails(capsys):
    @njit(parallel=True)
    def lopsided(x):  # a prange over 2 items where item 0 does all the work
        out = np.zeros(2)
        for k in prange(2):
            if k == 0:
                s = 0.0
                for i in range(x.shape[0]):
                    s += x[i] * x[i]
                out[k] = s
        return out[0]

    x = np.random.default_rng(0).random(4_000_000)
    judged = checks.check_work_is_split(lambda: lopsided(x), lambda: sum_sq_good(x, 0.0), "lopsided")
    out = capsys.readouterr().out
    # Serial work almost never shows a parallel gain; either way the figures are printed and
    # nothing is raised (the grade rests on structure).
    assert ("did not show half" in out and "per attempt" in out) if not judged else "ran" in out


@njit(parallel=True)
def sum_sq_one_iteration(x, mu):  # reads x inside a prange, but a prange of one iteration
    out = np.zeros(1)
    for k in prange(1):
        s = 0.0
        for i in range(x.shape[0]):
            s += (x[i] - mu) ** 2
        out[k] = s
    return out[0]


@wrong(SUMSQ, "prange of one iteration")
def test_prange_reduction_rejects_a_prange_of_one_iteration():
    with pytest.raises(AssertionError, match="1 iteration"):
        checks.check_prange_reduction(sum_sq_one_iteration, large=100_000)


@njit(parallel=True)
def sum_sq_trivial_parfor(x, mu):  # a parallel array expression, then a serial sum loop
    d = x - mu
    s = 0.0
    for i in range(d.shape[0]):
        s += d[i] * d[i]
    return s


def _spy_on_work_split(monkeypatch):
    """Record what check_work_is_split was given and what it returned (True: judged and good
    enough; False: not judged, the machine was too busy or has one core)."""
    seen = []
    real = checks.check_work_is_split

    def spy(call, reference, name):
        seen.append({"call": call, "reference": reference})
        seen[-1]["judged"] = real(call, reference, name)
        return seen[-1]["judged"]

    monkeypatch.setattr(checks, "check_work_is_split", spy)
    return seen


def test_prange_reduction_times_only_the_reduction_in_its_reference(monkeypatch):
    # A reference that squares with NumPy inside the timing runs a serial pass over 32 MB per
    # call, scales poorly, and then the timing never judges anything: it must only reduce.
    import tracemalloc

    seen = _spy_on_work_split(monkeypatch)
    checks.check_prange_reduction(sum_sq_good)
    reference = seen[-1]["reference"]
    reference()
    tracemalloc.start()
    try:
        reference()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"the timed reference allocates {peak:,} bytes per call"


@wrong(SUMSQ, "serial behind an array expression")
def test_prange_reduction_rejects_a_trivial_parfor_with_a_serial_sum():
    # Its only parfor is numba's (d = x - mu): no prange of the learner's. Caught by structure,
    # on any machine, however busy.
    with pytest.raises(AssertionError, match="no prange loop"):
        checks.check_prange_reduction(sum_sq_trivial_parfor)


@njit(parallel=True)
def sum_sq_serial_then_prange_copy(x, mu):  # the work is serial; the prange only copies
    s = 0.0
    for i in range(x.shape[0]):
        s += (x[i] - mu) ** 2
    out = np.zeros(1)
    for k in prange(1):
        out[k] = s
    return out[0]


@njit(parallel=True)
def sum_sq_array_expression_then_prange(x, mu):  # correct, written differently
    d = x - mu
    s = 0.0
    for i in prange(d.shape[0]):
        s += d[i] * d[i]
    return s


@njit(parallel=True)
def sum_sq_chunks(x, mu):  # correct: a prange over chunks, each summed serially
    chunks = 8
    n = x.shape[0]
    parts = np.zeros(chunks)
    for c in prange(chunks):
        for i in range(c * n // chunks, (c + 1) * n // chunks):
            parts[c] += (x[i] - mu) ** 2
    return parts.sum()


@wrong(SUMSQ, "serial behind a prange copy")
def test_prange_reduction_rejects_serial_work_behind_a_prange_copy():
    with pytest.raises(AssertionError, match="no prange loop reads `x`"):
        checks.check_prange_reduction(sum_sq_serial_then_prange_copy)


@pytest.mark.parametrize("fn", [case(sum_sq_array_expression_then_prange, mark=right(SUMSQ, "array expression")),
                                case(sum_sq_chunks, mark=right(SUMSQ, "chunks"))])
def test_prange_reduction_accepts_correct_answers_written_differently(fn):
    checks.check_prange_reduction(fn)


def test_parallel_structure_needs_a_compiled_function():
    @njit(parallel=True)
    def never_called(x):
        s = 0.0
        for i in prange(x.shape[0]):
            s += x[i]
        return s

    with pytest.raises(AssertionError, match="not been compiled"):
        checks.check_parallel_structure(never_called, "never_called")


def test_parallel_structure_says_on_stdout_when_numba_internals_differ(capsys):
    class Compiled:
        metadata: dict = {}  # no "parfor_diagnostics": as if numba kept it elsewhere

    class Fake:
        targetoptions = {"parallel": True}
        overloads = {("float64[:]",): Compiled()}

    checks.check_parallel_structure(Fake(), "fake")
    out = capsys.readouterr()
    assert "not judged" in out.out and out.err == ""


# ---------------------------------------------------------------------------- exercise 2
@njit(parallel=True)
def hist_good(data, nbins):
    chunks = numba.get_num_threads()
    n = data.shape[0]
    size = (n + chunks - 1) // chunks
    partial = np.zeros((chunks, nbins), np.int64)
    for c in prange(chunks):
        for i in range(c * size, min(n, (c + 1) * size)):
            partial[c, data[i]] += 1
    return partial.sum(axis=0)


@njit(parallel=True)
def hist_off_by_one(data, nbins):
    hist = np.zeros(nbins, np.int64)
    for i in range(data.shape[0]):
        if data[i] > 0:
            hist[data[i] - 1] += 1
    return hist


@njit(parallel=True)
def hist_sequential(data, nbins):
    hist = np.zeros(nbins, np.int64)
    for i in range(data.shape[0]):
        hist[data[i]] += 1
    return hist


@njit(parallel=True)
def hist_racy(data, nbins):
    hist = np.zeros(nbins, np.int64)
    for i in prange(data.shape[0]):
        hist[data[i]] += 1
    return hist


@pytest.mark.parametrize("fn", [case(hist_good, mark=right(HIST, "chunk partials")),
                                case(_hist_thread, mark=right(HIST, "course_lib's kernel, inlined"))])
def test_histogram_accepts_correct_answers(fn):
    checks.check_histogram_fixed(fn)


@pytest.mark.parametrize("fn, message", [case(hist_off_by_one, "wrong", mark=wrong(HIST, "result")),
                                         case(hist_sequential, "prange", mark=wrong(HIST, "serial"))])
def test_histogram_rejects(fn, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_histogram_fixed(fn)


@wrong(HIST, "race")
def test_histogram_rejects_the_racy_version_on_any_machine():
    # When the threads overlap, the counts are short and the message says how many were lost;
    # when they do not (one core, a busy machine), the loop's structure gives the race away.
    with pytest.raises(AssertionError, match="old \\+ 1") as e:
        checks.check_histogram_fixed(hist_racy)
    assert "lost" in str(e.value) or "data race" in str(e.value)


@njit(parallel=True)
def hist_racy_strided(data, nbins):  # 4 copies indexed by i % 4: iterations still share copies
    parts = np.zeros((4, nbins), np.int64)
    for i in prange(data.shape[0]):
        parts[i % 4, data[i]] += 1
    return parts.sum(axis=0)


def test_the_race_check_reads_the_index_not_the_luck():
    data = np.array([0, 1, 1], dtype=np.int64)
    for fn in (hist_racy, hist_racy_strided):
        fn(data, 2)
        with pytest.raises(AssertionError, match="data race"):
            checks.check_parallel_structure(fn, fn.__name__, data_arg=0)
    for fn in (hist_good, hist_slices, hist_zeros_fused_with_prange, _hist_thread):
        fn(data, 2)
        checks.check_parallel_structure(fn, fn.__name__, data_arg=0)


@njit(parallel=True)
def hist_serial_then_prange_copy(data, nbins):  # exact counts, but the counting is serial
    counts = np.zeros(nbins, np.int64)
    for v in data:
        counts[v] += 1
    out = np.zeros(nbins, np.int64)
    for b in prange(nbins):
        out[b] = counts[b]
    return out


@njit(parallel=True)
def hist_bincount_then_prange(data, nbins):  # NumPy counts serially; the prange only copies
    counts = np.bincount(data, minlength=nbins)
    out = np.zeros(nbins, np.int64)
    for b in prange(nbins):
        out[b] = counts[b]
    return out


@njit(parallel=True)
def hist_zeros_fused_with_prange(data, nbins):  # correct: numba fuses the allocation and the loop
    threads = numba.get_num_threads()
    parts = np.zeros((threads, nbins), np.int64)
    for i in prange(data.shape[0]):
        parts[numba.get_thread_id(), data[i]] += 1
    return parts.sum(axis=0)


@njit(parallel=True)
def hist_slices(data, nbins):  # correct: a prange over slices of the data
    chunks = 8
    n = data.shape[0]
    parts = np.zeros((chunks, nbins), np.int64)
    for c in prange(chunks):
        for v in data[c * n // chunks:(c + 1) * n // chunks]:
            parts[c, v] += 1
    return parts.sum(axis=0)


@pytest.mark.parametrize("fn", [case(hist_serial_then_prange_copy, mark=wrong(HIST, "serial behind a prange copy")),
                                case(hist_bincount_then_prange, mark=wrong(HIST, "np.bincount behind a prange"))])
def test_histogram_rejects_serial_counting_behind_a_prange(fn):
    with pytest.raises(AssertionError, match="no prange loop reads `data`"):
        checks.check_histogram_fixed(fn, large=200_000)


@pytest.mark.parametrize("fn", [case(hist_zeros_fused_with_prange, mark=right(HIST, "per-thread rows")),
                                case(hist_slices, mark=right(HIST, "slices"))])
def test_histogram_accepts_correct_answers_written_differently(fn):
    checks.check_histogram_fixed(fn, large=200_000)


# ---------------------------------------------------------------------------- exercise 3
def tree_sum_good(node):
    if node is None:
        return 0
    a, b = par.join(lambda: tree_sum_good(node.left), lambda: tree_sum_good(node.right))
    return node.value + a + b


def tree_sum_no_join(node):
    if node is None:
        return 0
    return node.value + tree_sum_no_join(node.left) + tree_sum_no_join(node.right)


def tree_sum_forgets_left(node):
    if node is None:
        return 0
    a, b = par.join(lambda: 0, lambda: tree_sum_forgets_left(node.right))
    return node.value + a + b


@right(TREE, "join of lambdas")
def test_tree_sum_accepts_a_join_solution():
    checks.check_tree_sum(tree_sum_good)


@pytest.mark.parametrize("fn, message", [case(tree_sum_no_join, "join", mark=wrong(TREE, "serial")),
                                         case(tree_sum_forgets_left, "expected", mark=wrong(TREE, "result"))])
def test_tree_sum_rejects(fn, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_tree_sum(fn)


# ---------------------------------------------------------------------------- exercise 4
def pick_good(timings, tolerance=0.1):
    if not timings:
        raise ValueError("empty")
    best = min(timings.values())
    return min(c for c, t in timings.items() if t <= (1 + tolerance) * best)


def pick_fastest(timings, tolerance=0.1):
    return min(timings, key=timings.get)


def pick_largest(timings, tolerance=0.1):
    best = min(timings.values())
    return max(c for c, t in timings.items() if t <= (1 + tolerance) * best)


def pick_no_error(timings, tolerance=0.1):
    if not timings:
        return None
    return pick_good(timings, tolerance)


def pick_by_sorting(timings, tolerance=0.1):  # correct, written differently: walk up the sizes
    if len(timings) == 0:
        raise ValueError("no timings to choose from")
    limit = min(timings.values()) * (1 + tolerance)
    for chunk in sorted(timings):
        if timings[chunk] <= limit:
            return chunk


@pytest.mark.parametrize("fn", [case(pick_good, mark=right(CHUNK, "min over a filter")),
                                case(pick_by_sorting, mark=right(CHUNK, "sorted walk"))])
def test_pick_chunk_size_accepts_and_uses_measurements(fn):
    checks.check_pick_chunk_size(fn, measured={1: 0.3, 16: 0.1, 256: 0.098})
    checks.check_pick_chunk_size(fn)
    assert checks.reference_pick_chunk_size({1: 0.3, 16: 0.1, 256: 0.098}) == 16


@pytest.mark.parametrize("fn", [case(pick_fastest, mark=wrong(CHUNK, "ignores the tolerance")),
                                case(pick_largest, mark=wrong(CHUNK, "largest instead of smallest")),
                                case(pick_no_error, mark=wrong(CHUNK, "bad input accepted"))])
def test_pick_chunk_size_rejects(fn):
    with pytest.raises(AssertionError):
        checks.check_pick_chunk_size(fn)
