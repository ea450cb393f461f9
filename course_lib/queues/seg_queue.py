"""SegQueue: an unbounded MPMC queue of linked fixed-size segments (crossbeam's design), in arrays.

crossbeam's ``SegQueue`` allocates blocks of 31 slots on demand and links them; here the blocks
come from a pool preallocated in one int64 array (numba cannot allocate shared memory from
several threads), and a block goes back to the pool once all its slots have been read. So the
queue holds any number of items **up to the pool** (``(blocks - 1) * 31`` at least), and its
memory follows what is in it, not a fixed capacity.

Layout (int64 words): ``st[HEAD_INDEX], st[HEAD_BLOCK]`` on one line, ``st[TAIL_INDEX],
st[TAIL_BLOCK]`` on another, ``st[FREE]`` (tagged head of the free list of blocks) on a third;
block ``b`` at ``POOL + b * BLOCK_WORDS``: ``next`` (block + 1, 0 = none), ``reads`` (slots
read so far), then per slot ``state`` (1 = written) and ``value``.

A position ``p`` (head or tail index) lives in lap ``p // LAP`` at offset ``p % LAP``; offsets
0..30 are slots, offset 31 (``BLOCK_CAP``) means "moving to the next block: wait".

1. push: read tail (index, block). Offset 31: someone is installing the next block: spin.
   If we are about to take the last slot (offset 30), take a free block from the pool first
   (none left: ``FULL``). CAS tail index p -> p + 1. The winner of offset 30 installs the new
   block: ``tail.block = new``, ``tail.index = next lap``, ``block.next = new``. Then write the
   value and set the slot's state to written (Release).
2. pop: read head (index, block). Offset 31: spin. If head == tail index: ``EMPTY``. CAS head
   index p -> p + 1. The winner of offset 30 waits for ``block.next`` and moves head to it.
   Wait for the slot's state (the producer may be between its CAS and its write), read the
   value, count the read; the 31st read returns the block to the pool.

What is lock-free where (honestly): the CAS loops on head and tail are lock-free (a failed CAS
means another thread progressed). Two places wait for another thread: a consumer spins until
the producer that claimed its slot has written it, and everybody spins while the thread that
took offset 30 installs the next block. crossbeam's ``SegQueue`` waits in the same two places
(``wait_write``, ``wait_next``). No lock is ever taken; the numba functions never block
otherwise, and return ``FULL``/``EMPTY`` instead.

Memory ordering: values are published by the Release store of a slot's state and read after
its Acquire load; the block switch publishes ``block`` before ``index`` (Release) and readers
load ``index`` then ``block`` (Acquire), and a stale pair fails its CAS because positions only
grow (no ABA on indices). The pool's free list is a tagged Treiber stack (Acquire pop, Release
push), so recycling blocks has no ABA either.

Source: crossbeam-queue ``seg_queue.rs`` (J. Stjepanović et al.); M. Michael, M. Scott,
"Simple, Fast, and Practical Non-Blocking and Blocking Concurrent Queue Algorithms", PODC 1996.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from course_lib.atomics import (Ordering, compare_exchange_weak_unchecked, fetch_add_unchecked,
                                load_unchecked, spin_loop, store_unchecked)
from course_lib.channel.errors import Empty, Full
from course_lib.locks.padding import aligned_zeros
from course_lib.queues.array_queue import EMPTY, FULL, OK, _as_int64
from course_lib.queues.treiber import head_index, head_tag, pack_head

__all__ = ["SegQueue", "seg_queue_new", "seg_queue_push", "seg_queue_pop", "seg_queue_len",
           "BLOCK_CAP", "LAP"]

LAP = 32
BLOCK_CAP = LAP - 1
BLOCK_WORDS = 2 + 2 * BLOCK_CAP  # 64 words = 512 bytes
NBLOCKS, HEAD_INDEX, HEAD_BLOCK, TAIL_INDEX, TAIL_BLOCK, FREE, POOL = 0, 16, 17, 32, 33, 48, 64
_A, _R, _X = Ordering.Acquire, Ordering.Release, Ordering.Relaxed


def seg_queue_new(blocks: int = 64) -> np.ndarray:
    """State of an empty queue with a pool of ``blocks`` blocks of 31 slots.

    Raises:
        ValueError: ``blocks`` < 2 or not an integer.
    Example:
        >>> st = seg_queue_new(4); seg_queue_push(st, 3), seg_queue_pop(st)
        (0, (0, 3))
    """
    if isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer)) \
            or not 2 <= blocks < 2**31 - 1:
        raise ValueError(f"blocks must be an integer >= 2, got {blocks!r}")
    n = int(blocks)
    st = aligned_zeros(POOL + n * BLOCK_WORDS, np.int64, 128)
    st[NBLOCKS] = n
    for b in range(1, n):  # blocks 1..n-1 on the free list, block 0 in use
        st[POOL + b * BLOCK_WORDS] = b + 2 if b + 1 < n else 0
    st[FREE] = pack_head(1, 0)
    st[HEAD_BLOCK] = st[TAIL_BLOCK] = 0
    return st


@njit(nogil=True, cache=True)
def _alloc(st):
    """Pop a block from the pool's free list (tagged Treiber pop); -1 when none is left."""
    old = load_unchecked(st, FREE, _A)  # Acquire: see the block as its last user reset it
    while True:
        b = head_index(old)
        if b < 0:
            return -1
        nxt = load_unchecked(st, POOL + b * BLOCK_WORDS, _X) - 1  # Relaxed: CAS validates
        ok, seen = compare_exchange_weak_unchecked(
            st, FREE, old, pack_head(nxt, head_tag(old) + 1), _A, _A)
        if ok:
            store_unchecked(st, POOL + b * BLOCK_WORDS, 0, _X)  # next = none; ours alone now
            return b
        old = seen


