"""Tests for course_lib.locks (and course_lib.locks.padding): one battery over every lock kind."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from course_lib import locks as L
from course_lib.config import stress
from course_lib.locks import padding as P
from course_lib.testing.exercises.c04_locks import check_mutual_exclusion, check_numba_lock

pytestmark = pytest.mark.timeout(120)

STRESS = stress()
KINDS = sorted(L.NUMBA_LOCKS)
PY_LOCKS = [L.TASLock, L.TTASLock, L.BackoffLock, L.TicketLock]


# ----------------------------------------------------------------------------- numba side
@pytest.mark.parametrize("kind", KINDS)
def test_numba_lock_excludes(kind):
    acquire, release = L.NUMBA_LOCKS[kind]
    check_numba_lock(acquire, release, threads=3, n=10_000 * STRESS, two_words=kind == "ticket")


@pytest.mark.parametrize("kind", KINDS)
def test_numba_hammer_counts_exactly(kind):
    assert L.check_numba_lock(kind, threads=2, n=20_000 * STRESS, cs=4) == 40_000 * STRESS


@pytest.mark.parametrize("kind", KINDS)
def test_numba_try_acquire_and_release(kind):
    acquire, release = L.NUMBA_LOCKS[kind]
    try_ = getattr(L, f"{kind}_try_acquire")
    w = L.lock_words(2)
    assert try_(w, 0)
    assert not try_(w, 0), "try_acquire on a held lock must fail"
    assert L.is_locked(w, 0, kind == "ticket")
    assert try_(w, L.LOCK_STRIDE), "another lock in the same array is independent"
    release(w, 0)
    assert not L.is_locked(w, 0, kind == "ticket")
    acquire(w, 0)
    release(w, 0)


def test_lock_words_layout():
    w = L.lock_words(3)
    assert w.dtype == np.int64 and len(w) == 3 * L.LOCK_STRIDE
    assert w.ctypes.data % 128 == 0 and not w.any()
    with pytest.raises(ValueError, match="positive integer"):
        L.lock_words(0)


@pytest.mark.parametrize("kind", KINDS)
def test_lock_throughput_counts_and_fairness(kind):
    r = L.lock_throughput(kind, threads=2, seconds=0.05, cs=2, outside=2)
    assert r.total == sum(r.counts) > 0 and len(r.counts) == 2
    assert 0.0 <= r.fairness <= 1.0 and r.per_second > 0 and r.latency > 0


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="unknown lock kind 'mcs'"):
        L.lock_throughput("mcs")


def test_ttas_waits_with_loads_not_swaps():
    """TTAS's inner loop must be a load (no write traffic while waiting); TAS has none."""
    import numba

    from course_lib.atomics import atomic_instructions

    @numba.njit
    def ttas(w):
        L.ttas_acquire(w, 0)

    @numba.njit
    def tas(w):
        L.tas_acquire(w, 0)

    sig = (numba.int64[::1],)
    assert atomic_instructions(ttas, sig).get("load atomic", 0) >= 1
    assert atomic_instructions(tas, sig).get("load atomic", 0) == 0
    assert atomic_instructions(tas, sig).get("atomicrmw xchg", 0) >= 1


# ----------------------------------------------------------------------------- Python side
@pytest.mark.parametrize("cls", PY_LOCKS, ids=lambda c: c.__name__)
def test_python_lock_excludes(cls):
    check_mutual_exclusion(cls, threads=4, rounds=300 * STRESS)


@pytest.mark.parametrize("cls", PY_LOCKS, ids=lambda c: c.__name__)
def test_release_of_unheld_lock_names_the_lock(cls):
    lock = cls("the-lock")
    with pytest.raises(RuntimeError, match="the-lock.release"):
        lock.release()
    lock.acquire()
    with pytest.raises(RuntimeError, match="already holds"):
        lock.acquire()
    err = []
    t = threading.Thread(target=lambda: err.append(pytest.raises(RuntimeError, lock.release)))
    t.start()
    t.join(5)
    assert err, "release from another thread must raise"
    lock.release()
    assert not lock.locked()


@pytest.mark.parametrize("cls", PY_LOCKS, ids=lambda c: c.__name__)
def test_try_acquire_by_the_holder_reports_false_like_threading_lock(cls):
    lock = cls("mine")
    assert lock.try_acquire() is True
    assert lock.try_acquire() is False, "held (by me) is not free: report it, do not raise"
    assert threading.Lock().acquire(blocking=False) is True  # the model it follows
    lock.release()
    assert not lock.locked()
    assert lock.try_acquire() is True
    lock.release()


