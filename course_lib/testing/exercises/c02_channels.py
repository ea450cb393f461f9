"""Checkers for chapter c02_channels: every function the chapter's hidden tests call.

- ``check_channel(make)``: the channel battery (``testing.batteries.channel``) on a learner's
  channel, with the checks the exercise lists (``EXERCISE_CHECKS``).
- ``check_pipeline(pipeline3)``: a 3-stage pipeline on bounded channels that returns the right
  outputs in order, overlaps its stages, applies back-pressure to its source, leaves no thread
  behind, and shuts down (re-raising the error) when a stage fails on an endless source.
- ``check_fan_in(fan_in)``: a ``select``-based fan-in that returns every message once, FIFO per
  source, interleaved as they arrive, and returns when every source is disconnected.
- ``check_backpressure_prediction(...)``: predictions about a pipeline with given stage costs.

Every call into learner code runs on a daemon thread joined with a deadline, so a deadlock fails
the check in seconds with a message instead of hanging the notebook.

Source: see ``course_lib/channel/patterns.py`` (shutdown by disconnection, back-pressure).
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from typing import Any, Callable, Iterable

import numpy as np

from course_lib import channel
from course_lib.channel import bounded
from course_lib.channel import ring as _ring
from course_lib.channel.flavour_array import _ArrayChan
from course_lib.channel.flavour_list import _ListChan
from course_lib.channel.flavour_zero import _ZeroChan
from course_lib.testing import call_with_timeout
from course_lib.testing.batteries import channel as battery
from course_lib.testing.batteries.channel import EXERCISE_CHECKS
from course_lib.testing.delegation import answers
from course_lib.testing.exercises import seal

__all__ = ["check_channel", "EXERCISE_CHECKS", "check_pipeline", "check_fan_in",
           "check_backpressure_prediction", "expected_backpressure"]

LIMIT = 10.0  # seconds a learner call may take before it counts as a deadlock
_DEADLOCK_HINT = ("a deadlock? (a stage waiting in recv() for a sender that nobody closed, or a "
                  "send() into a full channel that nobody reads)")


@answers("make_channel", channel.bounded, channel.unbounded, _ring.bounded, _ArrayChan, _ListChan,
         _ZeroChan, queue.Queue, queue.SimpleQueue)
def check_channel(make: Callable, checks=EXERCISE_CHECKS) -> None:
    """The channel battery on the learner's ``make_channel(cap) -> (sender, receiver)``, with the
    checks the exercise lists; the channel must be the learner's own (not course_lib's, nor a
    ``queue.Queue`` underneath)."""
    battery.check_channel(make, checks=checks)


def _call_bounded(what: str, fn: Callable, *args: Any, limit: float | None = None) -> Any:
    """Run ``fn(*args)`` with a deadline; a call that does not return fails as a deadlock."""
    return call_with_timeout(fn, *args, timeout=LIMIT if limit is None else limit, what=what,
                             hint=_DEADLOCK_HINT)


def _extra_threads(before: set, grace: float = 1.0) -> list:
    end = time.monotonic() + grace
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()
                 and t is not threading.current_thread()]
        if not extra or time.monotonic() > end:
            return extra
        time.sleep(0.01)


@answers("pipeline3", channel.pipeline, channel.fan_out_fan_in, channel.worker_pool)
def check_pipeline(pipeline3: Callable, caps: Iterable[int] = (0, 1, 4)) -> None:
    """Check ``pipeline3(items, f, g, h, cap) -> [h(g(f(x))) for x in items]``.

    Example:
        >>> from course_lib.channel import pipeline
        >>> check_pipeline(lambda items, f, g, h, cap: pipeline(items, [f, g, h], cap))
    """
    f, g, h = (lambda x: x + 1), (lambda x: 3 * x), (lambda x: x - 2)
    for cap in caps:
        before = set(threading.enumerate())
        got = _call_bounded(f"pipeline3(range(50), ..., cap={cap})", pipeline3, range(50), f, g, h, cap)
        want = [h(g(f(x))) for x in range(50)]
        if list(got) != want:
            raise AssertionError(f"cap={cap}: expected {want[:5]}..., got {list(got)[:5]}...: "
                                 f"each item goes through f, then g, then h, in order")
        extra = _extra_threads(before)
        if extra:
            raise AssertionError(f"cap={cap}: {len(extra)} thread(s) still running after pipeline3 "
                                 f"returned: close each stage's Sender when it is done, and join every thread")

    # Overlap is checked structurally, not with a stopwatch: count the stage calls in progress
    # at the same moment. Sequential code never has two; threaded stages almost always do.
    lock, active, most = threading.Lock(), [0], [0]

    def slow(x: Any) -> Any:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return x
    _call_bounded("pipeline3 with 10 ms stages", pipeline3, range(20), slow, slow, slow, 2)
    if most[0] < 2:
        raise AssertionError("20 items went through three 10 ms stages, but never were two stages "
                             "working at the same moment: the stages ran one after another. Run each "
                             "stage on its own thread, so that f works on item i+1 while g works on i")

    pulled = [0]
    seen_at_first_output: list = []

    def source():
        for i in range(200):
            pulled[0] += 1
            yield i

    def last(x: Any) -> Any:
        if not seen_at_first_output:
            seen_at_first_output.append(pulled[0])
            time.sleep(0.1)  # the sink is slow at first: upstream must wait, not pile up
        return x
    _call_bounded("pipeline3 with a slow last stage", pipeline3, source(), f, g, last, 2)
    ahead = seen_at_first_output[0]
    if ahead > 16:
        raise AssertionError(f"while the last stage worked on its first item, the pipeline had already "
                             f"pulled {ahead} items from the source: with bounded(2) channels it can "
                             f"be at most a dozen ahead. Use bounded channels so that a slow stage "
                             f"holds back the stages before it (back-pressure)")

    def fails(x: Any) -> Any:
        if x == 5:
            raise ValueError("stage g failed on item 5")
        return x
    before = set(threading.enumerate())
    try:
        _call_bounded("pipeline3 on an endless source whose 2nd stage fails", pipeline3,
                      itertools.count(), f, fails, h, 2)
    except ValueError:
        pass
    except AssertionError:
        raise
    except BaseException as exc:
        raise AssertionError(f"when a stage raises ValueError, pipeline3 should re-raise it; it "
                             f"raised {type(exc).__name__}: {exc}") from exc
    else:
        raise AssertionError("a stage raised ValueError but pipeline3 returned normally: re-raise "
                             "the first error after the threads have stopped")
    extra = _extra_threads(before)
    if extra:
        raise AssertionError(f"after a stage failed, {len(extra)} thread(s) kept running: the failing "
                             f"stage must close its Receiver so that the stage before it gets "
                             f"Disconnected from send() and stops too (and so on up to the source)")


@answers("fan_in", channel.merge, channel.fan_out_fan_in)
def check_fan_in(fan_in: Callable) -> None:
    """Check ``fan_in(receivers) -> list``: every message from every receiver, until all are
    disconnected, taken with ``select`` as they arrive.

    Example:
        >>> from course_lib.channel import merge
        >>> check_fan_in(lambda rs: list(merge(rs)))
    """
    # Uneven counts: the 5-message channel runs dry long before the others, so a fan-in that
    # stops at the first disconnection loses messages in every run, not only in unlucky ones.
    counts = (5, 20, 40)
    chans = [bounded(100) for _ in counts]
    for k, ((tx, _), n) in enumerate(zip(chans, counts)):
        for i in range(n):
            tx.send((k, i))
        tx.close()
    got = list(_call_bounded("fan_in of 3 closed channels", fan_in, [rx for _, rx in chans]))
    if sorted(got) != [(k, i) for k, n in enumerate(counts) for i in range(n)]:
        raise AssertionError(f"expected the {sum(counts)} messages of 3 channels ({counts}) once each, "
                             f"got {len(got)}: keep receiving until every receiver is disconnected "
                             f"(select raises Disconnected with e.receiver: drop that one, go on)")
    for k in range(3):
        seq = [i for q, i in got if q == k]
        if seq != sorted(seq):
            raise AssertionError(f"messages of channel {k} came out of order: {seq}")

    # The fast source's 5 messages are all ready from the start; the slow source sends #0 after
    # 30 ms and #1 only once the fast channel is empty (or after 2 s). A fan-in that takes what is
    # ready therefore returns every fast message before slow #1, however loaded the machine is;
    # one that waits on the slow receiver while fast messages are ready (draining one receiver
    # after the other, or a blocking recv() on each in turn) does not.
    (slow_tx, slow_rx), (fast_tx, fast_rx) = bounded(10), bounded(10)
    with fast_tx:
        for i in range(5):
            fast_tx.send(("fast", i))

    def slow_source() -> None:
        with slow_tx:
            time.sleep(0.03)
            slow_tx.send(("slow", 0))
            end = time.monotonic() + 2.0
            while len(fast_rx) and time.monotonic() < end:
                time.sleep(0.001)
            for i in range(1, 5):
                slow_tx.send(("slow", i))
    threading.Thread(target=slow_source, daemon=True).start()
    got = list(_call_bounded("fan_in of a slow and a fast source", fan_in, [slow_rx, fast_rx]))
    if sorted(got) != sorted([("slow", i) for i in range(5)] + [("fast", i) for i in range(5)]):
        raise AssertionError(f"from a slow and a fast source (5 messages each) expected all 10 once each, "
                             f"got {got}: keep receiving until every receiver is disconnected")
    if got.index(("fast", 4)) > got.index(("slow", 1)):
        raise AssertionError(f"the fast source's 5 messages were all ready from the start, yet your fan_in returned "
                             f"{got}: it waited on the slow receiver while the fast one had messages ready (draining "
                             f"the receivers one after the other, or a blocking recv() on each in turn). Use select() "
                             f"to take whichever message is ready first")


def expected_backpressure(costs: Iterable[float]) -> tuple:
    """The theory: ``(bottleneck stage, channels that stay full, items per second)``.

    Channel k feeds stage k (channel 0 is fed by an instant source; the last feeds an instant
    sink). Every channel before the slowest stage fills up; the rest stay nearly empty.

    Example:
        >>> expected_backpressure([0.001, 0.004, 0.002])
        (1, {0, 1}, 250.0)
    """
    costs = list(costs)
    b = int(np.argmax(costs))
    return b, set(range(b + 1)), 1.0 / costs[b]


def check_backpressure_prediction(costs: Iterable[float], bottleneck: int, full_channels: set,
                                  rate: float) -> None:
    """Check predictions about ``measure_pipeline(costs, ...)`` against the theory.

    Example:
        >>> check_backpressure_prediction([0.001, 0.004, 0.002], 1, {0, 1}, 250)
    """
    costs = list(costs)
    b, full, r = expected_backpressure(costs)
    if bottleneck != b:
        raise AssertionError(f"the bottleneck is the stage with the largest cost per item, stage {b} "
                             f"({max(costs) * 1e3:.0f} ms), not stage {bottleneck}")
    if set(full_channels) != full:
        raise AssertionError(f"channels {sorted(full)} stay full, not {sorted(full_channels)}: every channel *before* the "
                             f"bottleneck fills up (its producer is faster than its consumer), every channel after it "
                             f"stays nearly empty (its consumer is faster)")
    if abs(rate - r) > 0.15 * r:
        raise AssertionError(f"a pipeline runs at the speed of its slowest stage: "
                             f"1 / {max(costs)} s = {r:.0f} items/s, not {rate:.0f}")


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_channel", "check_pipeline", "check_fan_in", "check_backpressure_prediction",)
seal(__name__)
