"""The roofline: how fast a kernel can possibly run, from two measured numbers.

A kernel does ``F`` floating-point operations and moves ``B`` bytes between memory and the core.
Its **arithmetic intensity** is ``I = F / B`` (flops per byte). Whatever the code, it cannot run
faster than the core computes, nor faster than memory delivers its bytes::

    attainable GFLOP/s = min(peak GFLOP/s, I x bandwidth GB/s)

Drawn on log-log axes that is a slanted line (memory-bound) meeting a flat one (compute-bound)
at the **ridge point** ``I* = peak / bandwidth``. A kernel left of the ridge is limited by
bytes: SIMD or more cores help it only until it reaches the slanted roof. A kernel right of it
can approach the peak. The gap between a kernel's dot and the roof under it is what better code
can still win. (Williams, Waterman and Patterson, "Roofline: an insightful visual performance
model for multicore architectures", CACM 2009.)

Both roofs are measured here, on this machine: the peak by :func:`course_lib.simd.peak.peak`
(one core's FMA throughput, multiplied by the cores used: an assumption, printed), and the
bandwidth by STREAM triad (:mod:`course_lib.memory.stream`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["KernelPoint", "Roofline", "measure_roofline", "course_points"]

@dataclass(frozen=True)
class KernelPoint:
    """One kernel on the plot: its name, intensity (flops/byte) and measured GFLOP/s."""

    name: str
    intensity: float
    gflops: float

    def __post_init__(self):
        if not (self.intensity > 0 and self.gflops > 0):
            raise ValueError(f"{self.name}: intensity and GFLOP/s must be positive, got "
                             f"{self.intensity} and {self.gflops}")

    @classmethod
    def from_run(cls, name: str, flops: float, nbytes: float, seconds: float) -> "KernelPoint":
        """From what a kernel did (``flops``, ``nbytes`` moved) and how long it took."""
        if flops <= 0 or nbytes <= 0 or seconds <= 0:
            raise ValueError(f"{name}: flops, bytes and seconds must be positive, got "
                             f"{flops}, {nbytes}, {seconds}")
        return cls(name, flops / nbytes, flops / seconds / 1e9)


@dataclass
class Roofline:
    """Two roofs and the kernels placed under them.

    Attributes:
        peak_gflops: the compute roof. bandwidth_gbs: the memory roof's slope.
        label: where the numbers came from. points: kernels placed with :meth:`place`.
    """

    peak_gflops: float
    bandwidth_gbs: float
    label: str = ""
    points: list[KernelPoint] = field(default_factory=list)

    def __post_init__(self):
        if not (self.peak_gflops > 0 and self.bandwidth_gbs > 0):
            raise ValueError(f"peak and bandwidth must be positive, got {self.peak_gflops} "
                             f"GFLOP/s and {self.bandwidth_gbs} GB/s")

    @property
    def ridge(self) -> float:
        """Flops per byte where the two roofs meet."""
        return self.peak_gflops / self.bandwidth_gbs

    def attainable(self, intensity: float) -> float:
        """The roof above ``intensity``: min(peak, intensity x bandwidth)."""
        if intensity <= 0:
            raise ValueError(f"intensity must be positive, got {intensity}")
        return min(self.peak_gflops, intensity * self.bandwidth_gbs)

    def bound(self, intensity: float) -> str:
        """``"memory"`` left of the ridge, ``"compute"`` right of it."""
        return "memory" if intensity < self.ridge else "compute"

    def place(self, point: KernelPoint | str, intensity: float | None = None,
              gflops: float | None = None) -> KernelPoint:
        """Add a kernel: a :class:`KernelPoint`, or ``(name, intensity, gflops)``."""
        if not isinstance(point, KernelPoint):
            point = KernelPoint(str(point), float(intensity), float(gflops))
        self.points.append(point)
        return point

    def table(self) -> str:
        """Each kernel's intensity, speed, roof, fraction of roof, and which roof binds."""
        lines = [f"peak {self.peak_gflops:.1f} GFLOP/s, bandwidth {self.bandwidth_gbs:.1f} GB/s, "
                 f"ridge {self.ridge:.2f} flop/B  {self.label}"]
        for p in self.points:
            roof = self.attainable(p.intensity)
            lines.append(f"  {p.name:<34} {p.intensity:7.3f} flop/B {p.gflops:8.2f} GFLOP/s  "
                         f"{p.gflops / roof:6.1%} of its {self.bound(p.intensity)} roof")
        return "\n".join(lines)

    __repr__ = table

    def plot(self, ax=None):
        """The roofs on log-log axes, each kernel as a labelled dot. Returns the Axes."""
        import matplotlib.pyplot as plt
        import numpy as np

        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.0))
        xs = [p.intensity for p in self.points] + [self.ridge]
        lo, hi = min(xs) / 4, max(xs) * 4
        grid = np.geomspace(lo, hi, 200)
        ax.loglog(grid, np.minimum(self.peak_gflops, grid * self.bandwidth_gbs), "k-", lw=2)
        ax.axvline(self.ridge, color="0.6", ls=":", lw=1)
        ax.annotate(f"ridge {self.ridge:.2g} flop/B", (self.ridge, self.peak_gflops),
                    textcoords="offset points", xytext=(4, -14), fontsize=8, color="0.3")
        for p in self.points:
            ax.plot(p.intensity, p.gflops, "o")
            ax.annotate(p.name, (p.intensity, p.gflops), textcoords="offset points",
                        xytext=(5, 3), fontsize=8)
        ax.set_xlabel("arithmetic intensity (flop / byte)")
        ax.set_ylabel("GFLOP/s")
        ax.set_title(f"Roofline: {self.peak_gflops:.0f} GFLOP/s, {self.bandwidth_gbs:.0f} GB/s "
                     f"{self.label}".strip(), fontsize=10)
        return ax


