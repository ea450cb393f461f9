"""What stops numba (LLVM) from vectorising a loop, and the one-line change that unblocks it.

Each :class:`Blocker` pairs two versions of one float32 kernel: ``blocked`` as a Python
programmer would first write it, ``fixed`` with the change. :func:`compare` compiles both,
reads their machine code (:func:`course_lib.simd.autovec.vector_report`) and times them in the
same run, so the table a learner sees is about their CPU.

1. **A float reduction without fastmath.** ``s += x[i] * y[i]`` adds in one fixed order; SIMD
   adds 8 or 16 partial sums and combines them at the end, a different order, so a different
   rounding. IEEE 754 forbids that reassociation unless told: ``fastmath=True`` (or just
   ``{"reassoc"}``) allows it. The result may change in the last bits.
2. **Division under Python's error model.** ``@njit`` checks every division for a zero divisor
   to raise ZeroDivisionError, a branch inside the loop; ``error_model="numpy"`` gives inf/nan
   like NumPy and the branch goes.
3. **A float64 constant in float32 code.** ``x[i] * 0.1`` promotes each element to float64, so
   the loop converts, computes at half the lanes, and converts back; ``np.float32(0.1)`` keeps
   it in float32.
4. **Bounds checks**, which often are *not* a blocker: with ``boundscheck=True`` numba tests
   every index, but in ``for i in range(x.shape[0])`` LLVM proves ``i`` in range and deletes
   the tests, as rustc does for ``for v in x.iter()``. Expect a ratio near 1 here; the checks
   cost when the index comes from data (``x[idx[i]]``).
5. **An exception in the loop.** ``raise`` on a bad element is a possible early exit, which the
   vectoriser cannot do lane-wise; checking the whole array first (``(x < 0).any()``) keeps the
   hot loop straight.
6. **A loop-carried dependence.** ``out[i] = out[i-1] * a + x[i]`` (a recurrence) needs the
   previous lane's result: no compiler flag fixes that; only a different algorithm does (a
   scan). Possible aliasing between arrays is *not* a blocker in numba: LLVM checks at run time
   whether they overlap and keeps a vector and a scalar version of the loop.

Sources: numba's "Performance tips" (fastmath, error_model) and "Supported Python features"
(boundscheck); LLVM's "Auto-Vectorization in LLVM" (reductions, runtime checks of pointers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numba import njit

from course_lib.simd.autovec import VectorReport, report

__all__ = ["Blocker", "BLOCKERS", "compare", "Comparison"]


# 1. reductions ------------------------------------------------------------------------------
@njit
def sum_strict(x):
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        s += x[i]
    return s


@njit(fastmath=True)
def sum_fastmath(x):
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        s += x[i]
    return s


# 2. division ----------------------------------------------------------------------------------
@njit
def divide_python(x, y, out):
    for i in range(x.shape[0]):
        out[i] = x[i] / y[i]


@njit(error_model="numpy")
def divide_numpy(x, y, out):
    for i in range(x.shape[0]):
        out[i] = x[i] / y[i]


# 3. a float64 constant --------------------------------------------------------------------------
@njit
def scale_f64_constant(x, out):
    for i in range(x.shape[0]):
        out[i] = x[i] * 0.1


@njit
def scale_f32_constant(x, out):
    c = np.float32(0.1)
    for i in range(x.shape[0]):
        out[i] = x[i] * c


# 4. bounds checks -------------------------------------------------------------------------------
@njit(boundscheck=True)
def add_boundscheck(x, y, out):
    for i in range(x.shape[0]):
        out[i] = x[i] + y[i]


@njit
def add_plain(x, y, out):
    for i in range(x.shape[0]):
        out[i] = x[i] + y[i]


# 5. an exception in the loop ----------------------------------------------------------------------
@njit
def sqrt_raise_in_loop(x, out):
    for i in range(x.shape[0]):
        if x[i] < 0:
            raise ValueError("negative input")
        out[i] = np.sqrt(x[i])


@njit
def sqrt_check_first(x, out):
    if (x < 0).any():
        raise ValueError("negative input")
    for i in range(x.shape[0]):
        out[i] = np.sqrt(x[i])


# 6. a recurrence ------------------------------------------------------------------------------------
@njit(fastmath=True)
def recurrence(x, out):
    a = np.float32(0.5)
    out[0] = x[0]
    for i in range(1, x.shape[0]):
        out[i] = out[i - 1] * a + x[i]


@njit(fastmath=True)
def independent(x, out):
    a = np.float32(0.5)
    out[0] = x[0]
    for i in range(1, x.shape[0]):
        out[i] = x[i - 1] * a + x[i]


@dataclass(frozen=True)
class Blocker:
    """One obstacle to vectorisation, as a pair of kernels and the change between them."""

    name: str
    blocked: Callable
    fixed: Callable
    change: str
    args: Callable  # n -> the arguments both kernels take


def _one(n):
    return (np.random.default_rng(0).random(n, dtype=np.float32),)


def _two_out(n):
    rng = np.random.default_rng(1)
    return (rng.random(n, dtype=np.float32) + 0.5, rng.random(n, dtype=np.float32) + 0.5,
            np.empty(n, np.float32))


def _one_out(n):
    return (np.random.default_rng(2).random(n, dtype=np.float32), np.empty(n, np.float32))


BLOCKERS = (
    Blocker("float reduction", sum_strict, sum_fastmath, "fastmath=True", _one),
    Blocker("division", divide_python, divide_numpy, 'error_model="numpy"', _two_out),
    Blocker("float64 constant", scale_f64_constant, scale_f32_constant, "np.float32(0.1)", _one_out),
    Blocker("bounds checks", add_boundscheck, add_plain, "boundscheck off (the default)", _two_out),
    Blocker("raise in the loop", sqrt_raise_in_loop, sqrt_check_first, "check before the loop", _one_out),
    Blocker("recurrence", recurrence, independent, "(none: a different algorithm)", _one_out),
)


@dataclass(frozen=True)
class Comparison:
    """One blocker measured here: both kernels' machine code and their times (same run)."""

    blocker: Blocker
    before: VectorReport
    after: VectorReport
    t_before: float
    t_after: float

    @property
    def speedup(self) -> float:
        return self.t_before / self.t_after

    def row(self) -> dict:
        return {"blocker": self.blocker.name, "change": self.blocker.change,
                "before": _describe(self.before), "after": _describe(self.after),
                "speedup": round(self.speedup, 2)}


def _describe(r: VectorReport) -> str:
    text = f"{r.width_bits}-bit vectors" if r.vectorized else "scalar"
    return text + (f", {r.conversions} conversions" if r.conversions > 1 else "")


def compare(blocker: Blocker, n: int = 1 << 16, repeats: int = 7) -> Comparison:
    """Compile both kernels of ``blocker`` on ``n`` float32 values, report their machine code and
    time them interleaved (best of ``repeats``; in-cache sizes by default)."""
    import time

    args = blocker.args(n)
    before, after = report(blocker.blocked, *args), report(blocker.fixed, *args)
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for k, fn in enumerate((blocker.blocked, blocker.fixed)):
            t = time.perf_counter()
            for _ in range(10):
                fn(*args)
            best[k] = min(best[k], (time.perf_counter() - t) / 10)
    return Comparison(blocker, before, after, best[0], best[1])
