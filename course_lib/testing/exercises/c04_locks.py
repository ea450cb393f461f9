"""Checkers for chapter c04_locks: every function the chapter's hidden tests call.

1. :func:`check_mutual_exclusion`, :func:`check_numba_lock`: the lock battery
   (``testing.batteries.lock``), for the TTAS-lock exercises.
2. :func:`check_queue`, :func:`check_numba_queue`: the queue battery
   (``testing.batteries.queue``), for the queue exercise.
3. :func:`check_treiber`: a learner's ``push_node``/``pop_node`` on the tagged stack layout.
4. :func:`check_padded_stats`: a per-thread statistics layout free of false sharing.
5. :func:`check_choices`: the multiple-choice questions, with the reason for each answer.
"""
from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

import numpy as np
from numba import njit

from course_lib import locks
from course_lib import queues as Q
from course_lib.atomics import Ordering, fetch_add_unchecked, load_unchecked
from course_lib.locks import padding
from course_lib.locks.numba_locks import start_gate
from course_lib.measure.machine import usable_physical_cores
from course_lib.queues import treiber as _treiber
from course_lib.testing import join_all
from course_lib.testing.batteries.lock import check_mutual_exclusion, check_numba_lock
from course_lib.testing.batteries.queue import STRIDE, check_numba_queue, check_queue
from course_lib.testing.delegation import answers
from course_lib.testing.exercises import seal

__all__ = ["check_ttas", "check_mutual_exclusion", "check_numba_lock", "check_queue", "check_numba_queue",
           "check_treiber", "check_padded_stats", "check_choices", "STRIDE"]

_X = Ordering.Relaxed
_NEVER = np.zeros(1, np.int64)  # a stop flag that is never set


_NUMBA_LOCKS = [getattr(locks, f"{k}_{op}") for k in ("tas", "ttas", "backoff", "ticket")
                for op in ("acquire", "try_acquire", "release")]


@answers("my_ttas_acquire/my_ttas_release", *_NUMBA_LOCKS, count=2)
def check_ttas(acquire: Any, release: Any, threads: int = 3, n: int = 100_000,
               timeout: float = 15.0) -> None:
    """Grade a TTAS lock: it excludes (the lock battery), it is test-and-test-and-set, and its
    orderings are right, read from the LLVM IR because x86 would hide the mistake.

    - acquire waits with atomic loads and takes the lock with a swap or a compare_exchange whose
      (success) ordering is Acquire or stronger (or an Acquire fence follows);
    - release writes 0 with Release or stronger (or a Release fence comes first).

    On x86 every locked instruction is a full barrier, so a Relaxed lock passes any run there;
    on ARM the critical section's loads could move above the lock and its stores below the
    unlock. Hence the orderings are checked in the code, not in a run.

    Raises:
        AssertionError: naming the figure or the instruction that decided it.
    """
    import numba

    from course_lib.atomics import show_llvm

    check_numba_lock(acquire, release, threads=threads, n=n, timeout=timeout)
    sig = (numba.int64[::1], numba.int64)
    acq = [ln for ln in show_llvm(acquire, sig) if _ATOMIC.search(ln)]
    rel = [ln for ln in show_llvm(release, sig) if _ATOMIC.search(ln)]
    if not any("load atomic" in ln for ln in acq):
        raise AssertionError("a TTAS lock waits with atomic loads (the 'test' before the "
                             "test-and-set); your acquire has no atomic load")
    rmw = [ln for ln in acq if "atomicrmw xchg" in ln or "cmpxchg" in ln]
    if not rmw:
        raise AssertionError("acquire must take the lock with swap or compare_exchange")
    fences = [ln for ln in acq if ln.lstrip().startswith("fence")]
    if not any(_strong(ln, "acquire") for ln in rmw + fences):
        raise AssertionError(
            "acquire takes the lock with a Relaxed swap/compare_exchange "
            f"({rmw[0].strip()[:80]}): then nothing orders the critical section's reads after "
            "the lock is taken. x86 hides this (every locked instruction is a full barrier); "
            "ARM does not. Use Ordering.Acquire (or stronger) on success")
    stores = [ln for ln in rel if "store atomic" in ln or "atomicrmw" in ln]
    if not stores:
        raise AssertionError("release must write 0 to the lock word with an atomic store "
                             "(or swap)")
    if not any(_strong(ln, "release") for ln in stores + [ln for ln in rel if "fence" in ln]):
        raise AssertionError(
            f"release writes the lock word with a Relaxed store ({stores[0].strip()[:80]}): the "
            "critical section's writes may then become visible after the lock looks free. "
            "Use Ordering.Release (or stronger)")


