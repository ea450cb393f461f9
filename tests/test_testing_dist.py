"""The c10 checkers keep the graders' contract: plausible wrong answers fail (a deadlock in
bounded time), correct answers written differently pass."""
from __future__ import annotations

import operator
import time

import numpy as np
import pytest

from contract import case, right, wrong
from course_lib.dist import mpi_available
from course_lib.testing.exercises import c10_beyond as c

PI = "c10_beyond:test_pi_allreduce"
HALO = "c10_beyond:test_halo"
FIT = "c10_beyond:test_fit_link"
TREE = "c10_beyond:test_tree_sum"

needs_mpi = pytest.mark.skipif(not mpi_available(), reason=f"{mpi_available().reason}")


# ---------------------------------------------------------------------------- exercise 1
def pi_blocks(comm, n, term):
    from mpi4py import MPI

    lo = comm.rank * n // comm.size
    hi = (comm.rank + 1) * n // comm.size
    return comm.allreduce(term(lo, hi), op=MPI.SUM)


def pi_cyclic(comm, n, term):      # every size-th interval, one call each, a list allreduce
    parts = [term(i, i + 1) for i in range(comm.rank, n, comm.size)]
    return sum(comm.allgather(sum(parts)))


def pi_reduce(comm, n, term):
    lo, hi = comm.rank * n // comm.size, (comm.rank + 1) * n // comm.size
    return comm.reduce(term(lo, hi), root=0)


def pi_floor_blocks(comm, n, term):    # drops the remainder when n % size != 0
    k = n // comm.size
    return comm.allreduce(term(comm.rank * k, (comm.rank + 1) * k))


