"""Workloads and live measurements for the chapter on parallel iterators and work stealing.

What is here:

1. ``spin_items``: a parallel loop of GIL-free C work (``cw_spin``) over ``n`` items, split into
   chunks of a given size, on a pool of a given size: the knob for "chunk size and overhead".
2. ``chunk_sweep``: time ``spin_items`` for several chunk sizes (and thread counts) with
   ``course_lib.measure.bench``; ``chunk_size_explorer``: the same, live, with ipywidgets.
3. ``uneven_costs`` and ``recorded_run``: skewed per-item costs, and a run on a fresh pool that
   records its timeline, for the static-chunking versus work-stealing pictures.
4. ``Node``, ``random_tree``, ``tree_sum_sequential``: a binary tree for the ``join`` exercise.

Source:
    Rayon's documentation on ``with_min_len``/``with_max_len`` (granularity); the numbers come
    from the learner's machine.

Thread-safety: each call builds its own pool (closed before returning) or uses the ones passed in.
"""
from __future__ import annotations

import random
from typing import Callable, NamedTuple, Sequence

import numpy as np

from course_lib import par
from course_lib._c._work import lib as _work
from course_lib.config import pick
from course_lib.measure import bench

__all__ = ["spin_items", "chunk_sweep", "chunk_size_explorer", "uneven_costs", "recorded_run",
           "Node", "random_tree", "tree_sum_sequential"]


def spin_items(n: int, chunk: int, pool: par.ThreadPool, rounds: int = 2_000) -> int:
    """Run ``cw_spin(rounds, i)`` for every item ``i < n``, one task per chunk of ``chunk`` items.

    Args:
        n: number of items.
        chunk: items per task (a task is one ``par_chunks`` chunk; ``with_max_len(1)``).
        pool: the pool to run on.
        rounds: xorshift rounds per item (about a nanosecond each).

    Returns:
        XOR of all results (so that nothing can be skipped).

    Example:
        >>> with par.ThreadPool(2) as p:
        ...     isinstance(spin_items(100, 10, p), int)
        True
    """
    items = np.arange(n, dtype=np.uint64)

    def task(c):  # one C call per chunk: the GIL is released for len(c) * rounds rounds
        return int(_work.cw_spin(rounds * len(c), int(c[0]))) if len(c) else 0

    return pool.install(lambda: par.par_chunks(items, chunk).with_max_len(1).map(task)
                        .reduce(int, int.__xor__))


def chunk_sweep(chunk_sizes: Sequence[int], threads: int, *, n: int | None = None,
                rounds: int = 2_000, budget: float | None = None) -> dict[int, float]:
    """Median seconds of :func:`spin_items` for each chunk size, on a pool of ``threads``.

    Args:
        chunk_sizes: the sizes to try.
        threads: pool size.
        n: items (default: 20,000; 4,000 under COURSE_QUICK).
        rounds: rounds per item.
        budget: seconds of sampling per size (default 0.3; 0.05 quick).

    Returns:
        ``{chunk_size: median seconds}``.

    Example:
        >>> t = chunk_sweep([100, 1000], threads=1, n=2000, budget=0.01)
        >>> sorted(t)
        [100, 1000]
    """
    n = pick(20_000, 4_000) if n is None else n
    budget = pick(0.3, 0.05) if budget is None else budget
    out = {}
    with par.ThreadPool(threads) as pool:
        for c in chunk_sizes:
            m = bench.measure(spin_items, n, int(c), pool, rounds, budget=budget, min_samples=3,
                              label=f"chunk {c}")
            out[int(c)] = m.median
    return out


