"""The queue battery: smoke, empty, capacity, order, no loss, no duplicates, under many threads.

1. :func:`check_queue`: Python threads drive a queue object with ``push(v)`` (raising
   ``queue.Full`` when full; course_lib's ``Full`` is one) and ``pop()`` (raising
   ``queue.Empty``).
2. :func:`check_numba_queue`: numba ``nogil`` threads drive ``push(state, v) -> status`` and
   ``pop(state) -> (status, v)`` functions on an int64 state array.

Values are ``producer * STRIDE + seq``, so every lost, duplicated or reordered value names the
producer and the item. Used by the tests of ``course_lib.queues`` and by chapter c04's
exercises (``testing.exercises.c04_locks``).

Source: crossbeam-queue's tests (``smoke``, ``capacity``, ``spsc``, ``mpmc``).
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Optional

import numpy as np

from course_lib.testing import CheckTimeout, call_with_timeout, join_all

__all__ = ["check_queue", "check_numba_queue", "STRIDE"]

#: Values in the queue battery are ``producer * STRIDE + seq``.
STRIDE = 1 << 32


def _join_all(threads: list[threading.Thread], timeout: float, what: str) -> None:
    join_all(threads, timeout, what, "Look for a slot that is never given back, a wait loop whose "
             "condition never changes, or a lost wake-up.")


# ----------------------------------------------------------------------------- queue battery
def _push_retry(q: Any, v: int, deadline: float) -> None:
    while True:
        try:
            q.push(v)
            return
        except queue.Full:  # course_lib's Full is a queue.Full too
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

    q = make()
    try:
        q.pop()
        raise AssertionError("pop() on a new, empty queue returned a value; it must raise "
                             "queue.Empty")
    except queue.Empty:
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
            except queue.Full:
                raise AssertionError(f"the queue claimed to be full after {k} pushes; its "
                                     f"capacity is {capacity}") from None
        try:
            q.push(-1)
            raise AssertionError(f"push number {capacity + 1} into a queue of capacity "
                                 f"{capacity} succeeded; it must raise queue.Full")
        except queue.Full:
            pass
        q.pop()
        q.push(-2)  # a freed slot is usable again


def _many_threads(q: Any, fifo: bool, producers: int, consumers: int, n: int,
                  timeout: float) -> None:

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
                except queue.Empty:
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
