"""Tests for course_lib.testing.exercises.c04_locks: the checkers pass good code and catch broken code."""
from __future__ import annotations

import collections
import queue as stdq
import threading
import time

import numba
import numpy as np
import pytest

from contract import case, right, wrong

TTAS = "c04_locks:test_ttas"
PADDED = "c04_locks:test_padded_stats"
TREIBER = "c04_locks:test_treiber"
CHOICES = "c04_locks:test_choices"

from course_lib import locks as L
from course_lib import queues as Q
from course_lib.atomics import Ordering, compare_exchange, load, spin_loop, store
from course_lib.locks.padding import aligned_zeros, padded_slots
from course_lib.queues.treiber import TOP, _pop_node, _push_node
from course_lib.testing import CheckTimeout
from course_lib.testing.batteries import lock as lock_battery
from course_lib.testing.exercises import c04_locks as C

pytestmark = pytest.mark.timeout(120)


# ----------------------------------------------------------------------------- Python locks
class NoLock:
    """Excludes nothing."""

    def acquire(self):
        pass

    def release(self):
        pass


class StuckLock:
    """Release forgets to unlock: the second acquire waits for ever."""

    def __init__(self):
        self.held = False

    def acquire(self):
        end = time.perf_counter() + 6.0  # give up later, so no thread lingers after the test
        while self.held:
            if time.perf_counter() > end:
                raise RuntimeError("gave up")
            time.sleep(0.001)
        self.held = True

    def release(self):
        pass


class LyingTryLock(L.TTASLock):
    """try_acquire says yes even when the lock is taken."""

    def try_acquire(self):
        super().try_acquire()
        return True


class LaxReleaseLock:
    """A correct lock whose release does not check the caller."""

    def __init__(self):
        self._lock = threading.Lock()
        self.try_acquire = lambda: self._lock.acquire(blocking=False)

    def acquire(self):
        self._lock.acquire()

    def release(self):
        if self._lock.locked():
            self._lock.release()


@pytest.mark.parametrize("factory", [threading.Lock, threading.RLock],
                         ids=["Lock", "RLock"])
def test_mutual_exclusion_passes_the_stdlib(factory):
    C.check_mutual_exclusion(factory, strict_release=False)


@pytest.mark.parametrize("cls", [L.TASLock, L.TTASLock, L.BackoffLock, L.TicketLock])
def test_mutual_exclusion_passes_course_locks(cls):
    C.check_mutual_exclusion(cls)


def test_mutual_exclusion_catches_no_lock():
    with pytest.raises(AssertionError, match="increments lost"):
        C.check_mutual_exclusion(NoLock, strict_release=False)


def test_mutual_exclusion_catches_deadlock_in_seconds():
    start = time.perf_counter()
    with pytest.raises(CheckTimeout, match="still waiting"):
        C.check_mutual_exclusion(StuckLock, timeout=2.0, strict_release=False)
    assert time.perf_counter() - start < 10


def test_mutual_exclusion_catches_lying_try_acquire():
    with pytest.raises(AssertionError, match="try_acquire"):
        C.check_mutual_exclusion(LyingTryLock)


def test_mutual_exclusion_catches_unchecked_release():
    with pytest.raises(AssertionError, match="RuntimeError"):
        C.check_mutual_exclusion(LaxReleaseLock)
    C.check_mutual_exclusion(LaxReleaseLock, strict_release=False)


# ----------------------------------------------------------------------------- numba locks
@numba.njit
def _no_acquire(words, i):
    pass


@numba.njit
def _plain_release(words, i):
    store(words, i, 0, Ordering.Release)


@numba.njit
def _check_then_set(words, i):
    """Waits until it *sees* 0, then writes 1: two threads can both see 0."""
    while load(words, i, Ordering.Acquire) != 0:
        spin_loop()
    for _ in range(50):
        spin_loop()  # the gap between "saw 0" and "wrote 1", widened so the race shows
    store(words, i, 1, Ordering.Relaxed)


