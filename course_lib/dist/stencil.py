"""The 2-D heat equation by Jacobi iteration, on one process and on many with halo exchange.

One Jacobi step replaces every interior point by the mean of its four neighbours (a 5-point
stencil); the outer ring of the grid is a fixed boundary (Dirichlet)::

    new[i, j] = 0.25 * (u[i-1, j] + u[i+1, j] + u[i, j-1] + u[i, j+1])

Domain decomposition by rows, on ``p`` ranks:

1. Split the ``ny - 2`` interior rows into ``p`` contiguous blocks whose sizes differ by at
   most one (:func:`split_rows`; the first ``(ny - 2) % p`` ranks get one row more).
2. Each rank keeps its block plus one *ghost* (halo) row above and one below: ``u[1:-1]`` is its
   own, ``u[0]`` and ``u[-1]`` are copies of the neighbours' edge rows, or the fixed boundary
   rows of the grid at the top of rank 0 and the bottom of the last rank.
3. Every step: *exchange halos* (send my first own row up and receive my lower ghost from below;
   send my last own row down and receive my upper ghost from above: two ``Sendrecv`` calls,
   with ``MPI.PROC_NULL`` where there is no neighbour), then update the own rows from ``u``
   into a second buffer and swap the two.
4. Gather the blocks on rank 0.

Each point is computed with the same floating-point operations in the same order on any number
of ranks, so the result equals the serial one bit for bit (``np.array_equal``).

Per step a rank computes ``rows * nx`` points and sends and receives ``2 nx`` numbers: the
communication falls relative to the work as the blocks get taller, which is why strong scaling
(a fixed grid over more ranks) flattens and weak scaling (a fixed block per rank) does not.

Source: W. Gropp, E. Lusk and A. Skjellum, "Using MPI" (3rd ed., MIT Press 2014), chapter 4
(the Poisson problem, ghost points, ``MPI_Sendrecv``); the MPI 4.1 standard, section 3.10.
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["initial_grid", "heat_step", "heat_serial", "split_rows", "exchange_halos",
           "heat_parallel"]


def initial_grid(ny: int, nx: int, seed: int = 0) -> np.ndarray:
    """A ``ny x nx`` float64 grid: random interior in [0, 1), a hot top edge (1.0), the other
    edges cold (0.0). Random values make any wrong index visible at once.

    Raises:
        ValueError: ``ny`` or ``nx`` below 3 (no interior point).

    Example:
        >>> initial_grid(4, 5)[0, 0], initial_grid(4, 5).shape
        (1.0, (4, 5))
    """
    if ny < 3 or nx < 3:
        raise ValueError(f"the grid needs at least 3 x 3 points (one interior point), got {ny} x {nx}")
    u = np.random.default_rng(seed).random((ny, nx))
    u[0, :], u[-1, :], u[:, 0], u[:, -1] = 1.0, 0.0, 0.0, 0.0
    u[0, :] = 1.0
    return u


def heat_step(u: np.ndarray, out: np.ndarray) -> None:
    """One Jacobi step of the rows ``1..-2`` and columns ``1..-2`` of ``u`` into ``out`` (the
    first and last column of ``out`` are copied from ``u``; rows 0 and -1 are left alone)."""
    out[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
    out[1:-1, 0] = u[1:-1, 0]
    out[1:-1, -1] = u[1:-1, -1]


def heat_serial(u0: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` Jacobi steps of the whole grid on one process: the reference.

    Example:
        >>> u = heat_serial(initial_grid(5, 5), 3); u.shape
        (5, 5)
    """
    a, b = u0.astype(np.float64, copy=True), u0.astype(np.float64, copy=True)
    for _ in range(steps):
        heat_step(a, b)
        a, b = b, a
    return a