@pytest.mark.parametrize("cls", PY_LOCKS, ids=lambda c: c.__name__)
def test_statistics_and_repr(cls):
    lock = cls("s")
    with lock:
        s = lock.statistics()
        assert s.locked and s.owner == threading.get_ident() and s.acquisitions == 1
        assert "locked" in repr(lock)
    assert not lock.statistics().locked


@pytest.mark.parametrize("cls", PY_LOCKS, ids=lambda c: c.__name__)
def test_python_and_numba_share_one_lock(cls):
    lock = cls()
    lock.acquire()
    acquire, release = L.NUMBA_LOCKS[cls.kind]
    try_ = getattr(L, f"{cls.kind}_try_acquire")
    assert not try_(lock.words, lock.index), "numba must see the Python-held lock"
    lock.release()
    acquire(lock.words, lock.index)
    assert not lock.try_acquire(), "Python must see the numba-held lock"
    release(lock.words, lock.index)
    assert lock.try_acquire()
    lock.release()


def test_lock_constructor_checks_words():
    with pytest.raises(TypeError, match="int64"):
        L.TASLock(words=np.zeros(4, np.int32))
    with pytest.raises(ValueError, match="2 word"):
        L.TicketLock(words=np.zeros(4, np.int64), index=3)
    with pytest.raises(ValueError, match="max_sleep"):
        L.BackoffLock(max_sleep=0)


def test_python_throughput_threading_lock():
    r = L.python_lock_throughput(threading.Lock(), threads=2, seconds=0.05)
    assert r.total > 0 and r.label == "lock"


