"""Checkers for chapter c10_beyond: a sum with ``allreduce``, the halo exchange of the heat
stencil, fitting a link's latency and bandwidth, and a tree reduction as a Dask graph.

The MPI checkers run the learner's function on 1 to 4 ranks through
:func:`course_lib.dist.mpirun`, so a deadlock costs the points of that exercise after a few
seconds and leaves no process behind. The work each rank does is graded by its structure (which
index ranges it asked for, what its ghost rows hold), not by timing.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from course_lib.dist import launch, stencil, transports
from course_lib.testing import CheckTimeout, call_with_timeout
from course_lib.testing.delegation import answers
from course_lib.testing.exercises import seal

__all__ = ["check_pi_allreduce", "check_halo_exchange", "check_fit_link", "check_tree_sum",
           "pi_terms", "make_chunks", "synthetic_pingpong"]

_MPI_TIMEOUT = 6.0
_DEADLOCK = ("the ranks waited for each other forever. If every rank calls a blocking receive "
             "first, or sends a large message first (MPI only buffers small ones), no one ever "
             "gets to the matching call: pair each send with its receive in comm.Sendrecv")


def _run(fn, n: int, args: tuple, name: str):
    """``mpirun`` of a grading wrapper; a timeout or a rank's exception becomes a teaching
    AssertionError."""
    try:
        return launch.mpirun(fn, n, args=args, timeout=_MPI_TIMEOUT).results
    except launch.MPIUnavailable as exc:
        raise AssertionError(f"{name} cannot be graded here: {exc}. This exercise runs on MPI "
                             "ranks; the teacher's grading machine has MPI") from None
    except launch.MPITimeout as exc:
        raise CheckTimeout(f"{name} on {n} ranks did not finish within {exc.timeout:g} s (ranks "
                           f"{', '.join(map(str, exc.unfinished))} were still waiting): {_DEADLOCK}") from None
    except launch.RankError as exc:
        raise AssertionError(f"{name} on {n} ranks: rank {exc.rank} raised {exc.name}:\n"
                             f"{exc.text.strip()[-1200:]}") from None


# ---------------------------------------------------------------------------- exercise 1
def pi_terms(i0: int, i1: int, n: int) -> float:
    """The midpoint rule for pi = integral of 4 / (1 + x^2) over [0, 1] with ``n`` intervals:
    the sum of the terms of intervals ``i0 .. i1-1``."""
    x = (np.arange(i0, i1, dtype=np.float64) + 0.5) / n
    return float(np.sum(4.0 / (1.0 + x * x)) / n)


class _Term:
    """``term(i0, i1)`` for the learner, recording which index ranges this rank asked for."""

    def __init__(self, n: int):
        self.n, self.ranges = n, []

    def __call__(self, i0, i1) -> float:
        i0, i1 = int(i0), int(i1)
        if not 0 <= i0 <= i1 <= self.n:
            raise ValueError(f"term({i0}, {i1}): indices must satisfy 0 <= i0 <= i1 <= n = {self.n}")
        self.ranges.append((i0, i1))
        return pi_terms(i0, i1, self.n)


def _graded_pi(comm, fn, ns):
    out = []
    for n in ns:
        term = _Term(n)
        out.append((fn(comm, n, term), term.ranges))
    return out


@answers("pi_allreduce")
def check_pi_allreduce(fn: Callable, name: str = "pi_allreduce") -> None:
    """Grade ``fn(comm, n, term)``: every rank must return the midpoint-rule sum of ``term`` over
    all ``n`` intervals, each interval summed by exactly one rank, the intervals shared evenly
    (no rank more than ceil(n / ranks)), on 1 to 4 ranks and for n that does not divide."""
    if not callable(fn):
        raise AssertionError(f"{name} should be a function fn(comm, n, term)")
    ns = (1001, 3, 16)
    for size in (1, 2, 3, 4):
        results = _run(_graded_pi, size, (fn, ns), name)
        for j, n in enumerate(ns):
            want = pi_terms(0, n, n)
            counts = np.zeros(n, dtype=int)
            work = []
            for value, ranges in (results[r][j] for r in range(size)):
                work.append(sum(b - a for a, b in ranges))
                for a, b in ranges:
                    counts[a:b] += 1
            where = f"with n={n} on {size} ranks"
            if not any(work):
                raise AssertionError(f"{name} never called term(i0, i1) {where}: compute each "
                                     "rank's share with term, so the work can be counted")
            if (counts > 1).any():
                i = int(np.argmax(counts > 1))
                raise AssertionError(f"{name} {where}: interval {i} was summed {counts[i]} times "
                                     "(the ranks' blocks overlap). Give rank r the indices "
                                     "start(r) .. start(r+1)-1, each index to one rank")
            if (counts == 0).any():
                missing = np.flatnonzero(counts == 0)
                raise AssertionError(f"{name} {where}: {missing.size} interval(s) were never "
                                     f"summed (the first: {int(missing[0])}). When n is not a "
                                     "multiple of the ranks, the remainder must go to some rank")
            limit = math.ceil(n / size)
            if max(work) > limit:
                r = int(np.argmax(work))
                raise AssertionError(f"{name} {where}: rank {r} summed {work[r]} of the {n} "
                                     f"intervals (per rank: {work}); an even share is at most "
                                     f"{limit}. Split the indices so every rank does its part")
            values = [results[r][j][0] for r in range(size)]
            for r, v in enumerate(values):
                ok = isinstance(v, (int, float, np.floating)) and math.isclose(float(v), want, rel_tol=1e-12)
                if not ok:
                    root_ok = isinstance(values[0], (int, float, np.floating)) and \
                        math.isclose(float(values[0]), want, rel_tol=1e-12)
                    hint = ("only rank 0 has the total, as after comm.reduce: comm.allreduce "
                            "gives it to every rank" if r > 0 and root_ok else
                            "add up the partial sums of all ranks with comm.allreduce")
                    raise AssertionError(f"{name} {where}: rank {r} returned {v!r}, expected "
                                         f"{want!r}: {hint}")
    print(f"{name}: every rank holds the total on 1-4 ranks; each interval summed once, "
          "shares balanced")


# ---------------------------------------------------------------------------- exercise 2
def _probe_exchange(comm, fn):
    """One exchange on a block whose row i on rank r holds 100 r + i."""
    u = np.empty((5, 4))
    for i in range(5):
        u[i] = 100 * comm.rank + i
    fn(comm, u)
    return u


def _describe(v: float, rank: int, row: int) -> str:
    r, i = divmod(int(v), 100)
    if (r, i) == (rank, row % 5):
        return "its old value (nothing was received)"
    what = {0: "upper ghost u[0]", 1: "first own row u[1]", 3: "last own row u[-2]",
            4: "lower ghost u[-1]"}.get(i, f"own row u[{i}]")
    return f"rank {r}'s {what}"


def _graded_halo(comm, fn, cases, probe):
    out = {"probe": _probe_exchange(comm, fn) if probe else None, "grids": []}
    for u0, steps in cases:
        out["grids"].append(stencil.heat_parallel(comm, u0, steps, exchange=fn)[0])
    return out


def _check_probe(blocks, size: int, name: str) -> None:
    for r, u in enumerate(blocks):
        for row, side in ((0, "upper ghost u[0]"), (-1, "lower ghost u[-1]")):
            owner, i = divmod(int(u[row][0]), 100)
            if owner != r and i in (0, 4):
                raise AssertionError(
                    f"{name} on {size} ranks: rank {r}'s {side} holds {_describe(u[row][0], r, row)}: "
                    "a ghost row was sent, off by one. Send the edge rows the neighbour needs: "
                    "u[1] up and u[-2] down")
    for r, u in enumerate(blocks):
        if not np.array_equal(u[1:-1], np.array([[100 * r + i] * 4 for i in (1, 2, 3)], float)):
            raise AssertionError(f"{name} changed rank {r}'s own rows: receive into the ghost "
                                 "rows u[0] and u[-1] only")
        want_up = 100 * r if r == 0 else 100 * (r - 1) + 3
        want_down = 100 * r + 4 if r == size - 1 else 100 * (r + 1) + 1
        for row, want, side in ((0, want_up, "upper ghost u[0]"), (-1, want_down, "lower ghost u[-1]")):
            if not np.all(u[row] == want):
                edge = (" (there is no rank there: that ghost row is the fixed boundary, leave "
                        "it alone; MPI.PROC_NULL as the partner does that)"
                        if (r == 0 and row == 0) or (r == size - 1 and row == -1) else "")
                raise AssertionError(f"{name} on {size} ranks: rank {r}'s {side} holds "
                                     f"{_describe(u[row][0], r, row)}, expected "
                                     f"{_describe(want, r, row)}{edge}")


@answers("exchange", stencil.exchange_halos, stencil.heat_parallel)
def check_halo_exchange(fn: Callable, name: str = "exchange") -> None:
    """Grade ``fn(comm, u)``: fills the ghost rows ``u[0]`` (from the rank above, its ``u[-2]``)
    and ``u[-1]`` (from the rank below, its ``u[1]``), leaves own rows and the outer boundary
    alone, never deadlocks (rows of 160 KB too), and gives the serial heat result bit for bit on
    1 to 4 ranks with uneven blocks (one launch per rank count)."""
    if not callable(fn):
        raise AssertionError(f"{name} should be a function fn(comm, u)")
    for size in (2, 3, 1, 4):
        cases = [(stencil.initial_grid(ny, nx, seed=size), steps) for ny, nx, steps in ((15, 11, 6), (9, 7, 5))]
        if size == 2:
            cases.append((stencil.initial_grid(6, 20_000, seed=7), 2))  # 160 KB rows: no eager send
        out = _run(_graded_halo, size, (fn, cases, size > 1), name)[0:size]
        if size > 1:
            _check_probe([o["probe"] for o in out], size, name)
        for (u0, steps), got in zip(cases, out[0]["grids"]):
            want = stencil.heat_serial(u0, steps)
            if not np.array_equal(got, want):
                rows = np.flatnonzero(np.any(got != want, axis=1))
                raise AssertionError(f"{name} on {size} ranks, a {u0.shape[0]}x{u0.shape[1]} grid "
                                     f"after {steps} steps: rows {rows.tolist()[:8]} differ from "
                                     "the serial result")
    print(f"{name}: ghost rows right on 2 and 3 ranks; the serial result bit for bit on 1-4 "
          "ranks with uneven blocks; no deadlock with 160 KB rows")


# ---------------------------------------------------------------------------- exercise 3
def synthetic_pingpong(latency: float = 5e-6, bandwidth: float = 2e9, noise: float = 0.0,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(sizes, seconds)`` from the model, 1 KiB to 4 MiB, with multiplicative noise."""
    sizes = np.array([1024 * 4 ** k for k in range(7)], dtype=float)
    seconds = latency + sizes / bandwidth
    if noise:
        seconds = seconds * np.exp(np.random.default_rng(seed).normal(0.0, noise, sizes.size))
    return sizes, seconds


