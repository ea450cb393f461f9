"""Histograms on the GPU: every thread adds to global counts atomically, or to a private copy
per block in shared memory that is merged at the end (*privatisation*).

Many threads may read-modify-write the same bin at once; ``hist[v] += 1`` would lose updates
(chapter 3's lost increments, with tens of thousands of threads instead of two), so each
update is an atomic ``cuda.atomic.add``. Where it happens decides the speed:

``histogram_global``
    1. a grid-stride loop over the input; 2. ``cuda.atomic.add(hist, v, 1)`` on the counts in
    global memory. Few bins and many threads means many atomics on the same few addresses,
    serialised in the L2 cache.

``histogram_shared``
    1. each block zeroes a private histogram in shared memory (threads share the bins out);
    2. barrier, so that no thread adds to a bin before it is zeroed;
    3. the grid-stride loop adds with ``cuda.atomic.add`` on the *shared* copy: contention only
       among the block's threads, in on-chip memory;
    4. barrier, so that every addition of the block has landed;
    5. the block merges its copy: one global atomic per non-empty bin, instead of one per
       element.

Values outside ``[0, bins)`` are skipped by the kernels; the host wrappers refuse them in a
NumPy input instead (a device input is not read back to check).

Source: N. Wilt, "The CUDA Handbook", ch. 12 (histograms); CUDA C++ Programming Guide,
"Atomic Functions"; the privatisation pattern in Hwu, Kirk and El Hajj, "Programming Massively
Parallel Processors", 4th ed., ch. 9.
"""
from __future__ import annotations

import functools

import numpy as np

from course_lib.gpu.target import _cuda as cuda, simulator_pace
from course_lib.gpu.launch import check_launch, launch_config
from course_lib.gpu.memory import check_array, device_empty, is_device_array

__all__ = ["histogram_global_kernel", "histogram_shared_kernel", "histogram_global",
           "histogram_shared", "INT_DTYPES"]

INT_DTYPES = (np.int32, np.int64, np.uint8, np.uint16, np.uint32)


@cuda.jit
def histogram_global_kernel(x, hist):
    """Count ``x`` into ``hist`` (int32, zeroed by the caller) with global atomics."""
    nbins = hist.shape[0]
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        v = x[i]
        if 0 <= v < nbins:
            cuda.atomic.add(hist, v, 1)


@functools.lru_cache(maxsize=None)
def histogram_shared_kernel(bins: int):
    """The privatised kernel for ``bins`` bins (a compile-time constant: the shared array's
    size): ``kernel[blocks, threads](x, hist)`` adds into ``hist``."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")

    @cuda.jit
    def kernel(x, hist):
        local = cuda.shared.array(bins, np.int32)
        t, step = cuda.threadIdx.x, cuda.blockDim.x
        for b in range(t, bins, step):                                     # step 1
            local[b] = 0
        cuda.syncthreads()                                                 # step 2
        for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):       # step 3
            v = x[i]
            if 0 <= v < bins:
                cuda.atomic.add(local, v, 1)
        cuda.syncthreads()                                                 # step 4
        for b in range(t, bins, step):                                     # step 5
            if local[b] != 0:
                cuda.atomic.add(hist, b, local[b])

    return kernel


def _prepare(x, bins: int, out):
    check_array(x, "x", INT_DTYPES, ndim=1)
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a whole number >= 1, got {bins!r}")
    if isinstance(x, np.ndarray) and x.size and (int(x.min()) < 0 or int(x.max()) >= bins):
        raise ValueError(f"x holds values outside [0, {bins}) (from {int(x.min())} to "
                         f"{int(x.max())}): bin them first, e.g. np.clip or a scaled division")
    if out is None:
        out = device_empty(bins, np.int32) if is_device_array(x) else np.zeros(bins, np.int32)
    check_array(out, "out", np.int32, shape=(bins,))
    if isinstance(out, np.ndarray):
        out[:] = 0
    else:
        out.copy_to_device(np.zeros(bins, np.int32))
    return out


def histogram_global(x, bins: int, out=None, threads_per_block: int = 256,
                     max_blocks: int | None = None):
    """Counts of each value of ``x`` in ``[0, bins)`` with global atomics.

    Args:
        x: 1-D integer array (NumPy or device) of bin numbers.
        bins: number of bins.
        out: int32 array of ``bins`` counts to overwrite (default: new).
        threads_per_block, max_blocks: the launch (see
            :func:`~course_lib.gpu.launch.launch_config`).

    Returns:
        ``out``: ``np.bincount(x, minlength=bins)`` as int32.

    Raises:
        TypeError: x is not an integer array; ValueError: a value outside the bins, a bad
            ``bins`` or ``out``.

    Example:
        >>> histogram_global(np.array([0, 2, 2, 1]), 3)
        array([1, 1, 2], dtype=int32)
    """
    out = _prepare(x, bins, out)
    blocks, threads = launch_config(x.shape[0], threads_per_block, max_blocks)
    with simulator_pace():
        histogram_global_kernel[blocks, threads](x, out)
    return out


def histogram_shared(x, bins: int, out=None, threads_per_block: int = 256,
                     max_blocks: int | None = None):
    """Counts as :func:`histogram_global`, privatised per block in shared memory.

    Raises:
        ValueError: also when ``bins`` int32 counters exceed the shared memory of a block.

    Example:
        >>> histogram_shared(np.array([0, 2, 2, 1]), 3)
        array([1, 1, 2], dtype=int32)
    """
    out = _prepare(x, bins, out)
    blocks, threads = launch_config(x.shape[0], threads_per_block, max_blocks)
    check_launch(blocks, threads, 4 * bins)
    with simulator_pace():
        histogram_shared_kernel(int(bins))[blocks, threads](x, out)
    return out
