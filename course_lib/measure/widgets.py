"""Interactive explorers for the notebooks, safe under a headless kernel.

Each explorer draws its default figure as soon as it is created, then redraws when a control
changes. Nothing ever waits for input: in JupyterLab the controls appear above the figure; under a
headless kernel (nbclient, nbgrader, CI: ``COURSE_HEADLESS=1``, which course_lib's grading and
tests set) only the default figure is shown, as an ordinary image, so that the executed notebook
still holds a picture and no widget state.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from course_lib.config import headless
from course_lib.measure.amdahl import amdahl_speedup, gustafson_speedup

__all__ = ["headless", "live_figure", "amdahl_explorer", "scaling_explorer"]


def live_figure(draw: Callable[[], None], controls: list):
    """Show a figure that redraws when a control changes, or a still figure when headless.

    The building block of every explorer in the course: ``draw()`` makes a matplotlib figure from
    the controls' current values. It runs once at once; then again whenever a slider or drop-down
    changes value or a button is clicked. Headless, only the first figure is drawn.

    Args:
        draw: a function of no arguments that draws one figure.
        controls: ipywidgets controls (sliders, drop-downs, buttons), shown in a row above.

    Returns:
        The widget box in a live session, None when headless.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    if headless():
        draw()
        plt.show()
        return None
    import ipywidgets as w

    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            draw()
            plt.show()

    for c in controls:
        if hasattr(c, "on_click"):
            c.on_click(redraw)
        else:
            c.observe(redraw, names="value")
    box = w.VBox([w.HBox(controls), out])
    display(box)
    redraw()
    return box


def amdahl_explorer(serial_fraction: float = 0.1, cores: int = 8, max_cores: int = 256):
    """Sliders for the serial fraction and the core count; Amdahl's and Gustafson's curves.

    Args:
        serial_fraction: initial serial fraction, in [0, 1].
        cores: initial core count, >= 1.
        max_cores: right end of the core axis.

    Returns:
        The widget box in a live session, None when headless.

    Raises:
        ValueError: for a fraction outside [0, 1] or a core count outside [1, max_cores].

    Example:
        >>> amdahl_explorer(0.05, cores=16)  # doctest: +SKIP
    """
    amdahl_speedup(serial_fraction, cores)  # validates both
    if not 1 <= cores <= max_cores:
        raise ValueError(f"cores must be between 1 and max_cores={max_cores}, got {cores!r}")
    import ipywidgets as w
    import matplotlib.pyplot as plt
    import numpy as np

    s_slider = w.FloatSlider(value=serial_fraction, min=0.0, max=0.5, step=0.005, readout_format=".3f",
                             description="serial s", continuous_update=False)
    n_slider = w.IntSlider(value=cores, min=1, max=max_cores, description="cores", continuous_update=False)

    def draw():
        s, n = s_slider.value, n_slider.value
        grid = np.unique(np.geomspace(1, max_cores, 200).round())
        _, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
        ax.plot(grid, grid, "k:", lw=1, label="ideal")
        ax.plot(grid, amdahl_speedup(s, grid), "C0", label="Amdahl (fixed size)")
        ax.plot(grid, gustafson_speedup(s, grid), "C2--", label="Gustafson (size grows with cores)")
        a = amdahl_speedup(s, n)
        ax.plot([n], [a], "o", color="C0")
        limit = "unbounded" if s == 0 else f"{1 / s:.1f}x"
        ax.set(xscale="log", yscale="log", xlabel="cores", ylabel="speedup",
               title=f"s = {s:.3f}: {a:.2f}x on {n} cores (efficiency {a / n:.0%}); limit {limit}")
        ax.legend(fontsize="small")

    return live_figure(draw, [s_slider, n_slider])


def scaling_explorer(make_work: Callable[[int], Callable], sizes: Sequence[int], *, via: str = "numba",
                     max_threads: int | None = None, budget: float = 0.3, initial: int | None = None):
    """Measure speedup live for a chosen problem size and thread count.

    Args:
        make_work: ``make_work(size)`` returns what :func:`course_lib.measure.bench.scaling` measures: a
            zero-argument callable for ``via="numba"``, a callable of the thread count for
            ``via="call"``.
        sizes: problem sizes offered in the drop-down.
        initial: the size measured at once; default the first of ``sizes``.
        via: passed to :func:`course_lib.measure.bench.scaling`.
        max_threads: largest thread count offered; default the usable cores.
        budget: seconds of sampling per measurement.

    Returns:
        The widget box in a live session, None when headless.

    Raises:
        ValueError: for an empty ``sizes`` or an ``initial`` size not among them.
    """
    if not sizes:
        raise ValueError("scaling_explorer needs at least one problem size")
    if initial is not None and initial not in sizes:
        raise ValueError(f"initial size {initial!r} is not one of the sizes {list(sizes)!r}")
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from course_lib.measure import bench
    from course_lib.measure.machine import usable_cores

    top = max_threads or usable_cores()
    size = w.Dropdown(options=list(sizes), value=sizes[0] if initial is None else initial, description="size")
    threads = w.IntSlider(value=top, min=1, max=max(top, 1), description="threads", continuous_update=False)
    button = w.Button(description="Measure again", icon="refresh")

    def draw():
        result = bench.scaling(make_work(size.value), threads=range(1, threads.value + 1), via=via, budget=budget)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
        result.plot(ax=ax1)
        ax1.set_title(f"size {size.value:,}")
        ax2.bar([str(t) for t in result.threads], result.times * 1e3, color="C0")
        ax2.set(xlabel="threads", ylabel="median time (ms)", title="time per run")
        for note in result.notes:
            fig.text(0.01, 0.01, f"note: {note}", fontsize="small")

    return live_figure(draw, [size, threads, button])
