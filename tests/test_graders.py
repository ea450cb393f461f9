"""The graders keep their contract: wrong answers of different kinds fail, correct answers written
differently pass. Each wrong answer here is one a learner could hand in; the test names say what
kind of mistake it is. (The racy, serial and deadlocking answers of each chapter are in the
test_testing_<chapter>.py files; this file holds delegation, orderings and the false rejections
found by grading real answers.)"""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit, prange

from course_lib import atomics, channel, locks
from course_lib.atomics import (Ordering, compare_exchange, compare_exchange_weak, load, spin_loop,
                                store, swap)
from course_lib.measure import work
from course_lib.measure.amdahl import amdahl_speedup
from course_lib.measure.work import spin
from course_lib.testing.delegation import Delegated, check_own_work, install_guard, named
from course_lib.testing.exercises import (c00_measure, c01_par_iter, c02_channels, c03_atomics,
                                          c04_locks)
from contract import case, right, wrong

pytestmark = pytest.mark.timeout(300)


# ---------------------------------------------------------------------------- delegation
def amdahl_delegated(s, n):
    return amdahl_speedup(s, n)


amdahl_alias = amdahl_speedup


def amdahl_through_helper(s, n):
    return _helper(s, n)


def _helper(s, n):
    from course_lib.measure import amdahl as am
    return am.amdahl_speedup(s, n)


def amdahl_own(s, n):
    if not 0 <= s <= 1 or n < 1:
        raise ValueError(f"need 0 <= s <= 1 and n >= 1, got {s}, {n}")
    return 1.0 / (s + (1.0 - s) / n)


def amdahl_own_other_form(serial, cores):
    if serial < 0 or serial > 1:
        raise ValueError("serial is a fraction")
    if cores < 1:
        raise ValueError("at least one core")
    parallel = 1.0 - serial
    return cores / (serial * cores + parallel)


@pytest.mark.parametrize("answer", [
    case(amdahl_delegated, mark=wrong("c00_measure:test_amdahl", "delegation")),
    case(amdahl_alias, mark=wrong("c00_measure:test_amdahl", "aliased ready-made function")),
])
def test_amdahl_rejects_calling_course_libs_version(answer):
    with pytest.raises(Delegated, match="write it yourself"):
        c00_measure.check_amdahl(answer)


@pytest.mark.parametrize("answer", [
    case(amdahl_own, mark=right("c00_measure:test_amdahl")),
    case(amdahl_own_other_form, mark=right("c00_measure:test_amdahl", "n / (s n + 1 - s)")),
])
def test_amdahl_accepts_own_answers(answer):
    c00_measure.check_amdahl(answer)


def test_delegation_is_seen_through_helpers_and_local_imports():
    with pytest.raises(Delegated, match="amdahl_speedup"):
        check_own_work(amdahl_through_helper, named(amdahl_speedup), "amdahl")
    check_own_work(amdahl_own, named(amdahl_speedup), "amdahl")


@njit
def fetch_max_delegated(cells, i, value):
    return atomics.fetch_max(cells, i, value, Ordering.AcqRel)


@njit
def fetch_max_cas_strong(cells, i, value):
    seen = load(cells, i, Ordering.Acquire)
    while seen < value:
        ok, seen = compare_exchange_weak(cells, i, seen, value, Ordering.SeqCst, Ordering.Acquire)
        if ok:
            break
    return seen


@wrong("c03_atomics:test_fetch_max", "delegation")
def test_fetch_max_rejects_the_ready_made_one_even_inside_numba():
    with pytest.raises(Delegated, match="fetch_max"):
        c03_atomics.check_fetch_max(fetch_max_delegated)


@right("c03_atomics:test_fetch_max", "strong orderings")
def test_fetch_max_accepts_a_cas_loop_with_stronger_orderings():
    c03_atomics.check_fetch_max(fetch_max_cas_strong)


def make_channel_delegated(cap):
    return channel.bounded(cap)


def make_channel_on_queue(cap):
    import queue

    q = queue.Queue(cap)

    class End:
        def send(self, v, timeout=None):
            q.put(v, timeout=timeout)

        def recv(self, timeout=None):
            return q.get(timeout=timeout)

        def close(self):
            pass
    return End(), End()


@pytest.mark.parametrize("answer, culprit", [
    case(make_channel_delegated, "bounded", mark=wrong("c02_channels:test_cond_channel", "delegation")),
    case(make_channel_on_queue, "Queue", mark=wrong("c02_channels:test_cond_channel", "ready-made queue")),
])
def test_channel_exercise_rejects_a_ready_made_channel(answer, culprit):
    with pytest.raises(Delegated, match=culprit):
        c02_channels.check_channel(answer)


