"""Sum of an array on the GPU: a tree in shared memory per block, and a warp-shuffle variant.

Threads of one block can cooperate through *shared memory* (on-chip, about as fast as L1) and
*barriers* (``cuda.syncthreads()``); blocks cannot wait for each other inside a kernel. So a
reduction runs in two launches, each of the same kernel:

1. every thread adds its elements with a grid-stride loop into a private sum (registers);
2. it stores the sum in ``shared[t]`` and the block waits at a barrier;
3. a *tree*: with ``s = threads / 2, threads / 4, ..., 1``, thread ``t < s`` adds
   ``shared[t + s]`` to ``shared[t]``, then a barrier (without it a thread could read a
   neighbour's slot before the neighbour has written it: a race). ``log2(threads)`` steps
   instead of ``threads - 1`` additions by one thread;
4. thread 0 writes ``shared[0]``, the block's partial sum;
5. a second launch of one block sums the partials.

The *warp-shuffle* variant (:func:`warp_sum`) replaces the last steps of the tree: the 32
threads of a warp run in lock-step and ``cuda.shfl_down_sync`` hands a register from lane
``l + s`` to lane ``l`` directly, with no shared memory and no barrier; one shared slot per warp
then holds the warp sums. numba-cuda's simulator has no warp shuffles (its stand-in ``cuda``
module lacks ``shfl_down_sync``, and its threads do not run in lock-step), so
:func:`warp_sum` runs only on a real GPU and says so on the simulator.

The block size is a compile-time constant (shared arrays need a constant shape), so the
kernels are made by a cached factory per ``(threads, dtype)``.

Source: M. Harris, "Optimizing Parallel Reduction in CUDA", NVIDIA, 2007; J. Luitjens,
"Faster Parallel Reductions on Kepler", NVIDIA Technical Blog, 2014.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import from_dtype

from course_lib.gpu.target import SimulatorOnly, _cuda as cuda, is_simulator, simulator_pace
from course_lib.gpu.launch import check_launch
from course_lib.gpu.memory import check_array, to_host

__all__ = ["block_sum_kernel", "warp_sum_kernel", "block_sum", "warp_sum", "WARP"]

WARP = 32


@functools.lru_cache(maxsize=None)
def block_sum_kernel(threads: int = 256, dtype=np.float64):
    """The shared-memory tree kernel ``kernel[blocks, threads](x, partials)`` for a
    power-of-two block size: ``partials[b]`` gets block b's sum."""
    if threads < 1 or threads & (threads - 1):
        raise ValueError(f"the tree halves the block each step: threads must be a power of two, got {threads}")
    nbt = from_dtype(np.dtype(dtype))

    @cuda.jit
    def kernel(x, partials):
        shared = cuda.shared.array(threads, nbt)
        t = cuda.threadIdx.x
        acc = nbt(0)
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):  # step 1
            acc += x[i]
        shared[t] = acc                                              # step 2
        cuda.syncthreads()
        s = threads // 2
        while s > 0:                                                 # step 3
            if t < s:
                shared[t] += shared[t + s]
            cuda.syncthreads()
            s //= 2
        if t == 0:                                                   # step 4
            partials[cuda.blockIdx.x] = shared[0]

    return kernel


@functools.lru_cache(maxsize=None)
def warp_sum_kernel(threads: int = 256, dtype=np.float64):
    """The warp-shuffle kernel (real GPUs only): lanes of a warp add with
    ``shfl_down_sync``, warp sums meet in ``threads / 32`` shared slots, and the first warp
    adds those with shuffles too."""
    if threads % WARP or threads > WARP * WARP:
        raise ValueError(f"threads must be a multiple of {WARP} and at most {WARP * WARP}, got {threads}")
    nbt = from_dtype(np.dtype(dtype))
    warps = threads // WARP

    @cuda.jit
    def kernel(x, partials):
        sums = cuda.shared.array(warps, nbt)
        t = cuda.threadIdx.x
        lane, warp = t % WARP, t // WARP
        acc = nbt(0)
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
            acc += x[i]
        s = WARP // 2
        while s > 0:  # lane l adds lane l + s's value; all 32 lanes take part (full mask)
            acc += cuda.shfl_down_sync(0xFFFFFFFF, acc, s)
            s //= 2
        if lane == 0:
            sums[warp] = acc
        cuda.syncthreads()
        if warp == 0:
            acc = sums[lane] if lane < warps else nbt(0)
            s = WARP // 2
            while s > 0:
                acc += cuda.shfl_down_sync(0xFFFFFFFF, acc, s)
                s //= 2
            if lane == 0:
                partials[cuda.blockIdx.x] = acc

    return kernel


def _reduce(make, x, threads: int, blocks: int | None):
    check_array(x, "x", (np.float32, np.float64, np.int32, np.int64), ndim=1)
    dtype = np.dtype(np.float64 if x.dtype.kind == "f" else np.int64)
    if x.dtype != dtype:
        x = np.asarray(to_host(x), dtype=dtype)
    kernel = make(threads, dtype)
    if blocks is None:
        blocks = max(1, min(-(-x.shape[0] // threads), 1024))
    check_launch(blocks, threads, threads * dtype.itemsize)
    partials = np.zeros(blocks, dtype)
    total = np.zeros(1, dtype)
    with simulator_pace():
        kernel[blocks, threads](x, partials)
        kernel[1, threads](partials, total)
    return total[0]


def block_sum(x, threads: int = 256, blocks: int | None = None):
    """Sum a 1-D array with :func:`block_sum_kernel` (two launches).

    Float inputs are summed in float64 and integer ones in int64 (converted on the host first
    if needed).

    Args:
        x: 1-D float32/float64/int32/int64 array (NumPy or device).
        threads: block size, a power of two.
        blocks: blocks of the first launch (default: enough for one element per thread, at
            most 1024; the grid-stride loop covers the rest).

    Returns:
        The sum, a NumPy scalar.

    Raises:
        TypeError, ValueError: a bad operand or block size.

    Example:
        >>> float(block_sum(np.arange(10.0), threads=4))
        45.0
    """
    return _reduce(block_sum_kernel, x, threads, blocks)


def warp_sum(x, threads: int = 256, blocks: int | None = None):
    """Sum a 1-D array with :func:`warp_sum_kernel` on a real GPU.

    Raises:
        SimulatorOnly: on the simulator, which has no warp shuffles.
    """
    if is_simulator():
        raise SimulatorOnly("warp shuffles (cuda.shfl_down_sync) are not simulated: numba-cuda's "
                            "simulator runs each thread as a Python thread, not 32 lanes in "
                            "lock-step; use block_sum here, warp_sum on a GPU")
    return _reduce(warp_sum_kernel, x, threads, blocks)
