"""The micro-kernel rung on several threads: three ways to hand out the tiles of C.

Every tile of C is independent work: ``C[i0:i1, j0:j1] = A[i0:i1, :] @ B[:, j0:j1]`` reads A
and B and writes its own part of C only, so threads need no locks, only a way to share the
tiles out. Each tile runs :func:`course_lib.matmul.ladder.gemm_block` (the Goto/BLIS loops and
the register micro-kernel, ``nogil``) with packing buffers that belong to the thread.

==========================  =====================================================================
:func:`parallel_prange`     numba ``prange`` over blocks of rows (the whole width of C each),
                            one block per thread (:func:`row_blocks`): a *static* schedule.
                            Cheapest to start, least packing; balanced only when every thread
                            gets a core of its own for the whole call.
:func:`parallel_pool`       chapter 1's work-stealing :class:`~course_lib.par.ThreadPool`: the
                            tiles are a ``par_range`` whose leaves run the ``nogil`` tile kernel;
                            an idle worker steals half of a busy worker's remaining range.
:func:`parallel_queue`      a *tile queue*: one shared int64 counter, and each thread takes the
                            next tile with an atomic ``fetch_add`` (chapter 3's numba atomics), in
                            a loop, until the counter passes the last tile. Lock-free: a thread
                            descheduled mid-tile stops no one else from taking tiles, and a
                            fast thread simply takes more (a *dynamic* schedule, OpenMP's
                            ``schedule(dynamic, 1)``).
==========================  =====================================================================

Memory (chapter 6): each thread allocates its own packing buffers and is the first to write
them, so on a NUMA machine their pages land on that thread's node (*first touch*), and no two
threads ever write the same cache line of a buffer. Two tiles of C side by side may share a
cache line at their common edge (tiles are ``NR`` elements wide, a line holds 8 float64): the
two threads write different elements of it, which is correct (no data race) and costs a little
false sharing once per ``kc`` step, nothing next to the tile's work.

Threads and numba's threading layer: ``prange`` runs on numba's own thread pool (OpenMP, TBB
or the built-in ``workqueue``). ``workqueue`` cannot be entered from two Python threads at once
(it aborts the process), so :func:`parallel_prange` holds a lock while it runs: two Python
threads that call it wait for each other instead. The pool and queue variants never use
``prange``: their threads are ordinary Python threads that release the GIL in ``nogil`` numba
code, so any threading layer is fine.

Source: K. Goto and R. van de Geijn (2008), section 8 (which loop to parallelise); T. M. Smith
et al., "Anatomy of High-Performance Many-Threaded Matrix Multiplication", IPDPS 2014; the
OpenMP 5.2 specification, ``schedule`` clause (static vs dynamic).

Thread-safety: each function may be called from any thread; calls with different ``out``
arrays are independent (:func:`parallel_prange` calls are serialised, see above).
"""
from __future__ import annotations

import math
import os
import threading

import numba
import numpy as np
from numba import njit, prange

from course_lib import config
from course_lib.atomics import Ordering, fetch_add_unchecked
from course_lib.matmul.common import check_operands
from course_lib.matmul.ladder import MR, NR, Blocking, _check_tiles, gemm_block, panel_sizes

__all__ = ["parallel_prange", "parallel_pool", "parallel_queue", "PARALLEL", "tile_grid",
           "row_blocks"]

_PRANGE_LOCK = threading.Lock()   # one prange region at a time (the workqueue layer's rule)


