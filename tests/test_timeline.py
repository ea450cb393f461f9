"""Tests for course_lib.measure.timeline: leaves of nested events, steal colouring, the Gantt plot."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib import par  # noqa: E402
from course_lib.measure import timeline
from course_lib.par import TimelineEvent as E  # noqa: E402


def test_leaves_of_nested_events():
    events = [E(0, 0.0, 10.0, "root"), E(0, 1.0, 4.0, "a"), E(0, 1.5, 3.0, "0:2"),
              E(0, 5.0, 9.0, "3:4"), E(1, 2.0, 8.0, "b", stolen_from=0), E(1, 2.5, 7.0, "2:3")]
    got = {(leaf.worker, leaf.task) for leaf in timeline.leaves(events)}
    assert got == {(0, "0:2"), (0, "3:4"), (1, "2:3")}
    stolen = {leaf.task: leaf.steal for leaf in timeline.leaves(events)}
    assert stolen["2:3"] == 4 and stolen["0:2"] is None and stolen["3:4"] is None


def test_disjoint_events_are_all_leaves():
    events = [E(0, 0.0, 1.0, "x"), E(0, 1.0, 2.0, "y"), E(0, 2.0, 3.0, "z")]
    assert [leaf.task for leaf in timeline.leaves(events)] == ["x", "y", "z"]


def test_plot_a_real_run_and_reject_an_empty_one():
    with par.ThreadPool(2, record_timeline=True) as pool:
        pool.install(lambda: par.par_range(200).with_max_len(10).sum())
        stats = pool.statistics()
    leaves = timeline.leaves(stats)
    assert sum(int(t.split(":")[1]) - int(t.split(":")[0]) for t in (leaf.task for leaf in leaves)) == 200
    ax = timeline.plot_timeline(stats, labels=True)
    assert "leaf tasks" in ax.get_title() and len(ax.collections) == len(leaves)
    plt.close("all")
    with par.ThreadPool(1) as pool:
        pool.install(lambda: par.par_range(10).sum())
        with pytest.raises(ValueError, match="record_timeline"):
            timeline.plot_timeline(pool.statistics())
