"""In-place parallel sort: one leaf per thread with the fastest sequential sort, then merges.

The algorithm (a merge sort with few, big leaves, as Rayon's ``par_sort`` and most parallel sorts
that sit on a good sequential sort do):

1. Cut the array into one contiguous leaf per thread of the pool and sort all the leaves at the
   same time, one task per leaf. A leaf is sorted by the fastest sequential sort this machine
   has for the dtype, chosen once per dtype and process by timing both on one thread on 2**20
   random items (:func:`leaf_sort_for`, :func:`leaf_sort_times`; arrays under 2**18 items
   skip the timing and use NumPy's):

   * ``ndarray.sort`` (NumPy's introsort, or its SIMD quicksort from x86-simd-sort where the CPU
     has AVX2 or AVX-512): NumPy releases the GIL while it sorts a numeric array (the sort is
     run between ``NPY_BEGIN_THREADS_DESCR`` and ``NPY_END_THREADS_DESCR`` in NumPy's
     ``item_selection.c``), so the leaves really run at the same time;
   * a numba LSD radix sort (``nogil``): the items' bits, reinterpreted as unsigned integers
     whose order is the value order (signed ints: sign bit flipped; floats: every bit flipped if
     negative, else the sign bit set; NaN: all ones, so last), scattered one byte at a time,
     skipping a byte that is the same in every key. It wins where NumPy's sort is slow: on AMD
     Zen 4, x86-simd-sort's AVX-512 partition stores with ``vcompresspd`` to memory, which Zen 4
     runs in microcode (AMD's Zen 4 optimisation guide says to avoid it; numpy/x86-simd-sort
     issue 6), and NumPy dispatches to it anyway.

2. Merge the sorted leaves pairwise, level by level (``ceil(log2(leaves))`` levels), between the
   array and a scratch buffer of the same size, so that no level copies back: leaves are sorted
   in place if the number of levels is even, else copied into the buffer and sorted there.
   Every level is split into equal shares of the *output*, a few per thread: the share of
   outputs ``[k0, k1)`` of a merge of runs ``A`` and ``B`` takes the items ``A[i0:i1]`` and
   ``B[k0 - i0:k1 - i1]``, where the *co-rank* ``i = corank(k)`` (how many of the first ``k``
   outputs come from ``A``) is found by a binary search for the largest ``i`` with
   ``A[i - 1] <= B[k - i]`` (the merge-path partition). Each share is merged by a branch-free
   numba kernel (``nogil``) without any coordination with the other shares; inside it, the share
   is cut the same way into four quarters merged in one loop, so that the core overlaps four
   independent dependency chains (3.5x faster than one merge loop here: about 1 ns per item).

3. NaN: after step 1 each run is "numbers, then NaNs" (NumPy and the radix sort both put NaN
   last). The merges compare only the numbers, with a plain ``<``, and append both runs' NaNs
   after them, so a merged run has the same shape and the result has NaN where ``np.sort``
   puts it, at the end.

With one thread (or a small array) the whole array is one leaf: ``par_sort`` is the leaf sort.

Where the gain comes from, honestly. On ``p`` threads the leaves cost about ``1/p`` of a
sequential sort (a bit less: ``log(n/p) < log n`` comparisons per item), if the cores do not
wait on a shared resource; the merges then add ``log2(p)`` passes over the array that a single
sort does not do, each reading and writing every item once. A merge pass is bound by memory
bandwidth, which the cores share, so it does not get ``p`` times faster with ``p`` cores. The
speedup over the sequential sort therefore depends on the ratio of the two: a slow sequential
sort (a comparison sort at ~50-100 ns per item) leaves room for close to ``p``; a fast one (a
SIMD sort at ~5-20 ns per item, or a radix sort that is itself memory-bound) gains less, and
from about 8-16 cores the merge levels, not the leaves, set the time. Measure it on your machine:
``python -m benchmarks par`` prints ``np.sort / par_sort`` on 1 and 2 threads for three dtypes.

Measured on a quiet 2-core AMD EPYC (Zen 4), NumPy 2.4, 10 million items, random or nearly
sorted, the copy of the input included on both sides. ``np.sort`` runs its AVX-512 sort at
~65 ns per item (float64: 665 ms); the radix leaves win, and ``par_sort`` is 3.3-4.9x faster on
1 thread and 6.3-8.1x on 2 (float64, float32, int64). With NumPy's AVX-512 paths switched off
(``NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"``) its AVX2 sort takes 108 ms for
float64, the leaves are NumPy's, and ``par_sort`` is 1.0x on 1 thread and 1.48-1.62x on 2: the
two 5-million-item leaves take ~60 ms side by side (one alone 55 ms: 48 ms of sorting, the rest
copying it into the fresh buffer; side by side they share the memory bus), the merge ~6 ms.

Results: equal to ``np.sort(array)`` item by item under NumPy's own order (``-0.0 == 0.0``, NaN
last). With NumPy leaves the numbers are ``np.sort``'s bit for bit, except that ``-0.0`` and
``0.0`` may come in another order (``np.sort`` is not stable either), and the NaNs are the ones
``np.sort`` writes (its SIMD sorts write the default quiet NaN, its scalar sort keeps payloads).
With radix leaves ``-0.0`` sorts before ``0.0`` and every NaN comes back as the quiet NaN with all
mantissa bits set. Neither is a stable sort, and no earlier version promised one (for numbers it
shows only in ``-0.0``/``0.0`` and in NaN payloads).

Source:
    Odeh, Green, Mwassi, Shmueli and Birk, "Merge Path - Parallel Merging Made Simple", IPDPS
    workshops 2012 (the co-rank split); Cormen, Leiserson, Rivest and Stein, *Introduction to
    Algorithms* (3rd ed.), section 27.3 (parallel merge sort); Knuth, *TAOCP* vol. 3, 5.2.5
    (radix sorting); Michael Herf, "Radix Tricks" (2001), for the float key transform; Rayon's
    ``slice::par_sort`` (design, not code).

Thread-safety: the tasks of one level write disjoint ranges of one array and read ranges of the
other that no task of the level writes; a level starts after the ``join`` tree of the previous one
has returned (``join`` orders the writes of both sides before its return, the GIL handing over
being a full barrier). Calibration results are cached in a dict that several threads may fill at
once (harmless: they store the same kind of answer).
"""
from __future__ import annotations

