"""One Jacobi step of the 2-D Laplace equation: a 5-point stencil, from global memory and from a
shared-memory tile with a halo.

``out[i, j] = (u[i-1, j] + u[i+1, j] + u[i, j-1] + u[i, j+1]) / 4`` for every interior point;
the boundary rows and columns are copied unchanged (fixed, Dirichlet, boundary values).
Repeating the step converges to the solution of Laplace's equation with those boundary values.

``jacobi_global``
    one thread per point, five reads from global memory (four of them also read by neighbouring
    threads: the caches catch most of those, but every one is a load instruction).

``jacobi_shared``
    1. a block of ``bx x by`` threads copies the ``(by + 2) x (bx + 2)`` tile of ``u`` it needs
       (its points plus a one-point *halo* all round) into shared memory; the threads walk the
       tile with a block-stride loop, so halo and corners need no special case, and points
       outside the grid are filled with zeros (never used: they only neighbour boundary points);
    2. barrier: the whole tile is loaded before anyone reads a neighbour's element;
    3. each thread computes its point from shared memory.
    Every element of ``u`` is read from global memory about ``(bx + 2)(by + 2) / (bx by)``
    times instead of up to five.

Source: CUDA C++ Best Practices Guide, "Shared Memory"; P. Micikevicius, "3D Finite Difference
Computation on GPUs using CUDA", GPGPU-2, 2009.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import from_dtype

from course_lib.gpu.target import _cuda as cuda, simulator_pace
from course_lib.gpu.launch import check_launch, launch_config_2d
from course_lib.gpu.memory import check_array, device_empty, is_device_array

__all__ = ["jacobi_global_kernel", "jacobi_shared_kernel", "jacobi_global", "jacobi_shared",
           "jacobi_reference"]


def jacobi_reference(u: np.ndarray) -> np.ndarray:
    """The same step in NumPy, for tests and for comparison."""
    out = u.copy()
    out[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
    return out


@cuda.jit
def jacobi_global_kernel(u, out):
    """One step, one thread per point, operands read from global memory."""
    j, i = cuda.grid(2)
    rows, cols = u.shape
    if i < rows and j < cols:
        if 0 < i < rows - 1 and 0 < j < cols - 1:
            out[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
        else:
            out[i, j] = u[i, j]


@functools.lru_cache(maxsize=None)
def jacobi_shared_kernel(bx: int = 16, by: int = 16, dtype=np.float64):
    """The tiled step for ``bx x by`` blocks (the shared tile's shape is a compile-time
    constant)."""
    nbt = from_dtype(np.dtype(dtype))
    tw, th = bx + 2, by + 2

    @cuda.jit
    def kernel(u, out):
        tile = cuda.shared.array((th, tw), nbt)
        rows, cols = u.shape
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        i0, j0 = cuda.blockIdx.y * by - 1, cuda.blockIdx.x * bx - 1  # the tile's corner in u
        for e in range(ty * bx + tx, th * tw, bx * by):              # step 1
            r, s = e // tw, e % tw
            gi, gj = i0 + r, j0 + s
            tile[r, s] = u[gi, gj] if 0 <= gi < rows and 0 <= gj < cols else nbt(0)
        cuda.syncthreads()                                           # step 2
        i, j = i0 + 1 + ty, j0 + 1 + tx                              # step 3
        r, s = ty + 1, tx + 1
        if i < rows and j < cols:
            if 0 < i < rows - 1 and 0 < j < cols - 1:
                out[i, j] = 0.25 * (tile[r - 1, s] + tile[r + 1, s] + tile[r, s - 1] + tile[r, s + 1])
            else:
                out[i, j] = tile[r, s]

    return kernel


def _operands(u, out):
    check_array(u, "u", (np.float32, np.float64), ndim=2)
    if out is None:
        out = device_empty(u.shape, u.dtype) if is_device_array(u) else np.empty_like(u)
    check_array(out, "out", u.dtype, shape=u.shape)
    if out is u:
        raise ValueError("out must not be u: a Jacobi step reads the old values of the "
                         "neighbours, so it needs a second array (swap the two between steps)")
    return out


def jacobi_global(u, out=None, block: tuple[int, int] = (16, 16)):
    """One Jacobi step from global memory.

    Args:
        u: 2-D float32 or float64 grid (NumPy or device), C-contiguous.
        out: where to write the new grid (not ``u``); default new.
        block: threads per block (x: columns, y: rows).

    Returns:
        ``out``, equal to :func:`jacobi_reference` of ``u``.

    Raises:
        TypeError, ValueError: a bad operand, ``out is u``, a block the device refuses.

    Example:
        >>> float(jacobi_global(np.pad(np.zeros((1, 1)), 1, constant_values=4.0))[1, 1])
        4.0
    """
    out = _operands(u, out)
    grid, threads = launch_config_2d(u.shape[0], u.shape[1], block)
    with simulator_pace():
        jacobi_global_kernel[grid, threads](u, out)
    return out


def jacobi_shared(u, out=None, block: tuple[int, int] = (16, 16)):
    """One Jacobi step through a shared-memory tile with a halo (arguments as
    :func:`jacobi_global`)."""
    out = _operands(u, out)
    grid, threads = launch_config_2d(u.shape[0], u.shape[1], block)
    check_launch(grid, threads, (block[0] + 2) * (block[1] + 2) * u.dtype.itemsize)
    with simulator_pace():
        jacobi_shared_kernel(block[0], block[1], u.dtype.type)[grid, threads](u, out)
    return out
