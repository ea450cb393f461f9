"""Benchmarks for course_lib.simd (chapter c05): GFLOP/s by kernel and ISA against the peak.

1. The FMA peak of one core per variant and precision (``simd.peak``).
2. Each C kernel in every variant this CPU runs, on in-cache float32 data, with NumPy's
   equivalent in the same run: GFLOP/s (dot, saxpy, poly, masked_sum) and the share of the
   variant's own peak.
3. The chapter's targets, each a ratio measured in this run:
   - the best compute-bound kernel (poly) reaches at least 0.8x the measured peak of one core;
   - numba's auto-vectorised dot (fastmath) reaches at least 0.7x the C intrinsics dot on
     in-cache data (both repeated inside compiled code, so no call overhead is timed);
   - a float sum with ``fastmath`` runs at least 3x faster than the strict one.

Run with ``python -m benchmarks simd`` (``COURSE_QUICK=1`` for a quick run).
"""
from __future__ import annotations

import numpy as np

from course_lib.config import pick
from course_lib.simd import features, kernels, numba_kernels as nk, peak
from course_lib.simd.ladder import best_rate


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x (target {target}x: {'met' if ratio >= target else 'NOT met'})"


def run() -> None:
    seconds = pick(0.3, 0.03)
    n = pick(1 << 14, 1 << 12)
    rng = np.random.default_rng(0)
    x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    coeffs = rng.uniform(-0.5, 0.5, 33).astype(np.float32)
    out = np.empty_like(x)
    variants = features.available()

    print("\n-- FMA peak of one core (GFLOP/s)")
    peaks = {}
    for v in variants:
        f32, f64 = peak.peak("f32", v, seconds), peak.peak("f64", v, seconds)
        peaks[v] = f32.gflops
        print(f"{v:>7}: f32 {f32.gflops:7.1f} ({f32.flops_per_cycle} flops/cycle, {f32.clock_ghz:.2f} GHz)"
              f"   f64 {f64.gflops:7.1f}")

    big = pick(1 << 17, 1 << 15)  # 512 KiB per array: long enough that one call is not the cost
    x, y = rng.random(big, dtype=np.float32), rng.random(big, dtype=np.float32)
    out = np.empty_like(x)
    print(f"\n-- kernels on float32 in cache: dot on {n:,} (repeated in C), the others on {big:,} "
          "per call (GFLOP/s; share of the variant's peak)")
    print(f"{'variant':>8}{'dot':>16}{'saxpy':>16}{'poly(32)':>16}{'masked_sum':>16}")
    poly_share = {}
    for v in variants:
        dot = peak.dot_rate(n, v, seconds)
        sax = best_rate(lambda: kernels.saxpy(1.0001, x, out, variant=v), 2 * big, seconds)
        pol = best_rate(lambda: kernels.poly(x, coeffs, variant=v, out=out), 2 * 32 * big, seconds)
        msk = best_rate(lambda: kernels.masked_sum(x, 0.5, variant=v), 2 * big, seconds)
        poly_share[v] = pol / peaks[v]
        cells = [f"{r:7.1f} ({r / peaks[v]:4.0%})" for r in (dot, sax, pol, msk)]
        print(f"{v:>8}" + "".join(f"{c:>16}" for c in cells))
    np_dot = best_rate(lambda: np.dot(x[:n], y[:n]), 2 * n, seconds)
    np_poly = best_rate(lambda: np.polyval(coeffs, x), 2 * 32 * big, seconds)
    np_msk = best_rate(lambda: x[x > 0.5].sum(), 2 * big, seconds)
    print(f"{'NumPy':>8}{np_dot:>16.1f}{'':>16}{np_poly:>16.1f}{np_msk:>16.1f}")

    print("\n-- targets (ratios measured in this run)")
    best = max(poly_share, key=poly_share.get)
    print(f"poly ({best}) / FMA peak ({best}): {_verdict(poly_share[best], 0.8)}")
    reps = max(1, pick(200_000, 20_000) // n * 16)
    x, y = x[:n].copy(), y[:n].copy()
    nk.dot_fastmath_repeat(x, y, 1)
    numba_dot = best_rate(lambda: nk.dot_fastmath_repeat(x, y, reps), 2 * n * reps, seconds)
    c_best = features.best_variant()
    c_dot = peak.dot_rate(n, c_best, seconds)
    print(f"numba dot (fastmath) {numba_dot:.1f} / C {c_best} dot {c_dot:.1f} GFLOP/s: "
          f"{_verdict(numba_dot / c_dot, 0.7)}")
    nk.sum_strict_repeat(x, 1)
    nk.sum_fastmath_repeat(x, 1)
    strict = best_rate(lambda: nk.sum_strict_repeat(x, reps), n * reps, seconds)
    fast = best_rate(lambda: nk.sum_fastmath_repeat(x, reps), n * reps, seconds)
    print(f"float sum, fastmath {fast:.1f} / strict {strict:.1f} Gadd/s: {_verdict(fast / strict, 3.0)}")