def _pair(fn, sizes, seconds, name):
    try:
        got = call_with_timeout(fn, np.array(sizes), np.array(seconds), timeout=10.0, what=name)
        lat, bw = (float(v) for v in got)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should return two numbers, (latency in seconds, bandwidth "
                             "in bytes per second)") from None
    return lat, bw


@answers("fit_latency_bandwidth", transports.fit_link, transports.Link)
def check_fit_link(fn: Callable, sizes: Sequence[float] | None = None,
                   seconds: Sequence[float] | None = None, name: str = "fit_latency_bandwidth") -> None:
    """Grade ``fn(sizes, seconds) -> (latency_s, bandwidth_bytes_per_s)``: the least-squares fit
    of ``t = latency + size / bandwidth`` with relative (1 / t) weights, on exact synthetic data
    (it must recover the model), noisy synthetic data and the learner's own measurements (both
    against the same fit computed here)."""
    L, B = 5e-6, 2e9
    lat, bw = _pair(fn, *synthetic_pingpong(L, B), name)
    if not (math.isclose(lat, L, rel_tol=1e-6) and math.isclose(bw, B, rel_tol=1e-6)):
        hint = ""
        if math.isclose(lat, B, rel_tol=1e-3) or math.isclose(bw, L, rel_tol=1e-3):
            hint = ": the two are swapped; return (latency, bandwidth)"
        elif math.isclose(lat * 1e-6, L, rel_tol=1e-3) or math.isclose(lat * 1e-3, L, rel_tol=1e-3):
            hint = ": the latency should be in seconds, not micro- or milliseconds"
        elif any(math.isclose(bw * f, B, rel_tol=1e-3) for f in (1e6, 1e9, 2**20, 2**30, 1 / 8, 8, 1e-6)):
            hint = ": the bandwidth should be in bytes per second (the slope is seconds per byte: invert it)"
        elif math.isclose(bw, 1 / B, rel_tol=1e-3):
            hint = ": that is the slope, seconds per byte; the bandwidth is its inverse"
        else:
            hint = (". A straight line through log(size), log(t) is not this model (it is a power "
                    "law); and one point cannot separate the fixed cost from the cost per byte. "
                    "Fit t = a + b * size on all points, then latency = a, bandwidth = 1 / b")
        raise AssertionError(f"{name} on exact data from latency {L:g} s and bandwidth {B:g} B/s "
                             f"returned ({lat:g}, {bw:g}){hint}")
    cases = [("noisy synthetic data", *synthetic_pingpong(L, B, noise=0.05, seed=3))]
    if sizes is not None and seconds is not None:
        cases.append(("your own ping-pong data", np.asarray(sizes, float), np.asarray(seconds, float)))
    for what, s, t in cases:
        want = transports.fit_link(s, t)
        lat, bw = _pair(fn, s, t, name)
        bw_ok = (math.isinf(want.bandwidth) and (math.isinf(bw) or bw > 1e15)) or \
            math.isclose(bw, want.bandwidth, rel_tol=1e-6)
        if not (math.isclose(lat, want.latency, rel_tol=1e-6, abs_tol=1e-15) and bw_ok):
            raise AssertionError(
                f"{name} on {what}: ({lat:.6g} s, {bw:.6g} B/s), while the weighted least-squares "
                f"fit is ({want.latency:.6g} s, {want.bandwidth:.6g} B/s). Use every point, and "
                "divide each row of the system (and its right-hand side) by its t, so that the "
                "small messages count as much as the large ones")
    print(f"{name}: recovers the model from exact data and matches the weighted fit on noisy and "
          "measured data")