@njit(nogil=True, cache=True)
def _release_block(st, b):
    """Reset block ``b`` and push it on the free list (Release: the reset is visible first)."""
    base = POOL + b * BLOCK_WORDS
    store_unchecked(st, base + 1, 0, _X)
    for k in range(BLOCK_CAP):
        store_unchecked(st, base + 2 + 2 * k, 0, _X)
    old = load_unchecked(st, FREE, _X)
    while True:
        store_unchecked(st, base, head_index(old) + 1, _X)
        ok, seen = compare_exchange_weak_unchecked(
            st, FREE, old, pack_head(b, head_tag(old) + 1), _R, _X)
        if ok:
            return
        old = seen


@njit(nogil=True, cache=True)
def seg_queue_push(st, value):
    """Push ``value``: ``OK``, or ``FULL`` when the pool has no block left."""
    spare = -1
    while True:
        tail = load_unchecked(st, TAIL_INDEX, _A)  # Acquire: index, then its block
        block = load_unchecked(st, TAIL_BLOCK, _A)
        off = tail % LAP
        if off == BLOCK_CAP:  # another producer is installing the next block
            spin_loop()
            continue
        if off + 1 == BLOCK_CAP and spare < 0:
            spare = _alloc(st)  # before claiming the last slot: a claim cannot be undone
            if spare < 0:
                return FULL
        # Relaxed is enough on success... but the winner of the last slot publishes a block
        # switch below with Release stores; the CAS itself only hands out the position.
        ok, _ = compare_exchange_weak_unchecked(st, TAIL_INDEX, tail, tail + 1, _X, _X)
        if not ok:
            spin_loop()
            continue
        base = POOL + block * BLOCK_WORDS
        if off + 1 == BLOCK_CAP:
            store_unchecked(st, TAIL_BLOCK, spare, _R)  # block before index (Release)
            store_unchecked(st, TAIL_INDEX, tail + 2, _R)  # next lap, offset 0
            store_unchecked(st, base, spare + 1, _R)  # block.next, awaited by a consumer
            spare = -1
        store_unchecked(st, base + 3 + 2 * off, value, _X)  # published by the state store
        store_unchecked(st, base + 2 + 2 * off, 1, _R)  # Release: the value is readable
        if spare >= 0:
            _release_block(st, spare)  # preallocated but another producer won the slot
        return OK


