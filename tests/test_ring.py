"""Tests for course_lib.channel.ring: the channel battery on the C ring, from Python and from numba."""
from __future__ import annotations

import collections
import threading

import numpy as np
import pytest

from course_lib.channel import Closed, Disconnected, Empty, Full, Timeout, ring
from course_lib.config import stress
from course_lib.testing.batteries import channel as battery

pytestmark = pytest.mark.timeout(90)
STRESS = stress()
STRIDE = battery.STRIDE


@pytest.mark.parametrize("check", battery.CHECKS, ids=lambda c: c.__name__)
def test_battery_int64(check):
    check(ring.bounded)


@pytest.mark.parametrize("check", [battery.smoke, battery.spsc, battery.mpmc, battery.timeouts],
                         ids=lambda c: c.__name__)
def test_battery_float64(check):
    check(lambda cap: ring.bounded(cap, "float64"))


@pytest.mark.parametrize("cap", [1, 3, 7, 64])
def test_capacity_any_size(cap):
    tx, rx = ring.bounded(cap)
    for i in range(cap):
        tx.try_send(i)
    assert tx.is_full() and len(rx) == cap
    with pytest.raises(Full) as e:
        tx.try_send(99)
    assert e.value.value == 99
    for lap in range(3):  # wrap around a few laps
        for i in range(cap):
            assert rx.try_recv() == lap * cap + i
            tx.try_send((lap + 1) * cap + i)
    assert len(rx) == cap


def _run(threads, timeout=60, start=True):
    for t in threads:
        if start:
            t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread is still blocked: deadlock in the ring"