# ----------------------------------------------------------------------------- RWLock
def test_rwlock_readers_share_writers_exclude():
    rw = L.RWLock("rw")
    inside = {"readers": 0, "max_readers": 0, "writer": 0, "bad": 0}
    m = threading.Lock()
    both_in = threading.Barrier(2, timeout=5)

    def reader():
        with rw.read():
            with m:
                inside["readers"] += 1
                inside["max_readers"] = max(inside["max_readers"], inside["readers"])
                inside["bad"] += inside["writer"]
            both_in.wait()  # two readers inside at the same time, or this times out
            with m:
                inside["readers"] -= 1

    def writer():
        for _ in range(50):
            with rw.write():
                with m:
                    inside["writer"] += 1
                    inside["bad"] += inside["readers"] + (inside["writer"] > 1)
                with m:
                    inside["writer"] -= 1

    ts = [threading.Thread(target=reader) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    w = [threading.Thread(target=writer) for _ in range(2)]
    for t in w:
        t.start()
    for t in w:
        t.join(10)
    assert not any(t.is_alive() for t in ts + w)
    assert inside["max_readers"] == 2 and inside["bad"] == 0


def test_rwlock_writer_preference():
    """Once a writer waits, a new reader queues behind it."""
    rw = L.RWLock()
    order = []
    rw.acquire_read()
    w = threading.Thread(target=lambda: (rw.acquire_write(), order.append("w"),
                                         rw.release_write()))
    w.start()
    for _ in range(500):
        if rw.statistics().writers_waiting:
            break
        threading.Event().wait(0.002)
    r = threading.Thread(target=lambda: (rw.acquire_read(), order.append("r"),
                                         rw.release_read()))
    r.start()
    threading.Event().wait(0.05)
    assert order == [], "nobody may enter while the first reader holds it"
    rw.release_read()
    w.join(5)
    r.join(5)
    assert order == ["w", "r"]


def test_rwlock_errors():
    rw = L.RWLock("cfg")
    with pytest.raises(RuntimeError, match="cfg.release_read"):
        rw.release_read()
    with pytest.raises(RuntimeError, match="release_write"):
        rw.release_write()
    with rw.read():
        with pytest.raises(RuntimeError, match="deadlock"):
            rw.acquire_write()
    check_mutual_exclusion(lambda: _WriteSide(L.RWLock()), threads=3, rounds=200)


class _WriteSide:
    """The write half of an RWLock as a plain lock (for the exclusion checker)."""

    def __init__(self, rw):
        self.rw, self.name = rw, "RWLock.write"

    def acquire(self):
        self.rw.acquire_write()

    def release(self):
        self.rw.release_write()


# ----------------------------------------------------------------------------- striping
def test_sharded_counter_counts_exactly():
    c = L.ShardedCounter(4)
    n = 2000 * STRESS

    def body():
        for _ in range(n):
            c.add()

    ts = [threading.Thread(target=body) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert c.value() == 4 * n == sum(c.per_stripe())
    assert c.cells.strides == (128,)
    with pytest.raises(IndexError, match="stripe 9"):
        c.add(1, stripe=9)
    with pytest.raises(ValueError, match="positive integer"):
        L.ShardedCounter(0)


def test_sharded_counter_with_spinlocks():
    c = L.ShardedCounter(2, lock_factory=L.TTASLock)
    c.add(3, stripe=0)
    c.add(4, stripe=1)
    assert c.value() == 7


def test_sharded_map_matches_dict():
    m, ref = L.ShardedMap(8), {}
    rng = np.random.default_rng(1)
    for k in rng.integers(0, 50, 500):
        k = int(k)
        m.update(k, lambda v: v + 1, default=0)
        ref[k] = ref.get(k, 0) + 1
    assert dict(m.items()) == ref and len(m) == len(ref)
    k0 = next(iter(ref))
    assert m[k0] == ref[k0] and k0 in m and m.get(-1, "d") == "d"
    assert m.pop(k0) == ref.pop(k0) and k0 not in m
    with pytest.raises(KeyError):
        m.pop(k0)
    assert sum(m.statistics()) > 0 and sorted(m) == sorted(ref)


def test_sharded_map_concurrent_updates_are_atomic():
    m = L.ShardedMap(4)
    n = 1000 * STRESS

    def body():
        for i in range(n):
            m.update(i % 10, lambda v: v + 1, default=0)

    ts = [threading.Thread(target=body) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert sum(v for _, v in m.items()) == 4 * n


@pytest.mark.parametrize("stripes", [1, 4])
def test_striped_histogram_matches_numpy(stripes):
    keys = np.random.default_rng(2).integers(0, 64, 20_000).astype(np.int64)
    counts = np.zeros(64, np.int64)
    w = L.lock_words(stripes)
    a, r = L.NUMBA_LOCKS["ttas"]
    P.run_on_threads(L.striped_histogram, [(a, r, w, stripes, counts, keys)] * 2)
    np.testing.assert_array_equal(counts, 2 * np.bincount(keys, minlength=64))


# ----------------------------------------------------------------------------- padding
@pytest.mark.parametrize("stride", [8, 16, 64, 128, 256])
def test_padded_slots_layout(stride):
    buf, view = P.padded_slots(3, np.int64, stride)
    assert view.strides == (stride,) and view.shape == (3,)
    assert buf.ctypes.data % min(stride, 4096) == 0 or stride < 64
    assert buf.ctypes.data % 64 == 0
    view[2] = 7
    assert buf[2 * stride // 8] == 7


def test_padded_slots_rejects_bad_strides():
    with pytest.raises(ValueError, match="multiple of the item size"):
        P.padded_slots(2, np.int64, 12)
    with pytest.raises(ValueError, match="positive integer"):
        P.padded_slots(0)
    with pytest.raises(ValueError, match="power of two"):
        P.aligned_zeros(4, np.int64, 96)


@pytest.mark.parametrize("mode", ["rmw", "store"])
def test_false_sharing_run_counts(mode):
    seconds, overlap = P.false_sharing_run(8, n=100_000, threads=2, mode=mode)
    assert seconds > 0 and -1.0 <= overlap <= 1.0


def test_false_sharing_kernels_touch_memory_every_iteration():
    rmw = P.false_sharing_asm("rmw")
    assert any("lock" in line or "ldadd" in line for line in rmw)
    store = P.false_sharing_asm("store")
    assert any("(" in line for line in store), "the store kernel must address memory"


def test_false_sharing_curve_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    c = P.false_sharing_curve((8, 128), n=20_000, rounds=2)
    assert c.seconds.shape == (2, 2) and c.overlap.shape == (2, 2) and len(c.solo) == 2
    assert c.ratio() > 0 and isinstance(c.parallel, bool)
    ax = P.plot_false_sharing(c)
    assert ax.get_xlabel().startswith("bytes")
    with pytest.raises(ValueError, match="mode"):
        P.false_sharing_run(8, mode="plain")
