"""Arenas: allocating from a buffer you already own, inside numba ``nogil`` code.

``np.empty`` inside a hot loop asks the allocator for memory every time (and, for large sizes,
the operating system, one page fault per 4 KiB page on first touch). An *arena* takes one big
buffer up front and hands out pieces of it with a few integer operations. Rust programmers meet
the same idea as ``bumpalo`` and ``typed-arena``; C programmers as region or pool allocators.

Two kinds, both over a NumPy ``uint8`` buffer, with their bookkeeping in a small ``int64`` array
so that compiled code can use them without the GIL:

**Bump arena** (``state = [top, capacity]``). ``alloc`` rounds ``top`` up to the alignment,
hands out ``[top, top + nbytes)`` and moves ``top`` past it; nothing is freed one by one;
``reset`` sets ``top = 0`` and everything is free again. Ideal for per-frame or per-task scratch.

**Pool (slab)** of fixed-size blocks (``state = [head, block_bytes, nblocks, free_count]``, plus
a ``links`` array: the free list threaded through the block numbers, and ``in_use`` flags). Blocks
are freed one at a time in any order, in O(1); freeing a block twice or a block that was never
handed out raises instead of corrupting the free list.

Errors are raised, never returned as a sentinel: ``MemoryError`` when the arena is exhausted
(the state is left as it was), ``ValueError`` for a bad size, alignment or block number.

The offsets are byte offsets into ``buffer``; :class:`BumpArena` and :class:`Pool` turn them into
typed NumPy views. The buffer's start is aligned to 64 bytes (a cache line), so an offset that is
a multiple of ``align`` (up to 64) gives an address that is too; larger alignments are honoured
relative to the buffer start, which :func:`aligned_buffer` aligns to 4096 when asked.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["aligned_buffer", "bump_new", "bump_alloc", "bump_reset", "pool_new", "pool_alloc",
           "pool_free", "BumpArena", "Pool", "scratch_with_empty", "scratch_with_arena",
           "scratch_sweep"]


def aligned_buffer(nbytes: int, align: int = 64) -> np.ndarray:
    """A zeroed ``uint8`` array of ``nbytes`` whose first byte's address is a multiple of ``align``.

    NumPy aligns its data to 16 bytes at least (64 with recent allocators, not promised), so we
    over-allocate by ``align`` and slice.

    Raises:
        ValueError: ``nbytes`` < 0, or ``align`` not a power of two.
    """
    nbytes, align = int(nbytes), int(align)
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    if align < 1 or align & (align - 1):
        raise ValueError(f"align must be a power of two, got {align}")
    raw = np.zeros(nbytes + align, dtype=np.uint8)
    skip = (-raw.ctypes.data) % align
    return raw[skip:skip + nbytes]


# ------------------------------------------------------------------------------- bump arena
def bump_new(capacity: int) -> np.ndarray:
    """The state of an empty bump arena over ``capacity`` bytes: ``[top=0, capacity]``."""
    capacity = int(capacity)
    if capacity < 0:
        raise ValueError(f"capacity must be >= 0 bytes, got {capacity}")
    return np.array([0, capacity], dtype=np.int64)


@njit(nogil=True, cache=True)
def bump_alloc(state, nbytes, align):
    """Offset of ``nbytes`` bytes aligned to ``align`` (a power of two), carved from the arena.

    Raises MemoryError when they do not fit (the arena is unchanged), ValueError for a negative
    size or an alignment that is not a power of two.
    """
    if nbytes < 0:
        raise ValueError("bump_alloc: nbytes must be >= 0")
    if align < 1 or (align & (align - 1)) != 0:
        raise ValueError("bump_alloc: align must be a power of two (1, 2, 4, 8, ...)")
    start = (state[0] + align - 1) & ~(align - 1)  # round up: align is a power of two
    if start + nbytes > state[1]:
        raise MemoryError("bump_alloc: arena exhausted (reset it, or give it a larger buffer)")
    state[0] = start + nbytes
    return start


@njit(nogil=True, cache=True)
def bump_reset(state):
    """Free everything at once: the next allocation starts at offset 0 again."""
    state[0] = 0


# ------------------------------------------------------------------------------- pool (slab)
def pool_new(nblocks: int, block_bytes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(state, links, in_use)`` of a pool with every block free; the free list is 0, 1, 2, ...

    ``links[b]`` is the block after ``b`` on the free list (-1 ends it); ``in_use[b]`` is 1 while
    ``b`` is handed out.
    """
    nblocks, block_bytes = int(nblocks), int(block_bytes)
    if nblocks < 0 or block_bytes < 1:
        raise ValueError(f"a pool needs nblocks >= 0 and block_bytes >= 1, got {nblocks} and "
                         f"{block_bytes}")
    links = np.arange(1, nblocks + 1, dtype=np.int64)
    if nblocks:
        links[-1] = -1
    state = np.array([0 if nblocks else -1, block_bytes, nblocks, nblocks], dtype=np.int64)
    return state, links, np.zeros(nblocks, dtype=np.uint8)


