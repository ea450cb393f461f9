"""Software prefetch: asking for data before the loop needs it.

A gather ``sum(data[idx[i]])`` with random ``idx`` over an array far larger than the caches
misses the cache on almost every element, like the pointer chase of
:mod:`course_lib.memory.latency`. The difference is that the addresses do not depend on the
loaded values: ``idx`` is known in advance. The out-of-order core already uses that, by running
dozens of iterations ahead and keeping several misses in flight at once (memory-level
parallelism), so a gather costs far less per element than a chase. Software prefetch goes
further: ``__builtin_prefetch(&data[idx[i + d]])`` (an x86 ``prefetcht0``, an ARM ``prfm``)
starts the load of the element ``d`` iterations ahead without waiting for it, so that by the time
the loop gets there, the line is in the cache. It is a pointer chase whose next address is
known early.

The *distance* ``d`` has to cover the latency: roughly (memory latency) / (time per iteration).
Too short and the line is not there yet; too long and it may be evicted before use (and the
prefetches of the last ``d`` elements are wasted). With sequential ``idx`` the hardware
prefetcher already streams the lines in, so software prefetch can only add instructions: the
sweep measures both cases, and :func:`prefetch_sweep` shows whether your core gains anything.

Sources: U. Drepper, "What Every Programmer Should Know About Memory" (2007), section 6.3
(software prefetching and its distance); GCC manual, "Other Built-in Functions"
(``__builtin_prefetch(addr, rw, locality)``); Intel 64 and IA-32 Architectures Optimization
Reference Manual (prefetch instructions).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from course_lib import config
from course_lib.memory.stream import _array, _count, _lib

__all__ = ["gather_sum", "PrefetchSweep", "prefetch_sweep", "DISTANCES"]

#: The prefetch distances :func:`prefetch_sweep` tries by default (0: no prefetch).
DISTANCES = (0, 4, 8, 16, 32, 64)


def _check_indices(idx: np.ndarray, n_data: int) -> None:
    if idx.size == 0:
        return
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= n_data:
        bad = lo if lo < 0 else hi
        where = int(np.flatnonzero(idx == bad)[0])
        raise ValueError(f"idx[{where}] = {bad} is not an index of data (0 .. {n_data - 1}): "
                         "every index must point into data")


def gather_sum(data: np.ndarray, idx: np.ndarray, distance: int = 0) -> float:
    """``sum(data[idx[i]] for i in range(len(idx)))`` in C, prefetching ``distance`` ahead.

    Args:
        data: float64, 1-D, C-contiguous.
        idx: int64, 1-D, C-contiguous, every value in ``0 .. len(data) - 1`` (checked).
        distance: 0 for no prefetch; else element ``i`` also prefetches ``data[idx[i +
            distance]]``. Any distance >= 0 is allowed (>= ``len(idx)`` prefetches nothing).

    Returns:
        The sum, added in four interleaved partial sums (so it can differ from NumPy's order in
        the last bits).

    Raises:
        TypeError / ValueError: wrong dtype or shape, non-contiguous, an index out of range, a
            negative distance.

    Example:
        >>> gather_sum(np.array([1.0, 2.0, 4.0]), np.array([2, 2, 0]), distance=1)
        9.0
    """
    data = _array("data", data, np.float64)
    idx = _array("idx", idx, np.int64)
    distance = _count("distance", distance, 0)
    _check_indices(idx, data.shape[0])
    ffi, lib = _lib()
    return float(lib.mem_gather_sum(ffi.from_buffer("double[]", data),
                                    ffi.from_buffer("int64_t[]", idx), idx.shape[0], distance))


@dataclass(frozen=True, repr=False, eq=False)
class PrefetchSweep:
    """Nanoseconds per gathered element, by prefetch distance, for random and sequential ``idx``.

    Attributes:
        distances: the distances tried (0 = no prefetch).
        random_ns, sequential_ns: ns per element (best of the repeats) for each distance.
        n: elements in ``data`` and in ``idx``; ``data_bytes`` = 8 n.
    """

    distances: tuple[int, ...]
    random_ns: np.ndarray
    sequential_ns: np.ndarray
    n: int

    @property
    def data_bytes(self) -> int:
        return 8 * self.n

    def best_distance(self, pattern: str = "random") -> int:
        """The distance with the lowest time for ``"random"`` or ``"sequential"`` indices."""
        ns = {"random": self.random_ns, "sequential": self.sequential_ns}.get(pattern)
        if ns is None:
            raise ValueError(f"pattern must be 'random' or 'sequential', got {pattern!r}")
        return int(self.distances[int(np.argmin(ns))])

    def speedup(self, pattern: str = "random") -> float:
        """Time without prefetch over the best time with it (1.0 when 0 was not tried)."""
        ns = self.random_ns if pattern == "random" else self.sequential_ns
        if 0 not in self.distances:
            return 1.0
        return float(ns[self.distances.index(0)] / ns.min())

    def __repr__(self) -> str:
        from course_lib.measure.machine import format_bytes

        lines = [f"gather sum over {self.n:,} doubles ({format_bytes(self.data_bytes)}), ns per "
                 "element", f"{'distance':>8} {'random':>8} {'sequential':>10}"]
        for d, r, s in zip(self.distances, self.random_ns, self.sequential_ns):
            lines.append(f"{d:>8} {r:>8.2f} {s:>10.2f}")
        lines.append(f"random: best distance {self.best_distance()} "
                     f"({self.speedup():.2f}x over none); sequential: best distance "
                     f"{self.best_distance('sequential')} ({self.speedup('sequential'):.2f}x)")
        return "\n".join(lines)

    def plot(self, ax=None):
        """ns per element against the distance, random and sequential. Returns the Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6.0, 3.6), layout="constrained")
        x = np.arange(len(self.distances))
        ax.plot(x, self.random_ns, "o-", label="random idx")
        ax.plot(x, self.sequential_ns, "s-", label="sequential idx")
        ax.set_xticks(x, [str(d) if d else "none" for d in self.distances])
        ax.set(xlabel="prefetch distance (elements ahead)", ylabel="ns per element",
               title=f"software prefetch, {self.n:,} doubles")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize="small")
        return ax


