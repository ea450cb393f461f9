"""Tests for course_lib.testing.batteries.channel: the battery passes good channels and catches bad ones.

A reference channel built on ``threading.Condition`` (what the notebook's first exercise asks
for) must pass every check; deliberately broken variants must each be caught, quickly, with a
message that names the problem.
"""
from __future__ import annotations

import collections
import threading
import time

import pytest

from course_lib.channel import Disconnected, Timeout, bounded
from course_lib.testing.batteries import channel as battery

pytestmark = pytest.mark.timeout(60)


class _State:
    def __init__(self, cap, two_conditions=False):
        self.cap = cap
        self.items = collections.deque()
        self.cond = threading.Condition()
        # Either one condition for both sides, or one per side on the same lock.
        self.not_empty = threading.Condition(self.cond) if two_conditions else self.cond
        self.not_full = threading.Condition(self.cond) if two_conditions else self.cond
        self.senders = self.receivers = 1

    def wake_everyone(self):
        for cond in {id(c): c for c in (self.cond, self.not_empty, self.not_full)}.values():
            cond.notify_all()


class CondSender:
    """Reference: a bounded sender on one Condition (notify_all on every change)."""

    lose_every = 0  # broken variants override these class attributes
    ignore_cap = False
    notify = True
    wake_one = False  # notify() one waiter instead of notify_all()
    wakes = "not_empty"  # which condition a send signals (the receivers wait on not_empty)

    def __init__(self, state):
        self.s = state
        self.count = 0

    def send(self, value, timeout=None):
        s = self.s
        end = None if timeout is None else time.monotonic() + timeout
        with s.cond:
            while True:
                if s.receivers == 0:
                    raise Disconnected("receivers gone", value)
                if self.ignore_cap or len(s.items) < s.cap:
                    self.count += 1
                    if not (self.lose_every and self.count % self.lose_every == 0):
                        s.items.append(value)
                    if self.notify:
                        cond = getattr(s, self.wakes)
                        (cond.notify if self.wake_one else cond.notify_all)()
                    return
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise Timeout("full", value)
                s.not_full.wait(left)

    def close(self):
        with self.s.cond:
            self.s.senders -= 1
            self.s.wake_everyone()


class CondReceiver:
    lifo = False
    keep = False  # never removes: duplicates
    wake_one = False
    hang = False  # waits without timeout and ignores disconnection
    two_sections = False  # checks in one critical section, pops in the next

    def __init__(self, state):
        self.s = state

    def recv(self, timeout=None):
        s = self.s
        end = None if timeout is None else time.monotonic() + timeout
        with s.cond:
            while not s.items:
                if s.senders == 0 and not self.hang:
                    raise Disconnected("senders gone")
                if self.hang:
                    s.not_empty.wait()
                    continue
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise Timeout("empty")
                s.not_empty.wait(left)
            if not self.two_sections:
                return self._take()
        with s.cond:  # between the two sections, another receiver may take the message
            return self._take()

    def _take(self):
        s = self.s
        if self.keep:
            return s.items[0]
        value = s.items.pop() if self.lifo else s.items.popleft()
        (s.not_full.notify if self.wake_one else s.not_full.notify_all)()
        return value

    def close(self):
        with self.s.cond:
            self.s.receivers -= 1
            self.s.wake_everyone()


def factory(sender=CondSender, receiver=CondReceiver):
    def make(cap):
        state = _State(cap)
        return sender(state), receiver(state)
    return make


@pytest.fixture
def fast_limits(monkeypatch):
    """Shorter deadlock limits so the broken channels fail in about a second."""
    monkeypatch.setattr(battery, "WAIT", 0.5)
    monkeypatch.setattr(battery, "LIMIT", 1.5)


def test_reference_condition_channel_passes_everything():
    battery.check_channel(factory())


def test_learners_are_graded_on_everything_but_fairness():
    assert battery.fairness not in battery.EXERCISE_CHECKS
    assert set(battery.EXERCISE_CHECKS) | {battery.fairness} == set(battery.CHECKS)


def test_course_lib_bounded_passes_everything():
    assert all(v is None for v in battery.run_battery(bounded).values())


