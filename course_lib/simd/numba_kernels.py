"""Small float32 kernels in numba for the chapter's measurements: the same dot product strict
(one IEEE-ordered sum: scalar code) and with ``fastmath`` (reassociated: vector code)."""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["dot_strict", "dot_fastmath", "sumsq_fastmath", "dot_fastmath_repeat", "sum_strict_repeat",
           "sum_fastmath_repeat"]


@njit
def dot_strict(x, y):
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    return s


@njit(fastmath=True)
def dot_fastmath(x, y):
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    return s


@njit(fastmath=True)
def sumsq_fastmath(x):
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return s


# Repeated inside compiled code, for timing in-cache sizes where one call from Python (about a
# microsecond) would cost more than the kernel. Each round starts one element later on odd
# rounds, so the compiler cannot compute the dot product once and reuse it.
@njit(fastmath=True)
def dot_fastmath_repeat(x, y, reps):
    total = np.float32(0.0)
    for r in range(reps):
        k = r & 1
        total += dot_fastmath(x[k:], y[k:])
    return total


@njit
def sum_strict_repeat(x, reps):
    total = np.float32(0.0)
    for r in range(reps):
        s = np.float32(0.0)
        for i in range(r & 1, x.shape[0]):
            s += x[i]
        total += s
    return total


@njit(fastmath=True)
def sum_fastmath_repeat(x, reps):
    total = np.float32(0.0)
    for r in range(reps):
        s = np.float32(0.0)
        for i in range(r & 1, x.shape[0]):
            s += x[i]
        total += s
    return total
