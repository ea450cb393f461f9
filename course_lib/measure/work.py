"""Calibrated CPU work written in C, which runs without the GIL (see ``course_lib/_c/work.c``).

Python threads take turns holding the GIL, so threads running Python code never run at the same
time. A call through cffi releases the GIL for as long as the C function runs, so these kernels
are the simplest real parallel work there is: the reference workload of the first chapters.
"""
from __future__ import annotations

import numpy as np

from course_lib._c._work import ffi, lib

__all__ = ["spin", "spin4", "sum_f64"]

_U64 = 2**64


def _rounds(rounds, seed) -> tuple[int, int]:
    for name, v in (("rounds", rounds), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__}: {v!r}")
        if not 0 <= v < _U64:
            raise ValueError(f"{name} must be between 0 and 2**64 - 1, got {v!r}")
    return int(rounds), int(seed)


def spin(rounds: int, seed: int = 1) -> int:
    """Run ``rounds`` dependent xorshift64 steps in C (a few cycles each) and return the state.

    Args:
        rounds: number of steps, 0 <= rounds < 2**64.
        seed: starting state; 0 is replaced by 1 (xorshift stays at 0 forever), every other seed
            gives its own chain.

    Returns:
        The final 64-bit state: depends on every step, so no compiler can skip the work.

    Raises:
        TypeError: for a non-integer argument. ValueError: for one out of range.

    Example:
        >>> spin(0, 5)
        5
    """
    return int(lib.cw_spin(*_rounds(rounds, seed)))


def spin4(rounds: int, seed: int = 1) -> int:
    """Like :func:`spin`, but as four independent chains a core can overlap (instruction-level
    parallelism): the same number of steps, in less time on one core."""
    return int(lib.cw_spin4(*_rounds(rounds, seed)))


def sum_f64(x: np.ndarray) -> float:
    """Sum a float64 array in C, without the GIL: memory-bound where :func:`spin` is compute-bound.

    Raises:
        TypeError: unless ``x`` is a C-contiguous 1-D float64 NumPy array.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64 or x.ndim != 1 or not x.flags.c_contiguous:
        raise TypeError(f"sum_f64 needs a contiguous 1-D float64 array, got "
                        f"{getattr(x, 'dtype', type(x).__name__)} with shape {getattr(x, 'shape', None)}")
    return float(lib.cw_sum_f64(ffi.cast("const double *", ffi.from_buffer(x)), x.size))
