"""The GPU matrix-multiply ladder: one thread per output, shared-memory tiles, register tiles.

Chapter 8's lesson again, one level up the hierarchy: a multiply-add is cheap, fetching its
operands is not, so each rung makes every value fetched from slow memory feed more arithmetic.

==================  ==========================================================================
rung                what each thread does, and what it costs
==================  ==========================================================================
``naive``           thread (row, col) computes ``C[row, col]`` as a dot product read straight
                    from global memory: ``2 k`` loads per ``2 k`` flops. The A row is the same
                    for a warp (a broadcast); B's column loads are coalesced across the warp.
                    Cached, but bound by L1/L2 bandwidth.
``tiled``           a block of ``TILE x TILE`` threads copies a ``TILE x TILE`` tile of A and
                    one of B into shared memory (one element each, zero outside the matrix),
                    waits at a barrier, and each thread does ``TILE`` multiply-adds from shared
                    memory; a second barrier before the next tiles overwrite them. Global
                    traffic falls by ``TILE``; every flop still needs two shared loads.
``register``        a block computes a ``BM x BN`` tile of C with ``(BM / TM) x (BN / TN)``
                    threads; each thread keeps a ``TM x TN`` *micro-tile* of sums in registers
                    and, per step of k, loads ``TM`` values of A and ``TN`` of B from shared
                    memory for ``TM * TN`` multiply-adds. The default, 128 x 128 tiles with
                    8 x 8 per thread (256 threads), gives 64 FMAs per 16 shared loads.
==================  ==========================================================================

Layout details of the ``register`` rung (the ones that decide its speed on a GPU):

1. A's tile is stored *transposed* in shared memory (``As[p, r]``), so that the ``TM`` values a
   thread needs at step p lie in one row, and padded by 4 columns, so that the transposing
   stores of a warp fall in 32 different banks;
2. each thread's micro-tile is *strided*: rows ``ty + i * (BM / TM)`` and columns
   ``tx + j * (BN / TN)``, so that at each load the threads of a warp read consecutive shared
   words (no bank conflicts) and, at the end, store consecutive words of C (coalesced);
3. the micro-tile, and the two operand vectors, are ``cuda.local.array``s indexed by loop
   counters whose bounds are compile-time constants: the compiler unrolls the loops and keeps
   all of it in registers;
4. the tile loads loop ``for l in range(t, BM * BK, threads)``, so any tile shape works, and
   zero-fill outside the matrix, so edges need no special case in the inner loop.

Every rung accepts float32 and float64 C-contiguous 2-D operands of any compatible shape.

Source: V. Volkov and J. Demmel, "Benchmarking GPUs to Tune Dense Linear Algebra", SC 2008;
CUDA C++ Programming Guide, "Shared Memory" (the tiled example); NVIDIA CUTLASS documentation,
"Efficient GEMM in CUDA" (thread-block, warp and thread tiles).
"""
from __future__ import annotations

import functools

import numpy as np
from numba import from_dtype

from course_lib.gpu.target import _cuda as cuda, is_simulator, simulator_pace
from course_lib.gpu.launch import check_launch, launch_config_2d
from course_lib.gpu.memory import check_array, device_empty, is_device_array

__all__ = ["TILE", "REGISTER_TILES", "SIMULATOR_TILES", "naive_kernel", "tiled_kernel",
           "register_kernel", "matmul_naive", "matmul_tiled", "matmul_register", "RUNGS",
           "flops"]

#: Side of the shared-memory tiles of the ``tiled`` rung (a block of TILE x TILE threads).
TILE = 16
#: ``(BM, BN, BK, TM, TN)`` of the ``register`` rung on a GPU.
REGISTER_TILES = (128, 128, 8, 8, 8)
#: The same rung on the simulator: small tiles (16 threads), since it runs each as a thread.
SIMULATOR_TILES = (8, 8, 4, 2, 2)
_PAD = 4


