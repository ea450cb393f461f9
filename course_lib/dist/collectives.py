"""Collective operations: what each one leaves on each rank, and what it costs by rank count.

A *collective* is a call every rank of a communicator makes together:

=============  ===================================================  ==========================
operation      afterwards                                           typical algorithm, cost
=============  ===================================================  ==========================
``bcast``      every rank holds root's value                        binomial tree: log2(p)
                                                                    message steps
``scatter``    rank r holds piece r of root's list                  root sends p - 1 pieces
``gather``     root holds the list of every rank's value            the reverse of scatter
``reduce``     root holds op(values of all ranks); others nothing   tree: log2(p) steps
``allreduce``  *every* rank holds op(values of all ranks)           recursive doubling, or
                                                                    reduce-scatter + allgather
=============  ===================================================  ==========================

Lower-case methods (``comm.bcast``) move any picklable object; capitalised ones
(``comm.Bcast``) move buffers such as NumPy arrays, without pickling. The cost of a tree
collective grows as ``log2(p) * (latency + size / bandwidth)``; on one host with more ranks
than cores it grows faster, because ranks that wait for a message spin on a core that another
rank needs.

Source: the MPI 4.1 standard, chapter 6 (collective communication); R. Thakur, R. Rabenseifner
and W. Gropp, "Optimization of Collective Communication Operations in MPICH", IJHPCA 19(1), 2005.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["show_collectives", "collective_costs", "CollectiveCosts", "OPERATIONS"]

OPERATIONS = ("bcast", "scatter", "gather", "reduce", "allreduce")


def show_collectives(comm) -> dict[str, object]:
    """Run each collective once on small values and return what this rank holds after each
    (run it with :func:`course_lib.dist.mpirun` and compare the ranks).

    Example:
        >>> from course_lib.dist import mpirun
        >>> mpirun(show_collectives, 2).results[1]["allreduce"]
        3
    """
    from mpi4py import MPI

    r, p = comm.rank, comm.size
    return {
        "bcast": comm.bcast("hello from root" if r == 0 else None, root=0),
        "scatter": comm.scatter([10 * i for i in range(p)] if r == 0 else None, root=0),
        "gather": comm.gather(r * r, root=0),
        "reduce": comm.reduce(r + 1, op=MPI.SUM, root=0),
        "allreduce": comm.allreduce(r + 1, op=MPI.SUM),
    }


def _time_rank(comm, sizes: Sequence[int], reps: int) -> dict[tuple[str, int], float]:
    """Median seconds per call of each buffer collective and each size (in float64 count),
    as the slowest rank saw it."""
    from mpi4py import MPI

    p = comm.size
    out = {}
    for size in sizes:
        send = np.ones(size)
        recv = np.empty(size)
        every = np.ones(size * p) if comm.rank == 0 else None
        calls = {
            "bcast": lambda: comm.Bcast(send, root=0),
            "scatter": lambda: comm.Scatter(every, recv, root=0),
            "gather": lambda: comm.Gather(send, every, root=0),
            "reduce": lambda: comm.Reduce(send, recv if comm.rank == 0 else None, op=MPI.SUM, root=0),
            "allreduce": lambda: comm.Allreduce(send, recv, op=MPI.SUM),
        }
        for name, call in calls.items():
            times = np.empty(reps)
            call()
            for i in range(reps):
                comm.Barrier()
                t0 = time.perf_counter()
                call()
                times[i] = time.perf_counter() - t0
            out[(name, size)] = comm.allreduce(float(np.median(times)), op=MPI.MAX)
    return out


@dataclass(frozen=True)
class CollectiveCosts:
    """Seconds per call: ``seconds[(ranks, operation, size)]``, sizes in float64 elements."""

    ranks: tuple[int, ...]
    sizes: tuple[int, ...]
    seconds: dict

    def __str__(self) -> str:
        lines = []
        for size in self.sizes:
            lines.append(f"{size * 8:>10,} bytes  " + "".join(f"{'p=' + str(p):>10}" for p in self.ranks))
            for op in OPERATIONS:
                lines.append(f"{op:>16}  " + "".join(f"{self.seconds[(p, op, size)] * 1e6:8.1f}us"
                                                     for p in self.ranks))
        return "\n".join(lines)

    def plot(self, ax=None):
        """Time per call against ranks, one line per operation and size. Returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        for size in self.sizes:
            for op in OPERATIONS:
                ax.plot(self.ranks, [self.seconds[(p, op, size)] * 1e6 for p in self.ranks],
                        "o-" if size == self.sizes[0] else "s--", label=f"{op}, {size * 8:,} B")
        ax.set_xlabel("ranks")
        ax.set_ylabel("time per call (us)")
        ax.set_yscale("log")
        ax.set_xticks(list(self.ranks))
        ax.legend(fontsize=7, ncol=2)
        ax.set_title("Collectives: cost by rank count")
        return ax


def collective_costs(ranks: Sequence[int] = (1, 2, 4), sizes: Sequence[int] = (1, 131072),
                     reps: int = 50, timeout: float = 60.0) -> CollectiveCosts:
    """Time every collective of :data:`OPERATIONS` on each rank count (one ``mpirun`` each).

    Args:
        ranks: rank counts, each >= 1.
        sizes: message sizes in float64 elements (the default: 8 B and 1 MiB).
        reps: timed calls per operation and size (the median is kept).
        timeout: seconds per ``mpirun``.

    Returns:
        A :class:`CollectiveCosts`; ``print`` it for a table, ``.plot()`` for a figure.

    Example:
        >>> costs = collective_costs(ranks=(1, 2), sizes=(1,), reps=5)
        >>> costs.seconds[(2, "allreduce", 1)] > 0
        True
    """
    from course_lib.dist.launch import mpirun

    seconds = {}
    for p in ranks:
        result = mpirun(_time_rank, int(p), args=(list(sizes), int(reps)), timeout=timeout)
        for (op, size), s in result.results[0].items():
            seconds[(int(p), op, size)] = s
    return CollectiveCosts(tuple(int(p) for p in ranks), tuple(sizes), seconds)
