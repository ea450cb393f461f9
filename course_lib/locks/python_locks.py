"""The Python face of the spinlocks (TAS, TTAS, backoff, ticket) and a readers-writer lock.

1. A lock object owns its lock words (``.words``, an int64 array, from ``.index`` on) and calls the
   ``@njit`` functions of ``numba_locks`` on them, so Python threads and numba ``nogil`` kernels
   can share one lock: pass ``lock.words, lock.index`` to ``tas_acquire`` & co.
2. ``try_acquire()`` is one attempt. ``acquire()`` repeats attempts, and between two attempts it
   **gives the GIL away** (``time.sleep(0)``, or growing sleeps for :class:`BackoffLock`). It
   must: a Python thread that spins holds the GIL, and the thread holding the lock needs the GIL
   to reach its ``release()``; a pure spin would waste a whole switch interval (5 ms) per
   handover. So from Python these are spin-*then-yield* locks, far slower than
   ``threading.Lock`` (which parks the thread in the OS): the real spinlocks are the numba ones.
3. The object remembers which thread holds it: ``release()`` by another thread, or of a free
   lock, raises ``RuntimeError`` naming the lock; ``acquire()`` by the holder raises too (a
   non-reentrant lock would deadlock on itself), while ``try_acquire()`` by the holder just
   answers False, as ``threading.Lock().acquire(blocking=False)`` does.

Memory ordering: see ``numba_locks`` (Acquire to take, Release to give back). The Python
bookkeeping (``_owner``, counts) is written only by the holder, inside the critical section.

Source: as ``numba_locks``; the readers-writer lock follows the classic monitor solution
(Courtois, Heymans, Parnas, "Concurrent control with readers and writers", CACM 14(10), 1971,
second problem: writer preference).
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from course_lib.locks import numba_locks as _nb

__all__ = ["LockStatistics", "TASLock", "TTASLock", "BackoffLock", "TicketLock", "RWLock",
           "RWLockStatistics"]

_get_ident = threading.get_ident


@dataclass(frozen=True)
class LockStatistics:
    """A snapshot of a lock's state and history.

    Attributes:
        name: the lock's name.
        locked: whether it was held when the snapshot was taken.
        owner: ``threading.get_ident()`` of the holder (None if free or held from numba).
        acquisitions: successful ``acquire``/``try_acquire`` calls from Python so far.
        contended: of those, how many found the lock taken and had to wait.
        yields: how many times waiters gave the GIL away while waiting.
    """

    name: str
    locked: bool
    owner: Optional[int]
    acquisitions: int
    contended: int
    yields: int


class _SpinLock:
    """Shared machinery of the four spinlocks; subclasses name their numba functions."""

    kind = ""
    _try: Callable = staticmethod(lambda words, i: False)
    _release: Callable = staticmethod(lambda words, i: None)

    def __init__(self, name: Optional[str] = None, *, words: Optional[np.ndarray] = None,
                 index: int = 0) -> None:
        need = _nb.WORDS_PER_LOCK[self.kind]
        if words is None:
            words = np.zeros(_nb.LOCK_STRIDE, np.int64)
        if not isinstance(words, np.ndarray) or words.dtype != np.int64 or words.ndim != 1:
            raise TypeError(f"words must be a 1-D int64 NumPy array, got {type(words).__name__}"
                            f"{'' if not isinstance(words, np.ndarray) else ' of ' + str(words.dtype)}")
        if not 0 <= index <= len(words) - need:
            raise ValueError(f"index {index} leaves no room for the {need} word(s) a "
                             f"{type(self).__name__} needs in an array of {len(words)}")
        self.words, self.index = words, int(index)
        self.name = name or f"{type(self).__name__}#{id(self) & 0xFFFFFF:06x}"
        self._owner: Optional[int] = None
        self._acquisitions = self._contended = self._yields = 0

    # -- the Rust-like core ------------------------------------------------------------------
    def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting.

        Like ``threading.Lock().acquire(blocking=False)`` and Rust's ``Mutex::try_lock``, it
        only reports: a lock the calling thread already holds is not free, so the answer is
        False (nothing waits, so nothing can deadlock; only a blocking ``acquire`` raises).

        Returns:
            True if the calling thread now holds the lock; False if it is held, by another
            thread or by the caller itself.
        Example:
            >>> lock = TTASLock("demo")
            >>> lock.try_acquire(), lock.try_acquire()
            (True, False)
        """
        if self._owner == _get_ident():
            return False
        if type(self)._try(self.words, self.index):
            self._took(False)
            return True
        return False

    def acquire(self) -> None:
        """Wait until the lock is free and take it (from Python: spin briefly, then yield).

        Raises:
            RuntimeError: the calling thread already holds it (waiting would deadlock).
        Example:
            >>> lock = TASLock(); lock.acquire(); lock.release()
        """
        self._not_mine_already()
        if type(self)._try(self.words, self.index):
            self._took(False)
            return
        self._wait()
        self._took(True)

    def release(self) -> None:
        """Give the lock back.

        Raises:
            RuntimeError: the calling thread does not hold it (a free lock, or another
                thread's): releasing would let two threads into the critical section.
        Example:
            >>> lock = TicketLock(); lock.acquire(); lock.release()
        """
        me, owner = _get_ident(), self._owner
        if owner != me:
            who = "nobody" if owner is None else f"thread {owner}"
            raise RuntimeError(f"{self.name}.release(): the calling thread {me} does not hold "
                               f"this lock ({who} does); only the holder may release it")
        self._owner = None
        type(self)._release(self.words, self.index)

    def locked(self) -> bool:
        """True if some thread (Python or numba) holds the lock now (a snapshot).

        Example:
            >>> TASLock().locked()
            False
        """
        return bool(_nb.is_locked(self.words, self.index, self.kind == "ticket"))

    def statistics(self) -> LockStatistics:
        """A :class:`LockStatistics` snapshot. Example: ``lock.statistics().contended``."""
        return LockStatistics(self.name, self.locked(), self._owner, self._acquisitions,
                              self._contended, self._yields)

    def __enter__(self) -> "_SpinLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "locked" if self.locked() else "unlocked"
        return f"<{type(self).__name__} {self.name!r} {state}>"

    # -- internals -----------------------------------------------------------------------------
    def _not_mine_already(self) -> None:
        if self._owner == _get_ident():
            raise RuntimeError(f"{self.name}: the calling thread already holds this lock; it is "
                               "not reentrant, so waiting for it would deadlock")

    def _took(self, contended: bool) -> None:
        self._owner = _get_ident()  # written by the holder only, inside the critical section
        self._acquisitions += 1
        self._contended += contended

    def _wait(self) -> None:
        """Attempt, yield the GIL, attempt again: the loop every Python-side waiter runs."""
        yields = 0
        try_ = type(self)._try
        while True:
            time.sleep(0)  # give the GIL (and the core) to the holder
            yields += 1
            if try_(self.words, self.index):
                break
        self._yields += yields  # we hold the lock now: safe to update


