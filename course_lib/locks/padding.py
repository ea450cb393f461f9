"""Cache-line padding: lay per-thread data out so that two threads never share a line.

A core owns memory by **cache lines** (64 bytes on x86-64 and most ARM; 128 on Apple M). When two
threads write two *different* variables on one line, the line ping-pongs between their caches
(MESI: each write invalidates the other core's copy): that is **false sharing**, and it makes
independent counters as slow as one contended counter.

1. :func:`padded_slots` allocates ``n`` slots ``stride_bytes`` apart, the buffer aligned to
   ``max(stride_bytes, 64)`` so slots never straddle lines. The default stride is 128 bytes, as
   crossbeam's ``CachePadded`` uses on x86-64: Intel's adjacent-line ("spatial") prefetcher
   fetches lines in 128-byte pairs, so neighbours 64 bytes apart still interfere a little.
2. :func:`false_sharing_run` runs one numba ``nogil`` kernel per Python thread (they really run
   at once), each incrementing its own slot ``n`` times, and times the whole run.
   The increment is an atomic ``fetch_add(Relaxed)`` (``lock xadd``: it must own the line every
   time) or, with ``mode="store"``, a relaxed atomic load + store that LLVM may not keep in a
   register (like C ``volatile``; on x86 it fuses them into one non-locked ``inc`` on memory):
   both are real memory traffic on every iteration, which :func:`false_sharing_asm` shows.
3. :func:`false_sharing_curve` sweeps the distance between the slots (8 to 256 bytes) and
   :func:`plot_false_sharing` draws throughput against distance: a cliff below 64 bytes.

Source: Intel 64 and IA-32 Architectures Optimization Reference Manual, "False sharing" and
"Data prefetching" (adjacent cache line prefetch); crossbeam-utils ``CachePadded``; U. Drepper,
"What Every Programmer Should Know About Memory" (2007), sec. 6.4.1.

Thread-safety: each kernel thread writes only its own slot (atomically); the timing harness
starts the threads behind a barrier and joins them with a timeout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from numba import njit

from course_lib.atomics import Ordering, fetch_add_unchecked, load_unchecked, store_unchecked
from course_lib.measure.threads import run_on_threads

__all__ = ["CACHE_LINE", "CACHE_PAD", "padded_slots", "aligned_zeros", "false_sharing_run", "false_sharing_curve",
           "FalseSharingCurve", "plot_false_sharing", "false_sharing_asm", "bump_rmw",
           "bump_store", "run_on_threads"]

#: Bytes in one cache line on x86-64 and most ARM cores.
CACHE_LINE = 64
#: Bytes between per-thread slots that never interfere, prefetcher included (crossbeam's choice).
CACHE_PAD = 128

_X = Ordering.Relaxed


def padded_slots(n: int, dtype: Any = np.int64, stride_bytes: int = CACHE_PAD
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Allocate ``n`` zeroed slots ``stride_bytes`` apart, aligned to a cache line.

    Args:
        n: number of slots (one per thread, usually).
        dtype: element type of a slot (int64, float64, ...).
        stride_bytes: distance between two slots; a multiple of the item size, at least one item.
    Returns:
        ``(buffer, view)``: ``buffer`` is the whole aligned 1-D array of ``dtype`` (pass it to
        numba with index ``k * (stride_bytes // itemsize)`` for slot ``k``, or to atomics);
        ``view`` is a strided 1-D view with ``view[k]`` = slot ``k`` (shares memory).
    Raises:
        ValueError: ``n < 1`` or a stride that is not a positive multiple of the item size.
    Example:
        >>> buf, slots = padded_slots(2)
        >>> slots.strides, buf.ctypes.data % 64
        ((128,), 0)
    """
    dt = np.dtype(dtype)
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if int(stride_bytes) != stride_bytes or stride_bytes < dt.itemsize \
            or stride_bytes % dt.itemsize:
        raise ValueError(f"stride_bytes must be a positive multiple of the item size "
                         f"({dt.itemsize} bytes for {dt}), got {stride_bytes!r}")
    n, stride_bytes = int(n), int(stride_bytes)
    # Align to the stride's largest power-of-two factor (64 to 4096): slots never straddle lines.
    align = min(4096, max(CACHE_LINE, stride_bytes & -stride_bytes))
    buffer = aligned_zeros(n * stride_bytes // dt.itemsize, dt, align)
    view = np.lib.stride_tricks.as_strided(buffer, shape=(n,), strides=(stride_bytes,))
    return buffer, view


def aligned_zeros(n: int, dtype: Any = np.int64, align: int = CACHE_PAD) -> np.ndarray:
    """A zeroed 1-D array of ``n`` items whose first byte sits on an ``align``-byte boundary.

    Args:
        n: number of items (>= 0).
        dtype: item type.
        align: a power of two (bytes).
    Returns:
        The array (a view into a slightly larger allocation, which it keeps alive).
    Raises:
        ValueError: ``align`` not a power of two or ``n`` negative.
    Example:
        >>> aligned_zeros(3, np.int64, 128).ctypes.data % 128
        0
    """
    dt = np.dtype(dtype)
    if int(align) != align or align < 1 or align & (align - 1):
        raise ValueError(f"align must be a power of two, got {align!r}")
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    nbytes = int(n) * dt.itemsize
    raw = np.zeros(nbytes + int(align), np.uint8)
    start = (-raw.ctypes.data) % int(align)
    return raw[start:start + nbytes].view(dt)


# ----------------------------------------------------------------------------- kernels
@njit(nogil=True, cache=True)
def bump_rmw(buf, i, n, peer, seen, t):
    """``n`` atomic ``fetch_add(buf[i], 1, Relaxed)``: each one a ``lock xadd`` on the line.

    Before and after the loop the kernel reads the counter of a peer thread (``buf[peer]``) into
    ``seen[2 * t]`` and ``seen[2 * t + 1]``: how far the peer got *during* our loop says whether
    the two really ran at the same time (see :func:`false_sharing_run`).
    """
    seen[2 * t] = load_unchecked(buf, peer, _X)  # Relaxed: a progress snapshot only
    for _ in range(n):
        # Relaxed: we want the memory traffic, not any ordering with other cells.
        fetch_add_unchecked(buf, i, 1, _X)
    seen[2 * t + 1] = load_unchecked(buf, peer, _X)
    return n


@njit(nogil=True, cache=True)
def bump_store(buf, i, n, peer, seen, t):
    """``n`` increments as a relaxed atomic load then store (not an atomic RMW: no ``lock``).

    Not an atomic increment (only this thread writes slot ``i``, so none is needed); the
    atomic load/store only forbid LLVM to keep the value in a register across iterations.
    ``peer``, ``seen``, ``t``: as :func:`bump_rmw`.
    """
    seen[2 * t] = load_unchecked(buf, peer, _X)
    for _ in range(n):
        # Relaxed: single writer per slot; atomic only so that every access reaches memory.
        store_unchecked(buf, i, load_unchecked(buf, i, _X) + 1, _X)
    seen[2 * t + 1] = load_unchecked(buf, peer, _X)
    return n


_KERNELS = {"rmw": bump_rmw, "store": bump_store}


def false_sharing_run(distance_bytes: int, n: int = 10_000_000, threads: int = 2,
                      mode: str = "rmw") -> tuple[float, float]:
    """Time ``threads`` threads each doing ``n`` increments of slots ``distance_bytes`` apart.

    On a busy machine (or one core) the threads may not really overlap, and then no line
    ping-pongs. So each thread also notes how far its neighbour's counter moved while it ran:
    ``overlap`` is the smallest such fraction (1.0: they ran side by side all along; about
    0.0: one after the other). Trust a run's time only when its overlap is high.

    Args:
        distance_bytes: bytes between two threads' counters (8: same line; >= 64: own lines).
        n: increments per thread.
        threads: Python threads running the ``nogil`` kernel at once.
        mode: ``"rmw"`` (atomic fetch_add) or ``"store"`` (relaxed load + store).
    Returns:
        ``(seconds, overlap)``: the wall time of the whole run, and the overlap fraction
        (1.0 for a single thread).
    Raises:
        ValueError: unknown mode, bad distance (see :func:`padded_slots`), ``n``/``threads`` < 1.
    Example:
        >>> seconds, overlap = false_sharing_run(8, n=1000)
    """
    if mode not in _KERNELS:
        raise ValueError(f"mode must be one of {sorted(_KERNELS)}, got {mode!r}")
    if n < 1 or threads < 1:
        raise ValueError(f"n and threads must be >= 1, got n={n!r}, threads={threads!r}")
    buf, _ = padded_slots(threads, np.int64, distance_bytes)
    step = distance_bytes // 8
    kernel = _KERNELS[mode]
    seen = np.zeros(2 * threads, np.int64)
    kernel(buf, 0, 1, 0, seen, 0)  # compile outside the timed run
    buf[:] = 0
    seconds = run_on_threads(kernel, [(buf, t * step, n, ((t + 1) % threads) * step, seen, t)
                                      for t in range(threads)])
    got = [int(buf[t * step]) for t in range(threads)]
    if got != [n] * threads:
        raise AssertionError(f"slots ended at {got}, expected {n} each")
    overlap = 1.0 if threads == 1 else float(np.min(seen[1::2] - seen[0::2]) / n)
    return seconds, overlap


@dataclass(frozen=True)
class FalseSharingCurve:
    """Seconds per run against distance, with how much the threads overlapped.

    Attributes:
        distances: bytes between neighbouring threads' slots.
        seconds: one row per round, one column per distance.
        overlap: same shape: the overlap fraction of each kept run (see :func:`false_sharing_run`).
        solo: seconds of one thread alone doing ``n`` increments, one per round.
        n, threads, mode: the parameters of every run.
    """

    distances: tuple[int, ...]
    seconds: np.ndarray
    overlap: np.ndarray
    solo: np.ndarray
    n: int
    threads: int
    mode: str

    @property
    def median(self) -> np.ndarray:
        """Median seconds per distance over the rounds."""
        return np.median(self.seconds, axis=0)

    @property
    def throughput(self) -> np.ndarray:
        """Increments per second (all threads together), per distance."""
        return self.n * self.threads / self.median

    @property
    def parallel(self) -> bool:
        """True if the threads really ran side by side: they overlapped (>= 0.8) and, on the
        widest distance, all of them together took at most 1.5x one thread alone."""
        far = float(self.median[-1])
        return bool(np.median(self.overlap) >= 0.8 and far <= 1.5 * float(np.median(self.solo)))

    def ratio(self, near: int = 8, far: int = CACHE_PAD) -> float:
        """How many times slower slots ``near`` bytes apart are than slots ``far`` apart."""
        d = list(self.distances)
        return float(self.median[d.index(near)] / self.median[d.index(far)])


def false_sharing_curve(distances: Sequence[int] = (8, 16, 32, 64, 128, 256),
                        n: int = 10_000_000, threads: int = 2, mode: str = "rmw",
                        rounds: int = 3, attempts: int = 4) -> FalseSharingCurve:
    """Measure :func:`false_sharing_run` for each distance, interleaved over ``rounds`` rounds.

    Interleaving (every distance once per round) lets a noisy phase of the machine hit all
    distances alike. A run whose threads overlapped less than 80% (another program had a core)
    is repeated, up to ``attempts`` times, keeping the best-overlapping one.

    Args:
        distances: bytes between slots; multiples of 8.
        n, threads, mode: as :func:`false_sharing_run`.
        rounds: repetitions; the curve reports the median.
        attempts: tries per point to get an overlapping run.
    Returns:
        A :class:`FalseSharingCurve` (check ``.parallel``: on one free core it is False).
    Example:
        >>> c = false_sharing_curve((8, 128), n=10_000, rounds=1)
        >>> c.seconds.shape
        (1, 2)
    """
    table = np.empty((rounds, len(distances)))
    overlap = np.empty_like(table)
    solo = np.empty(rounds)
    for r in range(rounds):
        solo[r] = false_sharing_run(max(distances), n, 1, mode)[0]
        for j, d in enumerate(distances):
            best = (0.0, -1.0)
            for _ in range(max(1, attempts)):
                seconds, ov = false_sharing_run(d, n, threads, mode)
                if ov > best[1]:
                    best = (seconds, ov)
                if ov >= 0.8:
                    break
            table[r, j], overlap[r, j] = best
    return FalseSharingCurve(tuple(int(d) for d in distances), table, overlap, solo, n, threads,
                             mode)


def plot_false_sharing(curve: FalseSharingCurve, ax: Optional[Any] = None) -> Any:
    """Plot increments per second against the distance between per-thread slots.

    Args:
        curve: from :func:`false_sharing_curve`.
        ax: a matplotlib Axes to draw on (default: a new figure).
    Returns:
        The Axes.
    Example:
        >>> plot_false_sharing(false_sharing_curve((8, 128), n=10_000, rounds=1))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.6))
    x = np.array(curve.distances)
    per_round = curve.n * curve.threads / curve.seconds / 1e6
    ax.plot(x, curve.throughput / 1e6, "o-", label="median")
    for row in per_round:
        ax.plot(x, row, ".", color="grey", alpha=0.5)
    ax.axvline(CACHE_LINE, ls="--", color="k", lw=0.8)
    ax.text(CACHE_LINE, ax.get_ylim()[1] * 0.95, " one cache line", va="top", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [str(d) for d in x])
    ax.set_xlabel("bytes between the threads' counters")
    ax.set_ylabel("million increments / s (all threads)")
    ax.set_title(f"False sharing: {curve.threads} threads, {curve.mode} increments")
    ax.legend()
    return ax


def false_sharing_asm(mode: str = "rmw") -> list[str]:
    """The loop's machine code, to check that every increment really touches memory.

    Args:
        mode: ``"rmw"`` (expect ``lock xadd``/``lock inc``) or ``"store"`` (expect a memory
            operand in the loop, e.g. ``incq (%rdx,%rcx,8)``, not a register-only increment).
    Returns:
        The assembly lines that access memory through the buffer (or the atomic ones).
    Example:
        >>> any("lock" in line for line in false_sharing_asm("rmw"))  # doctest: +SKIP
        True
    """
    import numba

    from course_lib.atomics import show_asm

    if mode not in _KERNELS:
        raise ValueError(f"mode must be one of {sorted(_KERNELS)}, got {mode!r}")
    sig = (numba.int64[::1], numba.int64, numba.int64, numba.int64, numba.int64[::1],
           numba.int64)
    grep = "auto" if mode == "rmw" else r"\b(mov|inc|add)q?\b.*\("
    return show_asm(_KERNELS[mode], sig, grep=grep)
