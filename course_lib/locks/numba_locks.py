"""The spinlocks themselves: ``@njit(nogil=True)`` functions on lock words in an int64 array.

Every lock kind is three functions on ``(words, i)``: ``<kind>_acquire``, ``<kind>_try_acquire``
(-> bool) and ``<kind>_release``. A lock is one int64 word (``words[i]``; 0: unlocked, 1: locked),
except the ticket lock, which uses two (``words[i]``: next ticket to hand out, ``words[i + 1]``:
ticket now being served). Words of different locks should sit :data:`LOCK_STRIDE` words (128 bytes)
apart so that two locks never share a cache line (see :mod:`course_lib.locks.padding`).

1. **TAS** (test-and-set): ``swap(word, 1, Acquire)`` until it returns 0. Every attempt is a write,
   so a waiting core keeps stealing the cache line from the holder (and from other waiters).
2. **TTAS** (test-and-test-and-set): wait with plain loads (the line stays *shared* in every
   waiter's cache, no traffic) until the word reads 0, then try the swap once.
3. **Backoff**: TTAS that, after a failed attempt, spins ``delay`` times on ``spin_loop()`` and
   doubles ``delay`` (up to :data:`BACKOFF_MAX`), so that waiters spread out instead of all
   pouncing on the line the moment it is released.
4. **Ticket**: ``fetch_add(next, 1)`` gives my ticket; wait until ``serving == my ticket``;
   release with ``serving += 1``. First come, first served (FIFO, so fair), but every release
   wakes every waiter's cache, and a preempted waiter whose turn comes blocks everyone behind it.

Memory ordering (the same argument for every kind): the store that releases the lock is
``Release`` and the read-modify-write (or load) that observes the lock free and takes it is
``Acquire``, so everything the previous holder wrote inside its critical section happens-before
everything the next holder does in its own. Reads that only *wait* (the inner loads of TTAS, the
relaxed re-checks) can be Relaxed: they are followed by the Acquire operation that really takes
the lock.

``release`` does not check who holds the lock here (numba has no thread identity cheap enough for
a hot path), as Rust's raw ``unlock`` is ``unsafe``: the Python classes in ``python_locks`` check.

Source: M. Herlihy, N. Shavit, "The Art of Multiprocessor Programming" (2nd ed., 2020), ch. 7
(TAS, TTAS, backoff) ; J. Mellor-Crummey, M. Scott, "Algorithms for Scalable Synchronization on
Shared-Memory Multiprocessors", TOCS 9(1), 1991 (ticket lock); M. Bos, "Rust Atomics and Locks",
ch. 4 (spin lock).
"""
from __future__ import annotations

from numba import njit

from course_lib.atomics import (Ordering, compare_exchange_unchecked, fetch_add_unchecked,
                                load_unchecked, spin_loop, store_unchecked, swap_unchecked)

__all__ = ["LOCK_STRIDE", "BACKOFF_MAX", "WORDS_PER_LOCK",
           "tas_acquire", "tas_try_acquire", "tas_release",
           "ttas_acquire", "ttas_try_acquire", "ttas_release",
           "backoff_acquire", "backoff_try_acquire", "backoff_release",
           "ticket_acquire", "ticket_try_acquire", "ticket_release", "ticket_take",
           "ticket_is_served", "is_locked", "start_gate", "hammer", "contend", "striped_histogram"]

#: int64 words between two locks in one array: 16 words = 128 bytes (two cache lines, because of
#: the adjacent-line prefetcher of Intel cores, as crossbeam's ``CachePadded`` does).
LOCK_STRIDE = 16
#: The longest backoff, in ``spin_loop()`` calls (a ``pause`` is 10 to 140 cycles by CPU model).
BACKOFF_MAX = 1024
#: int64 words each kind of lock uses from ``words[i]`` on.
WORDS_PER_LOCK = {"tas": 1, "ttas": 1, "backoff": 1, "ticket": 2}

_A, _R, _X = Ordering.Acquire, Ordering.Release, Ordering.Relaxed


# ----------------------------------------------------------------------------- TAS
@njit(nogil=True, cache=True, inline="always")
def tas_try_acquire(words, i):
    """One test-and-set: True if this call took the lock. Example: ``if tas_try_acquire(w, 0):``."""
    # Acquire: if we see 0 we take the lock, and must see the previous holder's writes.
    return swap_unchecked(words, i, 1, _A) == 0