def _failures(make, checks):
    report = battery.run_battery(make, checks=checks)
    return {k: v for k, v in report.items() if v is not None}


def test_catches_lost_message(fast_limits):
    class Lossy(CondSender):
        lose_every = 97
    failed = _failures(factory(sender=Lossy), [battery.spsc, battery.mpmc])
    assert set(failed) == {"spsc", "mpmc"}
    assert "lost" in failed["mpmc"] and "exactly once" in failed["mpmc"]


def test_catches_no_backpressure():
    class Unbounded(CondSender):
        ignore_cap = True
    failed = _failures(factory(sender=Unbounded), [battery.capacity, battery.timeouts])
    assert "capacity" in failed and "back-pressure" in failed["capacity"]
    assert "timeouts" in failed


def test_catches_deadlock_quickly(fast_limits):
    class Silent(CondSender):
        notify = False  # a receiver waiting without timeout is never woken

    class Hanging(CondReceiver):
        hang = True
    t0 = time.monotonic()
    failed = _failures(factory(sender=Silent, receiver=Hanging), [battery.spsc])
    assert "still waiting" in failed["spsc"] and "deadlock" in failed["spsc"].lower()
    assert time.monotonic() - t0 < 10


def test_catches_duplicates_and_reordering(fast_limits):
    class Keeper(CondReceiver):
        keep = True

    class Stack(CondReceiver):
        lifo = True
    dup = _failures(factory(receiver=Keeper), [battery.smoke])
    assert "smoke" in dup
    lifo = _failures(factory(receiver=Stack), [battery.smoke, battery.spsc])
    assert "first in, first out" in lifo["smoke"]


def test_catches_missing_disconnection(fast_limits):
    class NoClose(CondSender):
        def close(self):
            pass
    failed = _failures(factory(sender=NoClose), [battery.disconnection])
    assert "Disconnected" in failed["disconnection"]


def test_catches_a_channel_that_starves_one_producer(fast_limits):
    class Favourite(CondSender):
        def send(self, value, timeout=None):
            me = threading.get_ident()
            favourite = self.s.__dict__.setdefault("favourite", me)  # one per channel
            if me != favourite:  # everyone else waits in vain
                time.sleep(timeout or 0)
                raise Timeout("full", value)
            return super().send(value, timeout)

    failed = _failures(factory(sender=Favourite), [battery.fairness])
    assert "in each of 3 rounds" in failed["fairness"] and "vs 0" in failed["fairness"]


def test_catches_a_close_that_only_works_through_the_waiters_timeout(fast_limits):
    class QuietClose(CondSender):
        def close(self):  # forgets notify_all: the waiter sees it only when its wait times out
            with self.s.cond:
                self.s.senders -= 1

    class QuietReceiverClose(CondReceiver):
        def close(self):
            with self.s.cond:
                self.s.receivers -= 1

    for make in (factory(sender=QuietClose), factory(receiver=QuietReceiverClose)):
        failed = _failures(make, [battery.disconnection])
        assert "at its own" in failed["disconnection"] and "wake" in failed["disconnection"]


def test_unbounded_mode_skips_capacity_checks():
    report = battery.run_battery(lambda cap: bounded(10**6), bounded=False)
    assert "capacity" not in report and all(v is None for v in report.values())


def test_check_channel_lists_every_failure(fast_limits):
    class Unbounded(CondSender):
        ignore_cap = True
    with pytest.raises(AssertionError, match=r"checks failed:\n- capacity"):
        battery.check_channel(factory(sender=Unbounded), checks=[battery.smoke, battery.capacity])


# ---- exercise checkers (course_lib.testing.exercises.c02_channels) ---------------------------------

from course_lib.channel import merge, pipeline, unbounded  # noqa: E402
from course_lib.testing.exercises import c02_channels as ex  # noqa: E402

# course_lib's own pipeline and merge stand in for a learner's answers here, so these tests call
# the checkers' bodies (``__wrapped__``), past the check that an answer is not course_lib's own
# (that check has its tests in test_graders.py).


def good_pipeline3(items, f, g, h, cap):
    return pipeline(items, [f, g, h], cap)


def test_pipeline_checker_accepts_the_library_pipeline():
    ex.check_pipeline.__wrapped__(good_pipeline3)