class TASLock(_SpinLock):
    """Test-and-set spinlock: every attempt is an atomic swap (a write to the shared line).

    From Python, waiters yield the GIL between attempts (see the module notes); from numba use
    ``tas_acquire(lock.words, lock.index)`` / ``tas_release`` for a real spinlock.

    Args:
        name: shown in errors and reports.
        words, index: where the lock word lives (default: a fresh 128-byte array).
    Example:
        >>> with TASLock("counter") as lock:
        ...     lock.locked()
        True
    """

    kind = "tas"
    _try = _nb.tas_try_acquire
    _release = _nb.tas_release


class TTASLock(_SpinLock):
    """Test-and-test-and-set spinlock: wait by reading, swap only when the lock looks free.

    Args:
        name, words, index: as :class:`TASLock`.
    Example:
        >>> lock = TTASLock(); lock.try_acquire(); lock.release()
        True
    """

    kind = "ttas"
    _try = _nb.ttas_try_acquire
    _release = _nb.ttas_release


class BackoffLock(_SpinLock):
    """TTAS spinlock with exponential backoff between failed attempts.

    From Python the backoff is a sleep that doubles from 1 us to ``max_sleep`` (the numba version
    spins on ``spin_loop()`` instead): fewer wasted attempts, but a waiter may oversleep a release.

    Args:
        name, words, index: as :class:`TASLock`.
        max_sleep: longest sleep between two attempts, in seconds (Python side).
    Raises:
        ValueError: ``max_sleep`` not positive.
    Example:
        >>> with BackoffLock(max_sleep=1e-3):
        ...     pass
    """

    kind = "backoff"
    _try = _nb.backoff_try_acquire
    _release = _nb.backoff_release

    def __init__(self, name: Optional[str] = None, *, words: Optional[np.ndarray] = None,
                 index: int = 0, max_sleep: float = 1e-3) -> None:
        if not max_sleep > 0:
            raise ValueError(f"max_sleep must be a positive number of seconds, got {max_sleep!r}")
        super().__init__(name, words=words, index=index)
        self.max_sleep = float(max_sleep)

    def _wait(self) -> None:
        delay, yields = 1e-6, 0
        while True:
            time.sleep(delay)
            yields += 1
            delay = min(delay * 2, self.max_sleep)
            if _nb.backoff_try_acquire(self.words, self.index):
                break
        self._yields += yields


