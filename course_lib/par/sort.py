"""In-place parallel merge sort: numba kernels for the sequential pieces, ``join`` for the rest.

The algorithm (a two-buffer parallel merge sort of integer keys, with radix-sorted leaves):

1. Keys: reinterpret the items' bits as unsigned integers of the same width and make their
   unsigned order the value order, in place and in parallel: unsigned ints as they are; signed
   ints with the sign bit flipped; floats with every bit flipped if negative, else the sign bit
   set, and every NaN mapped to all ones (so NaN sorts last, like ``np.sort``). Step 4 undoes it.
2. ``sort(a -> dest)`` on ``[lo, hi)``: a range of at most ``n / threads`` keys is sorted by a
   sequential numba LSD radix sort (GIL released; one pass counts all bytes, then one stable
   scatter per byte, skipping a byte that is the same in every key; under 256 keys, numba's
   quicksort), using the same range of the other array as scratch. A longer range is halved;
   both halves are sorted *into the other array* in parallel with ``join``; then the sorted
   halves are merged from there into ``dest``. The ranges alternate between the array and a
   same-sized scratch buffer, so no level copies back.
3. ``merge`` of two sorted runs: if they are short, a sequential, branch-free numba merge.
   Otherwise take the middle key ``x`` of the longer run, binary-search ``x``'s position in the
   shorter run, and merge "everything before" and "everything after" in parallel with ``join``:
   no key of the first pair is greater than ``x`` and none of the second is smaller, so the two
   outputs sit side by side.
4. Turn the keys back into values, in parallel.

A NaN comes back as the quiet NaN with every mantissa bit set (its sign and payload are not kept);
``-0.0`` sorts before ``0.0`` (``np.sort`` treats them as equal).

Source:
    Cormen, Leiserson, Rivest and Stein, *Introduction to Algorithms* (3rd ed.), section 27.3
    "Multithreaded merge sort" (P-MERGE); Knuth, *The Art of Computer Programming* vol. 3,
    section 5.2.5 (radix sorting); Michael Herf, "Radix Tricks" (2001), for the float key
    transform; Rayon's ``slice::mergesort`` (design, not code).

Thread-safety: concurrent tasks write disjoint index ranges of the array and the buffer (a leaf
uses its own range of the buffer as radix scratch), and a range is read only after the ``join``
that wrote it has returned (``join`` orders the writes of both sides before its return, the GIL
handing over being a full barrier).
"""
from __future__ import annotations

import numba
import numpy as np

from course_lib.par.pool import _tls, global_pool, join

__all__ = ["par_sort"]

_MIN_CUTOFF = 1 << 14  # below this a task costs more than it saves
_RADIX_MIN = 256       # below this numba's quicksort beats the radix sort's 256-bucket passes


# ---------------------------------------------------------------------------- keys
@numba.njit(nogil=True, cache=True)
def _to_keys(u, lo, hi, kind, sign, expmask, ones):
    """Rewrite ``u[lo:hi]`` (an unsigned view) as keys whose unsigned order is the value order.

    kind 0: unsigned ints (nothing to do); 1: signed ints (flip the sign bit, so negatives come
    first); 2: floats (NaN of either sign -> all ones, i.e. last; negatives -> all bits flipped,
    which reverses their order; others -> sign bit set, above every negative).
    """
    if kind == 1:
        for i in range(lo, hi):
            u[i] = u[i] ^ sign
    elif kind == 2:
        for i in range(lo, hi):
            k = u[i]
            if (k & ~sign) > expmask:
                u[i] = ones
            elif k & sign:
                u[i] = ~k
            else:
                u[i] = k | sign


@numba.njit(nogil=True, cache=True)
def _from_keys(u, lo, hi, kind, sign):
    """Undo :func:`_to_keys` (a NaN comes back as the quiet NaN with all mantissa bits set)."""
    if kind == 1:
        for i in range(lo, hi):
            u[i] = u[i] ^ sign
    elif kind == 2:
        for i in range(lo, hi):
            k = u[i]
            u[i] = k & ~sign if k & sign else ~k


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


# ---------------------------------------------------------------------------- sequential pieces
@numba.njit(nogil=True, cache=True)
def _radix_sort(u, tmp, lo, hi, nbytes):
    """Sort keys ``u[lo:hi]`` (LSD radix by bytes, ``tmp[lo:hi]`` as scratch).

    Returns:
        True if the sorted keys ended in ``tmp[lo:hi]``, False if in ``u[lo:hi]``.
    """
    n = hi - lo
    if n < _RADIX_MIN:
        u[lo:hi].sort()
        return False
    counts = np.zeros((nbytes, 256), np.int64)
    for i in range(lo, hi):  # one read of the data counts all digits
        k = u[i]
        for b in range(nbytes):
            counts[b, (k >> (8 * b)) & 255] += 1
    src, dst = u, tmp
    in_tmp = False
    offsets = np.empty(256, np.int64)
    for b in range(nbytes):
        if counts[b].max() == n:  # every key has the same byte here: the pass would move nothing
            continue
        total = lo
        for d in range(256):
            offsets[d] = total
            total += counts[b, d]
        for i in range(lo, hi):  # stable scatter by this byte
            k = src[i]
            d = (k >> (8 * b)) & 255
            dst[offsets[d]] = k
            offsets[d] += 1
        src, dst = dst, src
        in_tmp = not in_tmp
    return in_tmp