def test_pipeline_checker_catches_sequential_code():
    with pytest.raises(AssertionError, match="own thread"):
        ex.check_pipeline.__wrapped__(lambda items, f, g, h, cap: [h(g(f(x))) for x in items])


def test_pipeline_checker_catches_missing_backpressure(monkeypatch):
    import course_lib.channel as channel
    import course_lib.channel.patterns as patterns

    def no_backpressure(items, f, g, h, cap):  # the library pipeline, but on unbounded channels
        monkeypatch.setattr(channel, "bounded", lambda cap: unbounded())
        try:
            return patterns.pipeline(list(items), [f, g, h], cap)
        finally:
            monkeypatch.undo()
    with pytest.raises(AssertionError, match="back-pressure"):
        ex.check_pipeline.__wrapped__(no_backpressure, caps=(2,))


def test_pipeline_checker_catches_a_pipeline_that_swallows_errors():
    def swallow(items, f, g, h, cap):
        try:
            return pipeline(items, [f, g, h], cap)
        except ValueError:
            return []  # the error is lost: the caller thinks the run succeeded
    with pytest.raises(AssertionError, match="re-raise"):
        ex.check_pipeline.__wrapped__(swallow, caps=(2,))


def test_fan_in_checker():
    ex.check_fan_in.__wrapped__(lambda rs: list(merge(rs)))
    with pytest.raises(AssertionError, match="select"):
        ex.check_fan_in.__wrapped__(lambda rs: [m for r in rs for m in r])  # drains one after the other


def test_fan_in_checker_catches_stopping_at_first_disconnect():
    def first_only(rs):
        from course_lib.channel import Disconnected, select
        out = []
        while True:
            try:
                out.append(select(rs)[1])
            except Disconnected:
                return out
    with pytest.raises(AssertionError, match="every receiver"):
        ex.check_fan_in.__wrapped__(first_only)


def test_backpressure_prediction_checker():
    ex.check_backpressure_prediction([0.001, 0.004, 0.002], 1, {0, 1}, 240)
    with pytest.raises(AssertionError, match="largest cost"):
        ex.check_backpressure_prediction([0.001, 0.004, 0.002], 2, {0, 1}, 250)
    with pytest.raises(AssertionError, match="before"):
        ex.check_backpressure_prediction([0.001, 0.004, 0.002], 1, {1, 2}, 250)
    with pytest.raises(AssertionError, match="slowest stage"):
        ex.check_backpressure_prediction([0.001, 0.004, 0.002], 1, {0, 1}, 1000 / 7)


# ---- review fixes ------------------------------------------------------------------------------

def test_battery_fails_fast_on_a_send_that_ignores_its_timeout(fast_limits):
    class Deaf(CondSender):
        def send(self, value, timeout=None):
            return super().send(value, None)  # waits forever on a full channel
    t0 = time.monotonic()
    failed = _failures(factory(sender=Deaf), [battery.smoke, battery.capacity, battery.timeouts])
    assert time.monotonic() - t0 < 20
    assert "smoke" not in failed
    assert "ignore its timeout" in failed["capacity"]
    assert "not run" in failed["timeouts"]


def c02_fan_in(receivers):
    """The reference solution of the c02 notebook's fan-in exercise."""
    from course_lib.channel import Disconnected, select
    live, out = list(receivers), []
    while live:
        try:
            _, msg = select(live)
        except Disconnected as e:
            live.remove(e.receiver)
            continue
        out.append(msg)
    return out


def test_fan_in_checker_accepts_the_notebook_solution_and_a_generator():
    ex.check_fan_in.__wrapped__(c02_fan_in)
    ex.check_fan_in.__wrapped__(lambda rs: iter(c02_fan_in(rs)))  # an iterator result is read once


def test_fan_in_checker_catches_round_robin_blocking_recv():
    def round_robin(receivers):  # never uses select: waits on each receiver in turn
        live, out = list(receivers), []
        while live:
            for r in list(live):
                try:
                    out.append(r.recv())
                except Disconnected:
                    live.remove(r)
        return out
    with pytest.raises(AssertionError, match="select"):
        ex.check_fan_in.__wrapped__(round_robin)


