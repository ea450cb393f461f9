"""Strong and weak scaling of the heat stencil on MPI ranks, read through Amdahl and Gustafson.

* **Strong scaling**: the same grid on ``p`` ranks. Speedup ``S(p) = T(1) / T(p)``; Amdahl's law
  ``S = 1 / (s + (1 - s) / p)`` with a serial fraction ``s`` fitted to the measurements
  (:func:`course_lib.measure.amdahl.fit_serial_fraction`, chapter 0).
* **Weak scaling**: ``rows_per_rank`` rows on each rank, so the grid grows with ``p``. The scaled
  speedup is ``p * T(1) / T(p)`` (p times the work in time ``T(p)``); Gustafson's law
  ``S = s + (1 - s) p`` with ``s`` solved from the largest ``p``.

Steps of :func:`stencil_scaling`: for each rank count, one :func:`course_lib.dist.mpirun` of
:func:`course_lib.dist.stencil.heat_parallel` (each rank builds its own grid from a seed, so no
large argument travels); the time of a run is the slowest rank's time for the steps (launch
and MPI start-up excluded).

On a machine with ``c`` cores, ranks beyond ``c`` share cores: their points show the cost of
oversubscription, not of the algorithm, and are left out of the fits.

Source: G. Amdahl, AFIPS 1967; J. Gustafson, "Reevaluating Amdahl's Law", CACM 31(5), 1988.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["stencil_scaling", "ScalingRun"]


@dataclass(frozen=True)
class ScalingRun:
    """One scaling experiment: ``kind`` ("strong" or "weak"), the ``ranks``, the grid shape of
    each run, the slowest rank's ``seconds`` per run, and the ``cores`` of this machine."""

    kind: str
    ranks: tuple[int, ...]
    shapes: tuple[tuple[int, int], ...]
    seconds: tuple[float, ...]
    cores: int
    steps: int = field(default=0)

    @property
    def speedups(self) -> np.ndarray:
        """Strong: ``T(1) / T(p)``; weak: the scaled speedup ``p T(1) / T(p)``."""
        t = np.array(self.seconds)
        p = np.array(self.ranks, dtype=float)
        scale = p if self.kind == "weak" else self.ranks[0]   # first run taken as ideal
        return scale * t[0] / t

    @property
    def efficiencies(self) -> np.ndarray:
        return self.speedups / np.array(self.ranks, dtype=float)

    def _fit_points(self):
        keep = [i for i, p in enumerate(self.ranks) if p <= self.cores]
        return np.array(self.ranks)[keep], self.speedups[keep]

    @property
    def serial_fraction(self) -> float:
        """Amdahl's ``s`` (strong) or Gustafson's ``s`` (weak), fitted on the runs with no more
        ranks than cores; ``nan`` when only one rank count fits."""
        from course_lib.measure.amdahl import fit_serial_fraction

        p, sp = self._fit_points()
        if np.sum(p > 1) == 0:
            return float("nan")
        if self.kind == "strong":
            return fit_serial_fraction(p, sp)
        big = int(np.argmax(p))                              # s + (1 - s) p = S  ->  s = (p - S) / (p - 1)
        return float(np.clip((p[big] - sp[big]) / (p[big] - 1), 0.0, 1.0))

    def law(self, ranks) -> np.ndarray:
        """The fitted law's prediction for ``ranks``."""
        from course_lib.measure.amdahl import amdahl_speedup, gustafson_speedup

        s = self.serial_fraction
        if not np.isfinite(s):
            return np.full(len(ranks), np.nan)
        return (amdahl_speedup if self.kind == "strong" else gustafson_speedup)(s, np.asarray(ranks))

    def __str__(self) -> str:
        head = f"{self.kind} scaling, {self.steps} steps, {self.cores} cores here"
        rows = [f"{'ranks':>6} {'grid':>12} {'time':>10} {'speedup':>8} {'eff.':>6}"]
        for p, shape, t, s, e in zip(self.ranks, self.shapes, self.seconds, self.speedups, self.efficiencies):
            note = "  (more ranks than cores)" if p > self.cores else ""
            rows.append(f"{p:>6} {shape[0]:>5} x {shape[1]:<5} {t * 1e3:8.1f}ms {s:8.2f} {e:6.0%}{note}")
        law = "Amdahl" if self.kind == "strong" else "Gustafson"
        rows.append(f"{law}'s serial fraction fitted: {self.serial_fraction:.3f}")
        return "\n".join([head] + rows)

    def plot(self, ax=None):
        """Measured speedup, the ideal line and the fitted law. Returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.6))
        p = np.array(self.ranks)
        ax.plot(p, self.speedups, "o-", label="measured")
        ax.plot(p, p, ":", color="grey", label="ideal")
        law = "Amdahl" if self.kind == "strong" else "Gustafson"
        ax.plot(p, self.law(p), "--", label=f"{law}, s = {self.serial_fraction:.3f}")
        if p.max() > self.cores:
            ax.axvline(self.cores, color="red", lw=0.8, alpha=0.5, label="cores")
        ax.set_xlabel("ranks")
        ax.set_ylabel("scaled speedup" if self.kind == "weak" else "speedup")
        ax.set_title(f"{self.kind} scaling of the heat stencil")
        ax.legend(fontsize=8)
        return ax


def stencil_scaling(ranks: Sequence[int] = (1, 2), *, kind: str = "strong", ny: int = 1026,
                    nx: int = 1024, rows_per_rank: int = 256, steps: int = 50,
                    timeout: float = 120.0) -> ScalingRun:
    """Time the heat stencil on each rank count.

    Args:
        ranks: rank counts, increasing, each >= 1.
        kind: ``"strong"`` (an ``ny x nx`` grid for every run) or ``"weak"``
            (``rows_per_rank * p + 2`` rows of ``nx`` on ``p`` ranks).
        steps: Jacobi steps per run.
        timeout: seconds per ``mpirun``.

    Returns:
        A :class:`ScalingRun` (``print`` it for the table, ``.plot()`` for the figure).

    Raises:
        ValueError: an unknown ``kind`` or an empty ``ranks``.

    Example:
        >>> run = stencil_scaling((1, 2), ny=66, nx=64, steps=5)
        >>> run.ranks, len(run.seconds)
        ((1, 2), 2)
    """
    from course_lib.dist.launch import mpirun
    from course_lib.dist.stencil import heat_parallel
    from course_lib.measure.machine import usable_cores

    if kind not in ("strong", "weak"):
        raise ValueError(f"kind must be 'strong' or 'weak', got {kind!r}")
    ranks = tuple(int(p) for p in ranks)
    if not ranks:
        raise ValueError("ranks must name at least one rank count")
    shapes, seconds = [], []
    for p in ranks:
        shape = (ny, nx) if kind == "strong" else (rows_per_rank * p + 2, nx)
        result = mpirun(heat_parallel, p, args=((shape[0], shape[1], 0), steps),
                        kwargs={"gather": False}, timeout=timeout)
        shapes.append(shape)
        seconds.append(max(s for _, s in result.results))
    return ScalingRun(kind, ranks, tuple(shapes), tuple(seconds), usable_cores(), steps)