def split_rows(rows: int, parts: int) -> list[tuple[int, int]]:
    """Split ``rows`` rows into ``parts`` contiguous ``(start, stop)`` blocks, sizes differing by
    at most one, the larger ones first.

    Raises:
        ValueError: ``parts < 1`` or ``rows < 0``.

    Example:
        >>> split_rows(10, 4)
        [(0, 3), (3, 6), (6, 8), (8, 10)]
    """
    if parts < 1 or rows < 0:
        raise ValueError(f"split_rows needs rows >= 0 and parts >= 1, got {rows} and {parts}")
    base, extra = divmod(rows, parts)
    out, start = [], 0
    for r in range(parts):
        stop = start + base + (1 if r < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def exchange_halos(comm, u: np.ndarray) -> None:
    """Fill the ghost rows ``u[0]`` and ``u[-1]`` from the neighbouring ranks (the reference).

    Rank r sends its first own row ``u[1]`` up to rank r-1 while receiving its lower ghost
    ``u[-1]`` from rank r+1, then sends its last own row ``u[-2]`` down while receiving its upper
    ghost ``u[0]`` from above. ``Sendrecv`` pairs each send with a receive, so no order of calls
    can deadlock; ``MPI.PROC_NULL`` (no neighbour) turns either half into nothing, which leaves
    the boundary rows of the first and last rank untouched.
    """
    from mpi4py import MPI

    up = comm.rank - 1 if comm.rank > 0 else MPI.PROC_NULL
    down = comm.rank + 1 if comm.rank < comm.size - 1 else MPI.PROC_NULL
    comm.Sendrecv(u[1], dest=up, sendtag=1, recvbuf=u[-1], source=down, recvtag=1)
    comm.Sendrecv(u[-2], dest=down, sendtag=2, recvbuf=u[0], source=up, recvtag=2)


def heat_parallel(comm, u0, steps: int, exchange=exchange_halos, gather: bool = True):
    """Run ``steps`` Jacobi steps with the rows split over the ranks of ``comm`` (run it on every
    rank, e.g. with :func:`course_lib.dist.mpirun`).

    Args:
        comm: the communicator (``MPI.COMM_WORLD``).
        u0: the initial grid (every rank gets a copy), or ``(ny, nx, seed)`` to let each rank
            build :func:`initial_grid` itself (no large argument to ship: use it for timing).
        steps: Jacobi steps.
        exchange: the halo exchange, ``exchange(comm, u)`` (a learner's, in the exercise).
        gather: collect the whole grid on rank 0.

    Returns:
        ``(grid, seconds)``: the final grid on rank 0 (None elsewhere, and None when ``gather``
        is false) and this rank's time for the steps, the first halo exchange included.

    Raises:
        ValueError: fewer interior rows than ranks.

    Example:
        >>> from course_lib.dist import mpirun
        >>> u0 = initial_grid(12, 9)
        >>> grid, _ = mpirun(heat_parallel, 3, args=(u0, 5)).results[0]
        >>> np.array_equal(grid, heat_serial(u0, 5))
        True
    """
    if isinstance(u0, tuple):
        u0 = initial_grid(*u0)
    ny, nx = u0.shape
    blocks = split_rows(ny - 2, comm.size)
    if blocks[-1][1] - blocks[-1][0] == 0:
        raise ValueError(f"{ny - 2} interior rows cannot be split over {comm.size} ranks: "
                         "each rank needs at least one")
    lo, hi = blocks[comm.rank]
    a = np.array(u0[lo:hi + 2], dtype=np.float64)    # own rows lo+1..hi, plus one ghost each side
    b = a.copy()
    comm.Barrier()
    start = time.perf_counter()
    for _ in range(steps):
        exchange(comm, a)
        heat_step(a, b)
        a, b = b, a
    seconds = time.perf_counter() - start
    if not gather:
        return None, seconds
    parts = comm.gather(a[1:-1], root=0)
    if comm.rank != 0:
        return None, seconds
    grid = u0.astype(np.float64, copy=True)
    grid[1:-1] = np.concatenate(parts)
    return grid, seconds