def prefetch_sweep(n: int | None = None, distances: Sequence[int] = DISTANCES, *,
                   reps: int | None = None, seed: int = 0) -> PrefetchSweep:
    """Time :func:`gather_sum` for each distance, with random and with sequential indices.

    Args:
        n: doubles in ``data`` (and indices in ``idx``), >= 1; default 4x the L3 (32 Mi doubles
            at most: 256 MiB), 2 Mi under ``COURSE_QUICK``.
        distances: prefetch distances to try, each >= 0.
        reps: timings per (pattern, distance), the best kept (default 3). The distances are
            interleaved in every repeat (A B C, C B A), so a slow moment of a busy machine does
            not fall on one distance only.
        seed: for the random indices.

    Returns:
        A :class:`PrefetchSweep`.

    Example:
        >>> s = prefetch_sweep(n=10_000, distances=(0, 8), reps=1)
        >>> s.random_ns.shape
        (2,)
    """
    if n is None:
        from course_lib.memory.latency import _machine

        m = _machine()
        l3 = (m.l3_bytes if m is not None else None) or (32 << 20)
        n = config.pick(min(max(4 * l3 // 8, 2 << 20), 32 << 20), 2 << 20)
    n = _count("n", n)
    dist = tuple(_count("distance", d, 0) for d in distances)
    if not dist:
        raise ValueError("distances is empty: give at least one (0 means no prefetch)")
    reps = 3 if reps is None else _count("reps", reps)
    rng = np.random.default_rng(seed)
    data = rng.random(n)
    patterns = {"random": rng.integers(0, n, n, dtype=np.int64),
                "sequential": np.arange(n, dtype=np.int64)}
    ffi, lib = _lib()
    pd = ffi.from_buffer("double[]", data)
    best = {p: [math.inf] * len(dist) for p in patterns}
    for r in range(reps):
        for p, idx in patterns.items():
            pi = ffi.from_buffer("int64_t[]", idx)
            order = range(len(dist)) if r % 2 == 0 else range(len(dist) - 1, -1, -1)
            for k in order:
                t0 = time.perf_counter()
                lib.mem_gather_sum(pd, pi, n, dist[k])
                best[p][k] = min(best[p][k], time.perf_counter() - t0)
    to_ns = 1e9 / n
    return PrefetchSweep(dist, np.array(best["random"]) * to_ns,
                         np.array(best["sequential"]) * to_ns, n)
