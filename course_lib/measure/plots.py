"""Plots of measurements: samples, comparisons, speedup curves and Amdahl's law.

Every function draws on a given matplotlib ``Axes`` (or a new figure's) and returns the Axes, so
notebooks can combine them in subplots. Nothing here measures: the data come from
:mod:`course_lib.measure.bench`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.measure.amdahl import amdahl_speedup, fit_serial_fraction, gustafson_speedup
from course_lib.measure.stats import format_seconds

__all__ = ["samples_plot", "comparison_plot", "speedup_plot", "amdahl_plot"]


def _axes(ax, size=(6.0, 3.6)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _time_scale(values) -> tuple[float, str]:
    unit = format_seconds(float(np.median(values))).split()[-1]
    return {"s": 1.0, "ms": 1e3, "µs": 1e6, "ns": 1e9}[unit], unit


def samples_plot(measurement, ax=None):
    """Samples of a :class:`~course_lib.measure.bench.Measurement` in the order they were taken.

    The median is a line, the interquartile range a band, Tukey's outlier fences dotted lines:
    a drift over time (thermal throttling, another job starting) shows up as a slope.

    Args:
        measurement: a ``Measurement``.
        ax: matplotlib Axes to draw on; a new figure if None.

    Returns:
        The Axes.
    """
    ax = _axes(ax)
    x = measurement.samples
    k, unit = _time_scale(x)
    ax.plot(np.arange(x.size), x * k, "o", ms=3, label="samples")
    ax.axhline(measurement.median * k, color="C1", label=f"median {format_seconds(measurement.median)}")
    ax.axhspan(measurement.q1 * k, measurement.q3 * k, color="C1", alpha=0.2, label="IQR")
    fence = measurement.q3 + 1.5 * measurement.iqr
    ax.axhline(fence * k, color="C3", ls=":", lw=1, label="outlier fence")
    ax.set(xlabel="sample (in time order)", ylabel=f"time per call ({unit})", title=measurement.label)
    ax.legend(fontsize="small")
    return ax


def comparison_plot(comparison, ax=None):
    """Box plots of A and B from a :class:`~course_lib.measure.bench.Comparison`, with the ratio in the title.

    Args:
        comparison: a ``Comparison``.
        ax: matplotlib Axes to draw on; a new figure if None.

    Returns:
        The Axes.
    """
    ax = _axes(ax)
    a, b = comparison.a, comparison.b
    k, unit = _time_scale(np.concatenate([a.samples, b.samples]))
    ax.boxplot([a.samples * k, b.samples * k], tick_labels=[a.label, b.label], showfliers=True)
    lo, hi = comparison.ci
    ax.set(ylabel=f"time per call ({unit})",
           title=f"ratio A/B = {comparison.ratio:.3g} (95% CI {lo:.3g} .. {hi:.3g})")
    return ax


def speedup_plot(scaling=None, ax=None, *, threads: Sequence[int] | None = None,
                 speedups: Sequence[float] | None = None, label: str = "measured"):
    """Measured speedup against thread count, with the ideal line and the fitted Amdahl curve.

    Args:
        scaling: a :class:`~course_lib.measure.bench.Scaling`; or give ``threads`` and ``speedups``.
        ax: matplotlib Axes to draw on; a new figure if None.
        threads, speedups: raw data when no ``Scaling`` is at hand.
        label: legend entry of the measured points.

    Returns:
        The Axes.

    Raises:
        ValueError: when neither a ``Scaling`` nor both arrays are given.
    """
    if scaling is not None:
        n = np.asarray(scaling.threads, dtype=float)
        sp = np.asarray(scaling.speedup)
        sf = scaling.serial_fraction
    elif threads is not None and speedups is not None:
        n, sp = np.asarray(threads, dtype=float), np.asarray(speedups, dtype=float)
        sf = fit_serial_fraction(n, sp) if n.size > 1 else float("nan")
    else:
        raise ValueError("speedup_plot needs a Scaling result, or both threads= and speedups=")
    ax = _axes(ax)
    top = max(float(n.max()), 2.0)
    grid = np.linspace(1, top, 100)
    ax.plot(grid, grid, "k--", lw=1, label="ideal (linear)")
    if np.isfinite(sf):
        ax.plot(grid, amdahl_speedup(sf, grid), "C1-", label=f"Amdahl fit, serial fraction {sf:.3f}")
    ax.plot(n, sp, "o", color="C0", ms=7, label=label)
    ax.set(xlabel="threads", ylabel="speedup over 1 thread", xlim=(0.8, top + 0.2), ylim=(0, top + 0.5))
    ax.set_xticks(n)
    if n.size == 1:
        ax.text(0.5, 0.5, "only one thread count was measured (one usable core?):\nno speedup to show",
                transform=ax.transAxes, ha="center", va="center", fontsize="small", color="0.3")
    ax.legend(fontsize="small")
    return ax


def amdahl_plot(serial_fractions: Sequence[float] = (0.0, 0.05, 0.1, 0.25, 0.5), max_threads: int = 64,
                ax=None, *, mark: int | None = None, gustafson: bool = False):
    """Amdahl's speedup curves for several serial fractions (log-scaled thread axis).

    Args:
        serial_fractions: one curve per fraction, each in [0, 1].
        max_threads: right end of the thread axis (>= 1).
        ax: matplotlib Axes to draw on; a new figure if None.
        mark: a thread count to mark on every curve (the explorer's cores slider).
        gustafson: also draw Gustafson's scaled speedup, dashed, for each fraction.

    Returns:
        The Axes.

    Raises:
        ValueError: for fractions outside [0, 1] or ``max_threads < 1``.
    """
    if max_threads < 1:
        raise ValueError(f"max_threads must be at least 1, got {max_threads!r}")
    ax = _axes(ax)
    n = np.unique(np.geomspace(1, max_threads, 200).round())
    for i, s in enumerate(serial_fractions):
        color = f"C{i % 10}"
        ax.plot(n, amdahl_speedup(s, n), color=color, label=f"s = {s:g}  (limit {'∞' if s == 0 else f'{1 / s:.3g}x'})")
        if gustafson:
            ax.plot(n, gustafson_speedup(s, n), color=color, ls="--", lw=1)
        if mark is not None:
            ax.plot([mark], [amdahl_speedup(s, mark)], "o", color=color)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="threads", ylabel="speedup", title="Amdahl's law" + (" (dashed: Gustafson)" if gustafson else ""))
    ax.legend(fontsize="small")
    return ax