def _threads(threads) -> int:
    if threads is None:
        return config.num_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be a whole number or None, got {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return int(threads)


def _ceil_div(x: int, y: int) -> int:
    return -(-x // y)


def _round_up(x: int, multiple: int) -> int:
    return _ceil_div(x, multiple) * multiple


def row_blocks(m: int, threads: int, tiles: Blocking) -> int:
    """Rows per block for :func:`parallel_prange`: one block per thread, ``ceil(m / threads)``
    rounded up to a multiple of ``MR``.

    One block each is what numba's static schedule would hand every thread anyway, and fewer,
    taller blocks mean less packing: every block packs all of B for itself (``k n`` copies per
    block, against ``2 rows n k`` flops). ``tiles`` is accepted for symmetry with
    :func:`tile_grid`.

    Example:
        >>> from course_lib.matmul.ladder import Blocking
        >>> row_blocks(1024, 2, Blocking(4, 4, 168, 384, 4096))
        512
    """
    return max(MR, _round_up(_ceil_div(max(m, 1), threads), MR))


def tile_grid(m: int, n: int, threads: int, tiles: Blocking) -> np.ndarray:
    """The tiles of an m x n C that :func:`parallel_pool` and :func:`parallel_queue` hand out.

    About ``3 x threads`` tiles, as square as C allows (heights a multiple of ``MR``, widths of
    ``NR``, at most ``nc``): enough that a thread that finishes early finds work left, few
    enough that packing stays cheap. A tile of ``tm x tn`` packs ``k tn`` elements of B and
    ``tm k`` of A for ``2 tm tn k`` flops: about ``1/(2 tm) + 1/(2 tn)`` copies per flop, and a
    copy costs some 20 times a flop of the micro-kernel, so 256 x 256 tiles already lose ~10%.

    Args:
        m, n: C's shape. threads: the threads that will share the tiles.
        tiles: the :class:`~course_lib.matmul.ladder.Blocking` of the micro-kernel.

    Returns:
        An int64 array of shape (tiles, 4): ``i0, i1, j0, j1`` per tile, row by row.

    Example:
        >>> from course_lib.matmul.ladder import Blocking
        >>> tile_grid(10, 10, 1, Blocking(4, 4, 8, 16, 16)).tolist()
        [[0, 8, 0, 8], [0, 8, 8, 10], [8, 10, 0, 8], [8, 10, 8, 10]]
    """
    want = 3 * threads
    rows = max(1, min(_ceil_div(max(m, 1), MR), round(math.sqrt(want * m / max(n, 1)))))
    cols = max(1, min(_ceil_div(max(n, 1), NR), _ceil_div(want, rows)))
    tm = max(MR, _round_up(_ceil_div(max(m, 1), rows), MR))
    tn = min(max(NR, _round_up(_ceil_div(max(n, 1), cols), NR)), _round_up(max(tiles.nc, 1), NR))
    out = [(i0, min(i0 + tm, m), j0, min(j0 + tn, n))
           for i0 in range(0, m, tm) for j0 in range(0, n, tn)]
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def _buffers_for(rows: int, depth: int, cols: int, t: Blocking) -> tuple[int, int]:
    """Element counts of the packing buffers of a tile of at most rows x cols, depth k."""
    sa, sb = panel_sizes(min(t.mc, max(rows, 1)), min(t.kc, max(depth, 1)),
                         min(t.nc, max(cols, 1)))
    return int(sa), int(sb)


# ----------------------------------------------------------------------------- 1. prange
@njit(nogil=True, parallel=True, cache=True)
def _prange_kernel(a, b, c, tm, mc, kc, nc):
    m, k = a.shape
    n = b.shape[1]
    blocks = (m + tm - 1) // tm
    for t in prange(blocks):
        i0 = t * tm
        i1 = min(i0 + tm, m)
        sa, sb = panel_sizes(min(mc, i1 - i0), min(kc, max(k, 1)), min(nc, n))
        ap = np.empty(sa, a.dtype)                   # this thread's buffers: it touches them
        bp = np.empty(sb, b.dtype)                   # first (packing), so they are local
        gemm_block(a, b, c, i0, i1, 0, n, mc, kc, nc, ap, bp)


def parallel_prange(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *,
                    threads: int | None = None, tiles=None) -> np.ndarray:
    """``C = A @ B`` with numba ``prange`` over blocks of rows (:func:`row_blocks` high).

    Args:
        a, b, out: as :func:`course_lib.matmul.ladder.naive` (float32/float64, any shapes and
            memory orders).
        threads: numba threads to use; None: numba's current count for this thread
            (``numba.get_num_threads()``, which ``numba.set_num_threads`` changes), as for any
            ``prange`` code. numba cannot start more than ``NUMBA_NUM_THREADS`` (fixed when
            numba starts, default: all CPUs); a larger request uses that many.
        tiles: the micro-kernel's :class:`~course_lib.matmul.ladder.Blocking`; default
            :func:`~course_lib.matmul.ladder.blocking` for the dtype.

    Returns:
        ``out`` (or a new array) holding ``a @ b``.

    Raises:
        TypeError, ValueError: see :func:`course_lib.matmul.common.check_operands`; also a
            ``threads`` that is not a whole number >= 1, or bad ``tiles``.

    Example:
        >>> a = np.ones((70, 30)); b = np.ones((30, 50))
        >>> bool((parallel_prange(a, b, threads=2) == 30).all())
        True
    """
    m, k, n, out = check_operands(a, b, out)
    if threads is None:
        nthreads = numba.get_num_threads()
    else:
        nthreads = min(_threads(threads), numba.config.NUMBA_NUM_THREADS)
    t = _check_tiles(tiles, a.dtype)
    if out.size == 0:
        return out
    tm = row_blocks(m, nthreads, t)
    with _PRANGE_LOCK:
        previous = numba.get_num_threads()
        numba.set_num_threads(nthreads)
        try:
            _prange_kernel(a, b, out, tm, t.mc, t.kc, t.nc)
        finally:
            numba.set_num_threads(previous)
    return out


# ----------------------------------------------------------------------------- 2. thread pool
def parallel_pool(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *,
                  threads: int | None = None, tiles=None, pool=None) -> np.ndarray:
    """``C = A @ B`` with the tiles of :func:`tile_grid` run as tasks of a work-stealing pool.

    The tiles are a ``par_range`` over the pool (chapter 1): split in halves with ``join``, a
    leaf runs its tiles one after the other, and an idle worker steals the oldest half left in a
    busy worker's deque. Each task calls :func:`~course_lib.matmul.ladder.gemm_block`, a
    ``nogil`` numba function, so the workers really run at once. Each worker allocates its
    packing buffers on its first task and reuses them for the rest of the call.

    Args:
        a, b, out, tiles: as :func:`parallel_prange`.
        threads: workers; None: ``COURSE_NUM_THREADS`` or the usable cores. The pool of that
            size is created on first use and kept for later calls (its idle workers sleep).
        pool: an existing :class:`~course_lib.par.ThreadPool` to run on instead (its
            ``num_threads`` then decides the tiling).

    Returns:
        ``out`` (or a new array) holding ``a @ b``.

    Raises:
        TypeError, ValueError: as :func:`parallel_prange`; also a ``threads`` that disagrees
            with ``pool.num_threads``.

    Example:
        >>> a = np.ones((70, 30)); b = np.ones((30, 50))
        >>> bool((parallel_pool(a, b, threads=2) == 30).all())
        True
    """
    from course_lib.par import current_worker_index, par_range

    m, k, n, out = check_operands(a, b, out)
    t = _check_tiles(tiles, a.dtype)
    if pool is not None:
        if threads is not None and _threads(threads) != pool.num_threads:
            raise ValueError(f"threads={threads} but the pool has {pool.num_threads} workers; "
                             f"pass one or the other")
        nthreads = pool.num_threads
    else:
        nthreads = _threads(threads)
    if out.size == 0:
        return out
    grid = tile_grid(m, n, nthreads, t)
    tallest = int((grid[:, 1] - grid[:, 0]).max())
    widest = int((grid[:, 3] - grid[:, 2]).max())
    sa, sb = _buffers_for(tallest, k, widest, t)
    buffers: dict[int | None, tuple[np.ndarray, np.ndarray]] = {}

    def task(index: int) -> None:
        w = current_worker_index()
        buf = buffers.get(w)
        if buf is None:  # allocated by this worker: its packing is the first touch
            buf = buffers[w] = (np.empty(sa, a.dtype), np.empty(sb, a.dtype))
        i0, i1, j0, j1 = grid[index]
        gemm_block(a, b, out, i0, i1, j0, j1, t.mc, t.kc, t.nc, buf[0], buf[1])

    def run() -> None:
        par_range(len(grid)).for_each(task)

    (pool if pool is not None else _pool(nthreads)).install(run)
    return out


_pools: dict[int, object] = {}
_pools_lock = threading.Lock()


def _pool(threads: int):
    """A pool of ``threads`` workers kept for later calls (starting and joining threads costs
    about a millisecond, as much as a 256 x 256 product); its idle workers sleep."""
    from course_lib.par import ThreadPool

    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None or pool.closed:
            pool = _pools[threads] = ThreadPool(threads)
        return pool


def _forget_pools_in_child() -> None:
    """After ``fork`` the child has the pool objects but none of their threads."""
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)


# ----------------------------------------------------------------------------- 3. tile queue
@njit(nogil=True, cache=True)
def _queue_worker(a, b, c, grid, counter, owners, me, sa, sb, mc, kc, nc):
    """One thread of :func:`parallel_queue`: take tiles until none is left; return how many.

    ``fetch_add(counter, 0, 1, Relaxed)`` hands each tile index to exactly one thread: an
    atomic read-modify-write never loses or repeats a value, whatever the ordering. Relaxed is
    enough because the counter guards no data: the tiles' results reach the caller through
    ``Thread.join``, which orders everything a thread did before everything after the join.
    """
    ap = np.empty(sa, a.dtype)   # allocated here, first written by this thread's packing
    bp = np.empty(sb, b.dtype)
    ntiles = grid.shape[0]
    done = 0
    while True:
        t = fetch_add_unchecked(counter, 0, 1, Ordering.Relaxed)
        if t >= ntiles:
            return done
        gemm_block(a, b, c, grid[t, 0], grid[t, 1], grid[t, 2], grid[t, 3], mc, kc, nc, ap, bp)
        owners[t] = me
        done += 1


def parallel_queue(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *,
                   threads: int | None = None, tiles=None,
                   owners: np.ndarray | None = None) -> np.ndarray:
    """``C = A @ B`` with a lock-free tile queue: threads ``fetch_add`` the next tile index.

    ``threads - 1`` new Python threads and the calling thread each run a ``nogil`` numba loop
    (:func:`_queue_worker`) that takes the next tile of :func:`tile_grid` from one shared
    atomic counter until they are all taken. A thread that gets a small edge tile, or runs on a
    busier core, simply comes back sooner for another.

    Args:
        a, b, out, tiles: as :func:`parallel_prange`.
        threads: threads taking tiles (any number >= 1; more than tiles is fine: the extra
            ones find the queue empty); None: ``COURSE_NUM_THREADS`` or the usable cores.
        owners: optional int64 array with at least ``len(tile_grid(...))`` elements; element t
            receives the index (0 = the calling thread) of the thread that computed tile t.

    Returns:
        ``out`` (or a new array) holding ``a @ b``.

    Raises:
        TypeError, ValueError: as :func:`parallel_prange`; also an ``owners`` that is not a
            writeable 1-D int64 array long enough.

    Example:
        >>> a = np.ones((70, 30)); b = np.ones((30, 50))
        >>> bool((parallel_queue(a, b, threads=3) == 30).all())
        True
    """
    m, k, n, out = check_operands(a, b, out)
    nthreads = _threads(threads)
    t = _check_tiles(tiles, a.dtype)
    if out.size == 0:
        return out
    grid = tile_grid(m, n, nthreads, t)
    if owners is None:
        owners = np.empty(len(grid), dtype=np.int64)
    elif (not isinstance(owners, np.ndarray) or owners.dtype != np.int64 or owners.ndim != 1
          or len(owners) < len(grid) or not owners.flags.writeable):
        raise ValueError(f"owners must be a writeable 1-D int64 array of at least {len(grid)} "
                         f"elements (one per tile), got {owners!r:.80}")
    owners[:len(grid)] = -1
    tallest = int((grid[:, 1] - grid[:, 0]).max())
    widest = int((grid[:, 3] - grid[:, 2]).max())
    sa, sb = _buffers_for(tallest, k, widest, t)
    counter = np.zeros(16, dtype=np.int64)   # 128 bytes: the counter has its cache lines alone
    errors: list[BaseException] = []

    def work(me: int) -> None:
        try:
            _queue_worker(a, b, out, grid, counter, owners, me, sa, sb, t.mc, t.kc, t.nc)
        except BaseException as e:  # re-raised by the caller after every thread has stopped
            errors.append(e)

    helpers = [threading.Thread(target=work, args=(i,), name=f"matmul-queue-{i}", daemon=True)
               for i in range(1, nthreads)]
    for th in helpers:
        th.start()
    work(0)
    for th in helpers:
        th.join()
    if errors:
        raise errors[0]
    return out


#: The parallel variants: name -> function ``f(a, b, out=None, *, threads=None, tiles=None)``.
PARALLEL = {"prange": parallel_prange, "pool": parallel_pool, "queue": parallel_queue}
