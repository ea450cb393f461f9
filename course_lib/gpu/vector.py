"""Element-wise kernels with a grid-stride loop: ``out = x + y`` and SAXPY ``out = a x + y``.

The simplest GPU kernels give each thread one element. Two things go wrong with the simplest
version: when ``n`` is not a multiple of the block size the last block has threads past the
end (they must do nothing), and when ``n`` exceeds the number of threads launched the rest is
never computed. The *grid-stride loop* fixes both:

1. thread ``i = cuda.grid(1)`` (``blockIdx.x * blockDim.x + threadIdx.x``) starts at element i;
2. it steps by ``cuda.gridsize(1)``, the number of threads in the whole grid, while the index is
   below ``n``: any grid covers any ``n``, and a grid sized to the GPU (a few blocks per SM) is
   reused for every element;
3. consecutive threads of a warp touch consecutive elements at every step: each warp's loads
   are *coalesced* into a few wide memory transactions.

Source: M. Harris, "CUDA Pro Tip: Write Flexible Kernels with Grid-Stride Loops", NVIDIA
Technical Blog, 2013; CUDA C++ Best Practices Guide, "Coalesced Access to Global Memory".
"""
from __future__ import annotations

import numpy as np

from course_lib.gpu.target import _cuda as cuda, simulator_pace
from course_lib.gpu.launch import launch_config
from course_lib.gpu.memory import check_array, device_empty, is_device_array

__all__ = ["vector_add_kernel", "saxpy_kernel", "vector_add", "saxpy", "FLOAT_DTYPES"]

FLOAT_DTYPES = (np.float32, np.float64)


@cuda.jit
def vector_add_kernel(x, y, out):
    """``out[i] = x[i] + y[i]`` for every i, with a grid-stride loop."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        out[i] = x[i] + y[i]


@cuda.jit
def saxpy_kernel(a, x, y, out):
    """``out[i] = a * x[i] + y[i]`` for every i (BLAS's ``saxpy``, into a separate output)."""
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < out.shape[0]:
        out[i] = a * x[i] + y[i]
        i += stride


def _operands(x, y, out):
    check_array(x, "x", FLOAT_DTYPES, ndim=1)
    check_array(y, "y", x.dtype, shape=x.shape)
    if out is None:
        out = device_empty(x.shape, x.dtype) if is_device_array(x) else np.empty_like(x)
    check_array(out, "out", x.dtype, shape=x.shape)
    return out


def vector_add(x, y, out=None, threads_per_block: int = 256, max_blocks: int | None = None):
    """``x + y`` on the GPU.

    Args:
        x, y: 1-D float32 or float64 arrays (NumPy or device) of the same shape and dtype.
        out: where to write (default: a new array of the same kind as ``x``).
        threads_per_block: block size.
        max_blocks: cap on the blocks launched; the grid-stride loop covers the rest.

    Returns:
        ``out``.

    Raises:
        TypeError, ValueError: from :func:`~course_lib.gpu.memory.check_array`, naming the
            operand.

    Example:
        >>> vector_add(np.ones(5, np.float32), np.ones(5, np.float32))
        array([2., 2., 2., 2., 2.], dtype=float32)
    """
    out = _operands(x, y, out)
    blocks, threads = launch_config(x.shape[0], threads_per_block, max_blocks)
    with simulator_pace():
        vector_add_kernel[blocks, threads](x, y, out)
    return out


def saxpy(a: float, x, y, out=None, threads_per_block: int = 256, max_blocks: int | None = None):
    """``a * x + y`` on the GPU (arguments as :func:`vector_add`, plus the scalar ``a``).

    Example:
        >>> saxpy(2.0, np.ones(3, np.float32), np.ones(3, np.float32))
        array([3., 3., 3.], dtype=float32)
    """
    out = _operands(x, y, out)
    blocks, threads = launch_config(x.shape[0], threads_per_block, max_blocks)
    with simulator_pace():
        saxpy_kernel[blocks, threads](x.dtype.type(a), x, y, out)
    return out
