"""Benchmarks for chapter c08's numba rungs (course_lib.matmul) against NumPy's BLAS.

1. The ladder at N = 1024 and 2048, float64, one thread, every rung and ``a @ b`` timed in the
   same run (``matmul.ladder_table``; BLAS limited to one thread through threadpoolctl; the naive
   rung only at small N). Target: the best pure-numba rung (``microkernel``) at least 0.3x BLAS.
2. Scaling: each parallel rung (``prange``, the work-stealing pool, the lock-free tile counter)
   on all usable cores against its own one-thread time, same run (``matmul.scaling_table``).
   Target: at least 1.8x on this 2-core machine.
3. The fraction of the measured FMA peak for each.

As in ``bench_matmul_c``, the timings run in a child process with ``OPENBLAS_THREAD_TIMEOUT=4``
so that OpenBLAS's spinning idle workers do not take a core from the rung timed after them.

Run with ``python -m benchmarks matmul`` (``COURSE_QUICK=1`` for small sizes).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from course_lib import matmul
from course_lib.config import pick
from course_lib.measure.machine import describe

NUMBA_TARGET, SCALING_TARGET = 0.3, 1.8


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x (target {target}x: {'met' if ratio >= target else 'NOT met'})"


def run() -> None:
    if os.environ.get("OPENBLAS_THREAD_TIMEOUT") is None:
        env = dict(os.environ, OPENBLAS_THREAD_TIMEOUT="4")
        subprocess.run([sys.executable, "-c", "from benchmarks.bench_matmul import run; run()"],
                       env=env, cwd=Path(__file__).resolve().parents[1], check=True)
        return
    print(matmul.blas_info())
    for n in pick((1024, 2048), (256, 512)):
        table = matmul.ladder_table(n, np.float64, threads=1,
                                    rungs=["reordered", "blocked", "packed", "microkernel"])
        print(f"\n{table}")
        best = table.row("microkernel")
        blas = table.row("numpy")
        print(f"N={n}: best pure-numba rung (microkernel) / BLAS, one thread: "
              f"{_verdict(best.gflops / blas.gflops, NUMBA_TARGET)}")
    cores = describe().usable_cores or 1
    if cores < 2:
        print("\none usable core: no scaling to measure")
        return
    for n in pick((1024, 2048), (384,)):
        scaling = matmul.scaling_table(n, np.float64, threads=sorted({1, cores}),
                                       variants=("prange", "pool", "queue"))
        print(f"\n{scaling}")
        for name in ("prange", "pool", "queue"):
            row = scaling.row(name, cores)
            print(f"N={n}: {name} on {cores} threads / its one-thread time: "
                  f"{_verdict(row.speedup, SCALING_TARGET)}")