# ---------------------------------------------------------------------------- exercise 4
_LOADS = {"count": 0}


def _load(i: int, size: int, seed: int) -> np.ndarray:
    """Stands for reading chunk ``i`` from disk; counted, so eager computing shows."""
    _LOADS["count"] += 1
    return np.random.default_rng((seed, i)).standard_normal(size)


def make_chunks(sizes: Sequence[int] = (5, 3, 8, 1, 7, 2, 6), seed: int = 0) -> list:
    """Lazy chunks: one ``dask.delayed`` load task per chunk, of the given lengths."""
    import dask

    return [dask.delayed(_load, pure=True)(i, int(s), seed) for i, s in enumerate(sizes)]


@answers("sum_of_squares")
def check_tree_sum(fn: Callable, name: str = "sum_of_squares", max_fan_in: int = 4) -> None:
    """Grade ``fn(chunks) -> lazy result``: the sum of squares of all chunks as a Dask graph,
    with one task per chunk that reads only that chunk, combined in a tree (no task with more
    than ``max_fan_in`` inputs), nothing computed while the graph is built, and the right
    value for odd and uneven chunk counts (1, 7 and 16 chunks)."""
    import dask

    from course_lib.dist.tasks import graph_of

    for sizes in ((5, 3, 8, 1, 7, 2, 6), (9,), tuple(range(1, 17))):
        chunks = make_chunks(sizes, seed=len(sizes))
        loads = {c.key for c in chunks}
        before = _LOADS["count"]
        with dask.config.set(scheduler="sync"):
            lazy = call_with_timeout(fn, chunks, timeout=20.0, what=name)
        where = f"for {len(sizes)} chunks of lengths {sizes}"
        if not hasattr(lazy, "__dask_graph__") or lazy.__dask_graph__() is None:
            raise AssertionError(f"{name} returned {type(lazy).__name__} {where}, not a lazy Dask "
                                 "object: the work was done eagerly, with no task graph")
        if _LOADS["count"] != before:
            raise AssertionError(f"{name} computed chunks while building the graph {where} "
                                 "(.compute() inside a loop?): each compute is a round trip to "
                                 "the scheduler, one chunk at a time. Build lazy tasks only and "
                                 "return the lazy result; the caller computes it once")
        deps = graph_of(lazy)
        unused = [i for i, ch in enumerate(chunks) if ch.key not in deps]
        if len(unused) == len(chunks):
            raise AssertionError(f"{name}'s graph {where} does not start from the chunks given: "
                                 "build it on them (dask.delayed(f)(chunk))")
        if unused:
            raise AssertionError(f"{name}'s graph {where} never uses chunk(s) {unused}: with an "
                                 "odd number of partial results at a level, carry the last one "
                                 "to the next level")
        for key, inputs in deps.items():
            raw = inputs & loads
            if len(raw) > 1:
                raise AssertionError(f"{name} {where}: a task takes the raw data of {len(raw)} "
                                     "chunks; reduce each chunk in a task of its own, then "
                                     "combine the small partial results")
            if len(inputs) > max_fan_in:
                raise AssertionError(f"{name} {where}: a task combines {len(inputs)} inputs at "
                                     f"once; combine at most {max_fan_in} at a time, level by "
                                     "level, as a tree")
        with dask.config.set(scheduler="sync"):
            got = float(dask.compute(lazy)[0])
        with dask.config.set(scheduler="sync"):
            data = np.concatenate(dask.compute(*chunks))
        want = float(np.sum(data * data))
        if not math.isclose(got, want, rel_tol=1e-10):
            raise AssertionError(f"{name} {where} gives {got!r}, expected {want!r}: with an odd "
                                 "number of partial results, is the last one carried to the next "
                                 "level?")
    print(f"{name}: right on 1, 7 and 16 uneven chunks; one task per chunk, a tree of fan-in "
          f"<= {max_fan_in}, nothing computed early")


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_pi_allreduce", "check_halo_exchange", "check_fit_link", "check_tree_sum")
seal(__name__)
