"""Robust summary statistics for timing samples.

Timings on a shared machine are skewed to the right: a sample can be slowed down by an interrupt,
another process or a frequency change, never sped up. So the harness reports order statistics:

1. the median and the quartiles (Q1, Q3) with the interquartile range ``IQR = Q3 - Q1``;
2. outliers classified with Tukey's fences: beyond 1.5 IQR of the quartiles is *mild*, beyond
   3 IQR is *severe* (criterion.rs uses the same scheme);
3. a confidence interval for the median by the percentile bootstrap: resample the samples with
   replacement many times, take the median of each resample, keep the central 95%.

Source:
    J. W. Tukey, "Exploratory Data Analysis", 1977. B. Efron and R. Tibshirani, "An Introduction
    to the Bootstrap", 1993 (percentile intervals, chapter 13).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Outliers", "tukey_outliers", "bootstrap_ci", "format_seconds"]


@dataclass(frozen=True)
class Outliers:
    """Counts of samples outside Tukey's fences, on each side."""

    low_severe: int
    low_mild: int
    high_mild: int
    high_severe: int

    @property
    def total(self) -> int:
        return self.low_severe + self.low_mild + self.high_mild + self.high_severe

    def __str__(self) -> str:
        if not self.total:
            return "no outliers"
        parts = [f"{v} {k.replace('_', ' ')}" for k, v in self.__dict__.items() if v]
        return f"{self.total} outlier{'s' if self.total > 1 else ''} ({', '.join(parts)})"


def tukey_outliers(samples) -> Outliers:
    """Classify samples with Tukey's fences.

    Args:
        samples: 1-D array-like of numbers.

    Returns:
        An :class:`Outliers` with the count in each class (mild counts exclude severe ones).

    Example:
        >>> str(tukey_outliers([1, 1, 1, 1, 2, 1, 1, 50]))
        '2 outliers (1 high mild, 1 high severe)'
    """
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        return Outliers(0, 0, 0, 0)
    q1, q3 = np.percentile(x, [25, 75])
    iqr = q3 - q1
    lo_mild, hi_mild = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    lo_sev, hi_sev = q1 - 3.0 * iqr, q3 + 3.0 * iqr
    return Outliers(
        low_severe=int(np.sum(x < lo_sev)),
        low_mild=int(np.sum((x < lo_mild) & (x >= lo_sev))),
        high_mild=int(np.sum((x > hi_mild) & (x <= hi_sev))),
        high_severe=int(np.sum(x > hi_sev)),
    )


def bootstrap_ci(
    samples,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of a statistic (the median by default).

    Args:
        samples: 1-D array-like of at least one number.
        statistic: maps a 2-D array of resamples (one per row) to one value per row; defaults
            to the row-wise median.
        level: confidence level in (0, 1).
        resamples: number of bootstrap resamples.
        seed: seed of the resampling generator, so that a result can be reproduced.

    Returns:
        ``(low, high)``. With a single sample both ends equal it.

    Raises:
        ValueError: for an empty input or a level outside (0, 1).

    Example:
        >>> lo, hi = bootstrap_ci([1.0, 1.1, 0.9, 1.05, 0.95])
        >>> lo <= 1.0 <= hi
        True
    """
    x = np.asarray(samples, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one sample")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    stat = statistic or (lambda a: np.median(a, axis=1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    values = stat(x[idx])
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def format_seconds(seconds: float, digits: int = 4) -> str:
    """Format a duration with a readable unit: ``format_seconds(0.00123) == '1.23 ms'``.

    Args:
        seconds: the duration; negative values and nan are formatted as given.
        digits: significant digits.

    Returns:
        The value scaled to s, ms, µs or ns with its unit.
    """
    if seconds != seconds:  # nan
        return "nan"
    mag = abs(seconds)
    for scale, unit in _UNITS:
        if mag >= scale:
            break
    return f"{seconds / scale:.{digits}g} {unit}"