def chunk_size_explorer(chunk_sizes: Sequence[int] | None = None, max_threads: int | None = None,
                        n: int | None = None):
    """Measure speedup against chunk size and thread count, live (ipywidgets).

    Draws the default figure at once (all thread counts up to ``max_threads``); in JupyterLab a
    slider picks the item count (re-measured on release) and a button re-measures. Under a headless kernel
    (``COURSE_HEADLESS=1``) only the default figure is drawn and nothing waits for input.

    Args:
        chunk_sizes: sizes to sweep (default powers of 4 from 1 to n).
        max_threads: largest pool (default: usable cores).
        n: items (default 20,000; 4,000 under COURSE_QUICK).

    Returns:
        The widget box in a live session, else None.

    Example:
        >>> chunk_size_explorer(chunk_sizes=[10, 100], max_threads=1, n=500)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from course_lib.measure.machine import usable_cores
    from course_lib.measure.widgets import live_figure

    max_threads = usable_cores() if max_threads is None else max_threads
    n0 = pick(20_000, 4_000) if n is None else n

    def sizes_for(n):
        if chunk_sizes is not None:
            return list(chunk_sizes)
        return sorted({4 ** k for k in range(0, 12) if 4 ** k <= n} | {n})

    def draw(n):
        sizes = sizes_for(n)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
        base = chunk_sweep([n], 1, n=n)[n]  # one thread, one chunk: no scheduling at all
        best = {}
        for t in sorted({1, max_threads} | {2 ** k for k in range(1, 8) if 2 ** k <= max_threads}):
            times = chunk_sweep(sizes, t, n=n)
            ax1.plot(sizes, [base / times[c] for c in sizes], "o-", label=f"{t} thread{'s' * (t > 1)}")
            best[t] = max(base / v for v in times.values())
        ax1.set_xscale("log")
        ax1.set_xlabel("chunk size (items per task)")
        ax1.set_ylabel("speedup vs 1 thread, 1 chunk")
        ax1.axhline(1, color="0.7", lw=0.8)
        ax1.legend()
        ax1.set_title(f"{n:,} items of GIL-free work")
        ax2.plot(list(best), list(best.values()), "o-", label="best chunk size")
        ax2.plot(list(best), list(best), "--", color="0.6", label="ideal")
        ax2.set_xlabel("threads")
        ax2.set_ylabel("speedup")
        ax2.legend()
        fig.tight_layout()
        plt.show()

    import ipywidgets as w

    size = w.IntSlider(value=n0, min=max(100, n0 // 20), max=n0 * 5, step=max(100, n0 // 20),
                       description="items", continuous_update=False)
    button = w.Button(description="measure")
    return live_figure(lambda: draw(size.value), [size, button])


def uneven_costs(n: int, total_rounds: int, skew: float = 8.0) -> list[int]:
    """Per-item costs growing linearly from 1 to ``skew`` (the last items are the expensive ones).

    Args:
        n: number of items.
        total_rounds: sum of all costs (in ``cw_spin`` rounds).
        skew: cost of the last item over the first.

    Returns:
        ``n`` integer costs summing to about ``total_rounds``.

    Example:
        >>> c = uneven_costs(4, 1000); c[0] < c[-1]
        True
    """
    weights = np.linspace(1.0, skew, n)
    return [int(v) for v in weights / weights.sum() * total_rounds]


def recorded_run(fn: Callable[[], object], threads: int) -> par.PoolStatistics:
    """Run ``fn`` on a fresh pool of ``threads`` that records its timeline; return the statistics.

    Example:
        >>> recorded_run(lambda: par.par_range(10).sum(), 2).total_tasks >= 1
        True
    """
    with par.ThreadPool(threads, record_timeline=True) as pool:
        pool.install(fn)
        return pool.statistics()


class Node(NamedTuple):
    """A binary tree node; ``left``/``right`` are Nodes or None."""

    value: float
    left: "Node | None" = None
    right: "Node | None" = None


def random_tree(size: int, seed: int = 0, max_depth: int = 60) -> Node | None:
    """A random binary tree of ``size`` nodes with integer values (None when ``size`` is 0).

    Shapes vary from balanced to lopsided, but depth stays below ``max_depth``.

    Example:
        >>> tree_sum_sequential(random_tree(5, seed=1)) == tree_sum_sequential(random_tree(5, seed=1))
        True
    """
    rng = random.Random(seed)

    def build(k, depth):
        if k == 0:
            return None
        rest = k - 1
        if depth >= max_depth - 2 or rest < 2:
            left = rest // 2
        else:
            left = rng.randint(0, rest)
        return Node(rng.randint(-1000, 1000), build(left, depth + 1), build(rest - left, depth + 1))

    return build(size, 0)


def tree_sum_sequential(node: Node | None) -> float:
    """Sum of all values in the tree, on one thread (the reference).

    Example:
        >>> tree_sum_sequential(Node(1, Node(2), Node(3)))
        6
    """
    if node is None:
        return 0
    return node.value + tree_sum_sequential(node.left) + tree_sum_sequential(node.right)