def pi_overlap(comm, n, term):         # ceil-sized blocks that overlap at the end
    k = -(-n // comm.size)
    lo = min(comm.rank * k, max(0, n - k))
    return comm.allreduce(term(lo, min(n, lo + k)))


def pi_rank0(comm, n, term):           # rank 0 does everything, then shares it
    return comm.bcast(term(0, n) if comm.rank == 0 else None, root=0)


@needs_mpi
@pytest.mark.parametrize("fn", [case(pi_blocks, mark=right(PI, "blocks")),
                                case(pi_cyclic, mark=right(PI, "cyclic with allgather"))])
def test_pi_accepts(fn, capsys):
    c.check_pi_allreduce(fn)
    assert "every rank holds the total" in capsys.readouterr().out


@needs_mpi
@pytest.mark.parametrize("fn, match", [
    case(pi_reduce, "reduce", mark=wrong(PI, "reduce instead of allreduce")),
    case(pi_floor_blocks, "never summed", mark=wrong(PI, "remainder dropped")),
    case(pi_overlap, "summed 2 times", mark=wrong(PI, "double counting")),
    case(pi_rank0, "even share", mark=wrong(PI, "serial on rank 0")),
])
def test_pi_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_pi_allreduce(fn)


# ---------------------------------------------------------------------------- exercise 2
def halo_sendrecv(comm, u):
    from mpi4py import MPI

    up = comm.rank - 1 if comm.rank else MPI.PROC_NULL
    down = comm.rank + 1 if comm.rank + 1 < comm.size else MPI.PROC_NULL
    comm.Sendrecv(u[-2], dest=down, recvbuf=u[0], source=up)
    comm.Sendrecv(u[1], dest=up, recvbuf=u[-1], source=down)


def halo_nonblocking(comm, u):     # Irecv both, Isend both, wait: the other deadlock-free way
    from mpi4py import MPI

    reqs = []
    if comm.rank > 0:
        reqs += [comm.Irecv(u[0], source=comm.rank - 1), comm.Isend(u[1].copy(), dest=comm.rank - 1)]
    if comm.rank < comm.size - 1:
        reqs += [comm.Irecv(u[-1], source=comm.rank + 1), comm.Isend(u[-2].copy(), dest=comm.rank + 1)]
    MPI.Request.Waitall(reqs)


def halo_off_by_one(comm, u):      # sends the ghost rows instead of the edge rows
    from mpi4py import MPI

    up = comm.rank - 1 if comm.rank else MPI.PROC_NULL
    down = comm.rank + 1 if comm.rank + 1 < comm.size else MPI.PROC_NULL
    comm.Sendrecv(u[-1], dest=down, recvbuf=u[0], source=up)
    comm.Sendrecv(u[0], dest=up, recvbuf=u[-1], source=down)


def halo_down_only(comm, u):       # the upper neighbour never hears from below
    from mpi4py import MPI

    up = comm.rank - 1 if comm.rank else MPI.PROC_NULL
    down = comm.rank + 1 if comm.rank + 1 < comm.size else MPI.PROC_NULL
    comm.Sendrecv(u[-2], dest=down, recvbuf=u[0], source=up)


def halo_send_first(comm, u):      # blocking Send before Recv: deadlocks once rows are large
    if comm.rank + 1 < comm.size:
        comm.Send(u[-2], dest=comm.rank + 1)
        comm.Recv(u[-1], source=comm.rank + 1)
    if comm.rank > 0:
        comm.Send(u[1], dest=comm.rank - 1)
        comm.Recv(u[0], source=comm.rank - 1)


def halo_recv_first(comm, u):      # everyone receives first: deadlocks always
    if comm.rank > 0:
        comm.Recv(u[0], source=comm.rank - 1)
        comm.Send(u[1], dest=comm.rank - 1)
    if comm.rank + 1 < comm.size:
        comm.Recv(u[-1], source=comm.rank + 1)
        comm.Send(u[-2], dest=comm.rank + 1)


def halo_wraps(comm, u):           # periodic neighbours: overwrites the fixed boundary rows
    up, down = (comm.rank - 1) % comm.size, (comm.rank + 1) % comm.size
    comm.Sendrecv(u[-2], dest=down, recvbuf=u[0], source=up)
    comm.Sendrecv(u[1], dest=up, recvbuf=u[-1], source=down)


@needs_mpi
@pytest.mark.parametrize("fn", [case(halo_sendrecv, mark=right(HALO, "Sendrecv, other order")),
                                case(halo_nonblocking, mark=right(HALO, "Isend/Irecv"))])
def test_halo_accepts(fn, capsys):
    c.check_halo_exchange(fn)
    assert "bit for bit" in capsys.readouterr().out


@needs_mpi
@pytest.mark.parametrize("fn, match", [
    case(halo_off_by_one, "upper ghost", mark=wrong(HALO, "halo off by one")),
    case(halo_down_only, "lower ghost", mark=wrong(HALO, "one boundary not exchanged")),
    case(halo_wraps, "fixed boundary", mark=wrong(HALO, "periodic wrap")),
])
def test_halo_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_halo_exchange(fn)


@needs_mpi
@pytest.mark.parametrize("fn", [case(halo_recv_first, mark=wrong(HALO, "deadlock: receive first")),
                                case(halo_send_first, mark=wrong(HALO, "deadlock: large blocking sends"))])
def test_halo_deadlock_costs_points_in_bounded_time(fn):
    start = time.monotonic()
    with pytest.raises(AssertionError, match="Sendrecv"):
        c.check_halo_exchange(fn)
    assert time.monotonic() - start < 30


# ---------------------------------------------------------------------------- exercise 3
def fit_lstsq(sizes, seconds):
    a = np.column_stack([np.ones_like(sizes), sizes]) / seconds[:, None]
    (lat, per_byte), *_ = np.linalg.lstsq(a, np.ones_like(seconds), rcond=None)
    return lat, 1 / per_byte


def fit_polyfit(sizes, seconds):
    slope, intercept = np.polyfit(sizes, seconds, 1, w=1 / seconds)
    return float(intercept), float(1 / slope)


def fit_normal_equations(sizes, seconds):
    w = 1 / seconds ** 2
    s0, s1, s2 = w.sum(), (w * sizes).sum(), (w * sizes * sizes).sum()
    t0, t1 = (w * seconds).sum(), (w * sizes * seconds).sum()
    det = s0 * s2 - s1 * s1
    return (t0 * s2 - t1 * s1) / det, det / (s0 * t1 - s1 * t0)


def fit_swapped(sizes, seconds):
    lat, bw = fit_lstsq(sizes, seconds)
    return bw, lat


def fit_mb_per_s(sizes, seconds):
    lat, bw = fit_lstsq(sizes, seconds)
    return lat, bw / 1e6


def fit_log_space(sizes, seconds):
    slope, intercept = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(np.exp(intercept)), float(1 / slope)


def fit_one_point(sizes, seconds):
    return float(seconds[0]), float(sizes[-1] / seconds[-1])


def fit_two_points(sizes, seconds):   # exact on perfect data, wrong on real data
    per_byte = (seconds[-1] - seconds[0]) / (sizes[-1] - sizes[0])
    return float(seconds[0] - per_byte * sizes[0]), float(1 / per_byte)


def fit_unweighted(sizes, seconds):
    slope, intercept = np.polyfit(sizes, seconds, 1)
    return float(intercept), float(1 / slope)


@pytest.mark.parametrize("fn", [case(fit_lstsq, mark=right(FIT, "weighted lstsq")),
                                case(fit_polyfit, mark=right(FIT, "polyfit with weights")),
                                case(fit_normal_equations, mark=right(FIT, "normal equations"))])
def test_fit_accepts(fn, capsys):
    sizes, seconds = c.synthetic_pingpong(3e-6, 8e9, noise=0.1, seed=11)
    c.check_fit_link(fn, sizes, seconds)
    assert "weighted fit" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(fit_swapped, "swapped", mark=wrong(FIT, "latency and bandwidth swapped")),
    case(fit_mb_per_s, "bytes per second", mark=wrong(FIT, "MB/s instead of B/s")),
    case(fit_log_space, "power law", mark=wrong(FIT, "fitted in log space")),
    case(fit_one_point, "one point", mark=wrong(FIT, "one point")),
    case(fit_two_points, "every point", mark=wrong(FIT, "two points only")),
    case(fit_unweighted, "divide each row", mark=wrong(FIT, "unweighted fit")),
])
def test_fit_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_fit_link(fn)


