"""Task graphs with Dask: a cluster of worker processes, chunked arrays, bags, and what a task costs.

Dask turns a computation into a *task graph*, a dict from keys to tasks (a function and its
arguments, which may be other keys), and a scheduler runs it:

1. Build the graph lazily: ``dask.array`` cuts an array into chunks and records one task per
   chunk per operation; ``dask.bag`` does the same for sequences of Python objects;
   ``dask.delayed`` wraps any function call.
2. ``.compute()`` hands the graph to a scheduler: by default threads in this process; with a
   ``distributed.Client`` active, a scheduler process that sends tasks to workers (processes,
   here or on other hosts) and moves results between them.
3. Reductions become trees: each chunk is reduced where it lies, and partial results are
   combined a few at a time, so no task holds all the data.

:func:`start_client` makes the client every example uses: a ``LocalCluster`` of one worker
process per usable core with one thread each (processes, because Python code holds the GIL),
no dashboard unless ``bokeh`` is installed (then on a free port), logging at ERROR only; or,
when ``COURSE_DASK_SCHEDULER`` holds an address such as ``tcp://10.0.0.5:8786``, a client of
that running scheduler (started with ``dask scheduler`` on one host and ``dask worker
tcp://10.0.0.5:8786`` on each of the others). Nothing else in the code changes.

:func:`task_overhead` measures what one tiny task costs: on the distributed scheduler (a
message to a worker process and back), on Dask's threaded scheduler, and on chapter 1's
work-stealing pool (a deque operation under the GIL).

Source: M. Rocklin, "Dask: Parallel Computation with Blocked algorithms and Task Scheduling",
Proceedings of SciPy 2015; the Dask documentation (graphs, ``distributed``, "Best practices":
tasks of at least ~100 ms, chunks of ~100 MB).
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
from collections import Counter
from typing import Any

import numpy as np

__all__ = ["scheduler_address", "start_client", "quiet_dask", "array_example", "bag_example",
           "graph_of", "draw_graph", "task_overhead", "SCHEDULER_VARIABLE"]

#: The environment variable that points every example at a running scheduler.
SCHEDULER_VARIABLE = "COURSE_DASK_SCHEDULER"


def scheduler_address() -> str | None:
    """The scheduler named by ``COURSE_DASK_SCHEDULER`` (e.g. ``tcp://10.0.0.5:8786``), or None
    for a local cluster.

    Raises:
        ValueError: the value is not of the form ``protocol://host:port``.
    """
    text = os.environ.get(SCHEDULER_VARIABLE, "").strip()
    if not text:
        return None
    if "://" not in text or ":" not in text.split("://", 1)[1]:
        raise ValueError(f"{SCHEDULER_VARIABLE} must look like tcp://host:8786, got {text!r}")
    return text


def quiet_dask() -> None:
    """Keep Dask's log messages out of the notebook (they would go to stderr, which a graded
    cell must not write). Under load Dask logs even expected events at ERROR (a heartbeat that
    timed out, a comm closed while the cluster shuts down, a pending task destroyed), so only
    CRITICAL passes. The course checks Dask's results itself; a real failure is an exception
    in the cell that called Dask, not a log line. (This sets the ``asyncio`` and ``tornado``
    loggers of this process too.)"""
    for name in ("distributed", "dask", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def start_client(n_workers: int | None = None, threads_per_worker: int = 1):
    """A ``distributed.Client``: of the scheduler at ``COURSE_DASK_SCHEDULER`` if set, else of a
    new ``LocalCluster`` with ``n_workers`` processes (default: the usable cores).

    Close it with ``client.close()`` (which also closes a local cluster), or use it in a
    ``with`` block.

    Example:
        >>> with start_client(1) as client:
        ...     client.submit(sum, [1, 2, 3]).result()
        6
    """
    from dask.distributed import Client

    from course_lib.measure.machine import usable_cores

    quiet_dask()
    address = scheduler_address()
    if address is not None:
        return Client(address, timeout="20s")
    dashboard = ":0" if importlib.util.find_spec("bokeh") is not None else None
    # A Client given cluster arguments starts its own LocalCluster and closes it with itself.
    return Client(n_workers=n_workers or usable_cores(), threads_per_worker=threads_per_worker,
                  processes=True, dashboard_address=dashboard, silence_logs=logging.CRITICAL)


def array_example(n: int = 2_000, chunk: int = 500, seed: int = 0):
    """Standardise the columns of an ``n x n`` random matrix in ``chunk x chunk`` blocks, then sum
    the squares: Dask's answer, NumPy's answer, and the lazy Dask array.

    Example:
        >>> lazy, got, want = array_example(100, 30)
        >>> bool(np.isclose(got, want))
        True
    """
    import dask.array as da

    a = np.random.default_rng(seed).random((n, n))
    x = da.from_array(a, chunks=chunk)
    lazy = (((x - x.mean(axis=0)) / x.std(axis=0)) ** 2).sum()
    want = (((a - a.mean(axis=0)) / a.std(axis=0)) ** 2).sum()
    return lazy, float(lazy.compute()), float(want)


def bag_example(lines: int = 20_000, partitions: int = 8):
    """Count words in generated lines with ``dask.bag`` and with ``collections.Counter``.

    Returns:
        ``(dask_counts, python_counts)``, two dicts that should be equal.

    Example:
        >>> got, want = bag_example(100, 3)
        >>> got == want
        True
    """
    import dask.bag as db

    words = ("halo", "rank", "chunk", "task", "graph", "message", "latency", "bandwidth")
    text = [" ".join(words[(i * 7 + k * 3) % len(words)] for k in range(i % 5 + 1)) for i in range(lines)]
    bag = db.from_sequence(text, npartitions=partitions)
    counts = dict(bag.str.split().flatten().frequencies().compute())
    return counts, dict(Counter(w for line in text for w in line.split()))


def graph_of(collection) -> dict[Any, set]:
    """The task graph of a Dask collection as ``{key: set of keys it depends on}``."""
    from dask.core import get_dependencies

    graph = dict(collection.__dask_graph__())
    return {k: set(get_dependencies(graph, k)) for k in graph}


def _depths(deps: dict) -> dict:
    depth: dict = {}

    def visit(k):
        if k not in depth:
            depth[k] = 0  # a guard against cycles (there are none in a Dask graph)
            depth[k] = 1 + max((visit(d) for d in deps[k] if d in deps), default=-1)
        return depth[k]
    for k in deps:
        visit(k)
    return depth


def _name(key) -> str:
    base = key[0] if isinstance(key, tuple) else key
    name = str(base).rsplit("-", 1)[0] if "-" in str(base) else str(base)
    if len(name) > 14 and "-" in name:
        name = name.split("-")[0]
    idx = ",".join(map(str, key[1:])) if isinstance(key, tuple) else ""
    return f"{name}\n{idx}" if idx else name


def draw_graph(collection, ax=None, max_tasks: int = 120):
    """Draw a collection's task graph with matplotlib (no graphviz needed): one row per depth
    (sources at the bottom), an arrow from each task to the tasks that use its result.

    Raises:
        ValueError: the graph has more than ``max_tasks`` tasks (pick larger chunks to look).

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt

    deps = graph_of(collection)
    if len(deps) > max_tasks:
        raise ValueError(f"the graph has {len(deps)} tasks, more than max_tasks={max_tasks}: "
                         "draw a smaller example (fewer, larger chunks)")
    depth = _depths(deps)
    rows: dict[int, list] = {}
    for k in sorted(deps, key=str):
        rows.setdefault(depth[k], []).append(k)
    pos = {}
    for d, keys in rows.items():
        for i, k in enumerate(keys):
            pos[k] = ((i + 0.5) / len(keys), d)
    if ax is None:
        width = max(6.0, min(16.0, 0.9 * max(len(v) for v in rows.values())))
        _, ax = plt.subplots(figsize=(width, 1.1 * (len(rows) + 1)))
    for k, ds in deps.items():
        for d in ds:
            if d in pos:
                ax.annotate("", xy=pos[k], xytext=pos[d],
                            arrowprops=dict(arrowstyle="->", color="grey", lw=0.7, shrinkA=9, shrinkB=9))
    for k, (x, y) in pos.items():
        ax.text(x, y, _name(k), ha="center", va="center", fontsize=6,
                bbox=dict(boxstyle="round", fc="#dde8f6", ec="#5b7fb0", lw=0.6))
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.6, max(rows) + 0.6)
    ax.axis("off")
    ax.set_title(f"{len(deps)} tasks, {len(rows)} levels (sources at the bottom)")
    return ax


def _noop(i):
    return i


def task_overhead(client=None, tasks: int = 2_000) -> dict[str, float]:
    """Seconds per empty task on each scheduler (the median of 3 runs of ``tasks`` tasks).

    Returns:
        ``{"dask distributed": s, "dask threads": s, "chapter 1 pool": s}`` (the first only
        when a ``client`` is given).

    Example:
        >>> costs = task_overhead(tasks=200)
        >>> costs["dask threads"] > costs["chapter 1 pool"] > 0
        True
    """
    import dask

    from course_lib import par

    def timed(run) -> float:
        run()  # warm up: connections, imports, threads
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        return float(np.median(times)) / tasks

    out = {}
    if client is not None:
        out["dask distributed"] = timed(lambda: client.gather(client.map(_noop, range(tasks), pure=False)))
    out["dask threads"] = timed(lambda: dask.compute(*[dask.delayed(_noop, pure=False)(i)
                                                       for i in range(tasks)], scheduler="threads"))
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(par.ThreadPool())
        out["chapter 1 pool"] = timed(lambda: pool.install(
            lambda: par.par_range(tasks).with_max_len(1).for_each(_noop)))
    return out