class TicketLock(_SpinLock):
    """Ticket lock: threads are served in the order they arrived (FIFO, starvation-free).

    Uses two words: ``words[index]`` (next ticket) and ``words[index + 1]`` (now serving). A
    ticket once taken cannot be given back, so there is no timed acquire. Fair, but with more
    threads than cores a preempted waiter whose turn has come stalls every thread behind it.

    Args:
        name, words, index: as :class:`TASLock`.
    Example:
        >>> lock = TicketLock()
        >>> with lock: pass
        >>> lock.statistics().acquisitions
        1
    """

    kind = "ticket"
    _try = _nb.ticket_try_acquire
    _release = _nb.ticket_release

    def acquire(self) -> None:  # noqa: D102 (documented on the base class)
        self._not_mine_already()
        ticket = _nb.ticket_take(self.words, self.index)
        if _nb.ticket_is_served(self.words, self.index, ticket):
            self._took(False)
            return
        yields = 0
        while not _nb.ticket_is_served(self.words, self.index, ticket):
            time.sleep(0)  # give the GIL to the holder (and to the tickets before ours)
            yields += 1
        self._took(True)
        self._yields += yields


# ----------------------------------------------------------------------------- readers-writer
@dataclass(frozen=True)
class RWLockStatistics:
    """Snapshot of an :class:`RWLock`: active readers, writer held, waiting writers/readers."""

    name: str
    readers: int
    writing: bool
    writers_waiting: int
    readers_waiting: int


class RWLock:
    """Many readers or one writer, with **writer preference**.

    A reader waits while a writer holds the lock *or waits for it*; so once a writer asks, new
    readers queue behind it and the writer gets in as soon as the current readers leave. Writers
    cannot starve; readers can, under a steady stream of writers (the price of the preference).
    Built on ``threading.Condition`` (waiters park in the OS, no spinning). Not reentrant: a
    thread that holds a read lock and asks for the write lock deadlocks, so that raises.

    Args:
        name: shown in errors.
    Example:
        >>> rw = RWLock("table")
        >>> with rw.read():
        ...     pass
        >>> with rw.write():
        ...     pass
    """

    def __init__(self, name: Optional[str] = None) -> None:
        self.name = name or f"RWLock#{id(self) & 0xFFFFFF:06x}"
        self._cond = threading.Condition(threading.Lock())
        self._readers: dict[int, int] = {}  # thread -> read holds (to check releases)
        self._writer: Optional[int] = None
        self._writers_waiting = 0
        self._readers_waiting = 0

    def acquire_read(self) -> None:
        """Take a shared (read) hold; waits while a writer holds or waits.

        Raises:
            RuntimeError: the calling thread holds the write lock.
        Example:
            >>> rw = RWLock(); rw.acquire_read(); rw.release_read()
        """
        me = _get_ident()
        with self._cond:
            if self._writer == me:
                raise RuntimeError(f"{self.name}: this thread holds the write lock; asking for "
                                   "a read lock would deadlock")
            self._readers_waiting += 1
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers_waiting -= 1
            self._readers[me] = self._readers.get(me, 0) + 1

    def release_read(self) -> None:
        """Give back a read hold of the calling thread.

        Raises:
            RuntimeError: the calling thread holds no read lock.
        """
        me = _get_ident()
        with self._cond:
            held = self._readers.get(me, 0)
            if held == 0:
                raise RuntimeError(f"{self.name}.release_read(): the calling thread {me} holds "
                                   "no read lock")
            if held == 1:
                del self._readers[me]
                if not self._readers:
                    self._cond.notify_all()  # a waiting writer may go now
            else:
                self._readers[me] = held - 1

    def acquire_write(self) -> None:
        """Take the exclusive (write) hold; waits for the writer and all readers to leave.

        Raises:
            RuntimeError: the calling thread already holds a read or the write lock.
        """
        me = _get_ident()
        with self._cond:
            if self._writer == me or me in self._readers:
                raise RuntimeError(f"{self.name}: this thread already holds it (read or write); "
                                   "waiting for the write lock would deadlock")
            self._writers_waiting += 1
            while self._writer is not None or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = me

    def release_write(self) -> None:
        """Give back the write hold.

        Raises:
            RuntimeError: the calling thread does not hold the write lock.
        """
        me = _get_ident()
        with self._cond:
            if self._writer != me:
                raise RuntimeError(f"{self.name}.release_write(): the calling thread {me} does "
                                   "not hold the write lock")
            self._writer = None
            self._cond.notify_all()

    @contextmanager
    def read(self) -> Iterator["RWLock"]:
        """``with rw.read():`` a shared hold for the block. Example: see the class."""
        self.acquire_read()
        try:
            yield self
        finally:
            self.release_read()

    @contextmanager
    def write(self) -> Iterator["RWLock"]:
        """``with rw.write():`` the exclusive hold for the block. Example: see the class."""
        self.acquire_write()
        try:
            yield self
        finally:
            self.release_write()

    def statistics(self) -> RWLockStatistics:
        """A :class:`RWLockStatistics` snapshot. Example: ``rw.statistics().readers``."""
        with self._cond:
            return RWLockStatistics(self.name, sum(self._readers.values()),
                                    self._writer is not None, self._writers_waiting,
                                    self._readers_waiting)

    def __repr__(self) -> str:
        s = self.statistics()
        return f"<RWLock {self.name!r} readers={s.readers} writing={s.writing}>"