import time

import numba
import numpy as np

from course_lib.par.pool import _tls, global_pool, join

__all__ = ["par_sort", "leaf_sort_for", "leaf_sort_times"]

_MIN_LEAF = 1 << 16       # items: a leaf smaller than this costs more in tasks than it saves
_RADIX_MIN = 256          # below this numba's quicksort beats the radix sort's 256-bucket passes
_CALIBRATE_FROM = 1 << 18  # arrays this long choose their leaf sort by measurement; shorter: NumPy
_CALIBRATION_N = 1 << 20  # items in the calibration sample
_SHARES_PER_THREAD = 4    # merge shares per thread and level (spare shares absorb a slow core)
_RADIX_EDGE = 0.8         # radix leaves only if they took under 0.8x NumPy's time (leaf_sort_for)

_FORCE_LEAF: str | None = None  # "numpy" or "radix": tests and benchmarks pin the leaf sort here
_leaf_times: dict[str, dict[str, float]] = {}  # dtype.str -> {"numpy": s, "radix": s}


# ---------------------------------------------------------------------------- radix sort
# The kernels take the leaf's own views (``u = keys[lo:hi]``) and loop over ``range(n)``: numba
# then knows every index is >= 0, and leaves out the negative-index wraparound code that would
# otherwise stop the simple loops from being vectorised (a copy ran 4x slower with it).
@numba.njit(nogil=True, cache=True)
def _to_keys(u, kind, sign, expmask, ones):
    """Rewrite ``u`` (an unsigned view) as keys whose unsigned order is the value order.

    kind 0: unsigned ints (nothing to do); 1: signed ints (flip the sign bit, so negatives come
    first); 2: floats (NaN of either sign -> all ones, i.e. last; negatives -> all bits flipped,
    which reverses their order; others -> sign bit set, above every negative).
    """
    if kind == 1:
        for i in range(u.shape[0]):
            u[i] = u[i] ^ sign
    elif kind == 2:
        for i in range(u.shape[0]):
            k = u[i]
            if (k & ~sign) > expmask:
                u[i] = ones
            elif k & sign:
                u[i] = ~k
            else:
                u[i] = k | sign


@numba.njit(nogil=True, cache=True)
def _from_keys(src, dst, kind, sign):
    """``dst`` = the values of keys ``src`` (undoes :func:`_to_keys`; ``dst`` may be ``src``).

    A NaN comes back as the quiet NaN with all mantissa bits set.
    """
    if kind == 1:
        for i in range(src.shape[0]):
            dst[i] = src[i] ^ sign
    elif kind == 2:
        for i in range(src.shape[0]):
            k = src[i]
            dst[i] = k & ~sign if k & sign else ~k
    else:
        for i in range(src.shape[0]):
            dst[i] = src[i]


