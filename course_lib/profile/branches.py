"""Sorted versus shuffled: the same instructions, several times the time.

:func:`keep_large` copies the elements ``>= threshold`` of an array to the front of ``out``
(a filter, or *stream compaction*). Whether element ``i`` is copied decides whether ``j`` moves
on, so the compiler keeps a real branch. On sorted data the branch goes the same way for half a
million elements in a row and the predictor is always right; on shuffled data it is a coin toss,
and every wrong guess throws away the work the core did speculatively (15 to 20 cycles).

Two ways to see it, whatever the machine has:

* hardware counters (:func:`course_lib.profile.counters.counters`: ``branches`` and
  ``branch-misses``), where the CPU and OS allow them;
* callgrind's branch simulator (:func:`course_lib.profile.instructions.instructions` with
  ``branch_sim=True``): a model of a predictor, deterministic, on every Linux with valgrind.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from course_lib.config import pick

__all__ = ["keep_large", "data", "sorted_vs_shuffled", "simulated_branches", "THRESHOLD"]

#: Half of the values (0..255) are at or above it.
THRESHOLD = 128


@njit(cache=True)
def keep_large(x, out, threshold):
    """Copy the ``x[i] >= threshold`` to ``out[0:k]`` in order; return ``k``."""
    j = 0
    for i in range(x.shape[0]):
        if x[i] >= threshold:
            out[j] = x[i]
            j += 1
    return j


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(shuffled, sorted)``: the same ``n`` int64 values in 0..255, two orders."""
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    x = np.random.default_rng(seed).integers(0, 256, n).astype(np.int64)
    return x, np.sort(x)


def sorted_vs_shuffled(n: int | None = None, repeats: int = 5) -> dict[str, float]:
    """ns per element of :func:`keep_large` on sorted and on shuffled data (best of
    ``repeats``, one run), and their ratio."""
    from course_lib.memory.layout import best_seconds

    n = int(n or pick(4_000_000, 1_000_000))
    shuffled, ordered = data(n)
    out = np.empty_like(shuffled)
    t_sorted = best_seconds(lambda: keep_large(ordered, out, THRESHOLD), repeats)
    t_shuffled = best_seconds(lambda: keep_large(shuffled, out, THRESHOLD), repeats)
    return {"n": n, "sorted_ns": t_sorted / n * 1e9, "shuffled_ns": t_shuffled / n * 1e9,
            "ratio": t_shuffled / t_sorted}


def simulated_branches(n: int = 20_000, timeout: float = 180.0) -> dict[str, object]:
    """Callgrind's counts for :func:`keep_large` on both orders: instructions, conditional
    branches, and the branches its simulated predictor missed.

    Returns:
        ``{"sorted": InstructionCount, "shuffled": InstructionCount}``; each has ``count``,
        ``branches``, ``branch_misses`` and ``branch_miss_rate`` (None, with ``reason``, where
        callgrind is not available).
    """
    from course_lib.profile.instructions import instructions

    return {order: instructions(_call_for, order, int(n), branch_sim=True, timeout=timeout)
            for order in ("sorted", "shuffled")}


def _call_for(order: str, n: int) -> int:
    """The counted call: :func:`keep_large` on one order. The data are made on the first
    (uncounted, warm-up) call and kept, so the count is the kernel's."""
    key = (order, n)
    if key not in _CACHE:
        shuffled, ordered = data(n)
        _CACHE[key] = shuffled if order == "shuffled" else ordered
    x = _CACHE[key]
    return keep_large(x, np.empty_like(x), THRESHOLD)


_CACHE: dict[tuple[str, int], np.ndarray] = {}