@numba.njit
def _good_acquire(words, i):
    L.ttas_acquire(words, i)


@numba.njit
def _forgetful_release(words, i):
    pass


def test_numba_lock_checker_passes_good_lock():
    C.check_numba_lock(_good_acquire, _plain_release, n=5000)


def test_numba_lock_checker_catches_no_exclusion():
    for _ in range(5):  # lost updates need the threads to overlap: allow a few tries on a busy machine
        try:
            C.check_numba_lock(_no_acquire, _plain_release, n=1_000_000)
        except AssertionError as exc:
            assert "did not exclude" in str(exc)
            return
    pytest.fail("a lock that never excludes passed five times")


def test_numba_lock_checker_catches_check_then_set():
    for _ in range(5):  # a race: caught nearly always, allow a few tries on a busy machine
        try:
            C.check_numba_lock(_check_then_set, _plain_release, threads=3, n=50_000)
        except AssertionError as exc:
            assert "lost" in str(exc)
            return
    pytest.fail("a check-then-set lock passed five times")


def test_numba_lock_checker_catches_deadlock_and_unsticks_threads():
    start = time.perf_counter()
    with pytest.raises(CheckTimeout):
        C.check_numba_lock(_good_acquire, _forgetful_release, n=1000, timeout=2.0)
    assert time.perf_counter() - start < 15


def _slow_to_compile(seconds):
    """An intrinsic whose typing sleeps once: a function calling it compiles slowly."""
    from numba.core import types as nbtypes
    from numba.extending import intrinsic

    slept = []

    @intrinsic
    def slow(typingctx):
        if not slept:
            slept.append(True)
            time.sleep(seconds)

        def codegen(context, builder, signature, args):
            return context.get_dummy_value()
        return nbtypes.none(), codegen
    return slow


def test_numba_lock_checker_does_not_count_compiling_as_the_run():
    slow = _slow_to_compile(6.5)  # longer than the old bound of timeout + 5 s

    @numba.njit
    def slow_acquire(words, i):
        slow()
        L.ttas_acquire(words, i)

    C.check_numba_lock(slow_acquire, _plain_release, n=1000, timeout=1.0)


def test_numba_lock_checker_says_when_compiling_takes_too_long(monkeypatch):
    slow = _slow_to_compile(2.0)

    @numba.njit
    def slow_acquire(words, i):
        slow()
        L.ttas_acquire(words, i)

    monkeypatch.setattr(lock_battery, "_COMPILE_TIMEOUT", 0.3)
    with pytest.raises(CheckTimeout, match="compiling"):
        C.check_numba_lock(slow_acquire, _plain_release, n=1000)


def test_numba_lock_checker_wants_numba_functions():
    with pytest.raises(TypeError, match="njit"):
        C.check_numba_lock(lambda w, i: None, _plain_release)


# ----------------------------------------------------------------------------- queues
class DequeQueue:
    """A correct locked deque queue; subclasses break it one way each."""

    def __init__(self, capacity=64):
        self.capacity, self.items, self.lock = capacity, collections.deque(), threading.Lock()

    def push(self, v):
        with self.lock:
            if len(self.items) >= self.capacity:
                raise stdq.Full
            self.items.append(v)

    def pop(self):
        with self.lock:
            if not self.items:
                raise stdq.Empty
            return self.items.popleft()


class DropQueue(DequeQueue):
    def __init__(self):
        super().__init__()
        self.n = 0

    def push(self, v):
        self.n += 1
        if self.n % 97:
            super().push(v)


class DupQueue(DequeQueue):
    def pop(self):
        with self.lock:
            if not self.items:
                raise stdq.Empty
            v = self.items[0]
            if v % 50 != 7:
                self.items.popleft()
            else:
                self.items[0] = v + 0 if False else v  # left in place once
                self.items.popleft()
                self.items.appendleft(v + (1 << 62))  # a value nobody pushed
            return v


