"""Lock-free queues and stacks of int64 values, shared by Python threads and numba ``nogil`` code.

1. :class:`ArrayQueue`: bounded MPMC queue, Vyukov's per-slot sequence numbers (``array_queue``).
2. :class:`SegQueue`: unbounded (up to a preallocated pool) MPMC queue of linked 31-slot blocks,
   crossbeam's design (``seg_queue``; its docstring says what is lock-free where).
3. :class:`TreiberStack`: lock-free stack over index-based nodes, with a tagged head (index and
   32-bit tag in one int64) that defeats ABA, or untagged (``tagged=False``) to show ABA;
   :func:`aba_schedule` replays the ABA interleaving step by step (``treiber``).
4. :class:`MutexQueue`: ``collections.deque`` + ``threading.Lock``, the baseline to beat.

Every structure keeps its whole state in one int64 array, ``.state``. From Python, ``push``
raises :class:`Full` and ``pop`` raises :class:`Empty`: the channels' errors (``channel.errors``),
which are also the standard library's ``queue.Full`` and ``queue.Empty``. Each is one numba call
that releases the GIL. From numba, ``<name>_push(state, v) -> status`` and
``<name>_pop(state) -> (status, v)``
with status :data:`OK`, :data:`FULL` or :data:`EMPTY`. :func:`produce` and :func:`consume` are
``nogil`` kernels that move many values through any of them (pass the push/pop function).

Source: D. Vyukov, "Bounded MPMC queue" (1024cores.net); crossbeam-queue ``array_queue.rs`` and
``seg_queue.rs``; R. K. Treiber, IBM RJ 5118 (1986); M. Herlihy, N. Shavit, "The Art of
Multiprocessor Programming", ch. 10-11.
Thread-safety: every push/pop is safe from any number of threads at once (MPMC).
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np
from numba import njit

from course_lib.atomics import Ordering, load_unchecked, spin_loop
from course_lib.channel.errors import Empty, Full
from course_lib.queues.array_queue import (EMPTY, FULL, OK, ArrayQueue, array_queue_len,
                                           array_queue_new, array_queue_pop, array_queue_push)
from course_lib.queues.seg_queue import (BLOCK_CAP, SegQueue, seg_queue_len, seg_queue_new,
                                         seg_queue_pop, seg_queue_push)
from course_lib.queues.treiber import NODES as TREIBER_NODES
from course_lib.queues.treiber import TOP as TREIBER_TOP
from course_lib.queues.treiber import (AbaTrace, TreiberStack, aba_schedule, head_index, head_tag,
                                       pack_head, treiber_new, treiber_pop, treiber_push)

__all__ = ["ArrayQueue", "SegQueue", "TreiberStack", "MutexQueue", "Full", "Empty",
           "OK", "FULL", "EMPTY", "BLOCK_CAP",
           "array_queue_new", "array_queue_push", "array_queue_pop", "array_queue_len",
           "seg_queue_new", "seg_queue_push", "seg_queue_pop", "seg_queue_len",
           "treiber_new", "treiber_push", "treiber_pop", "pack_head", "head_index", "head_tag",
           "TREIBER_TOP", "TREIBER_NODES", "aba_schedule", "AbaTrace", "produce", "consume",
           "NUMBA_OPS", "python_transfer", "numba_transfer"]

#: name -> (push, pop) numba functions, for :func:`produce` / :func:`consume`.
NUMBA_OPS = {"array": (array_queue_push, array_queue_pop), "seg": (seg_queue_push, seg_queue_pop),
             "treiber": (treiber_push, treiber_pop)}


class MutexQueue:
    """A FIFO queue as a ``deque`` behind one ``threading.Lock`` (the mutex baseline).

    Args:
        capacity: most items it holds (``None``: unbounded).
    Example:
        >>> q = MutexQueue(2); q.push(1); q.pop()
        1
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self._items: collections.deque = collections.deque()
        self._lock = threading.Lock()

    def push(self, value: object) -> None:
        """Append ``value``. Raises ``Full`` at capacity."""
        with self._lock:
            if self.capacity is not None and len(self._items) >= self.capacity:
                raise Full(f"MutexQueue is full (capacity {self.capacity})", value)
            self._items.append(value)

    def pop(self) -> object:
        """Remove the oldest value. Raises ``Empty`` when there is none."""
        with self._lock:
            if not self._items:
                raise Empty("MutexQueue is empty")
            return self._items.popleft()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


