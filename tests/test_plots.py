import matplotlib
import numpy as np
import pytest

from course_lib.measure import plots, widgets
from course_lib.measure.amdahl import amdahl_speedup


def test_speedup_plot_from_raw_data_draws_measured_ideal_and_fit():
    n = [1, 2, 4, 8]
    ax = plots.speedup_plot(threads=n, speedups=amdahl_speedup(0.1, n))
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0].startswith("ideal") and "serial fraction 0.100" in labels[1] and labels[2] == "measured"
    assert np.allclose(ax.get_lines()[2].get_ydata(), amdahl_speedup(0.1, n))


def test_speedup_plot_says_why_a_single_point_has_no_curve():
    ax = plots.speedup_plot(threads=[1], speedups=[1.0])
    assert any("one usable core" in t.get_text() for t in ax.texts)


def test_speedup_plot_needs_data():
    with pytest.raises(ValueError):
        plots.speedup_plot()


def test_amdahl_plot_one_curve_per_fraction():
    ax = plots.amdahl_plot([0.0, 0.1, 0.5], max_threads=32, mark=8)
    curves = [ln for ln in ax.get_lines() if ln.get_label().startswith("s =")]
    assert len(curves) == 3
    assert curves[1].get_ydata().max() < 10  # bounded by 1/s
    with pytest.raises(ValueError):
        plots.amdahl_plot(max_threads=0)


def test_widgets_headless_draw_a_figure_and_return(monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    matplotlib.pyplot.close("all")
    assert widgets.headless()
    assert widgets.amdahl_explorer(0.1, cores=8) is None
    with pytest.raises(ValueError):
        widgets.amdahl_explorer(1.5)
    with pytest.raises(ValueError):
        widgets.scaling_explorer(lambda size: (lambda n: None), sizes=[])


def test_widgets_live_build_controls_without_blocking(monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "0")
    box = widgets.amdahl_explorer(0.2, cores=4)
    sliders = box.children[0].children
    assert [s.description for s in sliders] == ["serial s", "cores"]
    sliders[1].value = 16  # triggers a redraw in place, returns at once
    box = widgets.scaling_explorer(lambda size: (lambda n: sum(range(size))), sizes=[1000, 2000],
                                   via="call", budget=0.05, max_threads=2)
    assert [c.description for c in box.children[0].children][:2] == ["size", "threads"]
