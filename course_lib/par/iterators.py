"""Rayon-style parallel iterators, driven by adaptive divide-and-conquer over ``join``.

The algorithm (Rayon's ``bridge_producer_consumer`` with its ``LengthSplitter``):

1. A parallel iterator is an indexable *source* (a range, a sequence, an array, the chunks of
   an array) plus a pipeline of per-item steps (``map``, ``filter``, ``fold``) and a *consumer*
   chosen at the end (``sum``, ``collect``, ``reduce``, ...).
2. ``drive`` starts with the whole index range ``[0, n)`` and a split budget ``splits`` equal to
   the pool's thread count.
3. A range of length ``len`` is split in two halves, run with ``join_context``, when
   ``len > max_len`` (forced), or when ``len // 2 >= min_len`` and the budget allows it: a half
   that was *stolen* resets the budget to ``max(threads, splits // 2)`` (it has moved to an idle
   thread, so more parallelism is wanted there); otherwise the budget halves at every level and
   splitting stops at 0. So an evenly loaded pool makes about ``2 * threads`` leaves, while a
   pool where thieves keep stealing keeps splitting where the work is.
4. A leaf runs the pipeline sequentially over its slice and folds it with the consumer; the
   halves' results are combined on the way back up (``a + b``, ``op(a, b)``, list concatenation),
   always left before right, so ``collect`` keeps the input order.

Source:
    Rayon's ``iter::plumbing`` (``bridge_producer_consumer``, ``Splitter``, ``LengthSplitter``)
    and its README "How does Rayon work?" (design, not code).

Thread-safety: the sources are only read; each leaf owns its partial result, and results meet
only through ``join``'s return values. Functions passed to ``map``/``filter``/``for_each`` may run
on several threads at once and must not mutate shared state without a lock.
"""
from __future__ import annotations

import itertools
import operator
import time
from typing import Any, Callable

import numpy as np

from course_lib.par.pool import TimelineEvent, _tls, global_pool

__all__ = ["ParallelIterator", "par_iter", "par_range", "par_chunks"]

_EMPTY = object()  # "this leaf saw no item" for min/max


