"""Memory latency: how long one load waits, by where the data live (L1, L2, L3 or DRAM).

The method is a *pointer chase*: an array in which every cache line holds the index of the next
line to visit, and a loop ``i = next[i]``. Each load needs the value of the one before it, so
the core cannot overlap them (it does not know the next address until the current load is
back): the time per step is the latency of whichever level of the hierarchy holds the array.
Chase a 16 KiB array and every load hits L1 (about 1 ns); chase 256 MiB and almost every load
goes to DRAM (about 100 ns). Between the two, :func:`latency_curve` draws the staircase.

Three details make the chase honest:

1. *One line per step*: the array is cut into ``line_bytes`` pieces and only the first 8 bytes of
   each are used, so every step touches a new cache line (two steps in one line would hit).
2. *Random order, one cycle*: the lines are visited in a random order, so the hardware
   prefetcher (which spots strides) cannot guess the next line, and the order is a single cycle
   through *all* the lines (Sattolo's algorithm), so the chase cannot get stuck in a short loop
   that fits in L1 by chance. A random permutation (Fisher-Yates) would have several cycles.
3. *Timed in C*: ``mem_chase`` in ``course_lib/_c/memory.c`` reads ``clock_gettime`` around the
   loop and writes the final index out, so the compiler cannot delete the loop.
   :func:`chase_numba` is the same loop in numba, for comparison: the latency is the hardware's,
   so both should agree, once the numba loop indexes with an unsigned integer (a signed index
   makes numba handle ``next[-1]``, one more operation on the chain of loads per step).

Beyond the caches, each random step also misses the TLB (the cache of address translations),
which adds a page-table walk: the DRAM plateau includes it. NumPy asks Linux for huge pages
(2 MiB) for big arrays, which makes that cost smaller.

Sources: U. Drepper, "What Every Programmer Should Know About Memory" (2007), section 3.3
(the pointer-chasing measurement and its curves); L. McVoy and C. Staelin, "lmbench: Portable
Tools for Performance Analysis" (USENIX 1996: lat_mem_rd); S. Sattolo, "An algorithm to generate
a random cyclic permutation", Information Processing Letters 22 (1986).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from course_lib import config
from course_lib.memory.stream import _array, _count, _lib

__all__ = ["LatencyCurve", "Plateau", "random_cycle", "cycle_order", "chase", "chase_numba",
           "latency_curve", "default_sizes", "find_steps"]


# ---------------------------------------------------------------------------- the cycle
@njit(nogil=True, cache=True)
def _sattolo(order, u):
    # Sattolo: like Fisher-Yates, but j is drawn from [0, i), never i itself. Element i is swapped
    # with an earlier one only, which links everything into one cycle.
    for i in range(order.shape[0] - 1, 0, -1):
        j = int(u[i] * i)
        if j >= i:  # u[i] * i rounded up to i: impossible for u < 1, but cheap to rule out
            j = i - 1
        order[i], order[j] = order[j], order[i]


def cycle_order(n: int, seed: int = 0) -> np.ndarray:
    """A random cyclic permutation of ``range(n)`` by Sattolo's algorithm: ``succ[i]`` is where
    to go from ``i``, and following it from any start visits all ``n`` before coming back.

    Example:
        >>> succ = cycle_order(5, seed=1); i, seen = 0, []
        >>> for _ in range(5): seen.append(i); i = int(succ[i])
        >>> sorted(seen), i
        ([0, 1, 2, 3, 4], 0)
    """
    n = _count("n", n)
    order = np.arange(n, dtype=np.int64)
    if n > 1:
        _sattolo(order, np.random.default_rng(seed).random(n))
    return order


def random_cycle(n_lines: int, line_bytes: int = 64, seed: int = 0) -> np.ndarray:
    """The chase array: ``n_lines`` cache lines linked in one random cycle.

    The array has ``n_lines * line_bytes / 8`` int64 slots (``n_lines * line_bytes`` bytes); the
    first slot of line ``k`` (index ``k * w``, ``w = line_bytes // 8``) holds the index of the
    first slot of the next line to visit, and the other slots are 0 (never read by a chase that
    starts at 0). So ``i = next[i]`` from 0 visits every line once, in random order, and is back at
    0 after ``n_lines`` steps.

    Args:
        n_lines: lines in the cycle (>= 1).
        line_bytes: the cache line size, a multiple of 8 (64 on x86 and most ARM cores, 128 on
            Apple's M-series).
        seed: for the random order.

    Returns:
        int64 array.

    Example:
        >>> nxt = random_cycle(4, line_bytes=16, seed=0); nxt.shape
        (8,)
        >>> sorted(int(v) for v in nxt[::2])
        [0, 2, 4, 6]
    """
    n_lines = _count("n_lines", n_lines)
    line_bytes = _count("line_bytes", line_bytes, 8)
    if line_bytes % 8:
        raise ValueError(f"line_bytes must be a multiple of 8 (one int64 slot), got {line_bytes}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be a whole number, got {type(seed).__name__}: {seed!r}")
    w = line_bytes // 8
    nxt = np.zeros(n_lines * w, dtype=np.int64)
    nxt[::w] = cycle_order(n_lines, seed) * w
    return nxt


# ---------------------------------------------------------------------------- the chase
def _chase_args(next: Any, steps: Any, start: Any) -> tuple[np.ndarray, int, int]:
    next = _array("next", next, np.int64)
    if next.shape[0] == 0:
        raise ValueError("next is empty: a chase needs at least one element")
    steps = _count("steps", steps, 0)
    start = _count("start", start, 0)
    if start >= next.shape[0]:
        raise ValueError(f"start must be an index of next (0 .. {next.shape[0] - 1}), got {start}")
    return next, steps, start


def chase(next: np.ndarray, steps: int, start: int = 0) -> tuple[int, float]:
    """Follow ``i = next[i]`` ``steps`` times from ``start``, in C.

    Args:
        next: int64, 1-D, C-contiguous; every value visited must be an index of ``next``.
        steps: how many loads (>= 0).
        start: the first index.

    Returns:
        ``(end, ns_per_step)``: the index reached, and nanoseconds per load timed inside C.

    Raises:
        ValueError: bad arguments, or the chase reached a value outside the array.

    Example:
        >>> chase(np.array([1, 2, 0]), 4)[0]
        1
    """
    next, steps, start = _chase_args(next, steps, start)
    ffi, lib = _lib()
    end, ns = ffi.new("int64_t *"), ffi.new("double *")
    status = lib.mem_chase(ffi.from_buffer("int64_t[]", next), next.shape[0], start, steps, end, ns)
    if status == lib.MEM_E_RANGE:
        raise ValueError(f"the chase reached the value {end[0]}, which is not an index of next "
                         f"(0 .. {next.shape[0] - 1})")
    if status != 0:
        raise ValueError(f"chase: the C library refused an argument (status {status})")
    return int(end[0]), float(ns[0])


@njit(nogil=True, cache=True)
def _chase_nb(next, start, steps):
    # An unsigned index: with a signed one numba must allow next[-1] (Python's wrap-around), so
    # every step adds "if i < 0: i += n" to the chain of dependent loads, about 2 cycles (1.9
    # instead of 1.4 ns per L1 hit on a Zen 4). Unsigned, one compare also rules out negatives.
    i = np.uint64(start)
    n = np.uint64(next.shape[0])
    for _ in range(steps):
        i = np.uint64(next[i])
        if i >= n:  # numba does not check bounds: this keeps a bad array from crashing
            return -1
    return np.int64(i)


def chase_numba(next: np.ndarray, steps: int, start: int = 0) -> int:
    """The same chase as :func:`chase`, compiled by numba; returns the index reached.

    Time it from Python (long enough chases make the call's cost negligible), e.g. with
    :func:`course_lib.measure.bench.measure`.

    Example:
        >>> chase_numba(np.array([1, 2, 0]), 4)
        1
    """
    next, steps, start = _chase_args(next, steps, start)
    end = int(_chase_nb(next, start, steps))
    if end < 0:
        raise ValueError(f"the chase reached a value that is not an index of next "
                         f"(0 .. {next.shape[0] - 1})")
    return end


# ---------------------------------------------------------------------------- steps
@dataclass(frozen=True)
class Plateau:
    """A run of sizes with about the same latency: ``first``..``last`` bytes, ``ns`` the median."""

    first: int
    last: int
    ns: float


def _segments(sizes: np.ndarray, ns: np.ndarray, factor: float,
              min_gap: float) -> list[tuple[int, int]]:
    """Index ranges [start, end] of the plateaus between the steps (see :func:`find_steps`)."""
    bounds = _step_indices(sizes, ns, factor, min_gap)
    starts = [0] + [i + 1 for i in bounds]
    ends = bounds + [len(ns) - 1]
    return [(s, e) for s, e in zip(starts, ends) if s <= e] if len(ns) else []


def _step_indices(sizes: np.ndarray, ns: np.ndarray, factor: float, min_gap: float) -> list[int]:
    m = ns.shape[0]
    if m < 2:
        return []
    octaves = np.log2(sizes[1:] / sizes[:-1])
    after = np.minimum(ns[1:], np.append(ns[2:], np.inf))  # one slow point alone is no step
    rise = np.log(np.maximum(after, 1e-300) / ns[:-1]) / octaves  # per doubling of the size
    peaks = [i for i in range(m - 1)
             if rise[i] >= np.log(factor)
             and (i == 0 or rise[i] >= rise[i - 1]) and (i + 2 == m or rise[i] > rise[i + 1])]
    kept: list[int] = []
    for i in peaks:  # two peaks less than min_gap apart in size are one step: keep the steeper
        if kept and sizes[i] < min_gap * sizes[kept[-1]]:  # (the first one unless clearly not)
            if rise[i] > 1.1 * rise[kept[-1]]:
                kept[-1] = i
            continue
        kept.append(i)
    return kept


def find_steps(sizes: Sequence[int], ns: Sequence[float], factor: float = 1.4,
               min_gap: float = 4.0) -> tuple[int, ...]:
    """Estimate cache sizes from a latency curve: the sizes just before it climbs steeply.

    The method:

    1. Between neighbouring sizes, the rise is measured **per doubling** of the size (so a grid
       of powers of two and a finer one give the same figures), and against the smaller of the
       next two points (a single slow point, a hiccup of a busy machine, is not a rise).
    2. A step is a point where the rise is at least ``factor`` per doubling and steeper than on
       either side: the steepest part of each climb. A cache that is half full of useful lines
       gives a half-way latency, so a climb can take several points; its steepest point is
       where the working set stops fitting.
    3. Two steps less than ``min_gap`` apart in size are one climb (caches differ by 8x or more
       on every CPU we know); the first is kept unless the later one is clearly (10%) steeper.

    The estimate is the last size before the steep part: at or just below the real capacity,
    within a factor 2 on a powers-of-two grid. A cache that is not much slower than the level
    below it may not show as a step, and on a virtual machine the L3 share a guest sees can be
    smaller than the L3 the CPU reports.

    Args:
        sizes: bytes, increasing.
        ns: latency at each size.
        factor: the rise per doubling that counts as steep (> 1).
        min_gap: the smallest size ratio between two distinct steps (> 1).

    Returns:
        The estimated boundaries in bytes, smallest first.

    Example:
        >>> find_steps([1, 2, 4, 8, 16, 32], [1, 1, 1, 5, 5, 5])
        (4,)
    """
    sizes, ns = np.asarray(sizes), np.asarray(ns, dtype=float)
    if sizes.shape != ns.shape or sizes.ndim != 1:
        raise ValueError(f"sizes and ns must be 1-D and as long as each other, got shapes "
                         f"{sizes.shape} and {ns.shape}")
    if not factor > 1 or not min_gap > 1:
        raise ValueError(f"factor and min_gap must be > 1, got {factor} and {min_gap}")
    if np.any(np.diff(sizes) <= 0) or (ns.size and np.min(ns) <= 0):
        raise ValueError("sizes must increase and every latency must be positive")
    return tuple(int(sizes[i]) for i in _step_indices(sizes, ns, factor, min_gap))


# ---------------------------------------------------------------------------- the curve
@dataclass(frozen=True, repr=False, eq=False)
class LatencyCurve:
    """Nanoseconds per dependent load against the size of the chased array.

    Attributes:
        sizes: bytes chased, increasing (int64 array).
        ns: nanoseconds per load at each size.
        line_bytes: the stride: one step per line.
        l1d_bytes, l2_bytes, l3_bytes: the caches :func:`~course_lib.measure.machine.describe`
            reports (None where unknown), for the plot and the table.
        impl: ``"c"`` or ``"numba"``: which chase measured it.
        notes: anything the reader should know (quick mode, clamped sizes).
    """

    sizes: np.ndarray
    ns: np.ndarray
    line_bytes: int = 64
    l1d_bytes: int | None = None
    l2_bytes: int | None = None
    l3_bytes: int | None = None
    impl: str = "c"
    notes: tuple[str, ...] = ()

    def caches(self) -> list[tuple[str, int]]:
        """``[("L1d", bytes), ("L2", bytes), ("L3", bytes)]``, the known ones."""
        named = (("L1d", self.l1d_bytes), ("L2", self.l2_bytes), ("L3", self.l3_bytes))
        return [(name, int(b)) for name, b in named if b]

    def level(self, size: int) -> str:
        """The smallest cache that ``size`` bytes fit in (``"DRAM"`` beyond the last, ``"?"``
        when no size is known)."""
        known = self.caches()
        if not known:
            return "?"
        return next((name for name, b in known if size <= b), "DRAM")

    def steps(self, factor: float = 1.4, min_gap: float = 4.0) -> tuple[int, ...]:
        """Estimated cache boundaries in bytes, found from the curve alone (:func:`find_steps`
        explains the method); compare them with :meth:`caches`."""
        return find_steps(self.sizes, self.ns, factor, min_gap)

    def plateaus(self, factor: float = 1.4, min_gap: float = 4.0) -> tuple[Plateau, ...]:
        """The flat parts between the steps, each with its median latency."""
        return tuple(Plateau(int(self.sizes[s]), int(self.sizes[e]),
                             float(np.median(self.ns[s:e + 1])))
                     for s, e in _segments(np.asarray(self.sizes), np.asarray(self.ns, dtype=float),
                                           factor, min_gap))

    def __repr__(self) -> str:
        from course_lib.measure.machine import format_bytes

        lines = [f"latency by array size ({self.impl} chase, one {self.line_bytes}-byte line per "
                 "step, random cycle)",
                 f"{'size':>10} {'ns/load':>8}  fits in"]
        for s, t in zip(self.sizes, self.ns):
            lines.append(f"{format_bytes(int(s)):>10} {t:>8.2f}  {self.level(int(s))}")
        steps = ", ".join(format_bytes(b) for b in self.steps()) or "none"
        known = ", ".join(f"{n} {format_bytes(b)}" for n, b in self.caches()) or "unknown"
        lines.append(f"steps found: {steps}   (caches: {known})")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def plot(self, ax=None):
        """ns per load against size (log2 axis), with the caches of describe() as vertical lines
        and the steps found as dotted ones. Returns the matplotlib Axes."""
        from course_lib.measure.machine import format_bytes

        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
        ax.plot(self.sizes, self.ns, "o-", ms=4, label=f"{self.impl} chase")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        for k, (name, b) in enumerate(self.caches()):
            ax.axvline(b, color=f"C{k + 1}", lw=1.2, alpha=0.8, label=f"{name} {format_bytes(b)}")
        for k, b in enumerate(self.steps()):
            ax.axvline(b, color="0.4", ls=":", lw=1, label="steps found" if k == 0 else None)
        ticks = [int(s) for s in self.sizes if int(s) & (int(s) - 1) == 0]  # the powers of two
        ticks = ticks[::max(1, math.ceil(len(ticks) / 8))]
        ax.set_xticks(ticks, [format_bytes(t) for t in ticks], fontsize="small")
        ax.minorticks_off()
        ax.set(xlabel="array size (bytes chased)", ylabel="ns per load",
               title="latency of a dependent load")
        ax.legend(fontsize="small")
        return ax


def _machine():
    try:
        from course_lib.measure.machine import describe

        return describe()
    except Exception:  # sizes and marks need none of it
        return None


def default_sizes() -> list[int]:
    """4 KiB to 4x the L3 (256 MiB if unknown): powers of two and the points half-way (x1.5);
    under ``COURSE_QUICK``, powers of two up to 64 MiB (or 4x L3 if smaller)."""
    m = _machine()
    l3 = m.l3_bytes if m is not None else None
    top = 4 * l3 if l3 else 256 << 20
    if config.quick():
        top = min(top, 64 << 20)
        return [1 << k for k in range(12, 40) if 1 << k <= top]
    out = []
    for k in range(12, 40):
        for s in (1 << k, 3 << (k - 1)):
            if s <= top:
                out.append(s)
    return out


def latency_curve(sizes: Sequence[int] | None = None, *, line_bytes: int | None = None,
                  budget: float | None = None, impl: str = "c", seed: int = 0) -> LatencyCurve:
    """Measure ns per dependent load for each array size.

    For each size: build a random cycle over its lines (:func:`random_cycle`), chase it once
    around (at most 2**20 steps) to load it into the caches and estimate the latency, then time
    three chases of equal length and keep the fastest (on a busy machine, noise only ever adds
    time).

    Args:
        sizes: bytes, each >= 2 lines; default :func:`default_sizes`. Sorted; sizes are rounded
            down to whole lines.
        line_bytes: the stride; default the machine's cache line (64 if unknown).
        budget: seconds of timed chasing in all, shared by the sizes (warm-up and building the
            cycles not included); default 3 s, 0.4 s under ``COURSE_QUICK``.
        impl: ``"c"`` (timed inside C) or ``"numba"`` (timed from Python).
        seed: for the random cycles.

    Returns:
        A :class:`LatencyCurve`.

    Raises:
        TypeError / ValueError: a bad size, line size, budget or impl.

    Example:
        >>> curve = latency_curve([4096, 1 << 20], budget=0.05)
        >>> curve.ns.shape
        (2,)
    """
    if impl not in ("c", "numba"):
        raise ValueError(f"impl must be 'c' or 'numba', got {impl!r}")
    m = _machine()
    if line_bytes is None:
        line_bytes = (m.cache_line_bytes if m is not None else None) or 64
    line_bytes = _count("line_bytes", line_bytes, 8)
    if line_bytes % 8:
        raise ValueError(f"line_bytes must be a multiple of 8, got {line_bytes}")
    if budget is None:
        budget = config.pick(3.0, 0.4)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise ValueError(f"budget must be a positive number of seconds, got {budget!r}")
    notes = ()
    if sizes is None:
        sizes = default_sizes()
        if config.quick():
            notes = ("COURSE_QUICK: fewer and smaller sizes (up to 64 MiB at most)",)
    sizes = [_count("size", s, 2 * line_bytes) for s in sizes]
    if not sizes:
        raise ValueError("sizes is empty: give at least one size in bytes")
    sizes = sorted({s // line_bytes * line_bytes for s in sizes})
    per_size = budget / len(sizes)
    if impl == "numba":
        _chase_nb(np.zeros(1, np.int64), 0, 1)  # compile (or load from cache) before timing
    out = np.empty(len(sizes))
    for k, size in enumerate(sizes):
        n_lines = size // line_bytes
        nxt = random_cycle(n_lines, line_bytes, seed + k)
        out[k] = _time_chase(nxt, n_lines, per_size, impl)
    return LatencyCurve(np.array(sizes, dtype=np.int64), out, line_bytes,
                        m.l1d_bytes if m else None, m.l2_bytes if m else None,
                        m.l3_bytes if m else None, impl, notes)


def _one(nxt: np.ndarray, steps: int, impl: str) -> float:
    if impl == "c":
        return chase(nxt, steps)[1]
    t0 = time.perf_counter()
    _chase_nb(nxt, 0, steps)
    return (time.perf_counter() - t0) * 1e9 / max(steps, 1)


def _time_chase(nxt: np.ndarray, n_lines: int, seconds: float, impl: str) -> float:
    warm = min(n_lines, 1 << 20)
    est = _one(nxt, warm, impl)  # loads the lines into the caches; a first estimate
    steps = int(min(max(seconds / 3 / (max(est, 0.1) * 1e-9), 20_000), 1 << 28))
    return min(_one(nxt, steps, impl) for _ in range(3))