def _check_exactly_once(chunks, producers, per):
    got = np.concatenate(chunks)
    counts = collections.Counter(got.tolist())
    expected = collections.Counter(p * STRIDE + s for p in range(producers) for s in range(per))
    assert counts == expected, (f"lost {sum((expected - counts).values())}, "
                                f"extra {sum((counts - expected).values())}")
    for chunk in chunks:  # FIFO per producer within each consumer
        for p in range(producers):
            seq = chunk[(chunk // STRIDE) == p]
            assert np.all(np.diff(seq) > 0)


@pytest.mark.parametrize("producers,consumers,cap", [(1, 1, 16), (4, 4, 8), (3, 2, 1)])
def test_numba_many_producers_consumers_exactly_once(producers, consumers, cap):
    per = 20_000 * STRESS
    tx, rx = ring.bounded(cap)
    chunks = [None] * consumers

    def consume(c):
        out = np.empty(producers * per, np.int64)
        n = ring.recv_array(rx.address, out, -1.0)  # nogil: returns at disconnection
        chunks[c] = out[:n]

    prods = [threading.Thread(target=ring.produce_range, args=(tx.address, p * STRIDE, per))
             for p in range(producers)]
    cons = [threading.Thread(target=consume, args=(c,)) for c in range(consumers)]
    for t in cons:
        t.start()
    _run(prods)
    tx.close()  # disconnection ends every consumer's recv_array
    _run(cons, start=False)
    _check_exactly_once(chunks, producers, per)
    assert rx.statistics().sent == producers * per == rx.statistics().received


def test_python_producers_numba_consumers_and_batches():
    producers, per = 3, 5_000 * STRESS
    tx, rx = ring.bounded(64)
    chunks = []
    lock = threading.Lock()

    def produce(p, tx):
        with tx:
            values = p * STRIDE + np.arange(per)
            tx.send_many(values[: per // 2])  # batch ...
            for v in values[per // 2:]:  # ... then one by one
                tx.send(int(v))

    def consume_numba():
        out = np.empty(producers * per, np.int64)
        n = ring.recv_array(rx.address, out, -1.0)
        with lock:
            chunks.append(out[:n])

    def consume_batches(rx):
        got = []
        with rx:
            while True:
                try:
                    got.append(rx.recv_many(100, timeout=30))
                except Disconnected:
                    break
        with lock:
            chunks.append(np.concatenate(got) if got else np.empty(0, np.int64))

    threads = [threading.Thread(target=produce, args=(p, tx.clone())) for p in range(producers)]
    threads += [threading.Thread(target=consume_numba),
                threading.Thread(target=consume_batches, args=(rx.clone(),))]
    tx.close()
    _run(threads)
    _check_exactly_once(chunks, producers, per)


def test_float64_bits_round_trip():
    values = np.array([0.0, -0.0, 1.5, np.inf, -np.inf, np.nan, 5e-324, 1e308])
    tx, rx = ring.bounded(16, np.float64)
    tx.send_many(values)
    got = rx.recv_many(16)
    assert got.dtype == np.float64 and got.view(np.uint64).tolist() == values.view(np.uint64).tolist()
    assert ring.send_array(tx.address, values, -1.0) == len(values)
    out = np.empty(len(values))
    assert ring.recv_array(rx.address, out, 1.0) == len(values)
    np.testing.assert_array_equal(out.view(np.uint64), values.view(np.uint64))
    tx.send(2)  # ints are converted
    assert rx.recv() == 2.0


def test_disconnection_semantics():
    tx, rx = ring.bounded(4)
    tx.send(1)
    tx.close()
    assert list(rx) == [1]
    with pytest.raises(Disconnected):
        rx.try_recv()
    with pytest.raises(Disconnected):
        rx.recv_many(4, timeout=1)
    tx, rx = ring.bounded(2)
    rx.close()
    with pytest.raises(Disconnected) as e:
        tx.send(5)
    assert e.value.value == 5
    with pytest.raises(Disconnected) as e:
        tx.send_many([1, 2, 3])
    assert e.value.value.tolist() == [1, 2, 3]
    tx, rx = ring.bounded(1)  # numba consumer returns early on disconnection
    tx.close()
    assert ring.recv_array(rx.address, np.empty(10, np.int64), -1.0) == 0
    tx, rx = ring.bounded(1)
    rx.close()
    assert ring.produce_range(tx.address, 0, 10) == 0


def test_timeouts_and_try():
    tx, rx = ring.bounded(2)
    with pytest.raises(Empty):
        rx.try_recv()
    with pytest.raises(Timeout):
        rx.recv(timeout=0.02)
    with pytest.raises(Timeout):
        rx.recv_many(3, timeout=0.02)
    tx.send_many([1, 2])
    with pytest.raises(Timeout) as e:
        tx.send_many([3, 4], timeout=0.02)
    assert e.value.value.tolist() == [3, 4]
    assert ring.recv_array(rx.address, np.empty(5, np.int64), 0.01) == 2  # then times out


def test_argument_and_closed_errors():
    with pytest.raises(ValueError, match=">= 1"):
        ring.bounded(0)
    with pytest.raises(TypeError):
        ring.bounded(2.5)
    with pytest.raises(ValueError, match="int64 or float64"):
        ring.bounded(4, "int32")
    tx, rx = ring.bounded(4)
    with pytest.raises(TypeError, match="int64"):
        tx.send("seven")
    with pytest.raises(OverflowError):
        tx.send(2**64)
    tx.send(np.int64(3))
    tx.send(-(2**63))
    assert rx.recv() == 3 and rx.recv() == -(2**63)
    with pytest.raises(ValueError):
        rx.recv_many(0)
    tx.close()
    tx.close()
    with pytest.raises(Closed, match="closed RingSender"):
        tx.send(1)
    rx.close()
    with pytest.raises(Closed):
        rx.recv()


def test_statistics_and_parked_receiver():
    tx, rx = ring.bounded(4)
    rx2 = rx.clone()
    t = threading.Thread(target=lambda: rx.recv(timeout=10))
    t.start()
    for _ in range(500):
        if tx.statistics().waiting_receivers:
            break
        threading.Event().wait(0.01)
    s = tx.statistics()
    assert (s.senders, s.receivers, s.waiting_receivers, s.capacity) == (1, 2, 1, 4)
    tx.send(9)  # must wake the parked receiver (futex)
    t.join(10)
    assert not t.is_alive()
    s = rx2.statistics()
    assert (s.sent, s.received, s.len) == (1, 1, 0)


@pytest.mark.parametrize("kind", ["ring", "lock"])
def test_throughput_helper_checks_exactly_once(kind):
    assert ring.throughput(kind, 2, 2, n=20_000) > 0
    with pytest.raises(ValueError):
        ring.throughput("spinlock")


def test_lock_queue_arguments():
    with pytest.raises(ValueError):
        ring.LockQueue(0)
    assert ring.LockQueue(3).capacity == 3


def test_snapshot_sequence_numbers_follow_the_algorithm():
    tx, rx = ring.bounded(4)
    assert tx.snapshot()["seq"].tolist() == [0, 2, 4, 6]  # 2i: free for position i
    tx.send_many([10, 11, 12, 13])
    snap = tx.snapshot()
    assert snap["seq"].tolist() == [1, 3, 5, 7] and snap["value"].tolist() == [10, 11, 12, 13]
    rx.recv()
    tx.send(14)  # position 4 reuses slot 0: freed as 2*(0+4) = 8, published as 9
    snap = rx.snapshot()
    assert (snap["head"], snap["tail"], int(snap["seq"][0])) == (1, 5, 9)
    import matplotlib
    matplotlib.use("Agg")
    assert tx.draw() is not None


def test_python_fast_path_keeps_the_gil_and_shares_the_ring():
    """_ringpy's calls work on the same ring as cffi's, and never release the GIL: while one
    thread sits in a tight loop of fast-path calls, a second Python thread does not run at all
    between two of them (sys.setswitchinterval is the only way it could get in)."""
    import sys
    import threading

    from course_lib._c import _ringpy
    from course_lib.channel import ring as ring_mod

    tx, rx = ring_mod.bounded(8)
    address = tx._ring.address
    assert _ringpy.try_send_i64(address, 41) == 0
    assert rx.recv() == 41
    tx.send(7)
    assert _ringpy.try_recv_i64(address) == 7
    assert _ringpy.try_recv_i64(address) is None  # empty
    with pytest.raises(TypeError):
        _ringpy.try_send_i64(address)
    with pytest.raises(OverflowError):
        _ringpy.try_send_i64(address, 2**64)

    ticks, stop = [0], threading.Event()

    def ticker():
        while not stop.is_set():
            ticks[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(1.0)  # the GIL changes hands only when released or after 1 s
    t = threading.Thread(target=ticker)
    try:
        t.start()
        before = ticks[0]
        for _ in range(20_000):
            _ringpy.try_send_i64(address, 1)
            _ringpy.try_recv_i64(address)
        during = ticks[0] - before
    finally:
        stop.set()
        sys.setswitchinterval(old)
        t.join(10)
    assert during == 0, f"the ticker ran {during} times: a fast-path call released the GIL"


# ---- review fixes: deadlines in C, the fast path's bounded spin, atomic close --------------------

def _in_thread(fn, limit, unblock=None):
    """Run fn on a daemon thread; fail (after calling unblock to free it) if it takes > limit s."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("v", fn()), daemon=True)
    t.start()
    t.join(limit)
    if t.is_alive():
        if unblock:
            unblock()
        t.join(5)
        pytest.fail(f"the call did not return within {limit} s")
    return box.get("v")


def test_tiny_c_timeouts_always_time_out():
    """A timed recv in C whose deadline passes just before it parks must not park without a
    limit (park_on takes a negative time as "forever"). The race window is short, so sweep many
    timeouts around the moment the backoff reaches the park stage."""
    from course_lib._c._ring import ffi, lib

    tx, rx = ring.bounded(4)
    out = ffi.new("int64_t *")

    def sweep():
        rcs = collections.Counter()
        for i in range(4000 * STRESS):
            rcs[lib.cr_recv_i64(rx._ptr, out, 1e-6 * (1 + i % 400))] += 1
        return rcs
    rcs = _in_thread(sweep, 30, unblock=lambda: tx.send_many(np.arange(4)))
    assert set(rcs) == {lib.CR_TIMEOUT}, rcs
    for _ in range(200):  # and through the Python API
        with pytest.raises(Timeout):
            rx.recv(timeout=1e-6)


def test_huge_c_timeout_parks_and_returns_the_value():
    """cr_recv(timeout=1e300) must wait on the futex (the seconds are clamped before the
    conversion to time_t, which overflowed into a busy loop) and still get the message."""
    import time

    from course_lib._c._ring import ffi, lib

    tx, rx = ring.bounded(4)
    out = ffi.new("int64_t *")
    rcs = []
    t = threading.Thread(target=lambda: rcs.append(lib.cr_recv_i64(rx._ptr, out, 1e300)),
                         daemon=True)
    cpu0 = time.process_time()
    t.start()
    time.sleep(0.3)
    cpu = time.process_time() - cpu0
    tx.send(42)
    t.join(10)
    assert not t.is_alive() and rcs == [lib.CR_OK] and out[0] == 42
    assert cpu < 0.1, f"the parked receiver burnt {cpu:.2f} s of CPU in 0.3 s: it did not sleep"
    got = []
    t = threading.Thread(target=lambda: got.append(rx.recv(timeout=1e300)), daemon=True)
    t.start()
    tx.send(43)
    t.join(10)
    assert got == [43]


def _raw(tx):
    """The ring's head/tail words and its slots, through the struct layout of ring.c (checked
    against the public counters), to freeze another thread half-way through an operation."""
    from course_lib._c._ring import ffi, lib

    words = ffi.cast("uint64_t *", tx.address)
    # tail, head sit on their own 64-byte lines (words 0 and 8); cap follows senders/receivers.
    assert words[0] == lib.cr_sent(tx._ptr) and words[8] == lib.cr_received(tx._ptr)
    assert words[33] == tx.capacity
    slots = ffi.cast("uint64_t *", words[35])  # (seq, value) pairs
    assert slots[0] == lib.cr_slot_seq(tx._ptr, 0)
    return words, slots


def test_fast_path_gives_up_on_a_half_done_send_and_keeps_the_gil_free():
    """A producer that claimed a position but has not published it yet (preempted there) makes
    dequeue spin. The GIL-holding fast path must give up (None) instead of spinning with the GIL;
    recv then waits in C with the GIL released, and gets the message once it is published."""
    from course_lib._c import _ringpy

    tx, rx = ring.bounded(4)
    words, slots = _raw(tx)
    tx.send(5)  # position 0, published; now claim position 1 without publishing
    rx.recv()
    words[0] += 1  # tail 2: "a producer owns position 1"
    tx.send(9)  # position 2, published: completed, so recv must wait for position 1 first
    assert _ringpy.try_recv_i64(tx.address) is None  # gave up, claimed nothing
    got = []
    t = threading.Thread(target=lambda: got.append(rx.recv(timeout=10)), daemon=True)
    t.start()
    ticks = sum(1 for _ in range(100_000))  # this thread runs: the waiting recv freed the GIL
    assert ticks == 100_000 and t.is_alive() and not got
    slots[2 * 1 + 1] = 8  # the producer writes its payload into slot 1 ...
    slots[2 * 1] = 2 * 1 + 1  # ... and publishes it
    t.join(10)
    assert got == [8] and rx.recv(timeout=1) == 9 and len(rx) == 0


def test_fast_path_full_from_a_half_done_recv_loses_nothing():
    """A consumer that claimed the oldest message but has not freed its slot makes enqueue spin.
    The fast path gives up with FULL; try_send then asks cffi (GIL released), so nothing is lost
    or duplicated, and the send completes once the slot is freed."""
    from course_lib._c import _ringpy

    tx, rx = ring.bounded(2)
    words, slots = _raw(tx)
    tx.send(1)
    tx.send(2)
    words[8] += 1  # head 1: "a consumer owns position 0 (message 1)"
    assert _ringpy.try_send_i64(tx.address, 3) == ring._FULL
    done = []
    t = threading.Thread(target=lambda: done.append(tx.try_send(3)), daemon=True)
    t.start()
    ticks = sum(1 for _ in range(100_000))
    assert ticks == 100_000 and t.is_alive()
    slots[0] = 2 * (0 + 2)  # the consumer frees slot 0 for the next lap
    t.join(10)
    assert done == [None]
    assert [rx.recv(timeout=1), rx.recv(timeout=1)] == [2, 3] and len(rx) == 0


def test_concurrent_close_of_one_end_drops_it_once():
    """Two threads closing the same end: only one may uncount it (test-and-set)."""
    import time

    class SlowFlag(ring.RingSender):  # widens the window between reading and setting _closed
        @property
        def _closed(self):
            v = self.__dict__.get("c", False)
            time.sleep(0.05)
            return v

        @_closed.setter
        def _closed(self, v):
            self.__dict__["c"] = v

    tx, rx = ring.bounded(2)
    from course_lib._c._ring import lib
    lib.cr_sender_add(tx._ptr)
    shared = SlowFlag(tx._ring)
    threads = [threading.Thread(target=shared.close) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert tx.statistics().senders == 1, "one end was closed twice: the ring lost a sender"
    tx.send(1)
    assert rx.recv(timeout=1) == 1