def flops(m: int, k: int, n: int) -> int:
    """``2 m k n``: a multiply and an add per term."""
    return 2 * m * k * n


@functools.lru_cache(maxsize=None)
def naive_kernel(dtype=np.float32):
    """The one-thread-per-output kernel for ``dtype`` (sums kept in that type)."""
    nbt = from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(a, b, c):
        col, row = cuda.grid(2)  # x runs along columns: a warp reads a row of b, coalesced
        if row < c.shape[0] and col < c.shape[1]:
            acc = nbt(0)
            for p in range(a.shape[1]):
                acc += a[row, p] * b[p, col]
            c[row, col] = acc

    return kernel


@functools.lru_cache(maxsize=None)
def tiled_kernel(dtype=np.float32, tile: int = TILE):
    """The shared-memory tiled kernel for ``dtype``, launched with ``tile x tile`` blocks."""
    nbt = from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(a, b, c):
        sa = cuda.shared.array((tile, tile), nbt)
        sb = cuda.shared.array((tile, tile), nbt)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        col, row = cuda.grid(2)
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        acc = nbt(0)
        for k0 in range(0, k, tile):
            # each thread loads one element of each tile; zeros outside the matrices
            sa[ty, tx] = a[row, k0 + tx] if row < m and k0 + tx < k else nbt(0)
            sb[ty, tx] = b[k0 + ty, col] if k0 + ty < k and col < n else nbt(0)
            cuda.syncthreads()  # the tiles are complete before anyone reads them
            for p in range(tile):
                acc += sa[ty, p] * sb[p, tx]
            cuda.syncthreads()  # everyone is done with them before they are overwritten
        if row < m and col < n:
            c[row, col] = acc

    return kernel


@functools.lru_cache(maxsize=None)
def register_kernel(bm: int = 128, bn: int = 128, bk: int = 8, tm: int = 8, tn: int = 8,
                    dtype=np.float32):
    """The register-blocked kernel for one tiling, launched with ``(bm // tm) * (bn // tn)``
    threads (1-D) per block and a grid of ``(ceil(n / bn), ceil(m / bm))`` blocks."""
    if bm % tm or bn % tn:
        raise ValueError(f"the micro-tile must divide the block tile: {bm}x{bn} by {tm}x{tn}")
    nbt = from_dtype(np.dtype(dtype))
    ty_n, tx_n = bm // tm, bn // tn
    threads = ty_n * tx_n

    @cuda.jit
    def kernel(a, b, c):
        a_s = cuda.shared.array((bk, bm + _PAD), nbt)  # A's tile, transposed and padded
        b_s = cuda.shared.array((bk, bn), nbt)
        acc = cuda.local.array((tm, tn), nbt)
        ra = cuda.local.array(tm, nbt)
        rb = cuda.local.array(tn, nbt)
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        t = cuda.threadIdx.x
        ty, tx = t // tx_n, t % tx_n
        row0, col0 = cuda.blockIdx.y * bm, cuda.blockIdx.x * bn
        for i in range(tm):
            for j in range(tn):
                acc[i, j] = 0
        for k0 in range(0, k, bk):
            for e in range(t, bm * bk, threads):  # consecutive threads: consecutive k of A
                r, q = e // bk, e % bk
                gr, gq = row0 + r, k0 + q
                a_s[q, r] = a[gr, gq] if gr < m and gq < k else nbt(0)
            for e in range(t, bk * bn, threads):  # consecutive threads: consecutive columns
                q, s = e // bn, e % bn
                gq, gs = k0 + q, col0 + s
                b_s[q, s] = b[gq, gs] if gq < k and gs < n else nbt(0)
            cuda.syncthreads()
            for p in range(bk):
                for i in range(tm):
                    ra[i] = a_s[p, ty + i * ty_n]
                for j in range(tn):
                    rb[j] = b_s[p, tx + j * tx_n]
                for i in range(tm):
                    for j in range(tn):
                        acc[i, j] += ra[i] * rb[j]
            cuda.syncthreads()
        for i in range(tm):
            r = row0 + ty + i * ty_n
            if r < m:
                for j in range(tn):
                    s = col0 + tx + j * tx_n
                    if s < n:
                        c[r, s] = acc[i, j]

    return kernel