def test_pipeline_checker_overlap_is_structural():
    """A slow machine may not fail a threaded pipeline: the overlap check uses no stopwatch."""
    import course_lib.testing.exercises.c02_channels as mod

    real_sleep = time.sleep
    slowed = type("T", (), {**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")},
                            "sleep": staticmethod(lambda s: real_sleep(5 * s))})
    old = mod.time
    mod.time = slowed  # every stage 5x slower, as on a loaded machine
    try:
        ex.check_pipeline.__wrapped__(good_pipeline3, caps=(2,))
    finally:
        mod.time = old


def test_backpressure_checker_accepts_an_iterator_of_costs():
    ex.check_backpressure_prediction(iter([0.001, 0.004, 0.002]), 1, {0, 1}, 250)
    with pytest.raises(AssertionError, match=r"largest cost.*4 ms"):
        ex.check_backpressure_prediction(iter([0.001, 0.004, 0.002]), 2, {0, 1}, 250)


# ---- races the battery must provoke (grading real answers found both passing 30 of 30 runs) ----
class TwoSectionReceiver(CondReceiver):
    two_sections = True


class WrongWaiterSender(CondSender):
    """One condition per side, and send() signals not_full, where the senders wait: a receiver
    waiting for a message is woken only by its own timeout."""

    wakes = "not_full"


def _two_condition_factory(sender):
    def make(cap):
        state = _State(cap, two_conditions=True)
        return sender(state), CondReceiver(state)
    return make


def test_battery_provokes_a_receive_split_over_two_critical_sections():
    for run in range(3):  # every run must catch it, not one in a few
        failed = _failures(factory(receiver=TwoSectionReceiver), battery.EXERCISE_CHECKS)
        assert failed, f"run {run + 1}: a receive in two critical sections passed the battery"


def test_battery_catches_a_notify_that_wakes_the_wrong_waiter(fast_limits):
    for run in range(2):
        failed = _failures(_two_condition_factory(WrongWaiterSender), [battery.spsc, battery.mpmc])
        assert failed and any("own" in m and "timeout" in m for m in failed.values()), failed


def test_a_two_condition_channel_with_the_right_notify_passes():
    battery.check_channel(_two_condition_factory(CondSender))


def test_battery_catches_notify_one_on_a_shared_condition(fast_limits):
    """Senders and receivers wait on one condition, and each side wakes a single waiter: the
    one woken may be of the wrong kind, and a receiver then sleeps until its own timeout."""
    class NotifyOneSender(CondSender):
        wake_one = True

    class NotifyOneReceiver(CondReceiver):
        wake_one = True

    for run in range(2):
        failed = _failures(factory(NotifyOneSender, NotifyOneReceiver), [battery.wakeups])
        assert "wakeups" in failed, f"run {run + 1}: notify() to one waiter of either kind passed"


# ---- the graders' contract: each answer graded by the exercise's own checker -----------------
import numpy as np  # noqa: E402

from contract import case, right, wrong  # noqa: E402

CHANNEL = "c02_channels:test_cond_channel"
PIPELINE = "c02_channels:test_pipeline3"
FAN_IN = "c02_channels:test_fan_in"
PREDICT = "c02_channels:test_predict_backpressure"


class _Lossy(CondSender):
    lose_every = 97


class _Unbounded(CondSender):
    ignore_cap = True


class _Deaf(CondSender):
    def send(self, value, timeout=None):
        return super().send(value, None)


class _Lifo(CondReceiver):
    lifo = True


class _NoClose(CondSender):
    def close(self):
        pass


class _QuietClose(CondSender):
    def close(self):
        with self.s.cond:
            self.s.senders -= 1


class _NotifyOneSender(CondSender):
    wake_one = True


class _NotifyOneReceiver(CondReceiver):
    wake_one = True


@pytest.mark.parametrize("make", [
    case(factory(), mark=right(CHANNEL, "one condition, notify_all")),
    case(_two_condition_factory(CondSender), mark=right(CHANNEL, "two conditions on one lock")),
])
def test_channel_exercise_accepts(make):
    ex.check_channel(make)


