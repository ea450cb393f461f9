"""Treiber's lock-free stack over index-based nodes, with and without an ABA tag.

Layout of the state array ``st`` (int64, 128-byte aligned):

- ``st[CAP]`` number of nodes, ``st[TAGGED]`` 1 for the tagged variant;
- ``st[TOP]`` the stack's head word, ``st[FREE]`` the head word of the free list (another
  Treiber stack, of unused nodes);
- node ``k``: ``st[NODES + 2k]`` its ``next`` (index + 1, 0 = none), ``st[NODES + 2k + 1]`` its value.

A head word packs ``index + 1`` (0 = empty) in the low 32 bits and, in the tagged variant, a
32-bit **tag** in the high 32 bits that grows by one on every successful change.

1. push(v): take a node ``k`` from the free list; write ``v``; then loop: ``old = head``;
   ``k.next = old``; ``compare_exchange(head, old, k)`` (Release: the node's contents become
   visible to whoever pops it).
2. pop(): loop: ``old = head`` (Acquire: see the node's contents); ``k = index(old)``;
   ``nxt = k.next``; ``compare_exchange(head, old, nxt)``; read ``k``'s value, give ``k`` back to
   the free list.
3. **ABA**: between reading ``old = A`` and ``nxt = A.next = B`` and its CAS, a pop may be
   paused while other threads pop A, pop B and push A again (node A reused from the free list).
   Untagged, the head again reads "A" and the CAS succeeds, installing B, a node that is no
   longer on the stack: values vanish, nodes leak or sit on both lists. Tagged, the head
   reads "A, tag t+3" instead of "A, tag t", so the CAS fails and the pop retries.
   :func:`aba_schedule` replays exactly this interleaving step by step from Python.

A 32-bit tag wraps after 2**32 changes; an ABA then needs a thread paused across exactly a
multiple of 2**32 operations, which is why tagged pointers (or counted ones, or hazard pointers
and epochs, as crossbeam uses) are considered safe in practice.

Memory ordering: Release on the push CAS / Acquire on the pop's head load form the
happens-before edge that publishes a node's value and next; ``next`` and value fields are
read and written with Relaxed atomics because, during an ABA window, a stale popper may read a
node another thread is rewriting (a data race with plain accesses; with atomics, only a stale
value that the failing CAS then discards).

Source: R. K. Treiber, "Systems Programming: Coping with Parallelism", IBM RJ 5118, 1986;
M. Herlihy, N. Shavit, "The Art of Multiprocessor Programming", sec. 11.2 and 10.6 (ABA);
IBM System/370 Principles of Operation, appendix A (the original tagged compare-and-swap).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from numba import njit

from course_lib import atomics as _at
from course_lib.atomics import (Ordering, compare_exchange_weak_unchecked, load_unchecked,
                                store_unchecked)
from course_lib.channel.errors import Empty, Full
from course_lib.locks.padding import aligned_zeros
from course_lib.queues.array_queue import EMPTY, FULL, OK, _as_int64

__all__ = ["TreiberStack", "treiber_new", "treiber_push", "treiber_pop", "pack_head",
           "head_index", "head_tag", "aba_schedule", "AbaTrace"]

CAP, TAGGED, TOP, FREE, NODES = 0, 1, 16, 32, 48
_MASK = 0xFFFFFFFF
_A, _R, _X = Ordering.Acquire, Ordering.Release, Ordering.Relaxed


@njit(nogil=True, cache=True, inline="always")
def pack_head(index, tag):
    """A head word for node ``index`` (-1: empty) with ``tag`` (kept to 32 bits)."""
    return ((tag & _MASK) << 32) | ((index + 1) & _MASK)


@njit(nogil=True, cache=True, inline="always")
def head_index(word):
    """The node index in a head word (-1: empty)."""
    return (word & _MASK) - 1


@njit(nogil=True, cache=True, inline="always")
def head_tag(word):
    """The 32-bit tag in a head word."""
    return (word >> 32) & _MASK


def treiber_new(capacity: int, tagged: bool = True) -> np.ndarray:
    """State array of an empty stack with ``capacity`` nodes, all on the free list.

    Raises:
        ValueError: ``capacity`` not in 1 .. 2**31 - 2.
    Example:
        >>> st = treiber_new(4); treiber_push(st, 5), treiber_pop(st)
        (0, (0, 5))
    """
    if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) \
            or not 1 <= capacity < 2**31 - 1:
        raise ValueError(f"capacity must be an integer from 1 to 2**31 - 2, got {capacity!r}")
    cap = int(capacity)
    st = aligned_zeros(NODES + 2 * cap, np.int64, 128)
    st[CAP], st[TAGGED] = cap, int(bool(tagged))
    st[NODES:NODES + 2 * cap:2] = np.arange(2, cap + 2)  # node k -> k + 1 (stored + 1)
    st[NODES + 2 * (cap - 1)] = 0  # the last node ends the free list
    st[FREE] = pack_head(0, 0)
    st[TOP] = pack_head(-1, 0)
    return st


@njit(nogil=True, cache=True)
def _pop_node(st, h):
    """Unlink the first node of list ``h`` (TOP or FREE); its index, or -1 if the list is empty."""
    old = load_unchecked(st, h, _A)  # Acquire: the pusher's Release CAS published the node
    while True:
        k = head_index(old)
        if k < 0:
            return -1
        nxt = load_unchecked(st, NODES + 2 * k, _X) - 1  # Relaxed: may be stale (ABA window)
        tag = head_tag(old) + 1 if st[TAGGED] else 0
        # Acquire on failure too: `seen` becomes the next `old`, whose node we will read.
        ok, seen = compare_exchange_weak_unchecked(st, h, old, pack_head(nxt, tag), _A, _A)
        if ok:
            return k
        old = seen


@njit(nogil=True, cache=True)
def _push_node(st, h, k):
    """Link node ``k`` in front of list ``h``."""
    old = load_unchecked(st, h, _X)  # Relaxed: validated by the CAS
    while True:
        store_unchecked(st, NODES + 2 * k, head_index(old) + 1, _X)  # k.next = old top
        tag = head_tag(old) + 1 if st[TAGGED] else 0
        # Release: k's next and value are visible to the thread whose Acquire sees k on top.
        ok, seen = compare_exchange_weak_unchecked(st, h, old, pack_head(k, tag), _R, _X)
        if ok:
            return
        old = seen


@njit(nogil=True, cache=True)
def treiber_push(st, value):
    """Push ``value``: ``OK``, or ``FULL`` when every node is in use."""
    k = _pop_node(st, FREE)
    if k < 0:
        return FULL
    store_unchecked(st, NODES + 2 * k + 1, value, _X)  # Relaxed: published by the push CAS
    _push_node(st, TOP, k)
    return OK


@njit(nogil=True, cache=True)
def treiber_pop(st):
    """Pop the newest value: ``(OK, value)`` or ``(EMPTY, 0)``."""
    k = _pop_node(st, TOP)
    if k < 0:
        return EMPTY, 0
    v = load_unchecked(st, NODES + 2 * k + 1, _X)  # Relaxed: ordered by _pop_node's Acquire
    _push_node(st, FREE, k)  # read before giving the node back (its Release orders it)
    return OK, v


def _walk(st: np.ndarray, h: int, limit: int) -> list[int]:
    """Node indices of list ``h`` from the head (stops after ``limit`` nodes: a cycle)."""
    out, k = [], int(head_index(np.int64(st[h])))
    while k >= 0 and len(out) <= limit:
        out.append(k)
        k = int(st[NODES + 2 * k]) - 1
    return out


class TreiberStack:
    """Lock-free LIFO stack of int64 values in a fixed pool of nodes (Treiber), Python + numba.

    ``tagged=True`` (default) packs a 32-bit tag next to the head index, which defeats ABA;
    ``tagged=False`` is the textbook version that ABA breaks (see :func:`aba_schedule`).
    numba ``nogil`` code uses ``treiber_push(s.state, v)`` / ``treiber_pop(s.state)``.

    Args:
        capacity: nodes in the pool (the most values it can hold).
        tagged: whether head words carry the ABA tag.
    Raises:
        ValueError: bad capacity.
    Example:
        >>> s = TreiberStack(3); s.push(1); s.push(2); s.pop()
        2
    """

    def __init__(self, capacity: int, tagged: bool = True) -> None:
        self.state = treiber_new(capacity, tagged)
        self.capacity, self.tagged = int(capacity), bool(tagged)

    def push(self, value: int) -> None:
        """Push ``value``. Raises ``Full`` when every node is in use."""
        if treiber_push(self.state, _as_int64(value)) != OK:
            raise Full(f"TreiberStack is full (capacity {self.capacity})", value)

    def pop(self) -> int:
        """Pop the newest value. Raises ``Empty`` when the stack is empty."""
        status, v = treiber_pop(self.state)
        if status != OK:
            raise Empty("TreiberStack is empty")
        return int(v)

    def nodes(self) -> tuple[list[int], list[int]]:
        """``(stack nodes, free nodes)`` from their heads (a snapshot; for quiescent stacks)."""
        return (_walk(self.state, TOP, self.capacity), _walk(self.state, FREE, self.capacity))

    def values(self) -> list[int]:
        """The values from top to bottom (a snapshot). Example: ``s.values()``."""
        return [int(self.state[NODES + 2 * k + 1]) for k in self.nodes()[0]]

    def __len__(self) -> int:
        return len(self.nodes()[0])

    def __repr__(self) -> str:
        return f"<TreiberStack {'tagged' if self.tagged else 'untagged'} {self.values()}>"


# ----------------------------------------------------------------------------- the ABA replay
def _pop_steps(st: np.ndarray) -> Iterator[str]:
    """A pop cut into its steps (yields a description after each); returns the popped value.

    The same algorithm as ``_pop_node(TOP)`` + value read, with Python-side atomics, so that a
    schedule can pause it between reading the head and its compare_exchange.
    """
    old = _at.load(st, TOP, _A)
    while True:
        k = int(head_index(np.int64(old)))
        yield f"T1 reads head: node {k} (tag {int(head_tag(np.int64(old)))})"
        if k < 0:
            return None
        nxt = _at.load(st, NODES + 2 * k, _X) - 1
        yield f"T1 reads node {k}.next = node {nxt}, then is paused"
        tag = int(head_tag(np.int64(old))) + 1 if st[TAGGED] else 0
        new = int(pack_head(np.int64(nxt), np.int64(tag)))
        ok, seen = _at.compare_exchange(st, TOP, old, new, _A, _A)
        if ok:
            v = _at.load(st, NODES + 2 * k + 1, _X)
            _push_node(st, FREE, k)
            yield f"T1 resumes: compare_exchange(head, node {k}, node {nxt}) succeeds, pops {v}"
            return v
        yield (f"T1 resumes: compare_exchange fails (head is node "
               f"{int(head_index(np.int64(seen)))}, tag {int(head_tag(np.int64(seen)))}): retry")
        old = seen


@dataclass
class AbaTrace:
    """What happened in :func:`aba_schedule`.

    Attributes:
        tagged: which variant ran.
        steps: one line per step, with the stack after T2's operations.
        pushed, popped: every value pushed / popped (by T1 and T2, then drained).
        lost: values pushed but never popped.
        duplicated: values popped more than once.
        phantom: values popped that were never pushed (garbage from a free node).
        leaked: nodes neither on the stack nor on the free list at the end.
        corrupted: True if anything was lost, duplicated, made up or leaked.
    """

    tagged: bool
    steps: list[str] = field(default_factory=list)
    pushed: list[int] = field(default_factory=list)
    popped: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    phantom: list[int] = field(default_factory=list)
    leaked: list[int] = field(default_factory=list)
    corrupted: bool = False

    def __str__(self) -> str:
        head = f"ABA schedule, {'tagged' if self.tagged else 'untagged'} head:"
        tail = (f"CORRUPTED: lost {self.lost}, popped twice {self.duplicated}, never pushed "
                f"{self.phantom}, leaked nodes {self.leaked}"
                if self.corrupted else "consistent: every value popped once, no node leaked")
        return "\n".join([head] + [f"  {i + 1:2d}. {s}" for i, s in enumerate(self.steps)]
                         + [tail])


def aba_schedule(tagged: bool = False) -> AbaTrace:
    """Replay the classic ABA interleaving on a Treiber stack, one step at a time, no threads.

    1. Push 1, 2, 3 (node 2 holds 3 on top, then node 1, node 0).
    2. T1 starts a pop: reads head = A (node 2) and A.next = B (node 1); T1 is paused.
    3. T2 pops 3 and keeps node A for reuse (as ``free`` then ``malloc`` returning the same
       address would), pops 2 (node B goes to the free list), pushes 8 in node A: the head is
       A again, but now A.next is node 0 and B is a *free* node.
    4. T1 resumes: ``compare_exchange(head, A, B)``. Untagged it succeeds (the head *is* A)
       and installs the free node B as the top: the stack and the free list now share nodes,
       1 is lost and 2 comes out twice. Tagged it fails (the tag moved on) and T1 retries.
    5. Everything left is popped; the trace lists what was lost or leaked.

    Args:
        tagged: run the tagged variant (the fix) instead of the broken one.
    Returns:
        An :class:`AbaTrace` (print it to read the story).
    Example:
        >>> aba_schedule(tagged=False).corrupted, aba_schedule(tagged=True).corrupted
        (True, False)
    """
    s = TreiberStack(4, tagged=tagged)
    trace = AbaTrace(tagged)

    def show() -> str:
        return f"stack {s.values()} in nodes {s.nodes()[0]}, free nodes {s.nodes()[1]}"

    for v in (1, 2, 3):
        s.push(v)
        trace.pushed.append(v)
    trace.steps.append(f"start: {show()}")
    t1 = _pop_steps(s.state)
    trace.steps += [next(t1), next(t1)]
    # T2 works on nodes, as code over malloc'd nodes does when the allocator hands back the
    # address it just freed: pop node A and keep it, pop B (freed), push A with a new value.
    a = int(_pop_node(s.state, TOP))
    trace.popped.append(int(s.state[NODES + 2 * a + 1]))
    trace.steps.append(f"T2 pops {trace.popped[-1]} and keeps node {a} to reuse: {show()}")
    trace.popped.append(s.pop())
    trace.steps.append(f"T2 pops {trace.popped[-1]}, its node goes to the free list: {show()}")
    s.state[NODES + 2 * a + 1] = 8
    _push_node(s.state, TOP, a)
    trace.pushed.append(8)
    trace.steps.append(f"T2 pushes 8 in the reused node {a}: {show()}")
    result = None
    while True:
        try:
            trace.steps.append(next(t1))
        except StopIteration as stop:
            result = stop.value
            break
    if result is not None:
        trace.popped.append(int(result))
    trace.steps.append(f"after T1: {show()}")
    while True:
        try:
            trace.popped.append(s.pop())
        except Empty:
            break
        if len(trace.popped) > 4 * len(trace.pushed):
            break  # a cycle: stop draining
    trace.steps.append(f"drained; every value popped, in order: {trace.popped}")
    trace.lost = sorted(set(trace.pushed) - set(trace.popped))
    trace.phantom = sorted(set(trace.popped) - set(trace.pushed))
    trace.duplicated = sorted({v for v in trace.popped if trace.popped.count(v) > 1})
    stack, free = s.nodes()
    trace.leaked = sorted(set(range(s.capacity)) - set(stack) - set(free))
    trace.corrupted = bool(trace.lost or trace.leaked or trace.duplicated or trace.phantom)
    return trace