_ATOMIC = re.compile(r"\b(atomicrmw \w+|cmpxchg|fence|load atomic|store atomic)\s")
_STRONG = {"acquire": ("acquire", "acq_rel", "seq_cst"), "release": ("release", "acq_rel", "seq_cst")}


def _strong(line: str, side: str) -> bool:
    """Does this LLVM atomic instruction have at least ``side`` ordering (its first ordering,
    which for cmpxchg is the success ordering)?"""
    words = re.findall(r"\b(monotonic|unordered|acquire|release|acq_rel|seq_cst)\b", line)
    return bool(words) and words[0] in _STRONG[side]


def _join_all(threads: list[threading.Thread], timeout: float, what: str) -> None:
    join_all(threads, timeout, what, "Look for a push or pop that never finishes its retry loop, "
             "or a node that is never given back.")


# ----------------------------------------------------------------------------- Treiber
@njit(nogil=True)
def _churn(push_node, pop_node, st, mine, rounds, gate, threads, stop):
    start_gate(gate, threads, _NEVER)  # all threads start together: they must contend
    for k in mine:
        push_node(st, k)
    r = 0
    # At least `rounds` rounds, and on until told to stop: a run that spans several scheduler
    # time slices overlaps with the other threads even on a busy machine.
    while r < rounds or load_unchecked(stop, 0, _X) == 0:  # Relaxed: a flag that only ends it
        k = pop_node(st)
        if k >= 0:
            push_node(st, k)
        r += 1


@answers("push_node/pop_node", Q.treiber_push, Q.treiber_pop, _treiber._push_node,
         _treiber._pop_node, Q.TreiberStack, count=2)
def check_treiber(push_node: Any, pop_node: Any, threads: int = 2, nodes: int = 64,
                  rounds: int = 20_000, timeout: float = 20.0, trials: int = 3,
                  seconds: float = 0.2) -> None:
    """Check a learner's Treiber ``push_node(st, k)`` / ``pop_node(st) -> k`` (-1 if empty).

    The state uses :mod:`course_lib.queues`' stack layout (``treiber_new``): the head word
    ``st[TOP]`` packs ``index + 1`` and a tag (``pack_head``); node ``k``'s next is
    ``st[NODES + 2k]`` (index + 1, 0 for none). Checks LIFO order on one thread, that the tag
    grows with every change, then that after many threads (released together by a start gate)
    popped and pushed back nodes for at least ``rounds`` rounds and ``seconds`` seconds, every
    node is on the stack exactly once, in each of ``trials`` runs.

    Raises:
        AssertionError: wrong order, lost or duplicated nodes, tag never changes.
        CheckTimeout: the threads did not finish.
    Example:
        >>> check_treiber(my_push_node, my_pop_node)  # doctest: +SKIP
    """
    from course_lib.queues import head_tag, treiber_new
    from course_lib.queues.treiber import TOP, _walk

    st = treiber_new(nodes)
    st[TOP] = 0
    for k in (3, 1, 2):
        push_node(st, k)
    order = [int(pop_node(st)) for _ in range(4)]
    if order != [2, 1, 3, -1]:
        raise AssertionError(f"pushed nodes 3, 1, 2 then popped four times: got {order}, "
                             "expected [2, 1, 3, -1] (LIFO, then -1 when empty)")
    t0 = int(head_tag(np.int64(st[TOP])))
    push_node(st, 5)
    t1 = int(head_tag(np.int64(st[TOP])))
    pop_node(st)
    t2 = int(head_tag(np.int64(st[TOP])))
    if not t0 < t1 < t2:
        raise AssertionError(f"the head's tag went {t0} -> {t1} -> {t2} over a push and a pop; "
                             "it must grow on every successful compare_exchange, or ABA "
                             "can strike (use pack_head(index, head_tag(old) + 1))")
    per = nodes // threads
    _churn(push_node, pop_node, treiber_new(4), np.zeros(0, np.int64), 1, np.zeros(1, np.int64), 1,
           np.ones(1, np.int64))
    for trial in range(trials):  # a lost node needs an unlucky interleaving: give it chances
        st = treiber_new(nodes)
        st[TOP] = 0
        gate, stop = np.zeros(1, np.int64), np.zeros(1, np.int64)
        ts = [threading.Thread(target=_churn, daemon=True,
                               args=(push_node, pop_node, st,
                                     np.arange(t * per, (t + 1) * per, dtype=np.int64), rounds,
                                     gate, threads, stop))
              for t in range(threads)]
        for t in ts:
            t.start()
        time.sleep(seconds)
        stop[0] = 1
        _join_all(ts, timeout, "Treiber push/pop")
        found = _walk(st, TOP, nodes * 2)
        want = list(range(per * threads))
        if sorted(found) != want:
            seen = sorted(set(found))
            lost = sorted(set(want) - set(found))
            raise AssertionError(
                f"after {threads} threads each popped and pushed back nodes {rounds:,} times "
                f"(trial {trial + 1} of {trials}), the stack holds {len(found)} nodes "
                f"({len(seen)} distinct) instead of {len(want)}; lost nodes "
                f"{lost[:5]}{'...' if len(lost) > 5 else ''}. A push or pop that writes the head "
                "without compare_exchange, or gives up when its compare_exchange fails, loses "
                "another thread's change: retry until it succeeds.")