def _key_params(dtype: np.dtype):
    """(unsigned view dtype, kind, sign bit, exponent mask, all ones) for an int or float dtype.

    For floats, a value whose bits without the sign exceed the exponent mask is a NaN.
    """
    bits = 8 * dtype.itemsize
    udt = np.dtype(f"u{dtype.itemsize}")
    sign, ones = udt.type(1 << (bits - 1)), udt.type((1 << bits) - 1)
    if dtype.kind == "f":
        mantissa = {4: 23, 8: 52}[dtype.itemsize]
        return udt, 2, sign, udt.type(int(sign) - (1 << mantissa)), ones
    return udt, (1 if dtype.kind == "i" else 0), sign, udt.type(0), ones


@numba.njit(nogil=True, cache=True)
def _radix_sort(u, tmp, nbytes):
    """Sort the keys ``u`` (LSD radix by bytes, ``tmp`` of the same length as scratch).

    One pass counts every byte of every key; then one stable scatter per byte, skipping a byte
    that is the same in every key (the pass would move nothing).

    Returns:
        True if the sorted keys ended in ``tmp``, False if in ``u``.
    """
    n = u.shape[0]
    if n < _RADIX_MIN:
        u.sort()
        return False
    counts = np.zeros((nbytes, 256), np.int64)
    for i in range(n):
        k = u[i]
        for b in range(nbytes):
            counts[b, (k >> np.uint64(8 * b)) & np.uint64(255)] += 1
    src, dst = u, tmp
    in_tmp = False
    offsets = np.empty(256, np.uint64)  # unsigned: the scatter's store needs no wraparound check
    for b in range(nbytes):
        if counts[b].max() == n:
            continue
        total = 0
        for d in range(256):
            offsets[d] = total
            total += counts[b, d]
        shift = np.uint64(8 * b)
        for i in range(n):
            k = src[i]
            d = (k >> shift) & np.uint64(255)
            dst[offsets[d]] = k
            offsets[d] += np.uint64(1)
        src, dst = dst, src
        in_tmp = not in_tmp
    return in_tmp


def _radix_leaf(a: np.ndarray, b: np.ndarray, lo: int, hi: int, into_b: bool) -> None:
    """Sort ``a[lo:hi]`` by radix (``b[lo:hi]`` as scratch); the values end in ``b`` if
    ``into_b``, else in ``a``."""
    udt, kind, sign, expmask, ones = _key_params(a.dtype)
    ka, kb = a[lo:hi].view(udt), b[lo:hi].view(udt)
    _to_keys(ka, kind, sign, expmask, ones)
    in_b = _radix_sort(ka, kb, a.dtype.itemsize)
    _from_keys(kb if in_b else ka, kb if into_b else ka, kind, sign)  # and copies, if need be


# ---------------------------------------------------------------------------- merge kernels
@numba.njit(nogil=True, cache=True)
def _copy(src, dst, lo, hi, d):
    """``dst[d:d + hi - lo] = src[lo:hi]`` (without the GIL; a slice copy, vectorised)."""
    dst[d:d + hi - lo] = src[lo:hi]