@njit(nogil=True, cache=True)
def pool_alloc(state, links, in_use):
    """Take the first block off the free list and return its number (O(1)).

    Raises MemoryError when every block is in use.
    """
    head = state[0]
    if head < 0:
        raise MemoryError("pool_alloc: every block is in use (free one, or make a larger pool)")
    state[0] = links[head]
    links[head] = -1
    in_use[head] = 1
    state[3] -= 1
    return head


@njit(nogil=True, cache=True)
def pool_free(state, links, in_use, block):
    """Give block number ``block`` back (O(1)): it becomes the head of the free list.

    Raises ValueError for a number outside the pool, and for a block that is not in use (a double
    free, or one never handed out), which would otherwise put it on the list twice and hand the
    same memory to two owners.
    """
    if block < 0 or block >= state[2]:
        raise ValueError("pool_free: no such block in this pool")
    if in_use[block] == 0:
        raise ValueError("pool_free: double free (this block is not in use)")
    in_use[block] = 0
    links[block] = state[0]
    state[0] = block
    state[3] += 1


# ------------------------------------------------------------------------------- Python side
class BumpArena:
    """A bump arena with a Python face: typed views into one aligned buffer.

    Example:
        >>> arena = BumpArena(1 << 12)
        >>> a = arena.array(10, np.float64); b = arena.array((2, 3), np.int32)
        >>> arena.used, a.ctypes.data % 64 == 0
        (152, True)
        >>> arena.reset(); arena.used
        0
    """

    def __init__(self, capacity: int, align: int = 64):
        self.buffer = aligned_buffer(capacity, max(64, int(align)))
        self.state = bump_new(capacity)

    @property
    def capacity(self) -> int:
        return int(self.state[1])

    @property
    def used(self) -> int:
        return int(self.state[0])

    def alloc(self, nbytes: int, align: int = 8) -> int:
        """The offset of a fresh block; MemoryError names the sizes when it does not fit."""
        try:
            return int(bump_alloc(self.state, int(nbytes), int(align)))
        except MemoryError:
            raise MemoryError(f"bump arena exhausted: {nbytes} bytes (aligned to {align}) asked, "
                              f"{self.capacity - self.used} of {self.capacity} left; reset() "
                              "frees everything") from None

    def array(self, shape, dtype=np.float64, align: int = 64) -> np.ndarray:
        """An uninitialised array living in the arena (valid until the next :meth:`reset`)."""
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        off = self.alloc(count * dtype.itemsize, max(align, dtype.alignment))
        return self.buffer[off:off + count * dtype.itemsize].view(dtype).reshape(shape)

    def reset(self) -> None:
        bump_reset(self.state)

    def __repr__(self) -> str:
        return f"BumpArena({self.used} of {self.capacity} bytes used)"