@pytest.mark.parametrize("make", [
    case(factory(sender=_Lossy), mark=wrong(CHANNEL, "loses messages")),
    case(factory(sender=_Unbounded), mark=wrong(CHANNEL, "no back-pressure")),
    case(factory(sender=_Deaf), mark=wrong(CHANNEL, "send ignores its timeout")),
    case(factory(receiver=_Lifo), mark=wrong(CHANNEL, "out of order")),
    case(factory(sender=_NoClose), mark=wrong(CHANNEL, "no disconnection")),
    case(factory(sender=_QuietClose), mark=wrong(CHANNEL, "late wake-up on close")),
    case(factory(receiver=TwoSectionReceiver), mark=wrong(CHANNEL, "race: two critical sections")),
    case(_two_condition_factory(WrongWaiterSender), mark=wrong(CHANNEL, "wakes the wrong waiter")),
    case(factory(_NotifyOneSender, _NotifyOneReceiver), mark=wrong(CHANNEL, "notify one of either kind")),
])
def test_channel_exercise_rejects(make, fast_limits):
    with pytest.raises(AssertionError, match="checks failed"):
        ex.check_channel(make)


def pipeline_threads(items, f, g, h, cap=2):
    """The notebook's shape, written as a learner might: a list of stages and a shared error list."""
    from course_lib.channel import Disconnected as Gone, bounded as channel

    errors, ends = [], [channel(cap) for _ in range(4)]

    def feed():
        with ends[0][0] as tx:
            for x in items:
                try:
                    tx.send(x)
                except Gone:
                    return

    def stage(fn, k):
        rx, tx = ends[k][1], ends[k + 1][0]
        with rx, tx:
            for x in rx:
                try:
                    y = fn(x)
                except Exception as exc:
                    errors.append(exc)
                    return
                try:
                    tx.send(y)
                except Gone:
                    return

    workers = [threading.Thread(target=feed)] + [threading.Thread(target=stage, args=(fn, k))
                                                 for k, fn in enumerate((f, g, h))]
    for w in workers:
        w.start()
    with ends[3][1] as rx:
        out = list(rx)
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return out


def pipeline_executor(items, f, g, h, cap=2):
    """Correct, written differently: an executor runs the threads, futures carry the errors."""
    from concurrent.futures import ThreadPoolExecutor

    from course_lib.channel import Disconnected as Gone, bounded as channel

    (t0, r0), (t1, r1), (t2, r2), (t3, r3) = (channel(cap) for _ in range(4))

    def feed():
        with t0:
            try:
                for x in items:
                    t0.send(x)
            except Gone:
                pass

    def stage(fn, rx, tx):
        with rx, tx:
            try:
                for x in rx:
                    tx.send(fn(x))
            except Gone:
                pass

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(feed), pool.submit(stage, f, r0, t1), pool.submit(stage, g, r1, t2),
                   pool.submit(stage, h, r2, t3)]
        with r3:
            out = list(r3)
    for fut in futures[1:]:  # stage order is the order the errors happened in along the pipe
        if fut.exception() is not None:
            raise fut.exception()
    return out


def pipeline_sequential(items, f, g, h, cap=2):
    return [h(g(f(x))) for x in items]


def pipeline_unbounded(items, f, g, h, cap=2):
    """Threads and channels, but unbounded ones: no back-pressure."""
    import course_lib.channel as channel_module

    real = channel_module.bounded
    channel_module.bounded = lambda cap: unbounded()
    try:
        return pipeline_threads(items, f, g, h, cap)
    finally:
        channel_module.bounded = real


def pipeline_swallows(items, f, g, h, cap=2):
    try:
        return pipeline_threads(items, f, g, h, cap)
    except ValueError:
        return []


def pipeline_leaves_receiver_open(items, f, g, h, cap=2):
    """A failing stage stops, but without closing its receiver: the stages before it wait
    forever on a full channel instead of seeing Disconnected (daemon threads, never joined)."""
    from course_lib.channel import bounded as channel

    errors, ends = [], [channel(cap) for _ in range(4)]

    def feed():
        with ends[0][0] as tx:
            for x in items:
                tx.send(x)

    def stage(fn, k):
        rx = ends[k][1]
        with ends[k + 1][0] as tx:
            for x in rx:
                try:
                    tx.send(fn(x))
                except Exception as exc:
                    errors.append(exc)
                    return

    workers = [threading.Thread(target=feed, daemon=True)] + [
        threading.Thread(target=stage, args=(fn, k), daemon=True) for k, fn in enumerate((f, g, h))]
    for w in workers:
        w.start()
    with ends[3][1] as rx:
        out = list(rx)
    if errors:
        raise errors[0]
    return out