@numba.njit(nogil=True, cache=True)
def _copy(src, dst, lo, hi):
    for i in range(lo, hi):
        dst[i] = src[i]


@numba.njit(nogil=True, cache=True)
def _merge(src, lo1, hi1, lo2, hi2, dst, d):
    """Merge sorted keys ``src[lo1:hi1]`` and ``src[lo2:hi2]`` into ``dst[d:...]`` (stable).

    Branch-free inner loop: which side advances is data, not control flow, so a mispredicted
    branch does not cost ~15 cycles per item.
    """
    i, j = lo1, lo2
    while i < hi1 and j < hi2:
        x = src[i]
        y = src[j]
        take_right = y < x
        dst[d] = y if take_right else x
        j += take_right
        i += 1 - take_right
        d += 1
    while i < hi1:
        dst[d] = src[i]
        i += 1
        d += 1
    while j < hi2:
        dst[d] = src[j]
        j += 1
        d += 1


@numba.njit(nogil=True, cache=True)
def _lower_bound(src, lo, hi, x):
    """First index in ``[lo, hi)`` whose key is not less than ``x``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if src[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(nogil=True, cache=True)
def _upper_bound(src, lo, hi, x):
    """First index in ``[lo, hi)`` whose key is greater than ``x``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < src[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


# ---------------------------------------------------------------------------- parallel recursion
def _par_ranges(fn, lo, hi, grain):
    """Call ``fn(lo, hi)`` on pieces of at most ``grain`` items, in parallel (join recursion)."""
    if hi - lo <= grain:
        fn(lo, hi)
        return
    mid = (lo + hi) // 2
    join(lambda: _par_ranges(fn, lo, mid, grain), lambda: _par_ranges(fn, mid, hi, grain))


def _par_merge(src, lo1, hi1, lo2, hi2, dst, d, cutoff):
    n1, n2 = hi1 - lo1, hi2 - lo2
    if n1 + n2 <= cutoff:
        _merge(src, lo1, hi1, lo2, hi2, dst, d)
        return
    if n1 >= n2:
        m1 = (lo1 + hi1) // 2
        m2 = _lower_bound(src, lo2, hi2, src[m1])  # right items < pivot go first
    else:
        m2 = (lo2 + hi2) // 2
        m1 = _upper_bound(src, lo1, hi1, src[m2])  # left items <= pivot go first
    d2 = d + (m1 - lo1) + (m2 - lo2)
    join(lambda: _par_merge(src, lo1, m1, lo2, m2, dst, d, cutoff),
         lambda: _par_merge(src, m1, hi1, m2, hi2, dst, d2, cutoff))


def _par_sort_into(a, b, lo, hi, to_b, cutoff, merge_cutoff, nbytes):
    """Sort the keys of ``a[lo:hi]``; the result ends in ``b`` if ``to_b`` else in ``a``."""
    if hi - lo <= cutoff:
        # b[lo:hi] is free (nobody else touches this range yet): the radix sort's scratch
        in_b = _radix_sort(a, b, lo, hi, nbytes)
        if in_b != to_b:
            src, dst = (b, a) if in_b else (a, b)
            _copy(src, dst, lo, hi)
        return
    mid = (lo + hi) // 2
    join(lambda: _par_sort_into(a, b, lo, mid, not to_b, cutoff, merge_cutoff, nbytes),
         lambda: _par_sort_into(a, b, mid, hi, not to_b, cutoff, merge_cutoff, nbytes))
    src, dst = (a, b) if to_b else (b, a)  # the halves were sorted into the other array
    _par_merge(src, lo, mid, mid, hi, dst, lo, merge_cutoff)


def par_sort(array: np.ndarray) -> None:
    """Sort a 1-D NumPy array of integers or floats in place, in parallel.

    The result equals ``np.sort(array)``: ascending, NaN at the end. Uses the current pool
    (the worker's inside ``ThreadPool.install``, else the global pool) and a scratch buffer of
    the same size.

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
    threads = w.pool.num_threads if w is not None else global_pool().num_threads
    udt, kind, sign, expmask, ones = _key_params(array.dtype)
    keys = array.view(udt)  # sorted as unsigned keys, turned back into values at the end
    buf = np.empty_like(keys)
    if threads == 1 or n <= _MIN_CUTOFF:
        _to_keys(keys, 0, n, kind, sign, expmask, ones)
        if _radix_sort(keys, buf, 0, n, array.dtype.itemsize):
            _copy(buf, keys, 0, n)
        _from_keys(keys, 0, n, kind, sign)
        return
    # The radix sort costs the same per item at any size and a merge level costs about as much
    # as a radix pass, so: one leaf per thread (as few merge levels as possible), and merges and
    # key transforms split finely enough for the threads to share them.
    cutoff = max(_MIN_CUTOFF, -(-n // threads))
    grain = max(_MIN_CUTOFF, -(-n // (4 * threads)))

    def run():
        _par_ranges(lambda lo, hi: _to_keys(keys, lo, hi, kind, sign, expmask, ones), 0, n, grain)
        _par_sort_into(keys, buf, 0, n, False, cutoff, grain, array.dtype.itemsize)
        _par_ranges(lambda lo, hi: _from_keys(keys, lo, hi, kind, sign), 0, n, grain)

    if w is not None:
        run()
    else:
        global_pool().install(run)
