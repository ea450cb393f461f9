"""Spinlocks (TAS, TTAS, backoff, ticket), a readers-writer lock, lock striping, and their costs.

Each spinlock exists twice over the same lock words (an int64 array):

1. **numba** ``@njit(nogil=True)`` functions, the real spinlocks: ``tas_acquire(words, i)``,
   ``tas_try_acquire(words, i) -> bool``, ``tas_release(words, i)`` and the same for ``ttas_``,
   ``backoff_`` and ``ticket_`` (the ticket lock uses ``words[i]`` and ``words[i + 1]``). Put
   different locks :data:`LOCK_STRIDE` words apart. They are built on :mod:`course_lib.atomics`
   (Acquire to take, Release to give back; ``numba_locks`` narrates each step).
2. **Python** classes :class:`TASLock`, :class:`TTASLock`, :class:`BackoffLock`,
   :class:`TicketLock` with ``acquire``/``try_acquire``/``release``/``with``/``statistics()``.
   Honest warning: a Python thread that spins holds the GIL, which the lock holder needs to
   get to its ``release()``, so these wait by *yielding* (``time.sleep(0)`` or growing sleeps)
   and are much slower than ``threading.Lock``, which parks waiters in the OS. Use them from
   Python to learn and to share a lock with numba code; use ``threading.Lock`` in real Python.
3. :class:`RWLock`: many readers or one writer, writer preference (documented there).
4. :class:`ShardedCounter`, :class:`ShardedMap`: lock striping; ``striped_histogram`` is the
   numba version, where striping really lets threads run at once.
5. Measuring: :func:`lock_throughput` (numba threads contending on one lock for a while: total
   acquisitions and per-thread counts, hence fairness), :func:`python_lock_throughput` (the same
   for Python threads and any lock object), :func:`check_numba_lock` (a quick exclusion test).

Source: M. Herlihy, N. Shavit, "The Art of Multiprocessor Programming" (2nd ed.), ch. 7;
J. Mellor-Crummey, M. Scott, TOCS 9(1), 1991; M. Bos, "Rust Atomics and Locks", ch. 4 and 9.
Thread-safety: all locks are safe from any number of threads; numba ``release`` does not check
the caller (the Python ``release`` does, and raises ``RuntimeError`` naming the lock).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from course_lib.locks.numba_locks import (BACKOFF_MAX, LOCK_STRIDE, WORDS_PER_LOCK, backoff_acquire,
                                          backoff_release, backoff_try_acquire, contend, hammer,
                                          is_locked, start_gate, striped_histogram, tas_acquire,
                                          tas_release, tas_try_acquire, ticket_acquire,
                                          ticket_release, ticket_try_acquire, ttas_acquire,
                                          ttas_release, ttas_try_acquire)
from course_lib.measure.threads import run_on_threads
from course_lib.locks.python_locks import (BackoffLock, LockStatistics, RWLock, RWLockStatistics,
                                           TASLock, TicketLock, TTASLock)
from course_lib.locks.sharded import ShardedCounter, ShardedMap

__all__ = [
    "TASLock", "TTASLock", "BackoffLock", "TicketLock", "RWLock", "LockStatistics",
    "RWLockStatistics", "ShardedCounter", "ShardedMap",
    "tas_acquire", "tas_try_acquire", "tas_release", "ttas_acquire", "ttas_try_acquire",
    "ttas_release", "backoff_acquire", "backoff_try_acquire", "backoff_release",
    "ticket_acquire", "ticket_try_acquire", "ticket_release", "is_locked",
    "LOCK_STRIDE", "BACKOFF_MAX", "WORDS_PER_LOCK", "LOCK_KINDS", "NUMBA_LOCKS", "lock_words",
    "start_gate", "hammer", "contend", "striped_histogram", "check_numba_lock", "lock_throughput",
    "python_lock_throughput", "Throughput",
]

#: The Python lock classes by kind name.
LOCK_KINDS: dict[str, type] = {"tas": TASLock, "ttas": TTASLock, "backoff": BackoffLock,
                               "ticket": TicketLock}
#: ``kind -> (acquire, release)`` numba functions, for kernels that take a lock as arguments.
NUMBA_LOCKS: dict[str, tuple[Any, Any]] = {
    "tas": (tas_acquire, tas_release), "ttas": (ttas_acquire, ttas_release),
    "backoff": (backoff_acquire, backoff_release), "ticket": (ticket_acquire, ticket_release)}


def _kind(kind: str) -> str:
    if kind not in NUMBA_LOCKS:
        raise ValueError(f"unknown lock kind {kind!r}; choose one of {sorted(NUMBA_LOCKS)}")
    return kind


def lock_words(n: int = 1) -> np.ndarray:
    """Zeroed words for ``n`` numba locks, lock ``k`` at index ``k * LOCK_STRIDE`` (128 bytes apart).

    Args:
        n: number of locks (any kind; a ticket lock uses two words of its slot).
    Returns:
        A 1-D int64 array of ``n * LOCK_STRIDE`` words, aligned to 128 bytes.
    Raises:
        ValueError: ``n < 1``.
    Example:
        >>> w = lock_words(4); ttas_acquire(w, 2 * LOCK_STRIDE); ttas_release(w, 2 * LOCK_STRIDE)
    """
    from course_lib.locks.padding import padded_slots

    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    buffer, _ = padded_slots(int(n), np.int64, LOCK_STRIDE * 8)
    return buffer


def check_numba_lock(kind: str, threads: int = 2, n: int = 100_000, cs: int = 0,
                     timeout: float = 30.0) -> int:
    """Run ``hammer`` with lock ``kind`` on ``threads`` threads; return the final count.

    Args:
        kind: ``"tas"``, ``"ttas"``, ``"backoff"`` or ``"ticket"``.
        threads, n: threads, and lock/unlock rounds per thread.
        cs: work steps inside the critical section (widens the race window).
        timeout: seconds before a hang is reported.
    Returns:
        The shared counter: ``threads * n`` if the lock excluded.
    Raises:
        ValueError: unknown kind. TimeoutError: the threads did not finish.
    Example:
        >>> check_numba_lock("ttas", n=1000)
        2000
    """
    acquire, release = NUMBA_LOCKS[_kind(kind)]
    words, shared = lock_words(1), np.zeros(2, np.int64)
    hammer(acquire, release, words, 0, shared, 1, cs)  # compile outside the threads
    shared[:] = 0
    run_on_threads(hammer, [(acquire, release, words, 0, shared, n, cs)] * threads, timeout)
    return int(shared[0])


@dataclass(frozen=True)
class Throughput:
    """How a lock did under contention for ``seconds``.

    Attributes:
        label: the lock's name.
        threads: contending threads.
        seconds: wall time of the run.
        counts: acquisitions per thread.
        cs, outside: work steps inside / outside the critical section (numba runs).
    """

    label: str
    threads: int
    seconds: float
    counts: tuple[int, ...]
    cs: int = 0
    outside: int = 0

    @property
    def total(self) -> int:
        """Acquisitions by all threads."""
        return int(sum(self.counts))

    @property
    def per_second(self) -> float:
        """Acquire/release pairs per second, all threads together."""
        return self.total / self.seconds

    @property
    def latency(self) -> float:
        """Mean seconds from one acquisition to the thread's next (the time one round costs)."""
        return self.seconds * self.threads / max(1, self.total)

    @property
    def fairness(self) -> float:
        """Fewest / most acquisitions among the threads: 1.0 is perfectly even, 0.0 starved."""
        return min(self.counts) / max(1, max(self.counts))