@njit(nogil=True)
def produce(push, state, first, n, stride):
    """Push ``first, first + stride, ...`` (``n`` values), spinning while the queue is full.

    Returns how many pushes found the queue full (back-pressure). Example (numba or Python):
    ``produce(array_queue_push, q.state, 0, 1000, 1)``.
    """
    full = 0
    for j in range(n):
        while push(state, first + j * stride) != OK:
            full += 1
            spin_loop()
    return full


@njit(nogil=True)
def consume(pop, state, out, start, n, stop):
    """Pop ``n`` values into ``out[start:start + n]``, spinning while empty, until ``stop[0]``.

    ``stop`` lets a caller end a consumer that waits for values that never come (a lost value
    must fail a test, not hang it). Returns how many values it got.
    """
    got = 0
    while got < n:
        status, v = pop(state)
        if status == OK:
            out[start + got] = v
            got += 1
        else:
            if load_unchecked(stop, 0, Ordering.Relaxed) != 0:  # Relaxed: only a stop flag
                break
            spin_loop()
    return got


def python_transfer(q: Any, n: int, timeout: float = 60.0) -> float:
    """Seconds to move ``0..n-1`` from a producer Python thread to this thread through ``q``.

    ``q`` needs ``push``/``pop`` raising ``Full``/``Empty`` (course_lib's queues)
    or ``put``/``get`` (``queue.Queue``); a full or empty queue makes the caller yield the GIL.

    Raises:
        AssertionError: values lost or reordered. TimeoutError: the producer got stuck.
    Example:
        >>> python_transfer(ArrayQueue(64), 1000) > 0
        True
    """
    if hasattr(q, "put"):
        put, get = q.put, q.get
    else:
        def put(v: int) -> None:
            while True:
                try:
                    return q.push(v)
                except Full:
                    time.sleep(0)

        def get() -> Any:
            while True:
                try:
                    return q.pop()
                except Empty:
                    time.sleep(0)

    t = threading.Thread(target=lambda: [put(i) for i in range(n)], daemon=True)
    start = time.perf_counter()
    t.start()
    total = 0
    for _ in range(n):
        total += get()
    t.join(timeout)
    elapsed = time.perf_counter() - start
    if t.is_alive():
        raise TimeoutError("the producer did not finish")
    if total != n * (n - 1) // 2:
        raise AssertionError(f"values lost or duplicated: sum {total}, expected {n * (n - 1) // 2}")
    return elapsed


def numba_transfer(kind: str, n: int, capacity: int = 1024, timeout: float = 60.0) -> float:
    """Seconds to move ``n`` values between two numba ``nogil`` threads through queue ``kind``.

    Args:
        kind: ``"array"`` or ``"seg"`` (FIFO queues of :data:`NUMBA_OPS`).
        n: values.
        capacity: ArrayQueue slots (SegQueue: pool blocks = capacity // 31 + 2).
    Returns:
        Seconds (thread start included).
    Raises:
        ValueError: unknown kind. AssertionError: lost values.
    Example:
        >>> numba_transfer("array", 10_000) > 0
        True
    """
    if kind not in ("array", "seg"):
        raise ValueError(f"kind must be 'array' or 'seg', got {kind!r}")
    push, pop = NUMBA_OPS[kind]
    st = array_queue_new(capacity) if kind == "array" else seg_queue_new(capacity // 31 + 2)
    out, stop = np.zeros(n, np.int64), np.zeros(1, np.int64)
    produce(push, st, 0, 1, 1)  # compile, and leave one value...
    consume(pop, st, out, 0, 1, stop)  # ...that this takes out again
    prod = threading.Thread(target=produce, args=(push, st, 0, n, 1), daemon=True)
    cons = threading.Thread(target=consume, args=(pop, st, out, 0, n, stop), daemon=True)
    start = time.perf_counter()
    prod.start()
    cons.start()
    prod.join(timeout)
    cons.join(timeout)
    elapsed = time.perf_counter() - start
    stop[0] = 1
    if not np.array_equal(out, np.arange(n)):
        raise AssertionError("values lost or reordered between the numba threads")
    return elapsed