@njit(nogil=True, cache=True, inline="always")
def tas_acquire(words, i):
    """Spin on test-and-set until the lock is ours. Example: ``tas_acquire(words, 0)``."""
    while swap_unchecked(words, i, 1, _A) != 0:  # Acquire: see tas_try_acquire
        spin_loop()


@njit(nogil=True, cache=True, inline="always")
def tas_release(words, i):
    """Unlock (the caller must hold the lock). Example: ``tas_release(words, 0)``."""
    # Release: publishes the critical section's writes to the next Acquire swap that sees 0.
    store_unchecked(words, i, 0, _R)


# ----------------------------------------------------------------------------- TTAS
@njit(nogil=True, cache=True, inline="always")
def ttas_try_acquire(words, i):
    """Test, then test-and-set: True if this call took the lock (no write when it looks taken)."""
    # Relaxed test: only a hint; the compare_exchange below is what takes the lock (Acquire).
    if load_unchecked(words, i, _X) != 0:
        return False
    ok, _ = compare_exchange_unchecked(words, i, 0, 1, _A, _X)
    return ok


@njit(nogil=True, cache=True, inline="always")
def ttas_acquire(words, i):
    """Wait with reads until the lock looks free, then swap; repeat. Example: ``ttas_acquire(w, 0)``."""
    while True:
        if swap_unchecked(words, i, 1, _A) == 0:  # Acquire: we took it (see tas_try_acquire)
            return
        while load_unchecked(words, i, _X) != 0:  # Relaxed: waiting only, reads a shared line
            spin_loop()


@njit(nogil=True, cache=True, inline="always")
def ttas_release(words, i):
    """Unlock (the caller must hold the lock). Example: ``ttas_release(words, 0)``."""
    store_unchecked(words, i, 0, _R)  # Release: as tas_release


# ----------------------------------------------------------------------------- backoff
@njit(nogil=True, cache=True, inline="always")
def backoff_try_acquire(words, i):
    """Same as :func:`ttas_try_acquire` (backoff only changes how a waiter waits)."""
    return ttas_try_acquire(words, i)


@njit(nogil=True, cache=True, inline="always")
def backoff_acquire(words, i):
    """TTAS with exponential backoff after each lost race. Example: ``backoff_acquire(w, 0)``."""
    delay = 1
    while True:
        while load_unchecked(words, i, _X) != 0:  # Relaxed: waiting only
            spin_loop()
        if swap_unchecked(words, i, 1, _A) == 0:  # Acquire: we took it
            return
        # Lost the race to another waiter: stay off the line for a while, longer each time.
        for _ in range(delay):
            spin_loop()
        if delay < BACKOFF_MAX:
            delay *= 2


@njit(nogil=True, cache=True, inline="always")
def backoff_release(words, i):
    """Unlock (the caller must hold the lock). Example: ``backoff_release(words, 0)``."""
    store_unchecked(words, i, 0, _R)  # Release: as tas_release


# ----------------------------------------------------------------------------- ticket
@njit(nogil=True, cache=True, inline="always")
def ticket_take(words, i):
    """Take the next ticket (the first half of :func:`ticket_acquire`). Example: ``t = ticket_take(w, 0)``."""
    # Relaxed: handing out a number synchronises nothing; the Acquire load of `serving` does.
    return fetch_add_unchecked(words, i, 1, _X)


@njit(nogil=True, cache=True, inline="always")
def ticket_is_served(words, i, ticket):
    """True once ``ticket`` is being served, i.e. its holder owns the lock."""
    # Acquire: seeing our number written by the previous holder's Release store.
    return load_unchecked(words, i + 1, _A) == ticket


@njit(nogil=True, cache=True, inline="always")
def ticket_acquire(words, i):
    """Take a ticket and wait for its turn (FIFO). Example: ``ticket_acquire(words, 0)``."""
    my = ticket_take(words, i)
    while not ticket_is_served(words, i, my):
        spin_loop()


@njit(nogil=True, cache=True, inline="always")
def ticket_try_acquire(words, i):
    """Take the lock only if nobody holds it or waits for it. Example: ``ticket_try_acquire(w, 0)``."""
    serving = load_unchecked(words, i + 1, _A)  # Acquire: pairs with the last release
    # Succeeds only if next == serving (no holder, no waiter); Acquire on success as above.
    ok, _ = compare_exchange_unchecked(words, i, serving, serving + 1, _A, _X)
    return ok


