"""Amdahl's and Gustafson's laws, and fitting a serial fraction to measured speedups.

1. Amdahl (fixed problem size): a run that spends a fraction ``s`` of its single-thread time in code
   that cannot run in parallel takes ``s + (1 - s) / n`` of that time on ``n`` threads, so the
   speedup is ``1 / (s + (1 - s) / n)`` and can never exceed ``1 / s``.
2. Gustafson (problem size grows with ``n``): if the parallel part grows with the thread count and
   the serial part does not, the scaled speedup is ``s + (1 - s) * n``.
3. Fitting: Amdahl's law says ``1/S(n) - 1/n = s * (1 - 1/n)``, a straight line through the origin
   in ``x = 1 - 1/n``; least squares gives ``s = sum(x*y) / sum(x*x)``, clipped to [0, 1].

Source:
    G. M. Amdahl, "Validity of the single processor approach to achieving large scale computing
    capabilities", AFIPS 1967. J. L. Gustafson, "Reevaluating Amdahl's law", CACM 31(5), 1988.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["amdahl_speedup", "gustafson_speedup", "fit_serial_fraction"]


def _check_fraction(serial_fraction: float) -> float:
    s = float(serial_fraction)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"serial_fraction must be between 0 and 1, got {serial_fraction!r}")
    return s


def _check_threads(threads) -> np.ndarray:
    n = np.asarray(threads, dtype=float)
    if np.any(n < 1) or not np.all(np.isfinite(n)):
        raise ValueError(f"thread counts must be finite and at least 1, got {threads!r}")
    return n


def amdahl_speedup(serial_fraction: float, threads):
    """Speedup predicted by Amdahl's law for a fixed problem size.

    Args:
        serial_fraction: share of the single-thread run time that stays serial, in [0, 1].
        threads: a thread count (>= 1) or an array of them.

    Returns:
        ``1 / (s + (1 - s) / n)``: a float for a scalar ``threads``, else an array.

    Raises:
        ValueError: if the fraction is outside [0, 1] or a thread count is below 1.

    Example:
        >>> round(amdahl_speedup(0.1, 10), 2)
        5.26
    """
    s = _check_fraction(serial_fraction)
    n = _check_threads(threads)
    out = 1.0 / (s + (1.0 - s) / n)
    return float(out) if out.ndim == 0 else out


def gustafson_speedup(serial_fraction: float, threads):
    """Scaled speedup predicted by Gustafson's law when the work grows with the thread count.

    Args:
        serial_fraction: share of the *parallel* run's time that is serial, in [0, 1].
        threads: a thread count (>= 1) or an array of them.

    Returns:
        ``s + (1 - s) * n``: a float for a scalar ``threads``, else an array.

    Raises:
        ValueError: if the fraction is outside [0, 1] or a thread count is below 1.

    Example:
        >>> gustafson_speedup(0.1, 10)
        9.1
    """
    s = _check_fraction(serial_fraction)
    n = _check_threads(threads)
    out = s + (1.0 - s) * n
    return float(out) if out.ndim == 0 else out


def fit_serial_fraction(threads: Sequence[float], speedups: Sequence[float]) -> float:
    """Least-squares estimate of Amdahl's serial fraction from measured speedups.

    Points with one thread carry no information (their speedup is 1 by definition) and are
    ignored. Speedups above linear give a negative estimate, which is clipped to 0.

    Args:
        threads: thread counts, each >= 1.
        speedups: measured speedups over one thread, same length, each > 0.

    Returns:
        The serial fraction in [0, 1], or ``nan`` when no point has more than one thread.

    Raises:
        ValueError: on mismatched lengths, thread counts below 1 or non-positive speedups.

    Example:
        >>> round(fit_serial_fraction([1, 2, 4], [1.0, 1.6, 2.5]), 2)
        0.22
    """
    n = _check_threads(threads)
    sp = np.asarray(speedups, dtype=float)
    if n.shape != sp.shape or n.ndim != 1:
        raise ValueError(f"threads and speedups must be 1-D and of equal length, got {n.shape} and {sp.shape}")
    if np.any(~np.isfinite(sp)) or np.any(sp <= 0):
        raise ValueError(f"speedups must be finite and positive, got {speedups!r}")
    x = 1.0 - 1.0 / n
    y = 1.0 / sp - 1.0 / n
    denom = float(np.dot(x, x))
    if denom == 0.0:
        return float("nan")
    return float(np.clip(np.dot(x, y) / denom, 0.0, 1.0))
