"""Tests for course_lib.par.demos: the chapter's workloads agree with sequential references."""
from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib import par  # noqa: E402
from course_lib._c._work import lib  # noqa: E402
from course_lib.par import demos


@pytest.mark.parametrize("chunk", [1, 3, 10, 64, 1000])
def test_spin_items_matches_a_sequential_loop(chunk):
    n, rounds = 100, 50
    expected = functools.reduce(int.__xor__, (int(lib.cw_spin(rounds * min(chunk, n - i), i))
                                              for i in range(0, n, chunk)), 0)
    with par.ThreadPool(2) as pool:
        assert demos.spin_items(n, chunk, pool, rounds) == expected


def test_chunk_sweep_returns_positive_times_per_size():
    times = demos.chunk_sweep([1, 10, 100], threads=2, n=200, rounds=100, budget=0.01)
    assert sorted(times) == [1, 10, 100] and all(t > 0 for t in times.values())


def test_uneven_costs_grow_and_sum_to_the_total():
    costs = demos.uneven_costs(10, 10_000, skew=4.0)
    assert len(costs) == 10 and costs == sorted(costs)
    assert abs(sum(costs) - 10_000) <= 10 and costs[-1] >= 3.5 * costs[0]


@pytest.mark.parametrize("size", [0, 1, 2, 17, 500])
def test_random_tree_has_the_right_size_and_sum(size):
    tree = demos.random_tree(size, seed=size)

    def walk(node):
        return [] if node is None else [node.value] + walk(node.left) + walk(node.right)

    values = walk(tree)
    assert len(values) == size
    assert demos.tree_sum_sequential(tree) == sum(values)


def test_random_tree_depth_is_bounded():
    def depth(node):
        return 0 if node is None else 1 + max(depth(node.left), depth(node.right))

    assert depth(demos.random_tree(3000, seed=1, max_depth=40)) <= 40 + 12


def test_recorded_run_records_a_timeline():
    stats = demos.recorded_run(lambda: par.par_range(50).with_max_len(5).sum(), threads=2)
    assert stats.num_threads == 2 and stats.timeline


def test_chunk_size_explorer_draws_headless(monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(plt.gcf()))
    assert demos.chunk_size_explorer(chunk_sizes=[1, 50], max_threads=2, n=100) is None
    assert shown and len(shown[0].axes) == 2
    plt.close("all")