@numba.njit(nogil=True, cache=True)
def _first_nan(a, lo, hi):
    """Index of the first NaN in ``a[lo:hi]``, sorted with NaN last (``hi`` if there is none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] != a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(nogil=True, cache=True)
def _co_rank(src, a0, m, b0, l, k):
    """How many of the first ``k`` outputs of merging ``A = src[a0:a0+m]`` and ``B = src[b0:b0+l]``
    come from ``A`` (ties go to ``A``): the largest ``i`` with ``A[i - 1] <= B[k - i]``."""
    lo = k - l if k > l else 0
    hi = k if k < m else m
    while lo < hi:
        i = (lo + hi + 1) >> 1  # i >= 1 and k - i < l, so both reads are in range
        if src[a0 + i - 1] <= src[b0 + k - i]:
            lo = i
        else:
            hi = i - 1
    return lo


_ONE = np.uint64(1)


@numba.njit(nogil=True, cache=True, inline="always")
def _merge_step(src, dst, i, j, d):
    """One output of a merge: the smaller of ``src[i]`` and ``src[j]`` (``src[i]`` on a tie).

    Branch-free: which side advances is data, not control flow, so there is no mispredicted
    branch (~15 cycles) per item on random input. Unsigned indices spare numba's negative-index
    wraparound code.
    """
    x = src[i]
    y = src[j]
    right = y < x
    dst[d] = y if right else x
    t = np.uint64(right)
    return i + (_ONE - t), j + t, d + _ONE


@numba.njit(nogil=True, cache=True, inline="always")
def _merge_run(src, i, ie, j, je, dst, d):
    """Merge sorted ``src[i:ie]`` and ``src[j:je]`` into ``dst[d:...]`` (unsigned indices)."""
    while i < ie and j < je:
        i, j, d = _merge_step(src, dst, i, j, d)
    while i < ie:
        dst[d] = src[i]
        i += _ONE
        d += _ONE
    while j < je:
        dst[d] = src[j]
        j += _ONE
        d += _ONE


@numba.njit(nogil=True, cache=True)
def _merge_share(src, a0, a1, b0, b1, dst, d0, k0, k1):
    """Write outputs ``[k0, k1)`` of the merge of sorted ``src[a0:a1]`` and ``src[b0:b1]`` to
    ``dst[d0 + k0:d0 + k1]``.

    The share is cut again by co-rank into four quarters merged in one loop, one step of each
    per round: a merge step depends on the one before (which item was taken decides the next
    load), so a single merge runs at the latency of that chain (~3.5 ns per item here); four
    independent chains let the core overlap them, until memory bandwidth is the limit.
    """
    m, l = a1 - a0, b1 - b0
    c0 = _co_rank(src, a0, m, b0, l, k0)
    q1 = k0 + (k1 - k0) // 4
    q2 = k0 + (k1 - k0) // 2
    q3 = k0 + 3 * (k1 - k0) // 4
    c1 = _co_rank(src, a0, m, b0, l, q1)
    c2 = _co_rank(src, a0, m, b0, l, q2)
    c3 = _co_rank(src, a0, m, b0, l, q3)
    c4 = _co_rank(src, a0, m, b0, l, k1)
    u = np.uint64
    i1, e1, j1, f1, d1 = u(a0 + c0), u(a0 + c1), u(b0 + k0 - c0), u(b0 + q1 - c1), u(d0 + k0)
    i2, e2, j2, f2, d2 = u(a0 + c1), u(a0 + c2), u(b0 + q1 - c1), u(b0 + q2 - c2), u(d0 + q1)
    i3, e3, j3, f3, d3 = u(a0 + c2), u(a0 + c3), u(b0 + q2 - c2), u(b0 + q3 - c3), u(d0 + q2)
    i4, e4, j4, f4, d4 = u(a0 + c3), u(a0 + c4), u(b0 + q3 - c3), u(b0 + k1 - c4), u(d0 + q3)
    while (i1 < e1 and j1 < f1 and i2 < e2 and j2 < f2 and i3 < e3 and j3 < f3
           and i4 < e4 and j4 < f4):
        i1, j1, d1 = _merge_step(src, dst, i1, j1, d1)
        i2, j2, d2 = _merge_step(src, dst, i2, j2, d2)
        i3, j3, d3 = _merge_step(src, dst, i3, j3, d3)
        i4, j4, d4 = _merge_step(src, dst, i4, j4, d4)
    _merge_run(src, i1, e1, j1, f1, dst, d1)  # one quarter ran out: finish each on its own
    _merge_run(src, i2, e2, j2, f2, dst, d2)
    _merge_run(src, i3, e3, j3, f3, dst, d3)
    _merge_run(src, i4, e4, j4, f4, dst, d4)


# ---------------------------------------------------------------------------- choosing the leaf
def _numpy_leaf(a: np.ndarray, b: np.ndarray, lo: int, hi: int, into_b: bool) -> None:
    """Sort ``a[lo:hi]`` with ``ndarray.sort`` (GIL released); the values end in ``b`` if
    ``into_b``, else in ``a``."""
    if into_b:
        _copy(a, b, lo, hi, lo)
        b[lo:hi].sort()
    else:
        a[lo:hi].sort()


_LEAVES = {"numpy": _numpy_leaf, "radix": _radix_leaf}


def leaf_sort_for(dtype) -> str:
    """The sequential sort ``par_sort`` uses for the leaves of a dtype: ``"numpy"`` or ``"radix"``.

    Chosen once per dtype and process by timing both on one thread (:func:`leaf_sort_times`).
    The radix sort must win that timing by 20% (``_RADIX_EDGE``): its cost per item grows a
    little more than NumPy's from the 2**20-item sample to real leaves sorted at once (its
    scatter passes leave the caches and share the memory bandwidth; measured here, 1.34x from
    2**20 items alone to 5 million on each of 2 cores, against 1.29x for NumPy's AVX2 sort), a
    timing on a busy machine is noisy, and on a near tie NumPy's own sort, the one a learner
    compares with, is the better default.

    Args:
        dtype: an integer or float dtype (anything ``np.dtype`` accepts).

    Returns:
        ``"numpy"`` (``ndarray.sort``) or ``"radix"`` (the numba LSD radix sort).

    Example:
        >>> leaf_sort_for(np.float64) in ("numpy", "radix")
        True
    """
    if _FORCE_LEAF is not None:
        return _FORCE_LEAF
    times = leaf_sort_times(dtype)
    return "radix" if times["radix"] < _RADIX_EDGE * times["numpy"] else "numpy"


def leaf_sort_times(dtype) -> dict[str, float]:
    """Seconds each leaf sort took on 2**20 random items of ``dtype`` (best of 3, alternated).

    Measured on the first call for a dtype, then cached for the process.

    Example:
        >>> sorted(leaf_sort_times("int64"))
        ['numpy', 'radix']
    """
    dtype = np.dtype(dtype)
    found = _leaf_times.get(dtype.str)
    if found is None:
        found = _leaf_times[dtype.str] = _calibrate(dtype)
    return dict(found)


def _calibrate(dtype: np.dtype) -> dict[str, float]:
    rng = np.random.default_rng(12345)
    if dtype.kind == "f":
        sample = rng.standard_normal(_CALIBRATION_N).astype(dtype)
    else:
        info = np.iinfo(dtype)
        sample = rng.integers(info.min, info.max, _CALIBRATION_N, dtype=dtype, endpoint=True)
    work, scratch = np.empty_like(sample), np.empty_like(sample)
    _radix_leaf(sample.copy(), scratch, 0, 64, False)  # compile (or load from cache) first
    best = {"numpy": np.inf, "radix": np.inf}
    for _ in range(3):
        for kind in best:
            work[...] = sample
            t0 = time.perf_counter()
            _LEAVES[kind](work, scratch, 0, len(work), False)
            best[kind] = min(best[kind], time.perf_counter() - t0)
    return best


# ---------------------------------------------------------------------------- the parallel driver
def _run_all(tasks: list, lo: int = 0, hi: int | None = None) -> None:
    """Run ``tasks[lo:hi]`` (zero-argument callables) in parallel: a ``join`` tree over them."""
    if hi is None:
        hi = len(tasks)
    if hi - lo <= 1:
        if hi > lo:
            tasks[lo]()
        return
    mid = (lo + hi) // 2
    join(lambda: _run_all(tasks, lo, mid), lambda: _run_all(tasks, mid, hi))


def _sorted_runs(a, b, bounds, leaf, into_b, has_nan):
    """Sort every leaf ``[bounds[i], bounds[i + 1])`` in parallel; return the runs
    ``(lo, end of numbers, hi)``, sorted into ``b`` if ``into_b`` else into ``a``."""
    runs = [None] * (len(bounds) - 1)
    dst = b if into_b else a

    def task(i):
        lo, hi = bounds[i], bounds[i + 1]
        leaf(a, b, lo, hi, into_b)
        runs[i] = (lo, _first_nan(dst, lo, hi) if has_nan else hi, hi)

    _run_all([lambda i=i: task(i) for i in range(len(runs))])
    return runs


def _merge_level(src, dst, runs, shares):
    """Merge runs pairwise from ``src`` into ``dst`` in about ``shares`` equal tasks.

    Returns:
        The merged runs, ``(lo, end of numbers, hi)`` each.
    """
    tasks, merged = [], []
    total = runs[-1][2] - runs[0][0]
    for p in range(0, len(runs), 2):
        if p + 1 == len(runs):  # an odd run out moves to the other array as it is
            lo, nums, hi = runs[p]
            tasks.append(lambda lo=lo, hi=hi: _copy(src, dst, lo, hi, lo))
            merged.append(runs[p])
            continue
        (lo1, n1, hi1), (lo2, n2, hi2) = runs[p], runs[p + 1]
        numbers = (n1 - lo1) + (n2 - lo2)
        count = max(1, round(shares * (hi2 - lo1) / total))
        cuts = [numbers * s // count for s in range(count + 1)]
        for k0, k1 in zip(cuts, cuts[1:]):
            if k1 > k0:
                tasks.append(lambda lo1=lo1, n1=n1, lo2=lo2, n2=n2, k0=k0, k1=k1:
                             _merge_share(src, lo1, n1, lo2, n2, dst, lo1, k0, k1))
        if n1 < hi1 or n2 < hi2:  # the NaNs of both runs, after all their numbers
            d = lo1 + numbers

            def tails(n1=n1, hi1=hi1, n2=n2, hi2=hi2, d=d):
                _copy(src, dst, n1, hi1, d)
                _copy(src, dst, n2, hi2, d + hi1 - n1)
            tasks.append(tails)
        merged.append((lo1, lo1 + numbers, hi2))
    _run_all(tasks)
    return merged


def _par_sort_on_pool(array: np.ndarray, threads: int, leaf_kind: str) -> None:
    """Steps 1-3 of the module docstring; runs on a worker of the pool."""
    n = len(array)
    leaves = max(1, min(threads, n // _MIN_LEAF))
    levels = (leaves - 1).bit_length()  # ceil(log2(leaves))
    has_nan = array.dtype.kind == "f"
    buf = np.empty_like(array)
    bounds = [n * i // leaves for i in range(leaves + 1)]
    into_buf = levels % 2 == 1  # so that the last level writes into the array
    runs = _sorted_runs(array, buf, bounds, _LEAVES[leaf_kind], into_buf, has_nan)
    src, dst = (buf, array) if into_buf else (array, buf)
    for _ in range(levels):
        runs = _merge_level(src, dst, runs, _SHARES_PER_THREAD * threads)
        src, dst = dst, src


def par_sort(array: np.ndarray) -> None:
    """Sort a 1-D NumPy array of integers or floats in place, in parallel.

    The result equals ``np.sort(array)``: ascending, NaN at the end (see the module docstring
    for ``-0.0``/``0.0`` and NaN payloads). Uses the current pool (the worker's inside
    ``ThreadPool.install``, else the global pool): one leaf per thread, sorted by the fastest
    sequential sort for the dtype (:func:`leaf_sort_for`), then parallel merges through a
    scratch buffer of the same size. On a pool of one thread it is that sequential sort.

    Args:
        array: a writeable 1-D array with an integer or floating-point dtype.

    Returns:
        None (like ``list.sort``); ``array`` is sorted.

    Raises:
        TypeError: if ``array`` is not a NumPy array of integers or floats.
        ValueError: if it is not 1-D or not writeable.

    Example:
        >>> a = np.array([3.0, np.nan, -1.0, 2.0])
        >>> par_sort(a); a
        array([-1.,  2.,  3., nan])
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"par_sort needs a NumPy array, got {type(array).__name__}"
                        " (sort a list with sorted() or convert it with np.asarray)")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"par_sort sorts integer and float arrays, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"par_sort needs a 1-D array, got shape {array.shape}")
    if not array.flags.writeable:
        raise ValueError("par_sort sorts in place, but this array is read-only")
    n = array.shape[0]
    if n < 2:
        return
    if not array.flags.c_contiguous or not array.dtype.isnative or array.dtype == np.float16:
        # sort a native, contiguous copy (float16 as float32: exact, and numba has no float16)
        work = np.float32 if array.dtype == np.float16 else array.dtype.newbyteorder("=")
        tmp = np.ascontiguousarray(array, dtype=work)
        par_sort(tmp)
        array[...] = tmp
        return
    w = getattr(_tls, "worker", None)
    pool = w.pool if w is not None else global_pool()
    threads = pool.num_threads
    if _FORCE_LEAF is None and n < _CALIBRATE_FROM:
        leaf_kind = "numpy"
    else:
        leaf_kind = leaf_sort_for(array.dtype)
    if threads == 1 or n < 2 * _MIN_LEAF:  # one leaf: the sequential sort itself, on this thread
        if leaf_kind == "numpy":
            array.sort()
        else:
            _radix_leaf(array, np.empty_like(array), 0, n, False)
        return
    if w is not None:
        _par_sort_on_pool(array, threads, leaf_kind)
    else:
        pool.install(lambda: _par_sort_on_pool(array, threads, leaf_kind))