@pytest.mark.parametrize("answer", [case(pipeline_threads, mark=right(PIPELINE, "threads and a list of ends")),
                                    case(pipeline_executor, mark=right(PIPELINE, "executor and futures"))])
def test_pipeline_exercise_accepts(answer):
    ex.check_pipeline(answer)


@pytest.mark.parametrize("answer, match", [
    case(pipeline_sequential, "own thread", mark=wrong(PIPELINE, "serial")),
    case(pipeline_unbounded, "back-pressure", mark=wrong(PIPELINE, "no back-pressure")),
    case(pipeline_swallows, "re-raise", mark=wrong(PIPELINE, "swallows the error")),
    case(pipeline_leaves_receiver_open, "kept running", mark=wrong(PIPELINE, "no shutdown on error")),
])
def test_pipeline_exercise_rejects(answer, match):
    with pytest.raises(AssertionError, match=match):
        ex.check_pipeline(answer, caps=(2,))


def fan_in_drained_in_turn(receivers):
    return [m for r in receivers for m in r]


def fan_in_first_disconnect(receivers):
    from course_lib.channel import select
    out = []
    while True:
        try:
            out.append(select(receivers)[1])
        except Disconnected:
            return out


def fan_in_round_robin(receivers):
    live, out = list(receivers), []
    while live:
        for r in list(live):
            try:
                out.append(r.recv())
            except Disconnected:
                live.remove(r)
    return out


def fan_in_generator(receivers):
    from course_lib.channel import select
    live = set(receivers)
    while live:
        try:
            yield select(list(live))[1]
        except Disconnected as gone:
            live.discard(gone.receiver)


@pytest.mark.parametrize("answer", [case(c02_fan_in, mark=right(FAN_IN, "select, remove the closed")),
                                    case(fan_in_generator, mark=right(FAN_IN, "a generator over a set"))])
def test_fan_in_exercise_accepts(answer):
    ex.check_fan_in(answer)


@pytest.mark.parametrize("answer, match", [
    case(fan_in_drained_in_turn, "select", mark=wrong(FAN_IN, "drains one after the other")),
    case(fan_in_first_disconnect, "every receiver", mark=wrong(FAN_IN, "stops at the first disconnection")),
    case(fan_in_round_robin, "select", mark=wrong(FAN_IN, "blocking recv in turn")),
])
def test_fan_in_exercise_rejects(answer, match):
    with pytest.raises(AssertionError, match=match):
        ex.check_fan_in(answer)


COSTS = [0.001, 0.004, 0.002]


@pytest.mark.parametrize("bottleneck, full, rate", [
    case(1, {0, 1}, 250, mark=right(PREDICT, "exact")),
    case(np.int64(1), frozenset(range(2)), 1 / 0.0042, mark=right(PREDICT, "numpy, frozenset, measured rate")),
    case(1, [0, 1], 240.0, mark=right(PREDICT, "a list of channels")),
])
def test_backpressure_prediction_accepts(bottleneck, full, rate):
    ex.check_backpressure_prediction(COSTS, bottleneck, full, rate)


@pytest.mark.parametrize("bottleneck, full, rate, match", [
    case(2, {0, 1, 2}, 250, "largest cost", mark=wrong(PREDICT, "last stage as bottleneck")),
    case(1, {1, 2}, 250, "before", mark=wrong(PREDICT, "full channels after the bottleneck")),
    case(1, {0, 1}, 1 / sum(COSTS), "slowest stage", mark=wrong(PREDICT, "rate from the sum of costs")),
])
def test_backpressure_prediction_rejects(bottleneck, full, rate, match):
    with pytest.raises(AssertionError, match=match):
        ex.check_backpressure_prediction(COSTS, bottleneck, full, rate)
