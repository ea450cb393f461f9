"""Checkers for chapter c04 (locks, lock-free queues, false sharing), used by tests and graded cells.

Every checker raises ``AssertionError`` with a message that teaches, and bounds every wait:

1. :func:`check_mutual_exclusion`: Python threads hammer a Python lock object; the critical
   section reads a counter, yields the GIL (``time.sleep(0)``, so a broken lock really lets
   another thread in), and writes it back; lost increments or two threads inside at once fail.
2. :func:`check_numba_lock`: the same with numba ``nogil`` threads and ``acquire(words, i)`` /
   ``release(words, i)`` functions (a learner's TTAS lock). A lock that never lets go fails
   after ``timeout`` seconds; the checker then forces the lock word to 0 until the stuck threads
   finish, so they do not spin for ever in the grader's background.
3. :func:`check_queue` (Python threads) and :func:`check_numba_queue` (numba threads): the queue
   battery: smoke, empty, capacity, order (FIFO: per-producer order), no loss, no duplicates.
4. :func:`check_treiber`: a learner's ``push_node``/``pop_node`` on the tagged stack layout.
5. :func:`check_padded_stats`: a per-thread statistics layout free of false sharing.

Source: crossbeam's queue tests (``smoke, capacity, spsc, mpmc``); the channel battery in
:mod:`course_lib.testing.batteries.channel`.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

import numpy as np
from numba import njit

from course_lib.atomics import Ordering, fetch_add_unchecked, load_unchecked, spin_loop
from course_lib.testing import CheckTimeout, call_with_timeout, join_all

__all__ = ["check_mutual_exclusion", "check_numba_lock", "check_queue", "check_numba_queue",
           "check_treiber", "check_padded_stats", "check_choices", "STRIDE"]

#: Values in the queue battery are ``producer * STRIDE + seq``.
STRIDE = 1 << 32
_X = Ordering.Relaxed


def _join_all(threads: list[threading.Thread], timeout: float, what: str) -> None:
    join_all(threads, timeout, what, "Look for a release that does not release, a wait loop whose "
             "condition never changes, or a lost wake-up.")


# ----------------------------------------------------------------------------- Python locks
def check_mutual_exclusion(lock_factory: Callable[[], Any], threads: int = 4,
                           rounds: int = 500, timeout: float = 10.0,
                           strict_release: bool = True) -> None:
    """Check that a Python lock lets one thread at a time into its critical section.

    Args:
        lock_factory: makes the lock (``threading.Lock``, ``TTASLock``, a learner's class).
            The lock needs ``acquire()`` and ``release()``; ``try_acquire()`` is checked if present.
        threads, rounds: Python threads, and lock/unlock rounds per thread.
        timeout: seconds before the threads are declared deadlocked.
        strict_release: also require ``release()`` by a thread that does not hold the lock to
            raise ``RuntimeError`` (``threading.Lock`` allows it: pass False).
    Raises:
        AssertionError: lost increments, two threads inside, a wrong ``try_acquire``, a release
            by a non-holder that passes silently. CheckTimeout: a deadlock.
    Example:
        >>> check_mutual_exclusion(threading.Lock, strict_release=False)
    """
    lock = lock_factory()
    name = getattr(lock, "name", type(lock).__name__)
    state = {"counter": 0, "inside": 0, "max_inside": 0}
    errors: list[BaseException] = []

    def body() -> None:
        try:
            for r in range(rounds):
                lock.acquire()
                state["inside"] += 1
                state["max_inside"] = max(state["max_inside"], state["inside"])
                v = state["counter"]
                if r % 4 == 0:
                    # Hand the GIL over inside the critical section. A real (tiny) sleep, not
                    # sleep(0): releasing the GIL does not make the interpreter switch threads,
                    # and on Python 3.10 the same thread usually took it straight back, so a
                    # lock that excludes nothing went unnoticed.
                    time.sleep(1e-5)
                state["counter"] = v + 1
                state["inside"] -= 1
                lock.release()
        except BaseException as exc:  # reported below
            errors.append(exc)

    ts = [threading.Thread(target=body, daemon=True, name=f"mutex-check-{k}")
          for k in range(threads)]
    for t in ts:
        t.start()
    _join_all(ts, timeout, f"{name} under {threads} threads")
    if errors:
        raise AssertionError(f"{name}: a thread raised {type(errors[0]).__name__}: {errors[0]}")
    expected = threads * rounds
    if state["counter"] != expected or state["max_inside"] > 1:
        raise AssertionError(
            f"{name} did not exclude: the counter reached {state['counter']:,} instead of "
            f"{expected:,} ({expected - state['counter']:,} increments lost: two threads read "
            f"the same old value), and up to {state['max_inside']} threads were inside at once.")
    _check_try_and_release(lock, name, timeout, strict_release)


def _check_try_and_release(lock: Any, name: str, timeout: float, strict: bool) -> None:
    held, go = threading.Event(), threading.Event()
    out: dict[str, Any] = {}

    def holder() -> None:
        lock.acquire()
        held.set()
        go.wait(timeout)
        lock.release()

    t = threading.Thread(target=holder, daemon=True)
    t.start()
    if not held.wait(timeout):
        raise CheckTimeout(f"{name}: a free lock could not be acquired within {timeout:g} s")
    try:
        if hasattr(lock, "try_acquire"):
            out["try"] = lock.try_acquire()
        if strict:
            try:
                lock.release()
                out["release"] = "passed"
            except RuntimeError:
                out["release"] = "raised"
    finally:
        go.set()
    _join_all([t], timeout, f"{name} holder")
    if out.get("try") is True:
        try:
            lock.release()
        except RuntimeError:
            pass
        raise AssertionError(f"{name}.try_acquire() returned True while another thread held the "
                             "lock: it must take the lock only when it is free.")
    if strict and out.get("release") == "passed":
        raise AssertionError(f"{name}.release() from a thread that does not hold the lock passed "
                             "silently; it must raise RuntimeError (it would let a second "
                             "thread in).")
    if hasattr(lock, "try_acquire"):
        if lock.try_acquire() is not True:
            raise AssertionError(f"{name}.try_acquire() on a free lock did not return True")
        lock.release()


# ----------------------------------------------------------------------------- numba locks
@njit(nogil=True)
def _numba_hammer(acquire, release, words, i, shared, n, gate, threads):
    # Start together: arrive, then wait for everybody (else a short run may never overlap).
    fetch_add_unchecked(gate, 0, 1, _X)  # Relaxed: a rendezvous count, it orders nothing
    while load_unchecked(gate, 0, _X) < threads:
        spin_loop()
    for _ in range(n):
        acquire(words, i)
        v = shared[0]
        # A few steps inside, so that a lock that does not exclude shows lost updates.
        x = shared[1] | 1
        for _ in range(8):
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
        shared[1] = x
        shared[0] = v + 1
        release(words, i)


#: Seconds allowed for numba to compile the learner's lock functions (not part of ``timeout``).
_COMPILE_TIMEOUT = 60.0


def _compile_hammer(args: tuple) -> None:
    import numba

    _numba_hammer.compile(tuple(numba.typeof(a) for a in args))


def check_numba_lock(acquire: Any, release: Any, threads: int = 3, n: int = 100_000,
                     timeout: float = 10.0, two_words: bool = False) -> None:
    """Check a numba lock (``acquire(words, i)``, ``release(words, i)``) with numba threads.

    Args:
        acquire, release: ``@njit`` functions on an int64 lock-word array and an index.
        threads, n: numba ``nogil`` threads (started from Python) and rounds per thread.
        timeout: seconds before the lock is declared deadlocked (compiling the functions
            first has its own bound, ``_COMPILE_TIMEOUT``).
        two_words: the lock uses ``words[i]`` and ``words[i + 1]`` (a ticket lock).
    Raises:
        TypeError: the functions are not numba functions.
        AssertionError: lost increments. CheckTimeout: the threads did not finish, or
            compiling took too long.
    Example:
        >>> from course_lib.locks import ttas_acquire, ttas_release
        >>> check_numba_lock(ttas_acquire, ttas_release, n=1000)
    """
    for fn in (acquire, release):
        if not hasattr(fn, "py_func"):
            raise TypeError(f"{getattr(fn, '__name__', fn)!r} is not a numba function: "
                            "decorate it with @numba.njit so numba threads can call it")
    words = np.zeros(32, np.int64)
    shared = np.zeros(2, np.int64)
    # Compile first, with a generous bound of its own (a slow grader can take many seconds),
    # so that the timed single-thread run below measures the lock and nothing else.
    probe_args = (acquire, release, words, 8, shared, 2, np.ones(1, np.int64), 1)
    try:
        call_with_timeout(_compile_hammer, probe_args, timeout=_COMPILE_TIMEOUT,
                          what="compiling")
    except CheckTimeout:
        raise CheckTimeout(f"compiling {acquire.__name__}/{release.__name__} took more than "
                           f"{_COMPILE_TIMEOUT:g} s; the machine may be very busy, or numba "
                           "cannot finish typing them (run each once on its own to see)") from None
    probe = threading.Thread(target=_numba_hammer, args=probe_args, daemon=True)
    probe.start()
    probe.join(timeout)
    if probe.is_alive():
        _unstick(words, 8, [probe], two_words)
        raise CheckTimeout(f"{acquire.__name__}: one thread alone could not acquire, release "
                           "and acquire again: does release really set the word back to 0?")
    shared[:] = 0
    gate = np.zeros(1, np.int64)
    ts = [threading.Thread(target=_numba_hammer, daemon=True,
                           args=(acquire, release, words, 0, shared, n, gate, threads))
          for _ in range(threads)]
    for t in ts:
        t.start()
    try:
        _join_all(ts, timeout, f"{acquire.__name__}/{release.__name__}")
    except CheckTimeout:
        _unstick(words, 0, ts, two_words)
        raise
    expected = threads * n
    if int(shared[0]) != expected:
        raise AssertionError(
            f"{acquire.__name__} did not exclude: {threads} threads x {n:,} increments reached "
            f"{int(shared[0]):,}, {expected - int(shared[0]):,} lost (two threads were in the "
            "critical section and read the same old value). Does acquire loop until *it* "
            "changed the word from 0 to 1 (swap or compare_exchange), not just until it saw 0?")


def _unstick(words: np.ndarray, i: int, ts: list[threading.Thread], two_words: bool,
             grace: float = 3.0) -> None:
    """Force a stuck lock open, again and again, so the threads spinning on it can finish."""
    end = time.perf_counter() + grace
    while any(t.is_alive() for t in ts) and time.perf_counter() < end:
        if two_words:
            words[i + 1] = words[i]
        else:
            words[i] = 0
        time.sleep(0)


# ----------------------------------------------------------------------------- queue battery
def _push_retry(q: Any, v: int, deadline: float) -> None:
    while True:
        try:
            q.push(v)
            return
        except Exception as exc:  # queue.Full, or whatever a learner raises when full
            if type(exc).__name__ != "Full":
                raise
            if time.perf_counter() > deadline:
                raise CheckTimeout(f"push({v}) found the queue full for too long: are popped "
                                   "slots never given back?") from None
            time.sleep(0)


def check_queue(make: Callable[[], Any], fifo: bool = True, capacity: Optional[int] = None,
                producers: int = 2, consumers: int = 2, n: int = 2000,
                timeout: float = 10.0) -> None:
    """The queue battery for Python threads: smoke, empty, capacity, order, no loss, no dups.

    Args:
        make: makes an empty queue with ``push(v)`` (``queue.Full`` when full) and ``pop()``
            (``queue.Empty`` when empty), holding int64 values.
        fifo: check FIFO order (values of one producer come out in push order, for every
            consumer); False for stacks (then only no loss / no duplicates).
        capacity: if given, exactly this many pushes must fit in an empty queue.
        producers, consumers, n: threads and values per producer.
        timeout: bound on the whole many-thread check.
    Raises:
        AssertionError: with what went wrong. CheckTimeout: a stuck push/pop.
    Example:
        >>> from course_lib.queues import ArrayQueue
        >>> check_queue(lambda: ArrayQueue(64), capacity=64, n=200)
    """
    call_with_timeout(_single_thread_checks, make, fifo, capacity, timeout=timeout,
                      what="the single-thread checks (push, pop, capacity)")
    _many_threads(make(), fifo, producers, consumers, n, timeout)


def _single_thread_checks(make: Callable[[], Any], fifo: bool, capacity: Optional[int]) -> None:
    import queue as stdq

    q = make()
    try:
        q.pop()
        raise AssertionError("pop() on a new, empty queue returned a value; it must raise "
                             "queue.Empty")
    except stdq.Empty:
        pass
    for v in (5, -7, 1 << 40):
        q.push(v)
        got = q.pop()
        if got != v:
            raise AssertionError(f"push({v}) then pop() returned {got!r}")
    q.push(1)
    q.push(2)
    first, second = q.pop(), q.pop()
    if fifo and (first, second) != (1, 2):
        raise AssertionError(f"pushed 1 then 2, popped {first} then {second}: not FIFO")
    if not fifo and (first, second) != (2, 1):
        raise AssertionError(f"pushed 1 then 2 on a stack, popped {first} then {second}: not LIFO")
    if capacity is not None:
        q = make()
        for k in range(capacity):
            try:
                q.push(k)
            except stdq.Full:
                raise AssertionError(f"the queue claimed to be full after {k} pushes; its "
                                     f"capacity is {capacity}") from None
        try:
            q.push(-1)
            raise AssertionError(f"push number {capacity + 1} into a queue of capacity "
                                 f"{capacity} succeeded; it must raise queue.Full")
        except stdq.Full:
            pass
        q.pop()
        q.push(-2)  # a freed slot is usable again


def _many_threads(q: Any, fifo: bool, producers: int, consumers: int, n: int,
                  timeout: float) -> None:
    import queue as stdq

    deadline = time.perf_counter() + timeout
    total = producers * n
    taken = [0]
    producing = [producers]
    take_lock = threading.Lock()
    outs: list[list[int]] = [[] for _ in range(consumers)]
    errors: list[BaseException] = []

    def producer(p: int) -> None:
        try:
            for s in range(n):
                _push_retry(q, p * STRIDE + s, deadline)
        except BaseException as exc:
            errors.append(exc)
        finally:
            with take_lock:
                producing[0] -= 1

    def consumer(c: int) -> None:
        out = outs[c]
        idle = 0  # empty polls in a row since the producers finished
        try:
            while time.perf_counter() < deadline:
                with take_lock:
                    if taken[0] >= total:
                        return
                    done = producing[0] == 0
                try:
                    v = q.pop()
                except stdq.Empty:
                    idle = idle + 1 if done else 0
                    if idle > 1000:
                        return  # all pushed, nothing left: the rest was lost
                    time.sleep(0)
                    continue
                idle = 0
                out.append(v)
                with take_lock:
                    taken[0] += 1
        except BaseException as exc:
            errors.append(exc)

    ts = [threading.Thread(target=producer, args=(p,), daemon=True) for p in range(producers)]
    ts += [threading.Thread(target=consumer, args=(c,), daemon=True) for c in range(consumers)]
    for t in ts:
        t.start()
    _join_all(ts, timeout + 1.0, f"{producers} producers / {consumers} consumers")
    if errors:
        raise AssertionError(f"a thread raised {type(errors[0]).__name__}: {errors[0]}")
    _verify(outs, producers, n, fifo)


def _verify(outs: list, producers: int, n: int, fifo: bool) -> None:
    """No loss, no duplicates, no strangers, per-producer order in each consumer's stream."""
    everything = np.concatenate([np.asarray(o, np.int64) for o in outs]) if outs else \
        np.zeros(0, np.int64)
    expected = np.array([p * STRIDE + s for p in range(producers) for s in range(n)], np.int64)
    values, counts = np.unique(everything, return_counts=True)
    dups = values[counts > 1]
    missing = np.setdiff1d(expected, values)
    strangers = np.setdiff1d(values, expected)
    if len(strangers):
        raise AssertionError(f"popped {len(strangers)} values nobody pushed (e.g. "
                             f"{int(strangers[0])}): a slot read before it was written?")
    if len(dups):
        raise AssertionError(f"{len(dups)} values came out twice (e.g. producer "
                             f"{int(dups[0]) // STRIDE}, item {int(dups[0]) % STRIDE}): two "
                             "consumers took the same slot")
    if len(missing):
        raise AssertionError(f"{len(missing)} of {len(expected)} values were lost (e.g. "
                             f"producer {int(missing[0]) // STRIDE}, item "
                             f"{int(missing[0]) % STRIDE}): two producers wrote the same slot, "
                             "or a slot was freed before it was read")
    if fifo:
        for c, o in enumerate(outs):
            o = np.asarray(o, np.int64)
            for p in range(producers):
                seq = o[o // STRIDE == p] % STRIDE
                if len(seq) > 1 and np.any(np.diff(seq) <= 0):
                    k = int(np.argmax(np.diff(seq) <= 0))
                    raise AssertionError(
                        f"consumer {c} got producer {p}'s item {int(seq[k + 1])} after item "
                        f"{int(seq[k])}: a FIFO queue must keep each producer's order")


def check_numba_queue(push: Any, pop: Any, new_state: Callable[[], np.ndarray],
                      fifo: bool = True, producers: int = 2, consumers: int = 2,
                      n: int = 20_000, timeout: float = 20.0) -> None:
    """The battery's many-thread part with numba ``nogil`` threads and numba push/pop.

    Args:
        push, pop: ``push(state, v) -> status``, ``pop(state) -> (status, v)`` (status 0 = OK).
        new_state: makes the state array of an empty queue.
        fifo, producers, consumers, n, timeout: as :func:`check_queue`.
    Raises:
        AssertionError, CheckTimeout: as :func:`check_queue`.
    Example:
        >>> from course_lib import queues as Q
        >>> check_numba_queue(Q.array_queue_push, Q.array_queue_pop,
        ...                   lambda: Q.array_queue_new(64), n=1000)
    """
    from course_lib.queues import consume, produce

    st = new_state()
    stop = np.zeros(1, np.int64)
    total = producers * n
    out = np.full(total, -1, np.int64)
    share = [total // consumers + (c < total % consumers) for c in range(consumers)]
    starts = np.concatenate([[0], np.cumsum(share)[:-1]]).astype(np.int64)
    produce(push, new_state(), 0, 1, 1)  # compile outside the timed threads
    consume(pop, new_state(), np.zeros(1, np.int64), 0, 0, stop)
    got = [0] * consumers

    def run_consumer(c: int) -> None:
        got[c] = consume(pop, st, out, starts[c], share[c], stop)

    ts = [threading.Thread(target=produce, args=(push, st, p * STRIDE, n, 1), daemon=True)
          for p in range(producers)]
    ts += [threading.Thread(target=run_consumer, args=(c,), daemon=True)
           for c in range(consumers)]
    for t in ts:
        t.start()
    deadline = time.perf_counter() + timeout
    for t in ts[producers:]:
        t.join(max(0.0, deadline - time.perf_counter()))
    stop[0] = 1  # consumers still waiting give up: their missing values are reported as lost
    for t in ts:
        t.join(2.0)
    if any(t.is_alive() for t in ts[:producers]):
        raise CheckTimeout(f"producers still pushing after {timeout:g} s: the queue stays full")
    outs = [out[starts[c]:starts[c] + got[c]] for c in range(consumers)]
    _verify(outs, producers, n, fifo)


# ----------------------------------------------------------------------------- Treiber
@njit(nogil=True)
def _churn(push_node, pop_node, st, mine, rounds):
    for k in mine:
        push_node(st, k)
    for _ in range(rounds):
        k = pop_node(st)
        if k >= 0:
            push_node(st, k)


def check_treiber(push_node: Any, pop_node: Any, threads: int = 2, nodes: int = 64,
                  rounds: int = 20_000, timeout: float = 20.0) -> None:
    """Check a learner's Treiber ``push_node(st, k)`` / ``pop_node(st) -> k`` (-1 if empty).

    The state uses :mod:`course_lib.queues`' stack layout (``treiber_new``): the head word
    ``st[TOP]`` packs ``index + 1`` and a tag (``pack_head``); node ``k``'s next is
    ``st[NODES + 2k]`` (index + 1, 0 for none). Checks LIFO order on one thread, that the tag
    grows with every change, then that after many threads popped and pushed back nodes at
    random every node is on the stack exactly once.

    Raises:
        AssertionError: wrong order, lost or duplicated nodes, tag never changes.
        CheckTimeout: the threads did not finish.
    Example:
        >>> check_treiber(my_push_node, my_pop_node)  # doctest: +SKIP
    """
    from course_lib.queues.treiber import TOP, _walk
    from course_lib.queues import head_tag, treiber_new

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
    st = treiber_new(nodes)
    st[TOP] = 0
    per = nodes // threads
    ts = [threading.Thread(target=_churn, daemon=True,
                           args=(push_node, pop_node, st,
                                 np.arange(t * per, (t + 1) * per, dtype=np.int64), rounds))
          for t in range(threads)]
    _churn(push_node, pop_node, treiber_new(4), np.zeros(0, np.int64), 1)  # compile
    for t in ts:
        t.start()
    _join_all(ts, timeout, "Treiber push/pop")
    found = _walk(st, TOP, nodes * 2)
    want = list(range(per * threads))
    if sorted(found) != want:
        seen = sorted(set(found))
        lost = sorted(set(want) - set(found))
        raise AssertionError(
            f"after {threads} threads each popped and pushed back nodes {rounds:,} times, the "
            f"stack holds {len(found)} nodes ({len(seen)} distinct) instead of {len(want)}; "
            f"lost nodes {lost[:5]}{'...' if len(lost) > 5 else ''}. A push or pop that "
            "writes the head without compare_exchange overwrites another thread's change.")


# ----------------------------------------------------------------------------- false sharing
@njit(nogil=True)
def _bump_stats(flat, row, n):
    for i in range(n):
        fetch_add_unchecked(flat, row, 1, _X)  # Relaxed: traffic only
        fetch_add_unchecked(flat, row + 1, i & 7, _X)


def _stats_time(stats: np.ndarray, threads: int, n: int) -> float:
    from course_lib.locks.padding import run_on_threads

    flat = stats.reshape(-1)
    row_words = stats.strides[0] // 8
    _bump_stats(flat, 0, 1)
    return run_on_threads(_bump_stats, [(flat, t * row_words, n) for t in range(threads)])


_SYSFS_CPU = "/sys/devices/system/cpu"


def _separate_cores() -> int:
    """Physical cores among the CPUs this process may use (two hyperthreads of one core count
    once), capped by :func:`course_lib.measure.machine.usable_cores` (affinity, cgroup quota)."""
    import os

    from course_lib.measure.machine import describe, usable_cores

    usable = usable_cores()
    cores = None
    if hasattr(os, "sched_getaffinity"):  # Linux: the topology of the CPUs we may run on
        ids = set()
        for cpu in os.sched_getaffinity(0):
            base = f"{_SYSFS_CPU}/cpu{cpu}/topology/"
            try:
                with open(base + "core_id") as f1, open(base + "physical_package_id") as f2:
                    ids.add((f2.read().strip(), f1.read().strip()))
            except OSError:
                ids = set()
                break
        cores = len(ids) or None
    if cores is None:  # macOS, or no sysfs: the machine's count of physical cores
        cores = describe().physical_cores or usable
    return max(1, min(cores, usable))


def check_padded_stats(make_stats: Callable[[int], np.ndarray], threads: int = 2,
                       n: int = 2_000_000, min_ratio: float = 1.2, rounds: int = 3) -> float:
    """Check a per-thread statistics layout: row ``t`` = thread ``t``, columns count, total.

    Layout (always): a C-contiguous 2-D int64 array with one row per thread, rows at least
    64 bytes apart (one cache line; 128 is better), the first row on a 64-byte boundary.
    Speed (only when two threads can run on different physical cores, and only when the threads really ran side by side: on the
    padded layout they took at most 1.5x one thread's time): in the same run, threads updating
    their rows must go ``min_ratio`` times faster than with rows 16 bytes apart (unpadded).

    Args:
        make_stats: ``make_stats(threads) -> array`` (the learner's function).
        threads, n: threads and updates per thread in the timing.
        min_ratio: lenient bound on unpadded time / padded time.
        rounds: interleaved timing rounds (median).
    Returns:
        The measured ratio (``nan`` when only the layout was checked).
    Raises:
        AssertionError: a bad layout, or no speedup over the unpadded layout.
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
    cores = _separate_cores()
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
    if np.median(times[:, 1]) > 1.5 * np.median(times[:, 2]):
        return float("nan")  # the threads did not run side by side (busy machine): layout only
    ratio = float(np.median(times[:, 0]) / np.median(times[:, 1]))
    if ratio < min_ratio:
        raise AssertionError(f"the padded layout ran only {ratio:.2f}x faster than rows 16 bytes "
                             f"apart (expected at least {min_ratio}x); a busy machine can do "
                             "this, so run the cell again; if it persists check the layout")
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
