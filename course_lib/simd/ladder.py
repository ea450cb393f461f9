"""The GFLOP/s ladder: every kernel variant this CPU can run, against its measured peak.

For each variant that can run here (under the ceiling), :func:`gflops_ladder` measures

1. the FMA peak of one core (:func:`course_lib.simd.peak.peak`), the ceiling;
2. a compute-bound kernel: a degree-``degree`` polynomial by Horner's rule, 2 flops per
   coefficient per element, on ``n`` elements: long enough (128 Ki by default) that the call
   from Python (a few microseconds) is a small part of the time;
3. the dot product on 16 Ki elements, repeated inside C so that the data stay in cache (2 flops
   per element, but 2 loads per FMA: it cannot reach the peak, as the chapter on memory
   explains);

and, for comparison on the same plot, numba's auto-vectorised dot (``fastmath``) and NumPy's
(BLAS). :func:`plot_ladder` draws the bars, one group per variant, with the peak as a tick.

All figures are one core, best of a few repeats, measured in this process.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from course_lib import config
from course_lib.simd import features, kernels, numba_kernels, peak

__all__ = ["Rung", "gflops_ladder", "plot_ladder", "best_rate"]


@dataclass(frozen=True)
class Rung:
    """One variant's figures, in GFLOP/s (one core)."""

    variant: str
    lanes: int
    peak: float
    poly: float
    dot: float

    @property
    def poly_fraction(self) -> float:
        """The polynomial's share of the peak (1.0 = the ceiling)."""
        return self.poly / self.peak


def best_rate(call, flops: int, seconds: float) -> float:
    """Best GFLOP/s of ``call()`` (which does ``flops`` flops) within ``seconds``."""
    call()
    best, end = float("inf"), time.perf_counter() + seconds
    while True:
        t = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() > end:
            return flops / best / 1e9


def gflops_ladder(n: int | None = None, degree: int = 32, seconds: float | None = None) -> dict:
    """Measure every available variant, plus numba and NumPy dot products, on ``n`` float32.

    Returns:
        ``{"rungs": [Rung, ...], "numba_dot": GFLOP/s, "numpy_dot": GFLOP/s, "n": n,
        "n_dot": the dot product's length}``. NumPy's dot is one call per timing (BLAS), so at
        this size its figure includes the call from Python.
    """
    n = n or config.pick(1 << 17, 1 << 15)
    n_dot = min(n, 1 << 14)
    seconds = seconds if seconds is not None else config.pick(0.15, 0.02)
    rng = np.random.default_rng(3)
    x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    coeffs = rng.uniform(-0.5, 0.5, degree + 1).astype(np.float32)
    out = np.empty_like(x)
    rungs = []
    for v in features.available():
        top = peak.peak("f32", v, seconds=seconds).gflops
        p = best_rate(lambda: kernels.poly(x, coeffs, variant=v, out=out), 2 * degree * n, seconds)
        d = peak.dot_rate(n_dot, variant=v, seconds=seconds)
        rungs.append(Rung(v, features.lanes(v), top, p, d))
    xs, ys, reps = x[:n_dot].copy(), y[:n_dot].copy(), max(1, (1 << 20) // n_dot)
    numba_kernels.dot_fastmath_repeat(xs, ys, 1)
    numba_dot = best_rate(lambda: numba_kernels.dot_fastmath_repeat(xs, ys, reps), 2 * n_dot * reps, seconds)
    numpy_dot = best_rate(lambda: np.dot(xs, ys), 2 * n_dot, seconds)
    return {"rungs": rungs, "numba_dot": numba_dot, "numpy_dot": numpy_dot, "n": n, "n_dot": n_dot}


def plot_ladder(result: dict, ax=None):
    """Bars per variant (polynomial, dot) with the measured peak as a black tick; numba's and
    NumPy's dot as horizontal lines."""
    import matplotlib.pyplot as plt

    rungs = result["rungs"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    xs = np.arange(len(rungs))
    ax.bar(xs - 0.2, [r.poly for r in rungs], 0.4, label="polynomial (compute-bound)")
    ax.bar(xs + 0.2, [r.dot for r in rungs], 0.4, label="dot (in cache)")
    ax.scatter(xs, [r.peak for r in rungs], marker="_", s=900, color="black", label="FMA peak", zorder=3)
    ax.axhline(result["numba_dot"], color="tab:green", ls="--", label="numba dot (fastmath)")
    ax.axhline(result["numpy_dot"], color="tab:red", ls=":", label="NumPy dot")
    ax.set_xticks(xs, [f"{r.variant}\n{r.lanes} lanes" for r in rungs])
    ax.set_ylabel("GFLOP/s, one core")
    ax.set_yscale("log")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"float32, one core: polynomial on {result['n']:,} values, dot on {result['n_dot']:,}")
    return ax
