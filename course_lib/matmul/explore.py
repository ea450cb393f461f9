"""Explore the micro-kernel rung's block sizes: sliders for ``mc``, ``kc``, ``nc``, measured live.

The defaults come from the cache sizes (:func:`course_lib.matmul.ladder.blocking`): a ``kc``-long
sliver of B and of A in L1, the ``mc x kc`` block of A in L2, the ``kc x nc`` panel of B in L3.
Move a slider and the rung is timed again with those sizes, next to the defaults, in the same
interleaved rounds: too small a ``kc`` writes the C tile back too often; too large a one pushes
the slivers out of L1; too large an ``mc`` pushes the A block out of L2.

Headless (``COURSE_HEADLESS=1``: nbgrader, CI) it draws the default comparison once and returns.
"""
from __future__ import annotations

import numpy as np

from course_lib.config import pick
from course_lib.matmul.ladder import Blocking, blocking, microkernel
from course_lib.measure.bench import interleave
from course_lib.measure.widgets import live_figure

__all__ = ["measure_tiles", "tile_explorer"]


def measure_tiles(tiles: Blocking, n: int | None = None, dtype=np.float64,
                  budget: float | None = None) -> dict[str, float]:
    """GFLOP/s of :func:`microkernel` on ``n x n`` with ``tiles`` and with the defaults, in
    interleaved rounds of one run: ``{"chosen": ..., "default": ...}``."""
    n = int(n or pick(768, 256))
    dt = np.dtype(dtype)
    default = blocking(dt)
    a, b = (np.random.default_rng(s).random((n, n)).astype(dt) for s in (0, 1))
    o1, o2 = np.empty((n, n), dt), np.empty((n, n), dt)
    chosen, base = interleave([("chosen", lambda: microkernel(a, b, o1, tiles=tiles)),
                               ("default", lambda: microkernel(a, b, o2, tiles=default))],
                              budget=budget or pick(1.0, 0.3))
    flops = 2.0 * n ** 3
    return {"chosen": flops / chosen.median / 1e9, "default": flops / base.median / 1e9}


def tile_explorer(n: int | None = None, dtype=np.float64):
    """Sliders for ``mc``, ``kc``, ``nc`` (powers of two around the defaults) and a bar chart of
    the micro-kernel rung's GFLOP/s with them against the defaults. Returns the widget box (None
    when headless)."""
    import matplotlib.pyplot as plt

    dt = np.dtype(dtype)
    d = blocking(dt)
    controls = []
    try:
        import ipywidgets as w

        def slider(name: str, value: int) -> "w.SelectionSlider":
            options = sorted({max(d.mr, value // 4), max(d.mr, value // 2), value, value * 2,
                              value * 4})
            return w.SelectionSlider(options=options, value=value, description=name,
                                     continuous_update=False)

        controls = [slider("mc", d.mc), slider("kc", d.kc), slider("nc", d.nc)]
    except ImportError:  # pragma: no cover - ipywidgets is a dependency
        pass

    def values() -> Blocking:
        if not controls:
            return d
        mc, kc, nc = (c.value for c in controls)
        return Blocking(d.mr, d.nr, mc, kc, nc)

    def draw() -> None:
        t = values()
        g = measure_tiles(t, n, dt)
        fig, ax = plt.subplots(figsize=(5.5, 2.6))
        ax.barh(["defaults", "chosen"], [g["default"], g["chosen"]], color=["0.6", "tab:blue"])
        ax.set_xlabel("GFLOP/s")
        ax.set_title(f"micro-kernel rung, {dt.name}: chosen mc={t.mc} kc={t.kc} nc={t.nc}; "
                     f"defaults mc={d.mc} kc={d.kc} nc={d.nc}", fontsize=9)
        fig.tight_layout()

    return live_figure(draw, controls)