# ---------------------------------------------------------------------------- exercise 4
def _square_sum(x):
    return float(np.dot(x, x))


def tree_pairs(chunks):
    import dask

    parts = [dask.delayed(_square_sum)(ch) for ch in chunks]
    while len(parts) > 1:
        nxt = [dask.delayed(operator.add)(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        parts = nxt + parts[len(parts) - len(parts) % 2:]
    return parts[0]


def tree_recursive(chunks):        # split the list in halves, recursively; fan-in 2
    import dask

    if len(chunks) == 1:
        return dask.delayed(lambda x: (x ** 2).sum())(chunks[0])
    mid = len(chunks) // 2
    return dask.delayed(lambda a, b: a + b)(tree_recursive(chunks[:mid]), tree_recursive(chunks[mid:]))


def tree_fours(chunks):            # fan-in 4, with sum
    import dask

    parts = [dask.delayed(_square_sum)(ch) for ch in chunks]
    while len(parts) > 1:
        parts = [dask.delayed(sum)(parts[i:i + 4]) for i in range(0, len(parts), 4)]
    return parts[0]


def eager_numpy(chunks):
    import dask

    data = dask.compute(*chunks)
    return float(sum(np.sum(x * x) for x in data))


def compute_in_loop(chunks):
    import dask

    parts = [dask.delayed(_square_sum)(ch).compute() for ch in chunks]
    return dask.delayed(sum)(parts)


def one_big_task(chunks):
    import dask

    return dask.delayed(lambda *xs: float(sum(np.dot(x, x) for x in xs)))(*chunks)


def flat_sum(chunks):              # per-chunk tasks, then one task adding every partial
    import dask

    return dask.delayed(sum)([dask.delayed(_square_sum)(ch) for ch in chunks])


def tree_drops_odd(chunks):
    import dask

    parts = [dask.delayed(_square_sum)(ch) for ch in chunks]
    while len(parts) > 1:
        parts = [dask.delayed(operator.add)(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
    return parts[0]


@pytest.mark.parametrize("fn", [case(tree_pairs, mark=right(TREE, "pairwise levels")),
                                case(tree_recursive, mark=right(TREE, "recursive halves")),
                                case(tree_fours, mark=right(TREE, "fan-in four"))])
def test_tree_accepts(fn, capsys):
    c.check_tree_sum(fn)
    assert "a tree" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(eager_numpy, "eagerly", mark=wrong(TREE, "computed eagerly in NumPy")),
    case(compute_in_loop, "compute", mark=wrong(TREE, "compute per chunk in a loop")),
    case(one_big_task, "raw data of", mark=wrong(TREE, "one task takes every chunk")),
    case(flat_sum, "at most 4", mark=wrong(TREE, "flat reduction")),
    case(tree_drops_odd, "odd", mark=wrong(TREE, "odd partial dropped")),
])
def test_tree_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_tree_sum(fn)


def test_graders_are_sealed():
    with pytest.raises(AttributeError):
        c.check_tree_sum = lambda fn: None
