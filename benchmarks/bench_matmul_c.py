"""Benchmarks for the C GEMM of chapter c08 (course_lib.matmul.cgemm) against NumPy's BLAS.

1. Which BLAS NumPy calls (threadpoolctl names the library, its version and the kernels it
   picked), the micro-kernel and tile sizes ours uses here, and one core's FMA peak.
2. GFLOP/s of ``matmul_c`` and of ``a @ b`` at N = 1024 and 2048 (square, C-ordered), float64
   and float32, on 1 thread and on 2 (or as many as the machine has), the two timed in the same
   run in interleaved rounds (``bench.interleave``), with the BLAS's thread count set to ours
   (``threadpoolctl``). Each figure is the median; the share of the peak is ours over
   ``peak x threads``.
3. The chapter's target, a ratio measured in this run: float64 at least 0.8x NumPy's BLAS at the
   same thread count, at N = 1024 and 2048.

OpenBLAS's idle workers spin for 2**28 cycles (about 70 ms) after each call before they sleep.
In interleaved rounds that spinning takes a core from whatever runs next: on a 2-core VM, ours
on 2 threads right after a BLAS call measured 49 GFLOP/s, after a pause 99. So the timings run
in a child process with ``OPENBLAS_THREAD_TIMEOUT=4`` (the workers sleep at once; OpenBLAS reads
it only when it loads), which left BLAS's own figures unchanged (about 100 GFLOP/s on 2 threads
either way) and ours right after BLAS at 91 to 98.

Run with ``python -m benchmarks matmul_c`` (``COURSE_QUICK=1`` for a quick run on smaller sizes).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from course_lib.config import pick
from course_lib.matmul import cgemm
from course_lib.measure.bench import interleave
from course_lib.measure.machine import describe
from course_lib.simd import features, peak

TARGET = 0.8


def blas_name() -> str:
    """The BLAS behind NumPy, in words: library, version, the kernels it chose, its threads."""
    rows = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not rows:
        return "no BLAS found by threadpoolctl (NumPy's own fallback loops?)"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture') or '?'} "
                     f"kernels, {i.get('threading_layer') or '?'} threading, "
                     f"{i.get('num_threads')} threads by default), {i.get('filepath')}"
                     for i in rows)


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x (target {target}x: {'met' if ratio >= target else 'NOT met'})"


def run() -> None:
    if os.environ.get("OPENBLAS_THREAD_TIMEOUT") is None and "openblas" in blas_name():
        env = dict(os.environ, OPENBLAS_THREAD_TIMEOUT="4")
        subprocess.run([sys.executable, "-c", "from benchmarks.bench_matmul_c import run; run()"],
                       env=env, cwd=Path(__file__).resolve().parents[1], check=True)
        return
    sizes = pick((1024, 2048), (256, 512))
    budget = pick(3.0, 0.3)
    cores = describe().usable_cores or 1
    thread_counts = sorted({1, min(2, cores)})
    variant = features.best_variant()

    print(f"\nNumPy's BLAS: {blas_name()}; OPENBLAS_THREAD_TIMEOUT="
          f"{os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset')}")
    peaks = {}
    for dt, prec in ((np.float64, "f64"), (np.float32, "f32")):
        p = peak.peak(prec, variant, pick(0.3, 0.03))
        peaks[dt] = p.gflops
        print(f"{prec}: micro-kernel {variant} {cgemm.microkernel_shape(dt, variant)}, "
              f"{cgemm.tile_sizes(dt, variant)}, one core's FMA peak {p.gflops:.1f} GFLOP/s")

    print("\n-- GFLOP/s, medians of interleaved rounds (share of peak x threads)")
    print(f"{'dtype':>8}{'N':>6}{'threads':>8}{'matmul_c':>18}{'NumPy BLAS':>18}{'ours/BLAS':>11}")
    ratios = {}
    rng = np.random.default_rng(0)
    for dt in (np.float64, np.float32):
        for n in sizes:
            a = rng.standard_normal((n, n)).astype(dt)
            b = rng.standard_normal((n, n)).astype(dt)
            out_c, out_b = np.empty((n, n), dt), np.empty((n, n), dt)
            flops = 2.0 * n ** 3
            for t in thread_counts:
                with threadpool_limits(limits=t, user_api="blas"):
                    ours, blas = interleave([
                        ("matmul_c", lambda t=t: cgemm.matmul_c(a, b, out_c, threads=t)),
                        ("blas", lambda: np.matmul(a, b, out=out_b)),
                    ], budget=budget)
                g_ours, g_blas = flops / ours.median / 1e9, flops / blas.median / 1e9
                ratios[(np.dtype(dt).name, n, t)] = g_ours / g_blas
                share = g_ours / (peaks[dt] * t)
                print(f"{np.dtype(dt).name:>8}{n:>6}{t:>8}{g_ours:>10.1f} ({share:4.0%})"
                      f"{g_blas:>10.1f} ({g_blas / (peaks[dt] * t):4.0%}){g_ours / g_blas:>10.2f}x")

    print("\n-- target (ratios measured in this run)")
    for (name, n, t), r in ratios.items():
        if name == "float64":
            print(f"float64 N={n}, {t} thread(s): matmul_c / NumPy's BLAS {_verdict(r, TARGET)}")