class TwiceQueue(DequeQueue):
    def __init__(self):
        super().__init__()
        self.again = None

    def pop(self):
        if self.again is not None:
            v, self.again = self.again, None
            return v
        v = super().pop()
        if v % 101 == 3:
            self.again = v
        return v


class LifoQueue(DequeQueue):
    def pop(self):
        with self.lock:
            if not self.items:
                raise stdq.Empty
            return self.items.pop()


class OffByOneQueue(DequeQueue):
    def push(self, v):
        with self.lock:
            if len(self.items) > self.capacity:
                raise stdq.Full
            self.items.append(v)


class RacyQueue(DequeQueue):
    """No lock around a read-modify-write of the tail: pushes overwrite each other."""

    def __init__(self):
        super().__init__(capacity=1 << 30)
        self.slots, self.head, self.tail = {}, 0, 0

    def push(self, v):
        t = self.tail
        time.sleep(1e-5)  # a real sleep: sleep(0) lets the same thread take the GIL straight back
        self.slots[t] = v
        self.tail = t + 1

    def pop(self):
        with self.lock:
            if self.head >= self.tail or self.head not in self.slots:
                raise stdq.Empty
            v = self.slots.pop(self.head)
            self.head += 1
            return v


class BlockingQueue(DequeQueue):
    def push(self, v):
        if v >= C.STRIDE:
            threading.Event().wait(6.0)  # producer 1 is stuck (for longer than the check waits)
        super().push(v)


def test_queue_battery_passes_a_correct_queue():
    C.check_queue(DequeQueue, capacity=64, n=300)


@pytest.mark.parametrize("broken, match", [
    (DropQueue, "lost"),
    (DupQueue, "nobody pushed"),
    (TwiceQueue, "came out twice"),
    (LifoQueue, "not FIFO"),
    (OffByOneQueue, "succeeded; it must raise queue.Full"),
    (RacyQueue, "lost"),
])
def test_queue_battery_catches(broken, match):
    with pytest.raises(AssertionError, match=match):
        C.check_queue(broken, capacity=64 if broken is OffByOneQueue else None, n=300)


def test_queue_battery_catches_a_stuck_push_in_seconds():
    start = time.perf_counter()
    with pytest.raises(CheckTimeout):
        C.check_queue(BlockingQueue, n=50, timeout=2.0)
    assert time.perf_counter() - start < 10


def test_stack_battery_accepts_lifo_and_rejects_fifo():
    C.check_queue(LifoQueue, fifo=False, n=200)
    with pytest.raises(AssertionError, match="not LIFO"):
        C.check_queue(DequeQueue, fifo=False, n=200)


@numba.njit(nogil=True)
def _dropping_push(st, v):
    if v % 97 == 5:
        return Q.OK  # claims success, stores nothing
    return Q.array_queue_push(st, v)


def test_numba_queue_battery_catches_a_drop_without_hanging():
    start = time.perf_counter()
    with pytest.raises(AssertionError, match="lost"):
        C.check_numba_queue(_dropping_push, Q.array_queue_pop, lambda: Q.array_queue_new(16),
                            n=2000, timeout=3.0)
    assert time.perf_counter() - start < 15


def test_numba_queue_battery_catches_lifo_as_fifo():
    with pytest.raises(AssertionError, match="order"):
        C.check_numba_queue(Q.treiber_push, Q.treiber_pop, lambda: Q.treiber_new(64),
                            fifo=True, producers=1, consumers=1, n=5000, timeout=5.0)


# ----------------------------------------------------------------------------- Treiber
@numba.njit
# _good_push/_good_pop and _padded stand on course_lib's own code, so the Treiber and padding
# tests call the checkers' bodies (``__wrapped__``), past the check that an answer is the
# learner's own (tested in test_graders.py).
def _good_push(st, k):
    _push_node(st, TOP, k)


@numba.njit
def _good_pop(st):
    return _pop_node(st, TOP)


