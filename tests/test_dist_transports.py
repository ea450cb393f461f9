"""Ping-pong transports and the latency/bandwidth fit; collectives."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.dist import (Link, collective_costs, fit_link, mpi_available, mpirun, pingpong,
                             plot_pingpong, show_collectives)

needs_mpi = pytest.mark.skipif(not mpi_available(), reason=mpi_available().reason)


def test_fit_recovers_an_exact_model():
    sizes = np.array([8, 64, 4096, 1 << 20, 1 << 22], dtype=float)
    fit = fit_link(sizes, 3e-6 + sizes / 7e9)
    assert fit.latency == pytest.approx(3e-6, rel=1e-9) and fit.bandwidth == pytest.approx(7e9, rel=1e-9)


def test_fit_weights_small_messages_like_large_ones():
    rng = np.random.default_rng(1)
    sizes = np.array([8 * 4 ** k for k in range(10)], dtype=float)
    t = (2e-6 + sizes / 5e9) * np.exp(rng.normal(0, 0.05, sizes.size))
    fit = fit_link(sizes, t)
    slope, intercept = np.polyfit(sizes, t, 1)     # unweighted: the latency is noise
    assert abs(fit.latency - 2e-6) < 0.2e-6
    assert abs(fit.latency - 2e-6) < abs(intercept - 2e-6)


def test_flat_times_mean_unbounded_bandwidth():
    fit = fit_link([8, 1024, 65536], [1e-5, 1e-5, 0.9e-5])
    assert fit.bandwidth == np.inf and "unbounded" in str(fit)


@pytest.mark.parametrize("sizes, seconds", [([8, 8, 8], [1, 2, 3]), ([8, 16], [1e-6, 0.0]),
                                            ([8, 16, 32], [1e-6, 2e-6])])
def test_fit_refuses_bad_data(sizes, seconds):
    with pytest.raises(ValueError):
        fit_link(sizes, seconds)


@pytest.mark.parametrize("transport", ["pipe", "shared-memory", "threads"])
def test_process_and_thread_transports_measure(transport):
    pp = pingpong(transport, sizes=(8, 65536), reps=20)
    assert pp.seconds.shape == (2,) and np.all(pp.seconds > 0)
    assert isinstance(pp.link, Link)


@needs_mpi
@pytest.mark.parametrize("transport", ["mpi-buffer", "mpi-pickle"])
def test_mpi_transports_measure(transport):
    pp = pingpong(transport, sizes=(8, 1 << 20), reps=20)
    assert np.all(pp.seconds > 0) and pp.seconds[1] > pp.seconds[0]


def test_unknown_transport_and_bad_sizes():
    with pytest.raises(ValueError, match="unknown transport"):
        pingpong("carrier-pigeon")
    with pytest.raises(ValueError, match="sizes"):
        pingpong("threads", sizes=(0, 8))


def test_plot_draws_points_and_fits():
    import matplotlib

    matplotlib.use("Agg")
    sizes = np.array([8, 1024, 1 << 20])
    from course_lib.dist.transports import PingPong

    ax = plot_pingpong([PingPong("model", sizes, 1e-6 + sizes / 1e9)])
    assert len(ax.lines) == 2 and ax.get_xscale() == "log"


@needs_mpi
def test_show_collectives_leaves_what_the_standard_says():
    res = mpirun(show_collectives, 3).results
    assert [r["scatter"] for r in res] == [0, 10, 20]
    assert res[0]["gather"] == [0, 1, 4] and res[1]["gather"] is None
    assert res[0]["reduce"] == 6 and res[2]["reduce"] is None
    assert all(r["allreduce"] == 6 and r["bcast"] == res[0]["bcast"] for r in res)


@needs_mpi
def test_collective_costs_table():
    costs = collective_costs(ranks=(1, 2), sizes=(1,), reps=5)
    assert set(costs.seconds) == {(p, op, 1) for p in (1, 2) for op in
                                  ("bcast", "scatter", "gather", "reduce", "allreduce")}
    assert "allreduce" in str(costs)
