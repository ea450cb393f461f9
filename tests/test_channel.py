"""Tests for course_lib.channel: the battery on every flavour, then the API's details."""
from __future__ import annotations

import collections
import threading
import time

import pytest

from course_lib.channel import (ChannelError, Closed, Disconnected, Empty, Full, LengthSampler,
                                Receiver, Sender, Timeout, after, bounded, fan_out_fan_in, merge,
                                never, pipeline, select, tick, unbounded, worker_pool)
from course_lib.testing.batteries import channel as battery

pytestmark = pytest.mark.timeout(60)

FLAVOURS = {
    "array": (bounded, True),
    "list": (lambda cap: unbounded(), False),
}


@pytest.mark.parametrize("check", battery.CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_battery(flavour, check):
    make, is_bounded = FLAVOURS[flavour]
    if not is_bounded and check in (battery.capacity, battery.fairness):
        pytest.skip("an unbounded channel never blocks a sender")
    if check in (battery.disconnection, battery.timeouts):
        check(make, bounded=is_bounded)
    else:
        check(make)


@pytest.mark.parametrize("check", [battery.spsc, battery.mpmc, battery.stress],
                         ids=lambda c: c.__name__)
def test_battery_zero(check):
    check(lambda cap: bounded(0))


def _all_flavours():
    return [bounded(3), unbounded(), bounded(0)]


def test_exactly_once_with_clones_and_disconnection():
    """8 producers (own clones), 4 consumers (own clones) iterating until disconnection."""
    for tx, rx in _all_flavours():
        producers, consumers, per = 8, 4, 300
        got = [[] for _ in range(consumers)]

        def produce(p, tx):
            with tx:
                for s in range(per):
                    tx.send((p, s))

        def consume(c, rx):
            with rx:
                got[c].extend(rx)

        threads = [threading.Thread(target=produce, args=(p, tx.clone())) for p in range(producers)]
        threads += [threading.Thread(target=consume, args=(c, rx.clone())) for c in range(consumers)]
        tx.close()
        rx.close()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
            assert not t.is_alive()
        counts = collections.Counter(m for g in got for m in g)
        assert counts == collections.Counter((p, s) for p in range(producers) for s in range(per))
        for g in got:  # FIFO per producer, as seen by each consumer
            for p in range(producers):
                seq = [s for q, s in g if q == p]
                assert seq == sorted(seq)


def test_bounded_argument_errors():
    with pytest.raises(TypeError, match="int"):
        bounded("3")
    with pytest.raises(TypeError):
        bounded(2.0)
    with pytest.raises(TypeError):
        bounded(True)
    with pytest.raises(ValueError, match=">= 0"):
        bounded(-1)


@pytest.mark.parametrize("bad,err", [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError)])
def test_timeout_argument_errors(bad, err):
    tx, rx = bounded(1)
    with pytest.raises(err):
        rx.recv(timeout=bad)
    with pytest.raises(err):
        tx.send(1, timeout=bad)


def test_exception_hierarchy_and_values():
    for exc in (Full, Empty, Timeout, Disconnected, Closed):
        assert issubclass(exc, ChannelError)
    assert issubclass(Timeout, TimeoutError)
    tx, rx = bounded(1)
    tx.send("a")
    with pytest.raises(Full) as e:
        tx.try_send("b")
    assert e.value.value == "b"
    with pytest.raises(Timeout) as e:
        tx.send("c", timeout=0.01)
    assert e.value.value == "c"
    rx.close()
    with pytest.raises(Disconnected) as e:
        tx.send("d")
    assert e.value.value == "d" and e.value.has_value
    tx2, rx2 = unbounded()
    with pytest.raises(Empty) as e:
        rx2.try_recv()
    assert not e.value.has_value
    with pytest.raises(AttributeError):
        e.value.value


def test_closed_end_errors_and_idempotent_close():
    tx, rx = bounded(2)
    tx2 = tx.clone()
    tx.close()
    tx.close()  # idempotent: does not drop the count twice
    assert tx.closed and not tx2.closed
    for call in (lambda: tx.send(1), lambda: tx.try_send(1), tx.clone):
        with pytest.raises(Closed, match="closed Sender"):
            call()
    tx2.send(5)
    assert rx.recv(timeout=1) == 5  # still connected through the clone
    tx2.close()
    with pytest.raises(Disconnected):
        rx.recv(timeout=1)
    rx.close()
    with pytest.raises(Closed, match="closed Receiver"):
        rx.recv()
    with pytest.raises(Closed):
        select([rx])