@numba.njit
def _plain_push(st, k):
    """Reads the head, links, writes it back: no compare_exchange."""
    old = load(st, TOP, Ordering.Acquire)
    st[48 + 2 * k] = Q.head_index(old) + 1
    for _ in range(20):
        spin_loop()  # widen the window a little
    store(st, TOP, Q.pack_head(k, Q.head_tag(old) + 1), Ordering.Release)


@numba.njit
def _untagged_push(st, k):
    old = load(st, TOP, Ordering.Acquire)
    while True:
        st[48 + 2 * k] = Q.head_index(old) + 1
        ok, seen = numba_cas(st, old, Q.pack_head(k, 0))
        if ok:
            return
        old = seen


@numba.njit
def numba_cas(st, old, new):
    return compare_exchange(st, TOP, old, new, Ordering.Release, Ordering.Acquire)


@numba.njit
def _fifo_pop(st):
    """Returns the bottom node: wrong order."""
    k = Q.head_index(st[TOP])
    if k < 0:
        return -1
    prev = -1
    while st[48 + 2 * k] != 0:
        prev, k = k, st[48 + 2 * k] - 1
    if prev < 0:
        st[TOP] = Q.pack_head(-1, Q.head_tag(st[TOP]) + 1)
    else:
        st[48 + 2 * prev] = 0
    return k


def test_treiber_checker_passes_the_course_stack():
    C.check_treiber.__wrapped__(_good_push, _good_pop)


@wrong(TREIBER, "race: a plain store, no CAS")
def test_treiber_checker_catches_plain_store_push():
    with pytest.raises(AssertionError, match="lost nodes|stack holds"):
        C.check_treiber.__wrapped__(_plain_push, _good_pop, rounds=50_000)


@wrong(TREIBER, "ABA: no tag")
def test_treiber_checker_catches_missing_tag():
    with pytest.raises(AssertionError, match="tag"):
        C.check_treiber.__wrapped__(_untagged_push, _good_pop)


@wrong(TREIBER, "FIFO order")
def test_treiber_checker_catches_wrong_order():
    with pytest.raises(AssertionError, match="LIFO"):
        C.check_treiber.__wrapped__(_good_push, _fifo_pop)


# ----------------------------------------------------------------------------- padded stats
def _padded(threads):
    return padded_slots(threads * 16, np.int64, 8)[0].reshape(threads, 16)


def test_padded_stats_accepts_padding():
    r = C.check_padded_stats.__wrapped__(_padded, min_ratio=0.0, n=200_000)
    assert np.isnan(r) or r > 0


def test_padded_stats_judges_layout_only_on_hyperthreads_of_one_core(tmp_path, monkeypatch,
                                                                     capsys):
    # Every CPU we may use is a hyperthread of core 0: they share an L1 cache, false sharing
    # costs little there, and a correct layout must not fail for lack of a speedup.
    import os

    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(2)
    for cpu in cpus:
        topo = tmp_path / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "core_id").write_text("0\n")
        (topo / "physical_package_id").write_text("0\n")
    monkeypatch.setattr("course_lib.measure.machine._SYSFS_CPU", str(tmp_path))
    monkeypatch.setattr("course_lib.measure.machine.usable_cores", lambda: 2)
    if not hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(C, "usable_physical_cores", lambda: 1)
    monkeypatch.setattr(C, "_stats_time", lambda stats, threads, n: 1.0)  # no gain from padding
    r = C.check_padded_stats.__wrapped__(_padded)
    assert np.isnan(r)
    out = capsys.readouterr()
    assert "not judged" in out.out and out.err == ""


def padded_by_hand(threads):
    """Over-allocate, then start the view on a 64-byte boundary: rows of 8 words (64 bytes)."""
    raw = np.zeros(threads * 8 + 8, np.int64)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip:skip + threads * 8].reshape(threads, 8)


def padded_solution(threads):
    return aligned_zeros(threads * 16, np.int64, 128).reshape(threads, 16)


@pytest.mark.parametrize("make", [case(padded_solution, mark=right(PADDED, "128-byte rows")),
                                  case(padded_by_hand, mark=right(PADDED, "aligned by hand, 64-byte rows"))])