def lock_throughput(kind: str, threads: int = 2, seconds: float = 0.2, cs: int = 0,
                    outside: int = 0) -> Throughput:
    """``threads`` numba threads take and release lock ``kind`` for ``seconds``.

    Args:
        kind: a key of :data:`NUMBA_LOCKS`.
        threads: contending threads (more than cores shows what preemption does to spinning).
        seconds: how long they contend.
        cs: xorshift steps inside the critical section (its length).
        outside: steps between two acquisitions (the thread's own work).
    Returns:
        A :class:`Throughput`.
    Raises:
        ValueError: unknown kind. AssertionError: the counter shows lost updates.
    Example:
        >>> lock_throughput("ttas", threads=1, seconds=0.01).total > 0
        True
    """
    acquire, release = NUMBA_LOCKS[_kind(kind)]
    words, shared = lock_words(1), np.zeros(2, np.int64)
    stop, counts = np.ones(1, np.int64), np.zeros(threads * LOCK_STRIDE, np.int64)
    gate = np.zeros(1, np.int64)
    contend(acquire, release, words, 0, shared, counts, 0, stop, cs, outside, gate, 1)  # compile
    stop[0], shared[:], gate[0] = 0, 0, 0
    window = [0.0]

    def stopper() -> None:
        give_up = time.perf_counter() + 30.0
        while gate[0] < threads and time.perf_counter() < give_up:
            time.sleep(1e-4)  # wait until every thread is in its loop
        start = time.perf_counter()
        time.sleep(seconds)
        stop[0] = 1
        window[0] = time.perf_counter() - start

    t = threading.Thread(target=stopper, daemon=True)
    args = [(acquire, release, words, 0, shared, counts, k, stop, cs, outside, gate, threads)
            for k in range(threads)]
    t.start()
    run_on_threads(contend, args, timeout=seconds + 60)
    t.join(5)
    elapsed = window[0]
    per = tuple(int(counts[k * LOCK_STRIDE]) for k in range(threads))
    if sum(per) != int(shared[0]):
        raise AssertionError(f"lock {kind} lost updates: {sum(per)} acquisitions but the "
                             f"counter says {int(shared[0])}")
    return Throughput(kind, threads, elapsed, per, cs, outside)


