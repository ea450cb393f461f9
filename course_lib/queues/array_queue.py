"""ArrayQueue: Vyukov's bounded MPMC queue on one int64 array (numba functions + Python class).

Layout of the state array ``q`` (all int64; 128-byte aligned, head and tail on their own lines):

- ``q[CAP]`` capacity; ``q[HEAD]`` next position to pop; ``q[TAIL]`` next position to push
  (positions only grow; slot of position ``p`` is ``p % cap``);
- from ``q[SLOTS]`` on, slot ``k`` is two words: ``q[SLOTS + 2k]`` its *sequence number*
  (``seq``) and ``q[SLOTS + 2k + 1]`` its value.

The sequence number says whose turn the slot is:

1. ``seq == p``: free for the producer of position ``p``. A producer reads ``tail = p``; if the
   slot's ``seq == p`` it claims the position with ``compare_exchange(tail, p, p + 1)``, writes
   the value, then stores ``seq = p + 1`` (Release): "full, for the consumer of position ``p``".
   ``seq < p``: the slot still holds the value from one lap ago: the queue is **full**.
2. ``seq == p + 1``: full for the consumer of position ``p``. A consumer reads ``head = p``; if
   ``seq == p + 1`` it claims with ``compare_exchange(head, p, p + 1)``, reads the value, then
   stores ``seq = p + cap`` (Release): "free, for the producer one lap later".
   ``seq < p + 1``: nothing written there yet: the queue is **empty**.
3. ``seq`` larger than expected: another thread claimed ``p`` first; reload and retry.

Progress: producers never wait for consumers or each other: a failed CAS means someone else
succeeded (lock-free). One subtlety (Vyukov's own remark): between a producer's CAS and its
``seq`` store the slot is claimed but not yet published, so a consumer of *that* position
sees "empty" until the producer resumes; if the producer is preempted there, consumers of that
position wait on it. Strictly that is not lock-free, but it is only ever one slot, and no lock.

Memory ordering: the value is published by the Release store of ``seq`` and picked up by the
Acquire load of ``seq``; the CASes on head/tail only hand out positions (the slot's ``seq``
carries the data), so they can be Relaxed; positions are re-read Relaxed for the same reason.

Source: D. Vyukov, "Bounded MPMC queue", 1024cores.net (2010); crossbeam-queue ``array_queue.rs``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from course_lib.atomics import (Ordering, compare_exchange_weak_unchecked, load_unchecked,
                                spin_loop, store_unchecked)
from course_lib.channel.errors import Empty, Full
from course_lib.locks.padding import aligned_zeros

__all__ = ["OK", "FULL", "EMPTY", "array_queue_new", "array_queue_push", "array_queue_pop",
           "array_queue_len", "ArrayQueue"]

#: Status codes returned by the numba-side push/pop functions of every queue here.
OK, FULL, EMPTY = 0, 1, 2

CAP, HEAD, TAIL, SLOTS = 0, 16, 32, 48  # word indices: 128 bytes between head, tail and slots

_A, _R, _X = Ordering.Acquire, Ordering.Release, Ordering.Relaxed


def array_queue_new(capacity: int) -> np.ndarray:
    """The state array of an empty queue of ``capacity`` slots (128-byte aligned).

    Raises:
        ValueError: ``capacity`` is not an integer >= 2. (With one slot, "full, for the
            consumer of position p" and "free, for the producer of position p + 1" would both
            be ``seq == p + 1``: a producer would overwrite an unread value.)
    Example:
        >>> q = array_queue_new(4); array_queue_push(q, 7), array_queue_pop(q)
        (0, (0, 7))
    """
    if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) \
            or capacity < 2:
        raise ValueError(f"capacity must be an integer >= 2, got {capacity!r} (with one slot "
                         "the sequence numbers cannot tell 'full' from 'free next lap')")
    cap = int(capacity)
    q = aligned_zeros(SLOTS + 2 * cap, np.int64, 128)
    q[CAP] = cap
    q[SLOTS:SLOTS + 2 * cap:2] = np.arange(cap)  # slot k is free for position k
    return q


@njit(nogil=True, cache=True)
def array_queue_push(q, value):
    """Push ``value``; returns ``OK`` or ``FULL`` (never waits). Example: see ``array_queue_new``."""
    cap = q[CAP]
    pos = load_unchecked(q, TAIL, _X)  # Relaxed: only a guess, validated by seq and the CAS
    while True:
        s = SLOTS + 2 * (pos % cap)
        seq = load_unchecked(q, s, _A)  # Acquire: pairs with the consumer's Release "free"
        dif = seq - pos
        if dif == 0:
            # Relaxed CAS: it hands out the position; the slot's seq carries the data.
            ok, seen = compare_exchange_weak_unchecked(q, TAIL, pos, pos + 1, _X, _X)
            if ok:
                store_unchecked(q, s + 1, value, _X)  # Relaxed: published by the store below
                store_unchecked(q, s, pos + 1, _R)  # Release: value visible before "full"
                return OK
            pos = seen
        elif dif < 0:
            return FULL  # the slot still holds last lap's value: no room
        else:
            pos = load_unchecked(q, TAIL, _X)  # someone took pos: try the new tail
            spin_loop()


@njit(nogil=True, cache=True)
def array_queue_pop(q):
    """Pop the oldest value: ``(OK, value)`` or ``(EMPTY, 0)`` (never waits)."""
    cap = q[CAP]
    pos = load_unchecked(q, HEAD, _X)  # Relaxed: a guess, as in push
    while True:
        s = SLOTS + 2 * (pos % cap)
        seq = load_unchecked(q, s, _A)  # Acquire: pairs with the producer's Release "full"
        dif = seq - (pos + 1)
        if dif == 0:
            ok, seen = compare_exchange_weak_unchecked(q, HEAD, pos, pos + 1, _X, _X)
            if ok:
                v = load_unchecked(q, s + 1, _X)  # Relaxed: ordered by the Acquire of seq
                store_unchecked(q, s, pos + cap, _R)  # Release: our read done before "free"
                return OK, v
            pos = seen
        elif dif < 0:
            return EMPTY, 0
        else:
            pos = load_unchecked(q, HEAD, _X)
            spin_loop()


@njit(nogil=True, cache=True)
def array_queue_len(q):
    """Items in the queue (a snapshot, exact when nobody pushes or pops)."""
    while True:
        tail = load_unchecked(q, TAIL, _A)
        head = load_unchecked(q, HEAD, _A)
        if load_unchecked(q, TAIL, _A) == tail:  # a consistent pair
            n = tail - head
            return 0 if n < 0 else (q[CAP] if n > q[CAP] else n)


class ArrayQueue:
    """Bounded lock-free MPMC queue of int64 values (Vyukov), shared by Python and numba.

    ``push`` raises ``Full`` when there is no free slot, ``pop`` raises ``Empty``:
    they never block. The state lives in ``.state`` (an int64 array): numba ``nogil`` code calls
    ``array_queue_push(q.state, v) -> status`` and ``array_queue_pop(q.state) -> (status, v)``
    on the same queue. Called from Python, each push/pop is one numba call that releases the GIL.

    Args:
        capacity: number of slots, at least 2 (see :func:`array_queue_new`).
    Raises:
        ValueError: ``capacity`` not an integer >= 2.
    Example:
        >>> q = ArrayQueue(2); q.push(1); q.push(2)
        >>> q.push(3)
        Traceback (most recent call last):
        Full: ArrayQueue is full (capacity 2)
        >>> q.pop(), len(q)
        (1, 1)
    """

    def __init__(self, capacity: int) -> None:
        self.state = array_queue_new(capacity)
        self.capacity = int(capacity)

    def push(self, value: int) -> None:
        """Append ``value`` (an int that fits int64).

        Raises:
            Full: no free slot. TypeError/OverflowError: not an int64 value.
        """
        if array_queue_push(self.state, _as_int64(value)) != OK:
            raise Full(f"ArrayQueue is full (capacity {self.capacity})", value)

    def pop(self) -> int:
        """Remove and return the oldest value.

        Raises:
            Empty: nothing to pop.
        """
        status, v = array_queue_pop(self.state)
        if status != OK:
            raise Empty("ArrayQueue is empty")
        return int(v)

    def slots(self) -> tuple[np.ndarray, np.ndarray]:
        """``(sequence numbers, values)`` of the slots: a snapshot, to look inside.

        Example:
            >>> q = ArrayQueue(2); q.push(9); q.slots()
            (array([1, 1]), array([9, 0]))
        """
        cap = self.capacity
        return (self.state[SLOTS:SLOTS + 2 * cap:2].copy(),
                self.state[SLOTS + 1:SLOTS + 2 * cap:2].copy())

    def positions(self) -> tuple[int, int]:
        """``(head, tail)``: the next positions to pop and to push (a snapshot)."""
        return int(self.state[HEAD]), int(self.state[TAIL])

    def __len__(self) -> int:
        return int(array_queue_len(self.state))

    def __repr__(self) -> str:
        return f"<ArrayQueue {len(self)}/{self.capacity}>"


def _as_int64(value: Any) -> int:
    if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"these queues hold int64 values, got {type(value).__name__} {value!r}")
    v = int(value)
    if not -(1 << 63) <= v < (1 << 63):
        raise OverflowError(f"{v} does not fit in int64")
    return v