def test_with_closes_and_iteration_ends():
    tx, rx = unbounded()
    with tx:
        for i in range(5):
            tx.send(i)
    assert tx.closed
    with rx:
        assert list(rx) == [0, 1, 2, 3, 4]
    assert rx.closed


@pytest.mark.parametrize("cap", [0, 1, 3, None])
def test_len_capacity_empty_full(cap):
    tx, rx = unbounded() if cap is None else bounded(cap)
    assert tx.capacity == rx.capacity == cap
    assert len(rx) == 0 and rx.is_empty()
    assert tx.is_full() == (cap == 0)
    if cap:
        for i in range(cap):
            tx.send(i)
        assert len(tx) == len(rx) == cap and tx.is_full() and not rx.is_empty()
        rx.recv()
        assert len(rx) == cap - 1 and not tx.is_full()
    elif cap is None:
        for i in range(100):
            tx.send(i)
        assert len(rx) == 100 and not tx.is_full()


def test_statistics_counts_ends_and_waiters():
    tx, rx = bounded(1)
    rx2 = rx.clone()
    t = threading.Thread(target=lambda: rx.recv(timeout=5))
    t.start()
    for _ in range(200):
        if tx.statistics().waiting_receivers == 1:
            break
        time.sleep(0.01)
    s = tx.statistics()
    assert (s.senders, s.receivers, s.waiting_receivers, s.capacity) == (1, 2, 1, 1)
    tx.send(1)
    t.join(5)
    s = rx2.statistics()
    assert (s.sent, s.received, s.len, s.waiting_receivers) == (1, 1, 0, 0)


def test_zero_capacity_is_a_rendezvous():
    tx, rx = bounded(0)
    with pytest.raises(Full):
        tx.try_send(1)  # nobody waiting
    with pytest.raises(Empty):
        rx.try_recv()
    with pytest.raises(Timeout):
        tx.send(1, timeout=0.02)
    assert rx.statistics().waiting_senders == 0  # the timed-out packet was withdrawn
    got = []
    t = threading.Thread(target=lambda: got.append(rx.recv(timeout=5)))
    t.start()
    for _ in range(200):  # try_send succeeds once a receiver waits
        try:
            tx.try_send("hi")
            break
        except Full:
            time.sleep(0.01)
    t.join(5)
    assert got == ["hi"]
    done = []
    t = threading.Thread(target=lambda: done.append(tx.send("x", timeout=5)))
    t.start()
    time.sleep(0.05)
    assert not done  # send waits for its receiver
    assert rx.recv(timeout=5) == "x"
    t.join(5)
    assert done == [None]


def test_select_ready_timeout_and_disconnect():
    (t1, r1), (t2, r2) = bounded(2), unbounded()
    t2.send("b")
    assert select([r1, r2], timeout=1) == (r2, "b")
    t0 = time.monotonic()
    with pytest.raises(Timeout):
        select([r1, r2], timeout=0.05)
    assert time.monotonic() - t0 >= 0.04
    threading.Timer(0.05, lambda: t1.send("late")).start()
    assert select([r1, r2], timeout=5) == (r1, "late")  # woken by a send from another thread
    t1.close()
    with pytest.raises(Disconnected) as e:
        select([r1, never()], timeout=1)
    assert e.value.receiver is r1
    with pytest.raises(ValueError):
        select([])
    with pytest.raises(TypeError):
        select([t2])


def test_select_from_rendezvous_sender():
    tx, rx = bounded(0)
    threading.Thread(target=lambda: tx.send(42, timeout=5), daemon=True).start()
    assert select([rx, never()], timeout=5) == (rx, 42)


def test_select_is_fair_under_load():
    (t1, r1), (t2, r2) = unbounded(), unbounded()
    for i in range(1000):
        t1.send(i)
        t2.send(i)
    picks = collections.Counter(select([r1, r2])[0] is r1 for _ in range(1000))
    assert picks[True] > 350 and picks[False] > 350, picks


def test_timers():
    t0 = time.monotonic()
    r = after(0.05)
    with pytest.raises(Empty):
        r.try_recv()
    due = r.recv(timeout=2)
    assert time.monotonic() - t0 >= 0.045 and due >= t0 + 0.05
    with pytest.raises(Timeout):  # one message only, never disconnected
        r.recv(timeout=0.02)
    ticker = tick(0.02)
    ticks = [ticker.recv(timeout=2) for _ in range(3)]
    assert all(b - a >= 0.015 for a, b in zip(ticks, ticks[1:]))
    rx, value = select([never(), after(0.02)], timeout=2)
    assert value > 0
    with pytest.raises(Timeout):
        never().recv(timeout=0.02)
    with pytest.raises(ValueError):
        tick(0)
    with pytest.raises(TypeError):
        after("1")
    with pytest.raises(ValueError):
        after(-1)


