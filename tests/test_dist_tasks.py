"""Dask examples against NumPy, graphs drawn without graphviz, task overhead, the scheduler
address setting, and the multi-host path through network namespaces."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.dist import tasks


def test_array_example_matches_numpy():
    lazy, got, want = tasks.array_example(120, 50)
    assert got == pytest.approx(want, rel=1e-12)
    assert len(tasks.graph_of(lazy)) > 9           # 3 x 3 chunks: several tasks per chunk


def test_bag_example_matches_counter():
    got, want = tasks.bag_example(500, 4)
    assert got == want and sum(want.values()) > 500


def test_graph_of_and_drawing_a_reduction():
    import dask.array as da
    import matplotlib

    matplotlib.use("Agg")
    total = da.ones(40, chunks=10).sum(split_every=2)
    deps = tasks.graph_of(total)
    sources = [k for k, d in deps.items() if not d]
    assert len(sources) == 4 and max(len(d) for d in deps.values()) <= 2
    ax = tasks.draw_graph(total)
    assert len([t for t in ax.texts if t.get_text()]) == len(deps)
    with pytest.raises(ValueError, match="max_tasks"):
        tasks.draw_graph(da.ones(400, chunks=1).sum(), max_tasks=50)


def test_scheduler_address_setting(monkeypatch):
    monkeypatch.delenv(tasks.SCHEDULER_VARIABLE, raising=False)
    assert tasks.scheduler_address() is None
    monkeypatch.setenv(tasks.SCHEDULER_VARIABLE, "tcp://10.0.0.5:8786")
    assert tasks.scheduler_address() == "tcp://10.0.0.5:8786"
    monkeypatch.setenv(tasks.SCHEDULER_VARIABLE, "10.0.0.5")
    with pytest.raises(ValueError, match=tasks.SCHEDULER_VARIABLE):
        tasks.scheduler_address()


def test_local_cluster_computes_quietly_and_measures_overhead(monkeypatch, capfd):
    monkeypatch.delenv(tasks.SCHEDULER_VARIABLE, raising=False)
    import dask.array as da

    with tasks.start_client(2) as client:
        x = np.arange(10_000.0)
        assert da.from_array(x, chunks=1000).sum().compute() == x.sum()
        costs = tasks.task_overhead(client, tasks=100)
    assert set(costs) == {"dask distributed", "dask threads", "chapter 1 pool"}
    assert all(v > 0 for v in costs.values())
    assert costs["dask distributed"] > costs["chapter 1 pool"]
    assert capfd.readouterr().err == ""


def test_dask_across_two_network_namespaces():
    from course_lib.dist import hosts

    ok, why = hosts.namespaces_available()
    if not ok:
        pytest.skip(why)
    out = hosts.dask_across_namespaces()
    assert out["total"] == out["expected"]
    assert out["scheduler"].split("//")[1].split(":")[0] not in out["workers"]
    assert all(w.startswith("10.") for w in out["workers"])
    import subprocess

    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "c10-" not in left


def test_mpi_across_two_network_namespaces():
    from course_lib.dist import hosts, mpi_available

    ok, why = hosts.namespaces_available()
    if not ok or not mpi_available():
        pytest.skip(why or mpi_available().reason)
    ranks = hosts.mpi_across_namespaces()
    assert [r["allreduce"] for r in ranks] == [3, 3]
    assert ranks[0]["addresses"] != ranks[1]["addresses"]
