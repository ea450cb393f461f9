"""numba kernels for the chapter on parallel iterators: ``prange`` maps, sums and histograms.

Each kernel comes in named stages, so that the notebook can time and compare them:

1. ``map_sequential`` / ``map_prange``: the same element-wise function over an array; with
   ``parallel=True``, numba splits the ``prange`` iterations into one contiguous block per thread
   (static scheduling) and runs the blocks on its own thread pool (the OpenMP/TBB/workqueue
   "threading layer").
2. ``sum_sequential`` / ``sum_prange``: ``s += x[i]`` in a ``prange`` is recognised as a
   *reduction*: each thread adds into a private copy of ``s`` and numba combines the copies.
3. Histograms of integers in ``[0, nbins)``:
   ``histogram_racy`` increments a shared array from every thread (``hist[x[i]] += 1`` is a
   load, an add and a store; two threads that load the same bin at once lose one increment).
   The index depends on the data, so the compiler can neither privatise nor fold the updates:
   the race is real. ``histogram_thread_partials`` gives each thread its own row
   (``numba.get_thread_id()``) and adds the rows at the end; ``histogram_chunk_partials`` splits
   the data into as many chunks as threads, counts each chunk into its own row and adds the rows.
4. ``spin`` / ``spin_prange``: pure compute (xorshift rounds, the numba twin of
   ``course_lib._c._work.lib.cw_spin``) for speedup measurements.

Source:
    numba documentation, "Automatic parallelization with @jit" (prange, supported reductions,
    race conditions) and "Thread masking / get_thread_id"; Marsaglia, "Xorshift RNGs", 2003.

Thread-safety: all kernels are ``nogil``; never call ``parallel=True`` kernels from several
Python threads at once (numba's workqueue layer aborts on it). ``histogram_racy`` is wrong on
purpose. No atomics are used: the correct histograms write only thread-private rows, and numba's
fork-join at the end of a ``prange`` orders those writes before the final sum reads them.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

__all__ = ["map_sequential", "map_prange", "sum_sequential", "sum_prange", "histogram_sequential",
           "histogram_racy", "histogram_thread_partials", "histogram_chunk_partials", "spin",
           "spin_prange"]


# ---------------------------------------------------------------------------- map
@numba.njit(nogil=True, cache=True, inline="always")
def _f(v):
    """A compute-heavy element function (a few transcendental calls)."""
    return math.sqrt(abs(v)) * math.sin(v) + math.cos(v) * math.exp(-v * v)


@numba.njit(nogil=True, cache=True)
def _map_seq(x, out):
    for i in range(x.shape[0]):
        out[i] = _f(x[i])


@numba.njit(nogil=True, cache=True, parallel=True)
def _map_par(x, out):
    for i in prange(x.shape[0]):
        out[i] = _f(x[i])


def _as_1d_float(x, who):
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{who} needs a 1-D array, got shape {a.shape}")
    return a


def map_sequential(x) -> np.ndarray:
    """``sqrt(|v|) * sin(v) + cos(v) * exp(-v^2)`` for every ``v`` in ``x``, on one thread.

    Args:
        x: 1-D array-like of numbers (converted to float64).

    Returns:
        A new float64 array.

    Raises:
        ValueError: if ``x`` is not 1-D.

    Example:
        >>> float(map_sequential([0.0])[0])
        1.0
    """
    a = _as_1d_float(x, "map_sequential")
    out = np.empty_like(a)
    _map_seq(a, out)
    return out


def map_prange(x) -> np.ndarray:
    """Same as :func:`map_sequential`, with the loop split over numba's threads (``prange``).

    Example:
        >>> np.allclose(map_prange(np.arange(5.0)), map_sequential(np.arange(5.0)))
        True
    """
    a = _as_1d_float(x, "map_prange")
    out = np.empty_like(a)
    _map_par(a, out)
    return out


# ---------------------------------------------------------------------------- sum
@numba.njit(nogil=True, cache=True)
def sum_sequential(x):
    """Sum of a 1-D float array, left to right, on one thread.

    Example:
        >>> sum_sequential(np.ones(4))
        4.0
    """
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i]
    return s


@numba.njit(nogil=True, cache=True, parallel=True)
def sum_prange(x):
    """Sum of a 1-D float array: ``prange`` with ``+=`` is a reduction (private partial sums).

    Example:
        >>> sum_prange(np.ones(4))
        4.0
    """
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i]
    return s


# ---------------------------------------------------------------------------- histograms
@numba.njit(nogil=True, cache=True)
def _hist_seq(data, nbins):
    hist = np.zeros(nbins, np.int64)
    for i in range(data.shape[0]):
        hist[data[i]] += 1
    return hist


@numba.njit(nogil=True, cache=True, parallel=True)
def _hist_racy(data, nbins):
    hist = np.zeros(nbins, np.int64)
    for i in prange(data.shape[0]):
        hist[data[i]] += 1  # RACE: load, add, store on a bin another thread may be updating
    return hist


# not cache=True: get_thread_id is a ctypes-backed global, which numba cannot cache
@numba.njit(nogil=True, parallel=True)
def _hist_thread(data, nbins):
    threads = numba.get_num_threads()
    partial = np.zeros((threads, nbins), np.int64)
    for i in prange(data.shape[0]):
        partial[numba.get_thread_id(), data[i]] += 1  # each thread writes only its own row
    hist = np.zeros(nbins, np.int64)
    for t in range(threads):
        for b in range(nbins):
            hist[b] += partial[t, b]
    return hist


# not cache=True: get_num_threads is a ctypes-backed global, which numba cannot cache
@numba.njit(nogil=True, parallel=True)
def _hist_chunk(data, nbins):
    n = data.shape[0]
    chunks = numba.get_num_threads()
    size = (n + chunks - 1) // chunks
    partial = np.zeros((chunks, nbins), np.int64)
    for c in prange(chunks):
        for i in range(c * size, min(n, (c + 1) * size)):
            partial[c, data[i]] += 1  # chunk c is counted by one iteration only: no sharing
    hist = np.zeros(nbins, np.int64)
    for c in range(chunks):
        for b in range(nbins):
            hist[b] += partial[c, b]
    return hist


def _check_hist_args(data, nbins, who):
    if isinstance(nbins, bool) or not isinstance(nbins, (int, np.integer)):
        raise TypeError(f"{who}: nbins must be an int, got {type(nbins).__name__}")
    if nbins < 1:
        raise ValueError(f"{who}: nbins must be at least 1, got {nbins}")
    a = np.asarray(data)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise TypeError(f"{who}: data must be a 1-D integer array, got {a.dtype} of shape {a.shape}")
    if a.size and (a.min() < 0 or a.max() >= nbins):
        raise ValueError(f"{who}: values must lie in [0, {nbins}), got min {a.min()} max {a.max()}")
    return np.ascontiguousarray(a, dtype=np.int64), int(nbins)


def histogram_sequential(data, nbins: int) -> np.ndarray:
    """Count each value of ``data`` (integers in ``[0, nbins)``), on one thread.

    Args:
        data: 1-D integer array.
        nbins: number of bins.

    Returns:
        int64 array of ``nbins`` counts, equal to ``np.bincount(data, minlength=nbins)``.

    Raises:
        TypeError: if ``data`` is not a 1-D integer array or ``nbins`` not an int.
        ValueError: if ``nbins`` < 1 or a value is outside ``[0, nbins)``.

    Example:
        >>> histogram_sequential(np.array([0, 2, 2]), 3).tolist()
        [1, 0, 2]
    """
    return _hist_seq(*_check_hist_args(data, nbins, "histogram_sequential"))


def histogram_racy(data, nbins: int) -> np.ndarray:
    """A WRONG parallel histogram: all threads increment one shared array (loses counts).

    Example:
        >>> int(histogram_racy(np.zeros(10, np.int64), 1).sum()) <= 10
        True
    """
    return _hist_racy(*_check_hist_args(data, nbins, "histogram_racy"))


def histogram_thread_partials(data, nbins: int) -> np.ndarray:
    """Parallel histogram: one private row per thread (``get_thread_id``), summed at the end.

    Example:
        >>> histogram_thread_partials(np.array([1, 1, 0]), 2).tolist()
        [1, 2]
    """
    return _hist_thread(*_check_hist_args(data, nbins, "histogram_thread_partials"))


def histogram_chunk_partials(data, nbins: int) -> np.ndarray:
    """Parallel histogram: one chunk of the data per thread, counted privately, then summed.

    Example:
        >>> histogram_chunk_partials(np.array([1, 1, 0]), 2).tolist()
        [1, 2]
    """
    return _hist_chunk(*_check_hist_args(data, nbins, "histogram_chunk_partials"))


# ---------------------------------------------------------------------------- pure compute
@numba.njit(nogil=True, cache=True)
def spin(iterations, seed):
    """``iterations`` xorshift64 rounds from ``seed`` (same result as ``cw_spin``).

    Example:
        >>> spin(0, 4)
        4
    """
    x = np.uint64(seed) if seed != 0 else np.uint64(1)  # 0 is xorshift's fixed point
    for _ in range(iterations):
        x ^= x << np.uint64(13)
        x ^= x >> np.uint64(7)
        x ^= x << np.uint64(17)
    return x


@numba.njit(nogil=True, cache=True, parallel=True)
def spin_prange(iterations, tasks):
    """Run ``spin(iterations, t)`` for ``t`` in ``range(tasks)`` over numba's threads.

    Returns:
        uint64 array of the ``tasks`` results.

    Example:
        >>> int(spin_prange(0, 2)[1])
        1
    """
    out = np.empty(tasks, np.uint64)
    for t in prange(tasks):
        out[t] = spin(iterations, t)
    return out