def pipeline3_delegated(items, f, g, h, cap=2):
    return channel.pipeline(items, [f, g, h], cap)


@wrong("c02_channels:test_pipeline3", "delegation")
def test_pipeline_rejects_calling_course_libs_pipeline():
    with pytest.raises(Delegated, match="pipeline"):
        c02_channels.check_pipeline(pipeline3_delegated)


def fan_in_delegated(receivers):
    return list(channel.merge(receivers))


@wrong("c02_channels:test_fan_in", "delegation")
def test_fan_in_rejects_calling_course_libs_merge():
    with pytest.raises(Delegated, match="merge"):
        c02_channels.check_fan_in(fan_in_delegated)


# ---------------------------------------------------------------------------- TTAS orderings
@njit(nogil=True)
def ttas_relaxed_acquire(words, i):  # excludes on x86 in any run; wrong on ARM
    while True:
        if swap(words, i, 1, Ordering.Relaxed) == 0:
            return
        while load(words, i, Ordering.Relaxed) != 0:
            spin_loop()


@njit(nogil=True)
def ttas_relaxed_release(words, i):
    store(words, i, 0, Ordering.Relaxed)


@njit(nogil=True)
def ttas_acquire(words, i):
    while True:
        if swap(words, i, 1, Ordering.Acquire) == 0:
            return
        while load(words, i, Ordering.Relaxed) != 0:
            spin_loop()


@njit(nogil=True)
def ttas_release(words, i):
    store(words, i, 0, Ordering.Release)


@njit(nogil=True)
def tas_acquire_no_test(words, i):  # plain TAS: hammers the line with swaps
    while swap(words, i, 1, Ordering.Acquire) != 0:
        spin_loop()


@njit(nogil=True)
def ttas_cas_acquire(words, i):  # correct, written with compare_exchange and SeqCst
    while True:
        if load(words, i, Ordering.Relaxed) == 0:
            ok, _ = compare_exchange_weak(words, i, 0, 1, Ordering.SeqCst, Ordering.Relaxed)
            if ok:
                return
        spin_loop()


@njit(nogil=True)
def ttas_seqcst_release(words, i):
    store(words, i, 0, Ordering.SeqCst)


@njit(nogil=True)
def ttas_delegated_acquire(words, i):
    locks.ttas_acquire(words, i)


@njit(nogil=True)
def acquire_check_then_set(words, i):  # waits until it sees 0, then writes 1: two can see 0
    while load(words, i, Ordering.Acquire) != 0:
        spin_loop()
    store(words, i, 1, Ordering.Relaxed)


@njit(nogil=True)
def acquire_nothing(words, i):
    pass


TTAS = "c04_locks:test_ttas"


@pytest.mark.parametrize("acquire, release, match", [
    case(ttas_relaxed_acquire, ttas_release, "Relaxed swap", mark=wrong(TTAS, "ordering: acquire")),
    case(ttas_acquire, ttas_relaxed_release, "Relaxed store", mark=wrong(TTAS, "ordering: release")),
    case(tas_acquire_no_test, ttas_release, "atomic load", mark=wrong(TTAS, "no test before the swap")),
    case(ttas_delegated_acquire, ttas_release, "write it yourself", mark=wrong(TTAS, "delegation")),
    case(acquire_check_then_set, ttas_release, "did not exclude|swap or compare_exchange",
         mark=wrong(TTAS, "race: check, then set")),
    case(acquire_nothing, ttas_release, "did not exclude|atomic load", mark=wrong(TTAS, "no exclusion")),
])
def test_ttas_rejects(acquire, release, match):
    with pytest.raises(AssertionError, match=match):
        c04_locks.check_ttas(acquire, release, threads=2, n=5_000)


@pytest.mark.parametrize("acquire, release", [
    case(ttas_acquire, ttas_release, mark=right(TTAS, "swap")),
    case(ttas_cas_acquire, ttas_seqcst_release, mark=right(TTAS, "compare_exchange, SeqCst")),
])
def test_ttas_accepts(acquire, release):
    c04_locks.check_ttas(acquire, release, threads=2, n=5_000)


# ---------------------------------------------------------------------------- false rejections
def parallel_spin_with_imported_spin(threads, total, seed):
    from concurrent.futures import ThreadPoolExecutor

    sizes = c00_measure.spin_chunks(threads, total)
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(spin, k, seed + i) for i, k in enumerate(sizes)]
        return [f.result() for f in futures]


@right("c00_measure:test_parallel_spin", "spin imported by name")
def test_parallel_spin_accepts_spin_imported_by_name():
    assert spin is work.spin
    c00_measure.check_parallel_spin(parallel_spin_with_imported_spin, total=2_000_000)