class _Chunks:
    """The chunks of ``array`` of ``size`` items, as an indexable sequence of views."""

    __slots__ = ("array", "size", "n")

    def __init__(self, array, size: int):
        self.array = array
        self.size = size
        self.n = len(array)

    def __len__(self) -> int:
        return -(-self.n // self.size)

    def __getitem__(self, s: slice):
        a, size = self.array, self.size
        return (a[i * size:(i + 1) * size] for i in range(s.start, s.stop))


def _check_callable(fn, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what} must be callable, got {type(fn).__name__}: {fn!r}")


def _check_len(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{what} must be at least 1, got {n}")
    return int(n)


class ParallelIterator:
    """A lazy parallel pipeline over an indexable source; nothing runs until a consumer is called.

    Create one with :func:`par_iter`, :func:`par_range` or :func:`par_chunks`. Adapters (``map``,
    ``filter``, ``fold``, ``with_min_len``, ``with_max_len``) return a new iterator; consumers
    (``for_each``, ``sum``, ``count``, ``min``, ``max``, ``reduce``, ``collect``) run it on the
    current pool (the worker's pool inside ``ThreadPool.install``, else the global pool).

    Example:
        >>> par_range(10).map(lambda x: x * x).filter(lambda x: x % 2 == 0).collect()
        [0, 4, 16, 36, 64]
    """

    __slots__ = ("_src", "_ops", "_min_len", "_max_len")

    def __init__(self, src, ops=(), min_len: int = 1, max_len: int | None = None):
        self._src = src
        self._ops = tuple(ops)
        self._min_len = min_len
        self._max_len = max_len

    def _with(self, **kw) -> ParallelIterator:
        args = dict(src=self._src, ops=self._ops, min_len=self._min_len, max_len=self._max_len)
        args.update(kw)
        return ParallelIterator(**args)

    def __len__(self) -> int:
        """Items in the source (before ``filter``/``fold``)."""
        return len(self._src)

    def __repr__(self) -> str:
        steps = "".join(f".{op[0]}(...)" for op in self._ops)
        return f"<ParallelIterator over {len(self._src)} items{steps}>"

    # ------------------------------------------------------------------ adapters
    def map(self, fn: Callable[[Any], Any]) -> ParallelIterator:
        """Apply ``fn`` to every item (lazily: it runs when a consumer is called).

        Args:
            fn: one-argument callable; may run on several threads at once.

        Returns:
            A new :class:`ParallelIterator`.

        Raises:
            TypeError: if ``fn`` is not callable.

        Example:
            >>> par_range(4).map(str).collect()
            ['0', '1', '2', '3']
        """
        _check_callable(fn, "map's function")
        return self._with(ops=self._ops + (("map", fn),))

    def filter(self, pred: Callable[[Any], bool]) -> ParallelIterator:
        """Keep the items for which ``pred(item)`` is true.

        Args:
            pred: one-argument callable returning a truth value.

        Returns:
            A new :class:`ParallelIterator`.

        Raises:
            TypeError: if ``pred`` is not callable.

        Example:
            >>> par_range(6).filter(lambda x: x % 3 == 0).collect()
            [0, 3]
        """
        _check_callable(pred, "filter's predicate")
        return self._with(ops=self._ops + (("filter", pred),))

    def fold(self, identity: Callable[[], Any], op: Callable[[Any, Any], Any]) -> ParallelIterator:
        """Fold each leaf's items into one accumulator; iterate over those partial results.

        How many partials there are depends on how the work was split (as in Rayon); combine
        them with a consumer, e.g. ``.fold(list, append).reduce(list, concat)``.

        Args:
            identity: zero-argument callable making a fresh accumulator (``0`` is not one:
                write ``lambda: 0`` or ``int``).
            op: ``op(acc, item) -> acc``.

        Example:
            >>> par_range(100).fold(int, lambda acc, x: acc + x).sum()
            4950
        """
        _check_callable(identity, "fold's identity (a zero-argument function such as int)")
        _check_callable(op, "fold's op")
        return self._with(ops=self._ops + (("fold", (identity, op)),))

    def with_min_len(self, n: int) -> ParallelIterator:
        """Never split a leaf below ``n`` source items (bounds the per-task overhead).

        Args:
            n: minimum items per leaf task, at least 1.

        Returns:
            A new :class:`ParallelIterator`.

        Raises:
            TypeError: if ``n`` is not an int. ValueError: if ``n`` < 1.

        Example:
            >>> par_range(10).with_min_len(5).count()
            10
        """
        return self._with(min_len=_check_len(n, "with_min_len's n"))

    def with_max_len(self, n: int) -> ParallelIterator:
        """Always split ranges longer than ``n`` items (``with_max_len(1)``: one task per item).

        Args:
            n: maximum items per leaf task, at least 1 (``with_min_len`` wins if they conflict).

        Returns:
            A new :class:`ParallelIterator`.

        Raises:
            TypeError: if ``n`` is not an int. ValueError: if ``n`` < 1.

        Example:
            >>> par_range(10).with_max_len(2).sum()
            45
        """
        return self._with(max_len=_check_len(n, "with_max_len's n"))

    # ------------------------------------------------------------------ consumers
    def for_each(self, fn: Callable[[Any], Any]) -> None:
        """Call ``fn(item)`` for every item, in no particular order.

        Args:
            fn: one-argument callable, run for its effect; it may run on several threads at
                once, so it must be thread-safe.

        Returns:
            None.

        Raises:
            TypeError: if ``fn`` is not callable. Any exception ``fn`` raises, after the other
                running tasks have finished.

        Example:
            >>> seen = []
            >>> par_range(3).for_each(seen.append)   # list.append is atomic under the GIL
            >>> sorted(seen)
            [0, 1, 2]
        """
        _check_callable(fn, "for_each's function")

        def leaf(it):
            for x in it:
                fn(x)

        self._drive(leaf, _none)

    def sum(self):
        """Sum of the items (0 for none); float sums may differ from ``sum()`` by rounding.

        A NumPy array without adapters is summed with ``ndarray.sum`` per leaf (GIL released).

        Returns:
            The sum, as ``+`` combines the items.

        Example:
            >>> par_range(101).sum()
            5050
        """
        if not self._ops and isinstance(self._src, np.ndarray) and self._src.dtype.kind in "iufc":
            return self._drive_slices(lambda a: a.sum(), operator.add)  # NumPy releases the GIL
        return self._drive(sum, operator.add)

    def count(self) -> int:
        """Number of items (after ``filter``/``fold``).

        Returns:
            An int.

        Example:
            >>> par_range(10).filter(lambda x: x > 6).count()
            3
        """
        if not self._ops:
            return len(self._src)
        return self._drive(lambda it: sum(1 for _ in it), operator.add)

    def min(self):
        """Smallest item, or None if there is none (Rayon returns ``Option``).

        With NaN among floats the answer is as unspecified as Python's ``min``'s.

        Example:
            >>> par_iter([3, 1, 2]).min()
            1
        """
        return self._extreme(min)

    def max(self):
        """Largest item, or None if there is none.

        Example:
            >>> par_iter([3, 1, 2]).max()
            3
        """
        return self._extreme(max)

    def reduce(self, identity: Callable[[], Any], op: Callable[[Any, Any], Any]):
        """Combine all items with an associative ``op``; ``identity()`` for none.

        Args:
            identity: zero-argument callable returning the neutral element (``op(identity(), x)
                == x``); it is called once per leaf.
            op: associative binary function.

        Returns:
            ``op`` folded over the items in order (grouping may differ: ``op`` must be associative).

        Example:
            >>> par_range(1, 6).reduce(lambda: 1, lambda a, b: a * b)
            120
        """
        _check_callable(identity, "reduce's identity (a zero-argument function such as int)")
        _check_callable(op, "reduce's op")

        def leaf(it):
            acc = identity()
            for x in it:
                acc = op(acc, x)
            return acc

        return self._drive(leaf, op)

    def collect(self) -> list:
        """All items in a list, in input order.

        Returns:
            A list equal to ``list(...)`` of the sequential pipeline.

        Example:
            >>> par_iter("abc").map(str.upper).collect()
            ['A', 'B', 'C']
        """
        parts = self._drive(lambda it: [list(it)], operator.add)
        return list(itertools.chain.from_iterable(parts))

    # ------------------------------------------------------------------ driving
    def _extreme(self, pick):
        def leaf(it):
            return pick(it, default=_EMPTY)

        def combine(a, b):
            if a is _EMPTY:
                return b
            if b is _EMPTY:
                return a
            return pick(a, b)

        r = self._drive(leaf, combine)
        return None if r is _EMPTY else r

    def _leaf_iter(self, lo: int, hi: int):
        it = iter(self._src[lo:hi])
        for kind, arg in self._ops:
            if kind == "map":
                it = map(arg, it)
            elif kind == "filter":
                it = filter(arg, it)
            else:  # fold
                identity, op = arg
                acc = identity()
                for x in it:
                    acc = op(acc, x)
                it = iter((acc,))
        return it

    def _drive(self, consume: Callable, combine: Callable):
        return self._drive_slices(None, combine, consume)

    def _drive_slices(self, on_slice, combine, consume=None):
        """Run the split/leaf recursion; a leaf calls ``on_slice(src[lo:hi])`` or ``consume(iter)``."""
        n = len(self._src)
        min_len = self._min_len
        max_len = self._max_len if self._max_len is not None else n + 1
        src = self._src

        def leaf(lo, hi):
            return consume(self._leaf_iter(lo, hi)) if on_slice is None else on_slice(src[lo:hi])

        def run():
            w = _tls.worker
            pool = w.pool
            threads = pool._num_threads
            record = pool._record

            def helper(lo, hi, splits, migrated):
                length = hi - lo
                split = False
                if length > max_len and length // 2 >= min_len:
                    split = True
                    splits = (splits if splits > threads else threads) // 2
                elif length // 2 >= min_len:
                    if migrated:
                        splits = max(threads, splits // 2)
                        split = True
                    elif splits > 0:
                        splits //= 2
                        split = True
                if split:
                    mid = lo + length // 2
                    # join_context on whichever worker runs this half (it may have been stolen)
                    a, b = _tls.worker.join(lambda m: helper(lo, mid, splits, m),
                                            lambda m: helper(mid, hi, splits, m), True)
                    return combine(a, b)
                if not record:
                    return leaf(lo, hi)
                t0 = time.perf_counter()
                r = leaf(lo, hi)
                me = _tls.worker
                me.events.append(TimelineEvent(me.index, t0 - pool._t0, time.perf_counter() - pool._t0,
                                               f"{lo}:{hi}"))
                return r

            return helper(0, n, threads, False)

        w = getattr(_tls, "worker", None)
        if w is not None:
            return run()
        return global_pool().install(run)


def _none(a, b):
    return None


# ---------------------------------------------------------------------------- constructors
def _is_indexable(x) -> bool:
    return isinstance(x, (range, list, tuple, str, bytes, np.ndarray))


def par_iter(iterable) -> ParallelIterator:
    """A parallel iterator over a sequence, an array or any iterable (Rayon's ``par_iter``).

    Lists, tuples, ranges, strings and 1-D-or-more NumPy arrays are split in place (arrays
    yield what iterating them yields: items, or rows); other iterables (generators, sets,
    dicts) are first copied into a list, in their iteration order.

    Args:
        iterable: the items.

    Returns:
        A :class:`ParallelIterator`.

    Raises:
        TypeError: if ``iterable`` is not iterable (or is a 0-d array).

    Example:
        >>> par_iter([1, 2, 3]).map(lambda x: 10 * x).collect()
        [10, 20, 30]
    """
    if isinstance(iterable, np.ndarray):
        if iterable.ndim == 0:
            raise TypeError("par_iter needs an array with at least one dimension, got a 0-d array")
        return ParallelIterator(iterable)
    if _is_indexable(iterable):
        return ParallelIterator(iterable)
    try:
        items = list(iterable)
    except TypeError:
        raise TypeError(f"par_iter needs an iterable, got {type(iterable).__name__}") from None
    return ParallelIterator(items)


def par_range(start: int, stop: int | None = None, step: int = 1) -> ParallelIterator:
    """A parallel iterator over ``range(start, stop, step)`` (Rayon's ``(a..b).into_par_iter()``).

    Args:
        start: first value, or the stop if ``stop`` is None (like ``range``).
        stop: end (excluded).
        step: non-zero increment.

    Raises:
        TypeError: if an argument is not an integer.
        ValueError: if ``step`` is 0.

    Example:
        >>> par_range(0, 10, 3).collect()
        [0, 3, 6, 9]
    """
    if stop is None:
        start, stop = 0, start
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"par_range's {name} must be an int, got {type(v).__name__}")
    if step == 0:
        raise ValueError("par_range's step must not be zero")
    return ParallelIterator(range(int(start), int(stop), int(step)))


def par_chunks(array, size: int) -> ParallelIterator:
    """A parallel iterator over consecutive chunks of ``size`` items (Rayon's ``par_chunks``).

    Chunks of a NumPy array are views (no copy); the last chunk may be shorter.

    Args:
        array: a NumPy array (chunks along the first axis) or a list/tuple/range.
        size: items per chunk, at least 1.

    Raises:
        TypeError: if ``array`` is not sliceable or ``size`` is not an int.
        ValueError: if ``size`` <= 0.

    Example:
        >>> par_chunks(np.arange(5), 2).map(np.ndarray.tolist).collect()
        [[0, 1], [2, 3], [4]]
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"par_chunks' size must be an int, got {type(size).__name__}")
    if size <= 0:
        raise ValueError(f"par_chunks' size must be at least 1, got {size}")
    if not _is_indexable(array) or (isinstance(array, np.ndarray) and array.ndim == 0):
        raise TypeError("par_chunks needs a NumPy array (at least 1-D), list, tuple, range, str "
                        f"or bytes, got {type(array).__name__}")
    return ParallelIterator(_Chunks(array, int(size)))