def _operands(a, b, out):
    check_array(a, "a", (np.float32, np.float64), ndim=2)
    check_array(b, "b", a.dtype, ndim=2)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {a.shape[0]}x{a.shape[1]}, "
                         f"b is {b.shape[0]}x{b.shape[1]} (a's columns must equal b's rows)")
    shape = (a.shape[0], b.shape[1])
    if out is None:
        out = device_empty(shape, a.dtype) if is_device_array(a) else np.empty(shape, a.dtype)
    check_array(out, "out", a.dtype, shape=shape)
    return out


def _zero_k(a, b, out):
    """k == 0: the product is all zeros (no tile loop runs, so the kernels would leave ``out``)."""
    if isinstance(out, np.ndarray):
        out[:] = 0
    else:
        out.copy_to_device(np.zeros(out.shape, out.dtype))
    return out


def matmul_naive(a, b, out=None, block: tuple[int, int] = (16, 16)):
    """``a @ b``, one thread per output element reading global memory.

    Args:
        a: ``m x k``; b: ``k x n``; both float32 or both float64, C-contiguous, NumPy or device.
        out: ``m x n`` of the same dtype (default: new, of the same kind as ``a``).
        block: threads per block, (x: columns, y: rows).

    Returns:
        ``out``.

    Raises:
        TypeError: a non-float or mixed dtype; ValueError: shapes that do not match, a
            non-contiguous operand, a block the device refuses.

    Example:
        >>> matmul_naive(np.eye(2, dtype=np.float32), np.ones((2, 3), np.float32))
        array([[1., 1., 1.],
               [1., 1., 1.]], dtype=float32)
    """
    out = _operands(a, b, out)
    if a.shape[1] == 0:
        return _zero_k(a, b, out)
    grid, threads = launch_config_2d(out.shape[0], out.shape[1], block)
    with simulator_pace():
        naive_kernel(a.dtype.type)[grid, threads](a, b, out)
    return out


def matmul_tiled(a, b, out=None, tile: int = TILE):
    """``a @ b`` with ``tile x tile`` shared-memory tiles (arguments as :func:`matmul_naive`)."""
    out = _operands(a, b, out)
    if a.shape[1] == 0:
        return _zero_k(a, b, out)
    grid, threads = launch_config_2d(out.shape[0], out.shape[1], (tile, tile))
    check_launch(grid, threads, 2 * tile * tile * a.dtype.itemsize)
    with simulator_pace():
        tiled_kernel(a.dtype.type, tile)[grid, threads](a, b, out)
    return out


def matmul_register(a, b, out=None, tiles: tuple[int, int, int, int, int] | None = None):
    """``a @ b`` with register micro-tiles (arguments as :func:`matmul_naive`).

    Args:
        tiles: ``(BM, BN, BK, TM, TN)``; default :data:`REGISTER_TILES` on a GPU,
            :data:`SIMULATOR_TILES` on the simulator.
    """
    out = _operands(a, b, out)
    if a.shape[1] == 0:
        return _zero_k(a, b, out)
    bm, bn, bk, tm, tn = tiles or (SIMULATOR_TILES if is_simulator() else REGISTER_TILES)
    kernel = register_kernel(bm, bn, bk, tm, tn, a.dtype.type)
    grid, threads = (-(-out.shape[1] // bn), -(-out.shape[0] // bm)), (bm // tm) * (bn // tn)
    check_launch(grid, threads, (bk * (bm + _PAD) + bk * bn) * a.dtype.itemsize)
    with simulator_pace():
        kernel[grid, threads](a, b, out)
    return out


#: The ladder, in order.
RUNGS = {"naive": matmul_naive, "tiled": matmul_tiled, "register": matmul_register}