@njit(nogil=True, cache=True)
def seg_queue_pop(st):
    """Pop the oldest value: ``(OK, value)`` or ``(EMPTY, 0)``."""
    while True:
        head = load_unchecked(st, HEAD_INDEX, _A)
        block = load_unchecked(st, HEAD_BLOCK, _A)
        off = head % LAP
        if off == BLOCK_CAP:  # another consumer is moving head to the next block
            spin_loop()
            continue
        if head == load_unchecked(st, TAIL_INDEX, _A):
            return EMPTY, 0
        ok, _ = compare_exchange_weak_unchecked(st, HEAD_INDEX, head, head + 1, _X, _X)
        if not ok:
            spin_loop()
            continue
        base = POOL + block * BLOCK_WORDS
        if off + 1 == BLOCK_CAP:
            nxt = load_unchecked(st, base, _A) - 1  # Acquire: the producer's block.next
            while nxt < 0:
                spin_loop()
                nxt = load_unchecked(st, base, _A) - 1
            store_unchecked(st, HEAD_BLOCK, nxt, _R)
            store_unchecked(st, HEAD_INDEX, head + 2, _R)
        while load_unchecked(st, base + 2 + 2 * off, _A) == 0:  # Acquire: the value's write
            spin_loop()  # the producer claimed the slot but has not written it yet
        v = load_unchecked(st, base + 3 + 2 * off, _X)
        # AcqRel: our read happens-before the reset by whoever reads the block's last slot.
        if fetch_add_unchecked(st, base + 1, 1, Ordering.AcqRel) + 1 == BLOCK_CAP:
            _release_block(st, block)
        return OK, v


@njit(nogil=True, cache=True)
def seg_queue_len(st):
    """Items in the queue (a snapshot, exact when quiescent)."""
    while True:
        tail = load_unchecked(st, TAIL_INDEX, _A)
        head = load_unchecked(st, HEAD_INDEX, _A)
        if load_unchecked(st, TAIL_INDEX, _A) == tail:
            # Positions count one marker per lap; count slots, not markers.
            t = (tail // LAP) * BLOCK_CAP + min(tail % LAP, BLOCK_CAP)
            h = (head // LAP) * BLOCK_CAP + min(head % LAP, BLOCK_CAP)
            return max(0, t - h)


class SegQueue:
    """Unbounded (up to its block pool) MPMC queue of int64 values, shared by Python and numba.

    Args:
        blocks: blocks of 31 slots in the pool; it holds at least ``(blocks - 1) * 31`` items.
    Raises:
        ValueError: ``blocks`` < 2.
    Example:
        >>> q = SegQueue(4); q.push(1); q.push(2); q.pop(), len(q)
        (1, 1)
    """

    def __init__(self, blocks: int = 64) -> None:
        self.state = seg_queue_new(blocks)
        self.blocks = int(blocks)

    def push(self, value: int) -> None:
        """Append ``value``. Raises ``Full`` only when the block pool is exhausted."""
        if seg_queue_push(self.state, _as_int64(value)) != OK:
            raise Full(f"SegQueue's pool of {self.blocks} blocks is exhausted", value)

    def pop(self) -> int:
        """Remove and return the oldest value. Raises ``Empty`` when there is none."""
        status, v = seg_queue_pop(self.state)
        if status != OK:
            raise Empty("SegQueue is empty")
        return int(v)

    def __len__(self) -> int:
        return int(seg_queue_len(self.state))

    def __repr__(self) -> str:
        return f"<SegQueue {len(self)} items, {self.blocks} blocks>"
