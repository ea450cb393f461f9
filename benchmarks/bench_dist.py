"""Benchmarks for course_lib.dist: message costs, the stencil's strong scaling, Dask's task cost.

1. Ping-pong over every transport (:data:`course_lib.dist.TRANSPORTS`): the one-way time of an
   8-byte message (latency) and the bandwidth of a 4 MiB message (``size / t``), plus the
   weighted fit of ``t = latency + size / bandwidth`` over all sizes. MPI transports are
   skipped, with the reason, where MPI is missing.
2. The heat stencil on 1 and 2 MPI ranks (strong scaling: the same 1026 x 1024 grid, 100 steps;
   smaller under COURSE_QUICK), median of three runs of each, and the speedup.
3. The cost of an empty task: Dask's distributed scheduler (a local cluster of one process per
   usable core), Dask's threaded scheduler, and chapter 1's work-stealing pool, and the ratios.

Reference points (not measured here): MPI over shared memory on one host is typically 0.3-2 us
and 5-20 GB/s; 10 Gbit/s Ethernet about 10-50 us and 1.2 GB/s; Dask's documentation quotes
roughly 200-1000 us per task for the distributed scheduler and tens of us for threads.

Run with ``python -m benchmarks dist``.
"""
from __future__ import annotations

import numpy as np

from benchmarks import print_groups
from course_lib import dist
from course_lib.config import pick
from course_lib.dist import tasks


def _pingpong() -> list[tuple[str, str]]:
    rows = []
    mpi = dist.mpi_available()
    sizes = (8, 64, 1024, 16384, 262144, 1 << 22)
    for name in dist.TRANSPORTS:
        if name.startswith("mpi") and not mpi:
            rows.append((name, f"skipped: {mpi.reason}"))
            continue
        pp = dist.pingpong(name, sizes=sizes, reps=pick(1000, 100))
        small, big = pp.seconds[0], pp.seconds[-1]
        if name == "threads":  # a channel between threads hands over a reference: no bytes move
            rows.append((name, f"8 B: {small * 1e6:7.2f} us   (passes a reference: no bandwidth "
                               f"to measure; 4 MiB takes {big * 1e6:.1f} us too)"))
            continue
        rows.append((name, f"8 B: {small * 1e6:7.2f} us   4 MiB: {sizes[-1] / big / 1e9:7.2f} GB/s"
                           f"   fit: {pp.link}"))
    return rows


def _stencil() -> list[tuple[str, str]]:
    if not dist.mpi_available():
        return [("stencil", f"skipped: {dist.mpi_available().reason}")]
    ny, nx, steps = pick((1026, 1024, 100), (514, 512, 40))
    times = {1: [], 2: []}
    for _ in range(3):
        for p in (1, 2):   # alternate, so that a slow phase of the machine hits both
            times[p].append(dist.stencil_scaling((p,), ny=ny, nx=nx, steps=steps).seconds[0])
    t1, t2 = (float(np.median(times[p])) for p in (1, 2))
    return [(f"{ny} x {nx}, {steps} steps, 1 rank", f"{t1 * 1e3:8.1f} ms"),
            ("2 ranks", f"{t2 * 1e3:8.1f} ms   speedup {t1 / t2:.2f}x   efficiency {t1 / t2 / 2:.0%}")]


def _tasks() -> list[tuple[str, str]]:
    with tasks.start_client() as client:
        costs = tasks.task_overhead(client, tasks=pick(5000, 500))
    pool = costs["chapter 1 pool"]
    return [(name, f"{s * 1e6:8.1f} us per task   {s / pool:7.0f}x the chapter 1 pool")
            for name, s in costs.items()]


def run() -> None:
    """Measure and print the three groups of figures."""
    print(dist.mpi_available())
    groups = (("ping-pong: latency (8 B) and bandwidth (4 MiB) by transport", _pingpong),
              ("heat stencil, strong scaling (slowest rank's time, median of 3)", _stencil),
              ("empty task: Dask schedulers against chapter 1's pool", _tasks))
    print_groups(groups)


if __name__ == "__main__":
    run()