def python_lock_throughput(lock: Any, threads: int = 2, seconds: float = 0.2,
                           label: Optional[str] = None) -> Throughput:
    """``threads`` Python threads ``with lock: counter += 1`` for ``seconds``.

    Args:
        lock: any object with ``acquire()``/``release()`` (``threading.Lock()``, ``TTASLock()``).
        threads: contending Python threads.
        seconds: how long they run.
        label: name in reports (default: the lock's type name).
    Returns:
        A :class:`Throughput`.
    Raises:
        AssertionError: the shared counter lost updates (the lock did not exclude).
    Example:
        >>> python_lock_throughput(threading.Lock(), threads=1, seconds=0.01).total > 0
        True
    """
    box = {"count": 0}
    counts = [0] * threads
    deadline = [0.0]
    go = threading.Barrier(threads + 1)

    def body(k: int) -> None:
        go.wait(30)
        n, end = 0, deadline[0]
        clock, acquire, release = time.perf_counter, lock.acquire, lock.release
        while clock() < end:
            acquire()
            box["count"] += 1
            release()
            n += 1
        counts[k] = n

    ts = [threading.Thread(target=body, args=(k,), daemon=True) for k in range(threads)]
    for t in ts:
        t.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    go.wait(30)
    for t in ts:
        t.join(seconds + 30)
    elapsed = time.perf_counter() - start
    if any(t.is_alive() for t in ts):
        raise TimeoutError(f"{label or type(lock).__name__}: threads still running after "
                           f"{seconds + 30:g} s (a lost release?)")
    if sum(counts) != box["count"]:
        raise AssertionError(f"{label or type(lock).__name__} lost updates: {sum(counts)} "
                             f"acquisitions, counter {box['count']}")
    return Throughput(label or type(lock).__name__, threads, elapsed, tuple(counts))