# ----------------------------------------------------------------------------- false sharing
@njit(nogil=True)
def _bump_stats(flat, row, n):
    for i in range(n):
        fetch_add_unchecked(flat, row, 1, _X)  # Relaxed: traffic only
        fetch_add_unchecked(flat, row + 1, i & 7, _X)


def _stats_time(stats: np.ndarray, threads: int, n: int) -> float:
    from course_lib.measure.threads import run_on_threads

    flat = stats.reshape(-1)
    row_words = stats.strides[0] // 8
    _bump_stats(flat, 0, 1)
    return run_on_threads(_bump_stats, [(flat, t * row_words, n) for t in range(threads)])


@answers("make_padded_stats", padding.padded_slots)
def check_padded_stats(make_stats: Callable[[int], np.ndarray], threads: int = 2,
                       n: int = 2_000_000, min_ratio: float = 1.2, rounds: int = 3) -> float:
    """Check a per-thread statistics layout: row ``t`` = thread ``t``, columns count, total.

    Graded: the layout. A C-contiguous 2-D int64 array with one row per thread, rows at least
    64 bytes apart (one cache line; 128 is better), the first row on a 64-byte boundary, all
    zero. That is what removes false sharing, and it can be checked on any machine.

    Measured and printed, not graded: in the same run, threads updating their rows compared with
    rows 16 bytes apart (unpadded), when two threads can run on different physical cores. A
    shared machine decides that figure as much as the layout does: under ``make soak`` (one
    core kept busy) correct layouts measured 0.93x to 1.18x in 27 of 40 gradings, so the ratio
    is feedback. Below ``min_ratio`` the message says what may be wrong.

    Args:
        make_stats: ``make_stats(threads) -> array`` (the learner's function).
        threads, n: threads and updates per thread in the timing.
        min_ratio: below this unpadded / padded ratio, the printed note says the measurement
            did not show the effect.
        rounds: interleaved timing rounds (median).
    Returns:
        The measured ratio (``nan`` when only the layout was checked).
    Raises:
        AssertionError: a bad layout (naming what is wrong with it).
    Example:
        >>> from course_lib.locks.padding import padded_slots
        >>> def make(t): return padded_slots(t * 16, np.int64, 8)[0].reshape(t, 16)
        >>> check_padded_stats(make) > 1  # doctest: +SKIP
    """
    stats = make_stats(threads)
    if not isinstance(stats, np.ndarray) or stats.dtype != np.int64 or stats.ndim != 2:
        raise AssertionError(f"make_stats({threads}) should return a 2-D int64 NumPy array "
                             f"(one row per thread), got {type(stats).__name__} "
                             f"{getattr(stats, 'dtype', '')} {getattr(stats, 'shape', '')}")
    if stats.shape[0] != threads or stats.shape[1] < 2:
        raise AssertionError(f"expected {threads} rows of at least 2 columns, got shape "
                             f"{stats.shape}")
    if stats.strides[1] != 8:
        raise AssertionError("the columns of one row should be adjacent (stride 8 bytes)")
    if stats.strides[0] < 64:
        raise AssertionError(f"rows are {stats.strides[0]} bytes apart: two threads' rows share "
                             "a 64-byte cache line, so their updates fight over it (false "
                             "sharing). Pad each row to 64 bytes or more (128 is safest).")
    if stats.ctypes.data % 64:
        raise AssertionError(f"the first row starts {stats.ctypes.data % 64} bytes into a cache "
                             "line, so a row can straddle two lines; align the buffer to 64 "
                             "(course_lib.locks.padding.aligned_zeros)")
    if np.any(stats != 0):
        raise AssertionError("the statistics should start at zero")
    cores = usable_physical_cores()
    if cores < 2:
        print(f"note: the layout is right; its speed is not judged here: the threads this process "
              f"may use share {cores} physical core (hyperthreads share one L1 cache, so false "
              "sharing costs them little)")
        return float("nan")
    from course_lib.locks.padding import aligned_zeros

    times = np.empty((rounds, 3))
    for r in range(rounds):
        bad = aligned_zeros(threads * 2, np.int64, 64).reshape(threads, 2)
        times[r, 0] = _stats_time(bad, threads, n)
        times[r, 1] = _stats_time(make_stats(threads), threads, n)
        times[r, 2] = _stats_time(make_stats(threads), 1, n)
    ratio = float(np.median(times[:, 0]) / np.median(times[:, 1]))
    side_by_side = np.median(times[:, 1]) <= 1.5 * np.median(times[:, 2])
    if ratio >= min_ratio:
        print(f"the layout is right, and padded rows ran {ratio:.2f}x faster than rows 16 bytes "
              f"apart ({threads} threads)")
    else:
        print(f"note: the layout is right (that is what is graded); padded rows ran {ratio:.2f}x as "
              f"fast as rows 16 bytes apart in this run, less than the {min_ratio}x false sharing "
              "usually costs. " + ("The threads did not run side by side (a busy machine): "
                                   "run the cell again when it is idle." if not side_by_side else
                                   "Another program may have shared the cores; run it again."))
    return ratio


# ----------------------------------------------------------------------------- choices
def check_choices(answers: dict, expected: dict, why: dict, allowed: tuple) -> None:
    """Grade a dict of choices by value, explaining each wrong one.

    Args:
        answers: the learner's ``{workload: choice}``.
        expected: ``{workload: right choice}``.
        why: ``{workload: explanation}`` shown when the choice is wrong.
        allowed: the valid choices.
    Raises:
        AssertionError: listing every wrong or invalid choice with its explanation.
    Example:
        >>> check_choices({"A": "x"}, {"A": "x"}, {"A": ""}, ("x", "y"))
    """
    if not isinstance(answers, dict):
        raise AssertionError(f"answers should be a dict like {{'A': ...}}, got "
                             f"{type(answers).__name__}")
    problems = []
    for key, right in expected.items():
        got = answers.get(key)
        if got not in allowed:
            problems.append(f"{key}: {got!r} is not one of {list(allowed)}")
        elif got != right:
            problems.append(f"{key}: not {got!r}. {why[key]}")
    if problems:
        raise AssertionError("\n".join(problems))


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_ttas", "check_numba_lock", "check_padded_stats", "check_treiber", "check_choices",)
seal(__name__)