class Pool:
    """A pool of ``nblocks`` equal blocks of ``block_bytes`` each, freed one at a time.

    Example:
        >>> pool = Pool(4, 64)
        >>> a = pool.alloc(); b = pool.alloc(); pool.free(a); pool.alloc() == a
        True
        >>> pool.free(a); pool.free(a)
        Traceback (most recent call last):
        ...
        ValueError: pool_free: double free of block 0 (it is not in use)
    """

    def __init__(self, nblocks: int, block_bytes: int):
        self.state, self.links, self.in_use = pool_new(nblocks, block_bytes)
        self.buffer = aligned_buffer(int(nblocks) * int(block_bytes))

    @property
    def free_count(self) -> int:
        return int(self.state[3])

    def alloc(self) -> int:
        try:
            return int(pool_alloc(self.state, self.links, self.in_use))
        except MemoryError:
            raise MemoryError(f"pool exhausted: all {int(self.state[2])} blocks are in use") from None

    def free(self, block: int) -> None:
        try:
            pool_free(self.state, self.links, self.in_use, int(block))
        except ValueError:
            if 0 <= int(block) < int(self.state[2]):
                raise ValueError(f"pool_free: double free of block {block} (it is not in use)") from None
            raise ValueError(f"pool_free: block {block} is not in this pool of "
                             f"{int(self.state[2])} blocks") from None

    def view(self, block: int, dtype=np.uint8) -> np.ndarray:
        """Block ``block``'s bytes as an array of ``dtype``."""
        size = int(self.state[1])
        return self.buffer[block * size:(block + 1) * size].view(dtype)

    def __repr__(self) -> str:
        return f"Pool({int(self.state[2]) - self.free_count} of {int(self.state[2])} blocks in use)"


# ------------------------------------------------------------------------------- the measurement
@njit(nogil=True, cache=True)
def scratch_with_empty(data, width):
    """For each row: a fresh scratch array from ``np.empty`` (the allocator every time)."""
    total = 0.0
    for r in range(data.shape[0]):
        tmp = np.empty(width)
        for j in range(width):
            tmp[j] = data[r] * j
        total += tmp[width - 1]
    return total


@njit(nogil=True, cache=True)
def scratch_with_arena(data, width, buffer, state):
    """The same work with scratch carved from a bump arena and reset after each row."""
    total = 0.0
    for r in range(data.shape[0]):
        off = bump_alloc(state, width * 8, 64)
        tmp = buffer[off:off + width * 8].view(np.float64)
        for j in range(width):
            tmp[j] = data[r] * j
        total += tmp[width - 1]
        bump_reset(state)
    return total


def scratch_sweep(widths=(1 << 10, 1 << 14, 1 << 18, 1 << 22), elements: int | None = None,
                  repeats: int = 3) -> list[dict]:
    """ns per scratch element, ``np.empty`` vs the arena, for each scratch width (float64s).

    Small scratch comes from the allocator's free lists in a few nanoseconds, so the arena wins
    little there. Past glibc's mmap threshold (128 KiB at first, raised adaptively up to 32 MiB)
    every ``np.empty`` maps fresh pages, and the first write to each 4 KiB page is a page fault:
    the arena's memory was faulted in once, at the first row.

    Returns:
        One dict per width: ``width``, ``bytes``, ``empty_ns``, ``arena_ns`` (best of
        ``repeats``, per element written) and ``ratio`` (empty / arena).
    """
    import time

    from course_lib.config import pick

    elements = int(elements or pick(1 << 24, 1 << 21))
    widths = [int(w) for w in widths]
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be whole numbers >= 1, got {widths}")
    buffer = aligned_buffer(max(widths) * 8 + 64)
    state = bump_new(buffer.size)
    rows = []
    for w in widths:
        data = np.random.default_rng(0).random(max(2, elements // w))
        best = {}
        for name, call in (("empty", lambda: scratch_with_empty(data, w)),
                           ("arena", lambda: scratch_with_arena(data, w, buffer, state))):
            call()  # compile, and fault the arena in
            times = []
            for _ in range(max(1, int(repeats))):
                t0 = time.perf_counter()
                call()
                times.append(time.perf_counter() - t0)
            best[name] = min(times) / (data.size * w) * 1e9
        rows.append({"width": w, "bytes": 8 * w, "empty_ns": best["empty"],
                     "arena_ns": best["arena"], "ratio": best["empty"] / best["arena"]})
    return rows