PREDICT = "c03_atomics:test_predict"


@pytest.mark.parametrize("answer", [
    case([[0, 0], [0, 1], [1, 0], [1, 1]], mark=right(PREDICT, "list of lists")),
    case(((0, 0), (0, 1), (1, 0), (1, 1)), mark=right(PREDICT, "tuple of tuples")),
    case(frozenset({(0, 0), (0, 1), (1, 0), (1, 1)}), mark=right(PREDICT, "frozenset")),
    case([np.array([0, 0]), np.array([0, 1]), np.array([1, 0]), np.array([1, 1])], mark=right(PREDICT, "arrays")),
])
def test_prediction_accepts_any_collection_of_ordered_outcomes(answer):
    c03_atomics.check_prediction("SB", "TSO", answer)


@pytest.mark.parametrize("answer, match", [
    case({frozenset({0, 1}), frozenset({0})}, "a set cannot say", mark=wrong(PREDICT, "unordered outcomes")),
    case("{(0, 1)}", "set of tuples", mark=wrong(PREDICT, "a string")),
    case([(0, 1, 1)], "2 values", mark=wrong(PREDICT, "wrong width")),
])
def test_prediction_says_exactly_what_is_required(answer, match):
    with pytest.raises(AssertionError, match=match):
        c03_atomics.check_prediction("SB", "TSO", answer)


@njit(parallel=True)
def sum_sq_into_zeros(x, mu):  # np.zeros fused with the prange by numba: correct
    out = np.zeros(x.shape[0])
    for i in prange(x.shape[0]):
        out[i] = (x[i] - mu) ** 2
    return out.sum()


@right("c01_par_iter:test_sum_of_squares", "zeros fused with the prange")
def test_prange_reduction_accepts_zeros_fused_with_the_loop():
    c01_par_iter.check_prange_reduction(sum_sq_into_zeros, large=200_000)