def test_worker_pool_orders_results_and_raises():
    assert worker_pool(lambda x: x * x, range(50), workers=3) == [x * x for x in range(50)]
    assert worker_pool(str, [], workers=2) == []

    def boom(x):
        if x == 7:
            raise KeyError(x)
        return x

    with pytest.raises(KeyError):
        worker_pool(boom, range(20), workers=2)
    with pytest.raises(ValueError):
        worker_pool(str, range(3), workers=0)


@pytest.mark.parametrize("cap", [0, 1, 4])
def test_pipeline(cap):
    assert pipeline(range(100), [lambda x: x + 1, lambda x: 2 * x, str], cap=cap) == \
        [str(2 * (x + 1)) for x in range(100)]


def test_pipeline_shuts_down_on_error():
    def bad(x):
        if x == 10:
            raise ZeroDivisionError("stage failed")
        return x

    t0 = time.monotonic()
    with pytest.raises(ZeroDivisionError):
        pipeline(range(10**9), [lambda x: x, bad, lambda x: x], cap=2)  # infinite-ish source
    assert time.monotonic() - t0 < 10


def test_fan_out_fan_in_and_merge():
    assert sorted(fan_out_fan_in(lambda x: x * 3, range(200), workers=4)) == [3 * x for x in range(200)]
    chans = [unbounded() for _ in range(3)]
    for k, (tx, _) in enumerate(chans):
        for i in range(10):
            tx.send((k, i))
        tx.close()
    out = list(merge([rx for _, rx in chans]))
    assert sorted(out) == sorted((k, i) for k in range(3) for i in range(10))
    for k in range(3):
        assert [i for q, i in out if q == k] == list(range(10))


def test_length_sampler_sees_backlog():
    tx, rx = unbounded()
    with LengthSampler([rx], interval=0.001) as s:
        for i in range(50):
            tx.send(i)
        time.sleep(0.02)
    assert s.lengths.shape == (len(s.times), 1) and s.lengths[-1, 0] == 50
    assert isinstance(tx, Sender) and isinstance(rx, Receiver)


def test_measure_pipeline_shows_backpressure():
    from course_lib.channel import measure_pipeline
    run = measure_pipeline([0.0005, 0.003], n=60, cap=2)
    full = run.full_fraction()
    assert full[0] > 0.5 and full[1] > 0.5 and full[2] < 0.5  # full before the slow stage only
    assert run.lengths.max() <= 2
    free = measure_pipeline([0.0005, 0.003], n=60, cap=None, item_bytes=10)
    assert free.lengths[:, 1].max() > 10 and free.full_fraction().sum() == 0  # backlog grows
    assert 0 < free.rate and free.item_bytes == 10


# ---- review fixes: infinite timeouts, atomic close ---------------------------------------------

@pytest.mark.parametrize("timeout", [float("inf"), 1e300])
def test_infinite_timeout_means_forever(timeout):
    from course_lib.channel import select

    for tx, rx in _all_flavours():
        got, errors = [], []

        def receive():
            try:
                got.append(rx.recv(timeout=timeout))
            except BaseException as exc:  # reported below
                errors.append(exc)
        t = threading.Thread(target=receive, daemon=True)
        t.start()
        time.sleep(0.02)
        tx.send(1, timeout=timeout)
        t.join(10)
        assert not errors and got == [1], (errors, got)
    tx, rx = bounded(1)
    tx.send(1)
    t = threading.Thread(target=lambda: tx.send(2, timeout=float("inf")), daemon=True)
    t.start()
    time.sleep(0.02)
    assert rx.recv() == 1
    t.join(10)
    assert not t.is_alive() and rx.recv(timeout=1) == 2
    tx.send(3)
    assert select([rx], timeout=timeout) == (rx, 3)


def test_concurrent_close_of_one_end_drops_it_once():
    class SlowFlag(Sender):  # widens the window between reading and setting _closed
        @property
        def _closed(self):
            v = self.__dict__.get("c", False)
            time.sleep(0.05)
            return v

        @_closed.setter
        def _closed(self, v):
            self.__dict__["c"] = v

    tx, rx = bounded(2)
    tx._chan.add_end(True)
    shared = SlowFlag(tx._chan)
    threads = [threading.Thread(target=shared.close) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert tx.statistics().senders == 1, "one end was closed twice: the channel lost a sender"
    tx.send(1)
    assert rx.recv(timeout=1) == 1