def test_padded_stats_accepts_as_the_hidden_test_grades(make):
    """The hidden test's own calls, speed bound included: a busy machine must not fail it."""
    C.check_padded_stats(make, threads=2, n=500_000, min_ratio=1.2)
    C.check_padded_stats(make, threads=3, n=100_000, min_ratio=0.0)


@pytest.mark.parametrize("make, match", [
    case(lambda t: aligned_zeros(t * 2, np.int64, 64).reshape(t, 2), "share", mark=wrong(PADDED, "false sharing")),
    case(lambda t: aligned_zeros(t * 16 + 1, np.int64, 64)[1:].reshape(t, 16), "line", mark=wrong(PADDED, "misaligned")),
    case(lambda t: np.zeros((t, 16), np.float64), "int64", mark=wrong(PADDED, "dtype")),
    case(lambda t: np.zeros((t + 1, 16), np.int64), "rows", mark=wrong(PADDED, "shape")),
    case(lambda t: np.ones((t, 16), np.int64), "zero", mark=wrong(PADDED, "not zeroed")),
])
def test_padded_stats_rejects_bad_layouts(make, match):
    def make_checked(t):
        a = make(t)
        if match == "zero" or a.ctypes.data % 64 == 0 or match == "line":
            return a
        b = aligned_zeros(a.size, a.dtype, 64).reshape(a.shape)
        b[...] = a
        return b

    with pytest.raises(AssertionError, match=match):
        C.check_padded_stats.__wrapped__(make_checked)


# ----------------------------------------------------------------------------- choices
def test_check_choices():
    allowed = ("a", "b")
    C.check_choices({"X": "a"}, {"X": "a"}, {"X": "because"}, allowed)
    with pytest.raises(AssertionError, match="X: not 'b'. because"):
        C.check_choices({"X": "b"}, {"X": "a"}, {"X": "because"}, allowed)
    with pytest.raises(AssertionError, match="not one of"):
        C.check_choices({"X": "z"}, {"X": "a"}, {"X": ""}, allowed)
    with pytest.raises(AssertionError, match="dict"):
        C.check_choices(["a"], {"X": "a"}, {"X": ""}, allowed)


# The chapter's question, as its hidden test grades it.
LOCKS = ("threading.Lock", "tas", "ttas", "ticket", "rwlock")
KEY = {"A": "rwlock", "B": "ticket", "C": "threading.Lock"}
WHY = {"A": "readers together", "B": "arrival order", "C": "park, not spin"}


@pytest.mark.parametrize("answer", [
    case(dict(KEY), mark=right(CHOICES, "the key")),
    case({"C": "threading.Lock", "B": "ticket", "A": "rwlock"}, mark=right(CHOICES, "another order")),
    case(__import__("collections").OrderedDict(A="rwlock", B="ticket", C="threading.Lock"),
         mark=right(CHOICES, "an OrderedDict")),
])
def test_choices_accepts(answer):
    C.check_choices(answer, KEY, WHY, LOCKS)


@pytest.mark.parametrize("answer, match", [
    case({**KEY, "B": "ttas"}, "B: not 'ttas'. arrival order", mark=wrong(CHOICES, "spinlock without order")),
    case({**KEY, "C": "tas"}, "C: not 'tas'. park", mark=wrong(CHOICES, "spinning with more threads than cores")),
    case({**KEY, "A": "threading.Lock"}, "A: not 'threading.Lock'", mark=wrong(CHOICES, "readers serialised")),
    case({**KEY, "A": "RW lock"}, "not one of", mark=wrong(CHOICES, "not a listed choice")),
    case(["rwlock", "ticket", "threading.Lock"], "dict", mark=wrong(CHOICES, "a list")),
])
def test_choices_rejects(answer, match):
    with pytest.raises(AssertionError, match=match):
        C.check_choices(answer, KEY, WHY, LOCKS)