@njit(nogil=True, cache=True, inline="always")
def ticket_release(words, i):
    """Serve the next ticket (the caller must hold the lock). Example: ``ticket_release(w, 0)``."""
    # Only the holder writes `serving`, so a Relaxed read of our own last write is exact.
    serving = load_unchecked(words, i + 1, _X)
    store_unchecked(words, i + 1, serving + 1, _R)  # Release: publishes the critical section


@njit(nogil=True, cache=True)
def is_locked(words, i, two_words):
    """True if the lock at ``words[i]`` is held (a snapshot). ``two_words`` for a ticket lock."""
    if two_words:
        # Relaxed: a snapshot for reports; it orders nothing.
        return load_unchecked(words, i, _X) != load_unchecked(words, i + 1, _X)
    return load_unchecked(words, i, _X) != 0


# ----------------------------------------------------------------------------- kernels
@njit(nogil=True)
def start_gate(gate, threads, stop):
    """Arrive at ``gate[0]`` (add 1), then wait until ``threads`` threads have arrived or
    ``stop[0]`` is set. Threads started one by one from Python may otherwise barely overlap,
    and a short contended run would never contend.

    Relaxed throughout: the gate is a rendezvous count and a flag; it orders no data.
    Example: ``start_gate(np.zeros(1, np.int64), 1, np.zeros(1, np.int64))`` returns at once.
    """
    fetch_add_unchecked(gate, 0, 1, _X)
    while load_unchecked(gate, 0, _X) < threads and load_unchecked(stop, 0, _X) == 0:
        spin_loop()


@njit(nogil=True, inline="always")
def _critical_work(shared, cs):
    """``cs`` steps of xorshift on ``shared[1]``: work inside the lock that LLVM cannot fold."""
    x = shared[1] | 1
    for _ in range(cs):
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
    shared[1] = x


@njit(nogil=True)
def hammer(acquire, release, words, i, shared, n, cs):
    """``n`` times: lock, ``shared[0] += 1`` as a plain (racy) read and write, unlock.

    If the lock excludes, ``shared[0]`` grows by exactly ``n`` per thread; a broken lock loses
    increments (two threads read the same old value). ``cs`` adds that much work inside.
    Example: ``hammer(tas_acquire, tas_release, words, 0, shared, 10_000, 0)``.
    """
    for _ in range(n):
        acquire(words, i)
        v = shared[0]
        _critical_work(shared, cs)
        shared[0] = v + 1
        release(words, i)
    return n


@njit(nogil=True)
def contend(acquire, release, words, i, shared, counts, tid, stop, cs, outside, gate, threads):
    """Take and release the lock until ``stop[0]`` is set; count this thread's acquisitions.

    The threads first meet at ``gate[0]`` (each adds 1, then waits for ``threads``), so that
    the measured window starts when all of them run, not when the first one does.
    Per-thread counts in ``counts[tid * LOCK_STRIDE]`` (``counts`` needs ``LOCK_STRIDE`` words
    per thread) measure throughput and fairness;
    ``outside`` steps of work between two acquisitions model the non-critical part.
    """
    k = 0
    local = shared[1:2].copy()
    start_gate(gate, threads, stop)
    while load_unchecked(stop, 0, _X) == 0:  # Relaxed: a flag that only ends the loop
        acquire(words, i)
        v = shared[0]
        _critical_work(shared, cs)
        shared[0] = v + 1
        release(words, i)
        _critical_work(local, outside)
        k += 1
    counts[tid * LOCK_STRIDE] = k
    counts[tid * LOCK_STRIDE + 1] = local[0]  # keeps the outside work alive
    return k


@njit(nogil=True)
def striped_histogram(acquire, release, words, stripes, counts, keys):
    """``counts[k] += 1`` for every ``k`` in ``keys``, under lock ``k % stripes`` (lock striping).

    With ``stripes == 1`` every update takes the same lock; with more, threads that touch
    different stripes never wait for each other. Lock ``s`` is at ``words[s * LOCK_STRIDE]``.
    """
    for j in range(keys.shape[0]):
        k = keys[j]
        s = (k % stripes) * LOCK_STRIDE
        acquire(words, s)
        counts[k] += 1
        release(words, s)
    return keys.shape[0]
