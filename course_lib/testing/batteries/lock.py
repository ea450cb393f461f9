"""The lock battery: does a lock, any lock, let exactly one thread at a time into its critical section?

1. :func:`check_mutual_exclusion`: Python threads hammer a Python lock object. The critical
   section reads a counter, sleeps briefly (so that a broken lock really lets another thread
   in), and writes it back; lost increments or two threads inside at once fail. ``try_acquire``
   and a release by a thread that does not hold the lock are checked too.
2. :func:`check_numba_lock`: the same with numba ``nogil`` threads and ``acquire(words, i)`` /
   ``release(words, i)`` functions, the threads released together by a start gate. A lock that
   never lets go fails after ``timeout`` seconds; the checker then forces the lock word open
   until the stuck threads finish, so they do not spin for ever in the grader's background.

Used by the tests of ``course_lib.locks`` and by chapter c04's exercises
(``testing.exercises.c04_locks``). Every check raises ``AssertionError`` with a message that
teaches and bounds every wait (``CheckTimeout``).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np
from numba import njit

from course_lib.locks.numba_locks import hammer, start_gate
from course_lib.testing import CheckTimeout, call_with_timeout, join_all

__all__ = ["check_mutual_exclusion", "check_numba_lock"]

#: A stop flag that is never set: the lock checks always run to the end.
_NEVER = np.zeros(1, np.int64)


def _join_all(threads: list[threading.Thread], timeout: float, what: str) -> None:
    join_all(threads, timeout, what, "Look for a release that does not release, a wait loop whose "
             "condition never changes, or a lost wake-up.")


# ----------------------------------------------------------------------------- Python locks
def check_mutual_exclusion(lock_factory: Callable[[], Any], threads: int = 4,
                           rounds: int = 500, timeout: float = 10.0,
                           strict_release: bool = True) -> None:
    """Check that a Python lock lets one thread at a time into its critical section.

    Args:
        lock_factory: makes the lock (``threading.Lock``, ``TTASLock``, a learner's class).
            The lock needs ``acquire()`` and ``release()``; ``try_acquire()`` is checked if present.
        threads, rounds: Python threads, and lock/unlock rounds per thread.
        timeout: seconds before the threads are declared deadlocked.
        strict_release: also require ``release()`` by a thread that does not hold the lock to
            raise ``RuntimeError`` (``threading.Lock`` allows it: pass False).
    Raises:
        AssertionError: lost increments, two threads inside, a wrong ``try_acquire``, a release
            by a non-holder that passes silently. CheckTimeout: a deadlock.
    Example:
        >>> check_mutual_exclusion(threading.Lock, strict_release=False)
    """
    lock = lock_factory()
    name = getattr(lock, "name", type(lock).__name__)
    state = {"counter": 0, "inside": 0, "max_inside": 0}
    errors: list[BaseException] = []

    def body() -> None:
        try:
            for r in range(rounds):
                lock.acquire()
                state["inside"] += 1
                state["max_inside"] = max(state["max_inside"], state["inside"])
                v = state["counter"]
                if r % 4 == 0:
                    # Hand the GIL over inside the critical section. A real (tiny) sleep, not
                    # sleep(0): releasing the GIL does not make the interpreter switch threads,
                    # and on Python 3.10 the same thread usually took it straight back, so a
                    # lock that excludes nothing went unnoticed.
                    time.sleep(1e-5)
                state["counter"] = v + 1
                state["inside"] -= 1
                lock.release()
        except BaseException as exc:  # reported below
            errors.append(exc)

    ts = [threading.Thread(target=body, daemon=True, name=f"mutex-check-{k}")
          for k in range(threads)]
    for t in ts:
        t.start()
    _join_all(ts, timeout, f"{name} under {threads} threads")
    if errors:
        raise AssertionError(f"{name}: a thread raised {type(errors[0]).__name__}: {errors[0]}")
    expected = threads * rounds
    if state["counter"] != expected or state["max_inside"] > 1:
        raise AssertionError(
            f"{name} did not exclude: the counter reached {state['counter']:,} instead of "
            f"{expected:,} ({expected - state['counter']:,} increments lost: two threads read "
            f"the same old value), and up to {state['max_inside']} threads were inside at once.")
    _check_try_and_release(lock, name, timeout, strict_release)


def _check_try_and_release(lock: Any, name: str, timeout: float, strict: bool) -> None:
    held, go = threading.Event(), threading.Event()
    out: dict[str, Any] = {}

    def holder() -> None:
        lock.acquire()
        held.set()
        go.wait(timeout)
        lock.release()

    t = threading.Thread(target=holder, daemon=True)
    t.start()
    if not held.wait(timeout):
        raise CheckTimeout(f"{name}: a free lock could not be acquired within {timeout:g} s")
    try:
        if hasattr(lock, "try_acquire"):
            out["try"] = lock.try_acquire()
        if strict:
            try:
                lock.release()
                out["release"] = "passed"
            except RuntimeError:
                out["release"] = "raised"
    finally:
        go.set()
    _join_all([t], timeout, f"{name} holder")
    if out.get("try") is True:
        try:
            lock.release()
        except RuntimeError:
            pass
        raise AssertionError(f"{name}.try_acquire() returned True while another thread held the "
                             "lock: it must take the lock only when it is free.")
    if strict and out.get("release") == "passed":
        raise AssertionError(f"{name}.release() from a thread that does not hold the lock passed "
                             "silently; it must raise RuntimeError (it would let a second "
                             "thread in).")
    if hasattr(lock, "try_acquire"):
        if lock.try_acquire() is not True:
            raise AssertionError(f"{name}.try_acquire() on a free lock did not return True")
        lock.release()


# ----------------------------------------------------------------------------- numba locks
@njit(nogil=True)
def _numba_hammer(acquire, release, words, i, shared, n, gate, threads):
    # Start together (else a short run may never overlap), then the library's hammer with a
    # few steps inside the critical section, so that a lock that does not exclude loses updates.
    start_gate(gate, threads, _NEVER)
    return hammer(acquire, release, words, i, shared, n, 8)


#: Seconds allowed for numba to compile the learner's lock functions (not part of ``timeout``).
_COMPILE_TIMEOUT = 60.0


def _compile_hammer(args: tuple) -> None:
    import numba

    _numba_hammer.compile(tuple(numba.typeof(a) for a in args))


def check_numba_lock(acquire: Any, release: Any, threads: int = 3, n: int = 100_000,
                     timeout: float = 10.0, two_words: bool = False) -> None:
    """Check a numba lock (``acquire(words, i)``, ``release(words, i)``) with numba threads.

    Args:
        acquire, release: ``@njit`` functions on an int64 lock-word array and an index.
        threads, n: numba ``nogil`` threads (started from Python) and rounds per thread.
        timeout: seconds before the lock is declared deadlocked (compiling the functions
            first has its own bound, ``_COMPILE_TIMEOUT``).
        two_words: the lock uses ``words[i]`` and ``words[i + 1]`` (a ticket lock).
    Raises:
        TypeError: the functions are not numba functions.
        AssertionError: lost increments. CheckTimeout: the threads did not finish, or
            compiling took too long.
    Example:
        >>> from course_lib.locks import ttas_acquire, ttas_release
        >>> check_numba_lock(ttas_acquire, ttas_release, n=1000)
    """
    for fn in (acquire, release):
        if not hasattr(fn, "py_func"):
            raise TypeError(f"{getattr(fn, '__name__', fn)!r} is not a numba function: "
                            "decorate it with @numba.njit so numba threads can call it")
    words = np.zeros(32, np.int64)
    shared = np.zeros(2, np.int64)
    # Compile first, with a generous bound of its own (a slow grader can take many seconds),
    # so that the timed single-thread run below measures the lock and nothing else.
    probe_args = (acquire, release, words, 8, shared, 2, np.ones(1, np.int64), 1)
    try:
        call_with_timeout(_compile_hammer, probe_args, timeout=_COMPILE_TIMEOUT,
                          what="compiling")
    except CheckTimeout:
        raise CheckTimeout(f"compiling {acquire.__name__}/{release.__name__} took more than "
                           f"{_COMPILE_TIMEOUT:g} s; the machine may be very busy, or numba "
                           "cannot finish typing them (run each once on its own to see)") from None
    probe = threading.Thread(target=_numba_hammer, args=probe_args, daemon=True)
    probe.start()
    probe.join(timeout)
    if probe.is_alive():
        _unstick(words, 8, [probe], two_words)
        raise CheckTimeout(f"{acquire.__name__}: one thread alone could not acquire, release "
                           "and acquire again: does release really set the word back to 0?")
    shared[:] = 0
    gate = np.zeros(1, np.int64)
    ts = [threading.Thread(target=_numba_hammer, daemon=True,
                           args=(acquire, release, words, 0, shared, n, gate, threads))
          for _ in range(threads)]
    for t in ts:
        t.start()
    try:
        _join_all(ts, timeout, f"{acquire.__name__}/{release.__name__}")
    except CheckTimeout:
        _unstick(words, 0, ts, two_words)
        raise
    expected = threads * n
    if int(shared[0]) != expected:
        raise AssertionError(
            f"{acquire.__name__} did not exclude: {threads} threads x {n:,} increments reached "
            f"{int(shared[0]):,}, {expected - int(shared[0]):,} lost (two threads were in the "
            "critical section and read the same old value). Does acquire loop until *it* "
            "changed the word from 0 to 1 (swap or compare_exchange), not just until it saw 0?")


def _unstick(words: np.ndarray, i: int, ts: list[threading.Thread], two_words: bool,
             grace: float = 3.0) -> None:
    """Force a stuck lock open, again and again, so the threads spinning on it can finish."""
    end = time.perf_counter() + grace
    while any(t.is_alive() for t in ts) and time.perf_counter() < end:
        if two_words:
            words[i + 1] = words[i]
        else:
            words[i] = 0
        time.sleep(0)