# ---------------------------------------------------------------------------- the answer key
def test_the_guard_blocks_solutions_in_a_graded_kernel(tmp_path):
    import subprocess
    import sys
    import textwrap

    (tmp_path / "nbgrader_config.py").write_text("")
    (tmp_path / "solutions" / "c00").mkdir(parents=True)
    (tmp_path / "solutions" / "c00" / "key.txt").write_text("42")
    work_dir = tmp_path / "autograded" / "student" / "c00"
    work_dir.mkdir(parents=True)
    code = textwrap.dedent("""
        import os, subprocess
        from course_lib.testing.delegation import install_guard
        assert install_guard() is not None
        for attempt in (lambda: open('../../../solutions/c00/key.txt').read(),
                        lambda: os.listdir('../../../solutions'),
                        lambda: subprocess.run(['cat', '../../../solutions/c00/key.txt'])):
            try:
                attempt()
                print('READ')
            except PermissionError:
                print('blocked')
        print(open(os.devnull).read() == '')
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=work_dir, capture_output=True, text=True)
    assert out.stdout.split() == ["blocked"] * 3 + ["True"], out.stdout + out.stderr


def test_the_guard_stays_off_in_the_source_folder(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("")
    (tmp_path / "solutions").mkdir()
    assert install_guard.__doc__
    import subprocess
    import sys

    code = "from course_lib.testing.delegation import install_guard; print(install_guard())"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "solutions",
                         capture_output=True, text=True)
    assert out.stdout.strip() == "None"


# ---------------------------------------------------------------------------- c00 timer, c01 tree
def robust_time_median(fn, repeats):
    import statistics
    import time

    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def robust_time_trimmed_min(fn, repeats):  # correct, written differently: the best of warm runs
    import time

    fn()
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - t)
    return best * 1e-9


@pytest.mark.parametrize("answer", [
    case(robust_time_median, mark=right("c00_measure:test_robust_time", "statistics.median")),
    case(robust_time_trimmed_min, mark=right("c00_measure:test_robust_time", "best of warm runs")),
])
def test_robust_time_accepts(answer):
    c00_measure.check_robust_time(answer)


def _sequential(node):
    return 0 if node is None else node.value + _sequential(node.left) + _sequential(node.right)


def tree_sum_dummy_joins(node):  # right answer, joins that compute nothing
    from course_lib import par

    for _ in range(4):
        par.join(lambda: 0, lambda: 0)
    return _sequential(node)


def tree_sum_root_split(node):  # one join at the root, then sequential
    from course_lib import par

    if node is None:
        return 0
    left, right = par.join(lambda: _sequential(node.left), lambda: _sequential(node.right))
    return node.value + left + right


def tree_sum_recursive(node):
    from course_lib import par

    if node is None:
        return 0
    left, right = par.join(lambda: tree_sum_recursive(node.left),
                           lambda: tree_sum_recursive(node.right))
    return node.value + left + right


def tree_sum_with_cutoff(node, depth=0):  # correct, written differently: sequential below depth 6
    from course_lib import par

    if node is None:
        return 0
    if depth >= 6:
        return _sequential(node)
    left, right = par.join(lambda: tree_sum_with_cutoff(node.left, depth + 1),
                           lambda: tree_sum_with_cutoff(node.right, depth + 1))
    return node.value + left + right


TREE = "c01_par_iter:test_tree_sum"


@pytest.mark.parametrize("answer", [
    case(tree_sum_dummy_joins, mark=wrong(TREE, "dummy joins")),
    case(tree_sum_root_split, mark=wrong(TREE, "one join at the root")),
])
def test_tree_sum_rejects_joins_that_do_not_carry_the_work(answer):
    with pytest.raises(AssertionError, match="nested at most"):
        c01_par_iter.check_tree_sum(answer)


@pytest.mark.parametrize("answer", [
    case(tree_sum_recursive, mark=right(TREE, "recursive join")),
    case(tree_sum_with_cutoff, mark=right(TREE, "join with a sequential cutoff")),
])
def test_tree_sum_accepts(answer):
    c01_par_iter.check_tree_sum(answer)


# ---------------------------------------------------------------------------- c04 Treiber
from course_lib.queues import head_index, head_tag, pack_head  # noqa: E402
from course_lib.queues.treiber import NODES, TOP  # noqa: E402


@njit(nogil=True)
def push_no_retry(st, k):  # one compare_exchange; when it loses the race, the node is dropped
    old = load(st, TOP, Ordering.Relaxed)
    st[NODES + 2 * k] = head_index(old) + 1
    compare_exchange_weak(st, TOP, old, pack_head(k, head_tag(old) + 1), Ordering.Release,
                          Ordering.Relaxed)


@njit(nogil=True)
def push_retry(st, k):
    old = load(st, TOP, Ordering.Relaxed)
    while True:
        st[NODES + 2 * k] = head_index(old) + 1
        ok, old = compare_exchange_weak(st, TOP, old, pack_head(k, head_tag(old) + 1),
                                        Ordering.Release, Ordering.Relaxed)
        if ok:
            return


@njit(nogil=True)
def pop_retry(st):
    old = load(st, TOP, Ordering.Acquire)
    while True:
        k = head_index(old)
        if k < 0:
            return -1
        nxt = st[NODES + 2 * k] - 1
        ok, old = compare_exchange_weak(st, TOP, old, pack_head(nxt, head_tag(old) + 1),
                                        Ordering.Acquire, Ordering.Acquire)
        if ok:
            return k


@njit(nogil=True)
def push_strong_seqcst(st, k):  # correct, written differently: strong CAS, SeqCst, a for loop
    for _ in range(1 << 62):
        old = load(st, TOP, Ordering.SeqCst)
        st[NODES + 2 * k] = head_index(old) + 1
        ok, _ = compare_exchange(st, TOP, old, pack_head(k, head_tag(old) + 1), Ordering.SeqCst,
                                 Ordering.SeqCst)
        if ok:
            break


@njit(nogil=True)
def pop_strong_seqcst(st):
    while True:
        old = load(st, TOP, Ordering.SeqCst)
        k = head_index(old)
        if k < 0:
            return -1
        ok, _ = compare_exchange(st, TOP, old, pack_head(st[NODES + 2 * k] - 1, head_tag(old) + 1),
                                 Ordering.SeqCst, Ordering.SeqCst)
        if ok:
            return k


@wrong("c04_locks:test_treiber", "no retry")
def test_treiber_rejects_a_push_without_retry_every_time():
    from course_lib.measure.machine import usable_cores

    if usable_cores() < 2:
        pytest.skip("losing a race needs two threads running at once")
    for attempt in range(5):  # 5 gradings, each of 3 gated trials: every one must fail
        with pytest.raises(AssertionError, match="lost nodes"):
            c04_locks.check_treiber(push_no_retry, pop_retry, threads=2, rounds=20_000)


@pytest.mark.parametrize("push, pop", [
    case(push_retry, pop_retry, mark=right("c04_locks:test_treiber", "weak CAS loop")),
    case(push_strong_seqcst, pop_strong_seqcst, mark=right("c04_locks:test_treiber", "strong CAS, SeqCst")),
])
def test_treiber_accepts(push, pop):
    c04_locks.check_treiber(push, pop, threads=2, rounds=20_000)
    c04_locks.check_treiber(push, pop, threads=3, nodes=9, rounds=10_000)