def measure_roofline(threads: int | None = None, precision: str = "f64",
                     bandwidth_gbs: float | None = None) -> Roofline:
    """Measure both roofs on this machine for ``threads`` cores (default: all usable).

    The compute roof is one core's measured FMA peak times ``threads`` (cores of one chip
    share no FMA units; turbo may lower the clock when all run, so this is an upper bound).
    The memory roof is the best STREAM triad over the thread counts up to ``threads``, unless
    ``bandwidth_gbs`` is given.
    """
    from course_lib.measure.machine import usable_cores
    from course_lib.simd.peak import peak

    threads = int(threads or usable_cores())
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    one = peak(precision)
    if bandwidth_gbs is None:
        from course_lib.memory.stream import stream

        result = stream(threads=range(1, threads + 1), impls=("c",))
        bandwidth_gbs = result.best("triad").gbps
    label = f"({threads} core{'s' if threads > 1 else ''}, {one.variant} {one.precision})"
    return Roofline(one.gflops * threads, float(bandwidth_gbs), label)


def course_points(n: int | None = None, repeats: int = 5) -> list[KernelPoint]:
    """Measure some of the course's kernels on one core, on arrays far larger than the caches,
    and return them as points for a one-core roofline.

    ==================================  =======================  ===========================
    kernel                              flops per element        bytes per element
    ==================================  =======================  ===========================
    saxpy ``y = a*x + y`` (c05, f32)    2                        12 (x, y in; y out)
    dot (c05, f32)                      2                        8
    SoA drift (this chapter, f64)       6 per particle           72 per particle
    poly, 16 coefficients (c05, f32)    32                       8 (x in, out)
    poly, 64 coefficients (c05, f32)    128                      8
    ==================================  =======================  ===========================
    """
    import numpy as np

    from course_lib.config import pick
    from course_lib.memory import layout
    from course_lib.simd import kernels

    n = int(n or pick(1 << 24, 1 << 22))
    rng = np.random.default_rng(1)
    x = rng.random(n, dtype=np.float32)
    y = rng.random(n, dtype=np.float32)
    out = np.empty_like(x)
    c16 = rng.random(17, dtype=np.float32) * 0.1
    c64 = rng.random(65, dtype=np.float32) * 0.01
    soa = layout.to_soa(layout.particles(n // 4))
    cols = [soa[f] for f in ("x", "y", "z", "vx", "vy", "vz")]
    m = len(cols[0])
    runs = [
        ("saxpy (f32)", 2 * n, 12 * n, lambda: kernels.saxpy(1e-7, x, y)),
        ("dot (f32)", 2 * n, 8 * n, lambda: kernels.dot(x, y)),
        ("SoA drift (f64)", 6 * m, 72 * m, lambda: layout.drift_soa(*cols, 1e-9)),
        ("poly, 16 coefficients (f32)", 32 * n, 8 * n, lambda: kernels.poly(x, c16, out=out)),
        ("poly, 64 coefficients (f32)", 128 * n, 8 * n, lambda: kernels.poly(x, c64, out=out)),
    ]
    return [KernelPoint.from_run(name, flops, nbytes, layout.best_seconds(call, repeats))
            for name, flops, nbytes, call in runs]
