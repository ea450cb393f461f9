"""Lock striping: split one hot lock into N independent ones, each guarding a part of the data.

1. :class:`ShardedCounter` keeps one counter cell per stripe, 128 bytes apart (no false
   sharing), each behind its own lock; a thread adds to the stripe of its thread id, so two
   threads usually never meet; ``value()`` sums the cells.
2. :class:`ShardedMap` hashes each key to one of N dicts, each behind its own lock; an operation
   on one key takes one stripe's lock; whole-map operations (``len``, ``items``) take every
   stripe's lock in index order (one global order, so two of them cannot deadlock).

Under CPython's GIL only one thread runs Python code at a time, so striping cannot make
Python code run in parallel: what it removes is *waiting for the lock* (a thread preempted
while holding the one big lock blocks everyone; with stripes, only those that need its stripe).
In numba ``nogil`` code (``striped_histogram`` in ``numba_locks``) or on a free-threaded
Python, stripes let threads really work at once: that is where the speedup shows.

Source: M. Herlihy, N. Shavit, "The Art of Multiprocessor Programming", sec. 13.2 (lock
striping); Java's ``ConcurrentHashMap`` (segments, before Java 8); ``LongAdder`` (striped cells).
Thread-safety: every public method is safe from any number of threads.
"""
from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any, Callable, Hashable, Iterator, Optional

import numpy as np

from course_lib.locks.padding import padded_slots

__all__ = ["ShardedCounter", "ShardedMap"]

_MISSING = object()


def _check_stripes(stripes: Any) -> int:
    if isinstance(stripes, bool) or not isinstance(stripes, (int, np.integer)) or stripes < 1:
        raise ValueError(f"stripes must be a positive integer, got {stripes!r}")
    return int(stripes)


class ShardedCounter:
    """A counter split into ``stripes`` padded cells, each with its own lock (like ``LongAdder``).

    Args:
        stripes: number of cells and locks.
        lock_factory: makes one lock per stripe (default ``threading.Lock``; any object with
            ``acquire``/``release`` works, e.g. :class:`~course_lib.locks.TTASLock`).
    Raises:
        ValueError: ``stripes`` not a positive integer.
    Example:
        >>> c = ShardedCounter(4)
        >>> c.add(5); c.add(2, stripe=3); c.value()
        7
    """

    def __init__(self, stripes: int = 8, lock_factory: Callable[[], Any] = threading.Lock) -> None:
        self.stripes = _check_stripes(stripes)
        self._buffer, self.cells = padded_slots(self.stripes, np.int64)
        self._locks = [lock_factory() for _ in range(self.stripes)]

    def stripe_of_thread(self) -> int:
        """The stripe the calling thread uses by default (a hash of its thread id)."""
        return (threading.get_ident() >> 4) % self.stripes

    def add(self, amount: int = 1, stripe: Optional[int] = None) -> None:
        """Add ``amount`` to one stripe's cell (the calling thread's by default).

        Args:
            amount: the increment (any int that fits int64).
            stripe: which cell, 0 <= stripe < stripes; default: the calling thread's.
        Raises:
            IndexError: ``stripe`` out of range.
        Example:
            >>> ShardedCounter(2).add(3, stripe=1)
        """
        s = self.stripe_of_thread() if stripe is None else int(stripe)
        if not 0 <= s < self.stripes:
            raise IndexError(f"stripe {s} out of range for {self.stripes} stripes")
        lock = self._locks[s]
        lock.acquire()
        try:
            self.cells[s] += amount
        finally:
            lock.release()

    def value(self) -> int:
        """The sum of the cells (exact once the adders are done; a moment's sum while they run).

        Example:
            >>> ShardedCounter().value()
            0
        """
        return int(self.cells.sum())

    def per_stripe(self) -> list[int]:
        """Each cell's value (how evenly the threads spread). Example: ``c.per_stripe()``."""
        return [int(v) for v in self.cells]


class ShardedMap:
    """A dict split into ``stripes`` dicts, each behind its own ``threading.Lock``.

    Args:
        stripes: number of stripes (locks); more stripes, fewer collisions between threads.
    Raises:
        ValueError: ``stripes`` not a positive integer.
    Example:
        >>> m = ShardedMap(16)
        >>> m["a"] = 1; _ = m.update("a", lambda v: v + 1); m["a"], len(m)
        (2, 1)
    """

    def __init__(self, stripes: int = 16) -> None:
        self.stripes = _check_stripes(stripes)
        self._maps: list[dict] = [{} for _ in range(self.stripes)]
        self._locks = [threading.Lock() for _ in range(self.stripes)]
        self._ops = [0] * self.stripes  # per stripe, updated under its lock

    def stripe_of(self, key: Hashable) -> int:
        """Which stripe ``key`` lives in. Example: ``ShardedMap(4).stripe_of("a") in range(4)``."""
        return hash(key) % self.stripes

    def _locked(self, key: Hashable) -> tuple[threading.Lock, dict, int]:
        s = self.stripe_of(key)
        return self._locks[s], self._maps[s], s

    def __setitem__(self, key: Hashable, value: Any) -> None:
        lock, d, s = self._locked(key)
        with lock:
            d[key] = value
            self._ops[s] += 1

    def __getitem__(self, key: Hashable) -> Any:
        lock, d, s = self._locked(key)
        with lock:
            self._ops[s] += 1
            return d[key]

    def __contains__(self, key: Hashable) -> bool:
        lock, d, _ = self._locked(key)
        with lock:
            return key in d

    def get(self, key: Hashable, default: Any = None) -> Any:
        """``map[key]`` or ``default``. Example: ``ShardedMap().get("x", 0)`` is 0."""
        lock, d, s = self._locked(key)
        with lock:
            self._ops[s] += 1
            return d.get(key, default)

    def pop(self, key: Hashable, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (or ``default``).

        Raises:
            KeyError: ``key`` absent and no default given.
        Example:
            >>> m = ShardedMap(); m["k"] = 1; m.pop("k")
            1
        """
        lock, d, s = self._locked(key)
        with lock:
            self._ops[s] += 1
            if default is _MISSING:
                return d.pop(key)
            return d.pop(key, default)

    def update(self, key: Hashable, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace ``map[key]`` by ``fn(old)`` (``old`` = ``default`` if absent).

        This is the operation that needs the lock: a ``get`` then a ``set`` from two threads
        would lose one of two updates. ``fn`` runs under the stripe's lock: keep it short, and
        do not touch the map from inside it (the lock is not reentrant).

        Returns:
            The new value.
        Example:
            >>> m = ShardedMap(); m.update("hits", lambda v: v + 1, default=0)
            1
        """
        lock, d, s = self._locked(key)
        with lock:
            new = fn(d.get(key, default))
            d[key] = new
            self._ops[s] += 1
            return new

    def _all_locks(self) -> ExitStack:
        stack = ExitStack()
        for lock in self._locks:  # always in index order: no lock-order deadlock
            stack.enter_context(lock)
        return stack

    def __len__(self) -> int:
        with self._all_locks():
            return sum(len(d) for d in self._maps)

    def items(self) -> list[tuple[Hashable, Any]]:
        """A consistent snapshot of all (key, value) pairs (takes every stripe's lock)."""
        with self._all_locks():
            return [kv for d in self._maps for kv in d.items()]

    def __iter__(self) -> Iterator[Hashable]:
        return iter([k for k, _ in self.items()])

    def statistics(self) -> list[int]:
        """Operations per stripe so far: how evenly the keys spread over the locks."""
        with self._all_locks():
            return list(self._ops)
