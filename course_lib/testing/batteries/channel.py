"""The channel battery: checks that any channel (course_lib's or a learner's) behaves.

Each check is a plain function taking a factory ``make(cap) -> (sender, receiver)`` and raising
``AssertionError`` with a message that teaches what went wrong. The same battery runs in
course_lib's tests and in graded notebook cells. The checks need only this much of a channel:

- ``sender.send(value, timeout=None)``, ``receiver.recv(timeout=None)``, ``close()`` on both ends;
- ``Timeout`` (or any ``TimeoutError``) when a timed call runs out of time, and
  ``course_lib.channel.Disconnected`` when the other side is closed.

Every message in the battery is a non-negative int (``producer * STRIDE + seq``) so the numeric
C ring can run it too; ``-1`` is the stop sentinel of the many-thread checks.

How a check stays bounded:

1. Each blocking call passes a ``timeout`` (``WAIT`` seconds), so a channel that ignores a
   wake-up fails with a ``Timeout`` instead of hanging.
2. Threads are daemons joined with a deadline (``LIMIT`` seconds); a thread still alive then is
   reported as a deadlock (it stays blocked in the background; the process can still exit).
3. ``run_battery`` runs each whole check on a helper thread (``call_with_timeout``) for at most
   ``2 * LIMIT + WAIT`` seconds, so a call that ignores its ``timeout`` argument fails that check
   in seconds; the checks after a hung one are skipped (they would likely hang too).

Source: crossbeam-channel ``tests/array.rs`` (names: smoke, capacity, spsc, mpmc, linearizable,
fairness, stress); M. Herlihy, J. Wing, "Linearizability", TOPLAS 12(3), 1990.
"""
from __future__ import annotations

import collections
import contextlib
import random
import sys
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Optional

from course_lib import config
from course_lib.channel import Disconnected
from course_lib.testing import CheckTimeout, call_with_timeout, join_all

__all__ = ["smoke", "capacity", "spsc", "mpmc", "wakeups", "disconnection", "timeouts", "linearizable",
           "fairness", "stress", "CHECKS", "EXERCISE_CHECKS", "run_battery", "check_channel", "STRIDE"]

Make = Callable[[int], tuple]

#: Seconds a single blocking call in a check may wait before the check calls it stuck.
WAIT = 5.0
#: Seconds a whole many-thread check may take before it is reported as a deadlock.
LIMIT = 10.0
#: A blocking call that succeeds after this part of its ``WAIT`` timeout was woken too late.
LATE = 0.8
#: Messages are ``producer * STRIDE + seq``.
STRIDE = 1 << 20


def _stress() -> int:
    return config.stress()


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError)  # course_lib's Timeout is a TimeoutError


def _call(what: str, fn: Callable, *args: Any, **kw: Any) -> Any:
    """Run one channel call; turn an unexpected exception into a teaching AssertionError.

    A blocking call (``timeout=WAIT``) that succeeds only when its own timeout has nearly run
    out was not woken by the operation that let it proceed: that is a lost wake-up (a missing
    notify, or one that woke the wrong waiter), and it fails too, even though the call returned.
    """
    start = time.monotonic()
    try:
        value = fn(*args, **kw)
        _not_late(what, start, kw.get("timeout"))
        return value
    except AssertionError:
        raise
    except BaseException as exc:
        if _is_timeout(exc):
            raise AssertionError(f"{what} timed out after {kw.get('timeout')} s: it should have "
                                 f"returned at once (is a wake-up missing, or a lock held?)") from exc
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def _not_late(what: str, start: float, timeout: Any) -> None:
    waited = time.monotonic() - start
    if timeout == WAIT and waited >= LATE * WAIT:
        raise AssertionError(
            f"{what} succeeded only after {waited:.2f} s, when its own {WAIT:g} s timeout had "
            "nearly run out: it was not woken when it could proceed. A notify is missing, or "
            "notify() woke another waiter (a sender instead of a receiver, say): with one "
            "condition for both sides, wake them all (notify_all)")


def _run_threads(targets: Iterable[Callable[[], None]], what: str, limit: float) -> None:
    """Start one daemon thread per target, join them all by ``limit``; report errors/deadlock."""
    errors: list = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # reported below, in the checking thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    join_all(threads, limit, what, "A deadlock, or a lost wake-up (a waiting thread that nobody notifies)?")
    if errors:
        exc = errors[0]
        if isinstance(exc, AssertionError):
            raise exc
        raise AssertionError(f"{what}: a thread raised {type(exc).__name__}: {exc}") from exc


def _expect_error(what: str, kind: type, fn: Callable, *args: Any, **kw: Any) -> BaseException:
    """Call ``fn`` and return the exception it raises, which must be a ``kind``."""
    try:
        got = fn(*args, **kw)
    except BaseException as exc:
        ok = _is_timeout(exc) if kind is TimeoutError else isinstance(exc, kind)
        if not ok:
            raise AssertionError(f"{what} should raise {kind.__name__}, but raised "
                                 f"{type(exc).__name__}: {exc}") from exc
        return exc
    raise AssertionError(f"{what} should raise {kind.__name__}, but returned {got!r}")


def smoke(make: Make) -> None:
    """One message through, then three in order.

    Example:
        >>> from course_lib.channel import bounded
        >>> smoke(bounded)
    """
    tx, rx = make(4)
    _call("send(7) on an empty channel of capacity 4", tx.send, 7, timeout=WAIT)
    got = _call("recv() after send(7)", rx.recv, timeout=WAIT)
    if got != 7:
        raise AssertionError(f"sent 7 but recv() returned {got!r}")
    for v in (1, 2, 3):
        _call(f"send({v})", tx.send, v, timeout=WAIT)
    got = [_call("recv()", rx.recv, timeout=WAIT) for _ in range(3)]
    if got != [1, 2, 3]:
        raise AssertionError(f"sent 1, 2, 3 but received {got}: a channel is first in, first out")


def capacity(make: Make, caps: Iterable[int] = (1, 2, 5)) -> None:
    """``send`` succeeds while fewer than ``cap`` messages are buffered and blocks at ``cap``.

    Example:
        >>> from course_lib.channel import bounded
        >>> capacity(bounded)
    """
    for cap in caps:
        tx, rx = make(cap)
        for i in range(cap):
            _call(f"send #{i + 1} into a channel of capacity {cap} holding {i}", tx.send, i,
                  timeout=WAIT)
        t0 = time.monotonic()
        try:
            tx.send(cap, timeout=0.1)
        except BaseException as exc:
            if not _is_timeout(exc):
                raise AssertionError(f"send into a full channel (capacity {cap}) with timeout=0.1 "
                                     f"should raise Timeout, but raised {type(exc).__name__}") from exc
        else:
            raise AssertionError(f"your channel accepted message {cap + 1} although its capacity is "
                                 f"{cap}: send must block while the channel is full (back-pressure)")
        waited = time.monotonic() - t0
        if waited < 0.05:
            raise AssertionError(f"send into a full channel gave up after {waited:.3f} s although "
                                 f"it was asked to wait 0.1 s")
        got = _call("recv() from a full channel", rx.recv, timeout=WAIT)
        if got != 0:
            raise AssertionError(f"recv() from a full channel returned {got!r}, expected the oldest, 0")
        _call(f"send after one recv freed a slot (capacity {cap})", tx.send, cap, timeout=WAIT)
        got = [_call("recv()", rx.recv, timeout=WAIT) for _ in range(cap)]
        if got != list(range(1, cap + 1)):
            raise AssertionError(f"capacity {cap}: expected {list(range(1, cap + 1))} after the "
                                 f"timed-out send, got {got}: a send that timed out must leave "
                                 "the channel unchanged")


def spsc(make: Make, n: Optional[int] = None, cap: int = 3) -> None:
    """One producer, one consumer: every message arrives once, in order.

    Example:
        >>> from course_lib.channel import bounded
        >>> spsc(bounded, n=100)
    """
    n = 2000 * _stress() if n is None else n
    tx, rx = make(cap)
    got: list = []

    def produce() -> None:
        for i in range(n):
            _call(f"producer's send #{i}", tx.send, i, timeout=WAIT)

    def consume() -> None:
        for _ in range(n):
            got.append(_call("consumer's recv", rx.recv, timeout=WAIT))

    _run_threads([produce, consume], "spsc", LIMIT)
    if got != list(range(n)):
        bad = next(i for i, (a, b) in enumerate(zip(got, range(n))) if a != b) \
            if len(got) == n else len(got)
        raise AssertionError(f"spsc: sent 0..{n - 1}; message #{bad} came out as "
                             f"{got[bad] if bad < len(got) else 'nothing'}: messages were lost, "
                             f"duplicated or reordered")


def _verify(per_consumer: list, producers: int, per: int, what: str) -> None:
    """Every ``p * STRIDE + s`` received exactly once, FIFO per producer within each consumer."""
    counts = collections.Counter(v for got in per_consumer for v in got)
    expected = {p * STRIDE + s for p in range(producers) for s in range(per)}
    lost = expected - counts.keys()
    dup = [v for v, c in counts.items() if c > 1]
    alien = counts.keys() - expected
    total = producers * per
    if lost:
        v = min(lost)
        raise AssertionError(f"{what}: {len(lost):,} of {total:,} messages were lost (e.g. producer "
                             f"{v // STRIDE}'s message #{v % STRIDE}): every message sent must be "
                             f"received exactly once; two threads may have used the same slot")
    if dup:
        v = min(dup)
        raise AssertionError(f"{what}: {len(dup):,} messages were received more than once (e.g. "
                             f"producer {v // STRIDE}'s message #{v % STRIDE}, {counts[v]} times)")
    if alien:
        raise AssertionError(f"{what}: received values nobody sent, e.g. {min(alien)!r}")
    for c, got in enumerate(per_consumer):
        last: dict = {}
        for v in got:
            p, s = divmod(v, STRIDE)
            if s < last.get(p, -1):
                raise AssertionError(f"{what}: consumer {c} got producer {p}'s message #{s} after "
                                     f"#{last[p]}: messages from one producer must come out in the "
                                     f"order they were sent (FIFO)")
            last[p] = s


def _many(make: Make, producers: int, consumers: int, per: int, cap: int, what: str,
          jitter: bool, pause: bool = False) -> None:
    tx, rx = make(cap)
    per_consumer: list = [[] for _ in range(consumers)]

    def send(v: int) -> None:
        if not jitter:
            return _call("send", tx.send, v, timeout=WAIT)
        end = time.monotonic() + WAIT
        while True:  # short random timeouts: a timed-out send must not deliver its message
            try:
                return tx.send(v, timeout=random.choice((0.0, 0.0001, 0.001)))
            except BaseException as exc:
                if not _is_timeout(exc) or time.monotonic() > end:
                    raise

    def producer(p: int) -> Callable[[], None]:
        def run() -> None:
            for s in range(per):
                send(p * STRIDE + s)
                if pause:
                    time.sleep(0)  # let the receivers block again before the next message
        return run

    def consumer(c: int) -> Callable[[], None]:
        def run() -> None:
            end = time.monotonic() + LIMIT
            while time.monotonic() < end:
                start = time.monotonic()
                try:
                    v = rx.recv(timeout=random.choice((0.0, 0.0001, 0.001)) if jitter else WAIT)
                except BaseException as exc:
                    if jitter and _is_timeout(exc):
                        continue
                    raise
                if not jitter:
                    _not_late(f"{what}: recv()", start, WAIT)
                if v == -1:
                    return
                per_consumer[c].append(v)
        return run

    def coordinator() -> None:
        _run_threads([producer(p) for p in range(producers)], what + " producers", LIMIT)
        for _ in range(consumers):
            send(-1)  # one stop sentinel per consumer, after every message

    _run_threads([coordinator] + [consumer(c) for c in range(consumers)], what, LIMIT * 1.5)
    _verify(per_consumer, producers, per, what)


def mpmc(make: Make, producers: int = 4, consumers: int = 4, per: Optional[int] = None,
         cap: int = 4) -> None:
    """Many producers and consumers: exactly-once delivery and per-producer FIFO.

    Example:
        >>> from course_lib.channel import bounded
        >>> mpmc(bounded, per=50)
    """
    per = 500 * _stress() if per is None else per
    _many(make, producers, consumers, per, cap, f"mpmc {producers}p/{consumers}c", jitter=False)


def wakeups(make: Make, consumers: int = 6, per: Optional[int] = None, cap: int = 1) -> None:
    """One sender, many blocked receivers: each message wakes them all, and exactly one may
    take it. A receive that checks for a message in one critical section and takes it in the
    next lets two receivers claim one message: the second run gives up the GIL after every
    unlock, which lands a switch between the two sections every time (see
    :func:`_yield_after_unlock`).

    Example:
        >>> from course_lib.channel import bounded
        >>> wakeups(bounded, per=50)
    """
    per = 300 * _stress() if per is None else per
    # Twice: with the GIL switching every microsecond (a notify that wakes a waiter of the wrong
    # kind leaves a receiver asleep until its own timeout: late), then with every thread giving
    # up the GIL right after each unlock (a receive split over two critical sections lets two
    # receivers claim one message). Each interleaving shows one of the two mistakes reliably.
    _many(make, 1, consumers, per, cap, f"wakeups 1p/{consumers}c", jitter=False, pause=True)
    with _yield_after_unlock():
        _many(make, 1, consumers, per, cap, f"wakeups 1p/{consumers}c, a switch after every unlock",
              jitter=False, pause=True)


def stress(make: Make, producers: int = 3, consumers: int = 3, per: Optional[int] = None,
           cap: int = 1) -> None:
    """mpmc on capacity 1 with random tiny timeouts on every call (retried): timed-out calls
    must neither lose nor duplicate a message.

    Example:
        >>> from course_lib.channel import bounded
        >>> stress(bounded, per=20)
    """
    per = 300 * _stress() if per is None else per
    _many(make, producers, consumers, per, cap, f"stress {producers}p/{consumers}c cap {cap}",
          jitter=True)


def disconnection(make: Make, bounded: bool = True) -> None:
    """Closing every sender ends the stream after a drain; closing every receiver fails sends;
    threads blocked at that moment are woken.

    Example:
        >>> from course_lib.channel import bounded
        >>> disconnection(bounded)
    """
    tx, rx = make(4)
    _call("send(1)", tx.send, 1, timeout=WAIT)
    _call("send(2)", tx.send, 2, timeout=WAIT)
    tx.close()
    got = [_call("recv() after the sender closed (messages still buffered)", rx.recv, timeout=WAIT)
           for _ in range(2)]
    if got != [1, 2]:
        raise AssertionError(f"after close() the receiver must still drain what was sent: expected "
                             f"[1, 2], got {got}")
    _expect_error("recv() on a drained channel whose senders are all closed", Disconnected,
                  rx.recv, timeout=1.0)

    tx, rx = make(1)
    _woken_by_close("recv()", lambda: rx.recv(timeout=WAIT), tx.close,
                    "a receiver blocked in recv() when the last sender closed")

    tx, rx = make(2)
    rx.close()
    _expect_error("send() when every receiver is closed", Disconnected, tx.send, 5, timeout=1.0)

    if bounded:
        tx, rx = make(1)
        _call("send(0)", tx.send, 0, timeout=WAIT)
        _woken_by_close("send()", lambda: tx.send(1, timeout=WAIT), rx.close,
                        "a sender blocked on a full channel when the last receiver closed")


def _woken_by_close(call: str, block: Callable[[], Any], close: Callable[[], None],
                    who: str) -> None:
    """Block a thread in ``block()``, then ``close()`` the other side: the thread must get
    ``Disconnected`` at once. Waking only at its own timeout (``WAIT`` s) and then noticing the
    disconnection is a lost wake-up, and fails too."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(block())
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    time.sleep(0.05)  # let it block (if it has not, it must see the closed channel anyway)
    closed_at = time.monotonic()
    close()
    t.join(WAIT + 1)
    took = time.monotonic() - closed_at
    if t.is_alive() or not outcome:
        raise AssertionError(f"a thread blocked in {call} never returned")
    late = took > WAIT / 2
    if not isinstance(outcome[0], Disconnected) or late:
        hint = ""
        if late or _is_timeout(outcome[0]):
            hint = (f" It returned {took:.2f} s after the close, at its own {WAIT:g} s timeout: "
                    "close() must wake every thread waiting on the other side.")
        raise AssertionError(f"{who} should get Disconnected at once, got {outcome[0]!r}.{hint}")


def timeouts(make: Make, bounded: bool = True) -> None:
    """``recv(timeout=)`` on an empty channel and ``send(timeout=)`` on a full one raise Timeout
    after about that long, and leave the channel unchanged.

    Example:
        >>> from course_lib.channel import bounded
        >>> timeouts(bounded)
    """
    tx, rx = make(2)
    t0 = time.monotonic()
    _expect_error("recv(timeout=0.1) on an empty channel", TimeoutError, rx.recv, timeout=0.1)
    waited = time.monotonic() - t0
    if not 0.05 <= waited <= WAIT:
        raise AssertionError(f"recv(timeout=0.1) on an empty channel returned after "
                             f"{waited:.3f} s: it should wait about 0.1 s")
    if bounded:
        for v in (0, 1):
            _call(f"send({v})", tx.send, v, timeout=WAIT)
        t0 = time.monotonic()
        _expect_error("send(99, timeout=0.1) on a full channel", TimeoutError, tx.send, 99,
                      timeout=0.1)
        waited = time.monotonic() - t0
        if not 0.05 <= waited <= WAIT:
            raise AssertionError(f"send(timeout=0.1) on a full channel returned after "
                                 f"{waited:.3f} s: it should wait about 0.1 s")
        got = [_call("recv()", rx.recv, timeout=WAIT) for _ in range(2)]
        if got != [0, 1]:
            raise AssertionError(f"expected [0, 1] after a timed-out send, got {got}")
        try:
            late = rx.recv(timeout=0.05)
        except BaseException as exc:
            if not _is_timeout(exc):
                raise AssertionError(f"recv on an empty channel raised {type(exc).__name__}") from exc
        else:
            raise AssertionError(f"a send that timed out delivered its message later ({late!r}): a "
                                 f"timed-out send must not leave its value in the channel")
    _call("send after timeouts", tx.send, 3, timeout=WAIT)
    if _call("recv after timeouts", rx.recv, timeout=WAIT) != 3:
        raise AssertionError("channel broken after timeouts")


def linearizable(make: Make, threads: int = 4, rounds: Optional[int] = None) -> None:
    """Each thread sends, then receives with ``timeout=0``: as every completed send precedes
    the recv, the channel can never look empty at that moment (capacity = number of threads).

    Example:
        >>> from course_lib.channel import bounded
        >>> linearizable(bounded, rounds=50)
    """
    rounds = 300 * _stress() if rounds is None else rounds
    tx, rx = make(threads)

    def run() -> None:
        for _ in range(rounds):
            _call("send", tx.send, 0, timeout=WAIT)
            try:
                rx.recv(timeout=0)
            except BaseException as exc:
                raise AssertionError(
                    f"a thread completed send() and then recv(timeout=0) raised "
                    f"{type(exc).__name__}: the message it had just sent was not visible. In a "
                    f"linearizable channel a finished send is seen by every later recv") from exc

    _run_threads([run] * threads, f"linearizable ({threads} threads)", LIMIT)


#: Fairness bound: a producer with less than this share of the messages is starved.
FAIR_SHARE = 0.05
#: Rounds of the fairness check; one round at or above the bound passes.
FAIR_ROUNDS = 3


def fairness(make: Make, n: Optional[int] = None, cap: int = 4) -> None:
    """Two producers compete for a small channel: neither may be starved.

    Asserted statistically, because no channel built on a condition variable can promise more:
    a sender that was not waiting may take a freed slot before a woken one runs (barging), and on
    a busy machine the scheduler decides who runs at all. So up to ``FAIR_ROUNDS`` rounds of
    ``n`` messages are run, and the check passes as soon as one round gives each producer at
    least ``FAIR_SHARE`` of them. A channel that always serves the same thread fails every round.

    Example:
        >>> from course_lib.channel import bounded
        >>> fairness(bounded, n=200)
    """
    n = 1000 if n is None else n
    shares = []
    for _ in range(FAIR_ROUNDS):
        counts = _fairness_round(make, n, cap)
        shares.append((counts[0], counts[1]))
        if min(counts[0], counts[1]) >= FAIR_SHARE * n:
            return
    rounds = ", ".join(f"{a} vs {b}" for a, b in shares)
    raise AssertionError(f"fairness: in each of {FAIR_ROUNDS} rounds of {n} messages one producer "
                         f"got less than {FAIR_SHARE:.0%} through ({rounds}): a blocked sender must "
                         f"get its turn when space frees up, not always the same thread")


def _fairness_round(make: Make, n: int, cap: int) -> collections.Counter:
    tx, rx = make(cap)
    stop = threading.Event()
    counts: collections.Counter = collections.Counter()

    def producer(p: int) -> Callable[[], None]:
        def run() -> None:
            s = 0
            while not stop.is_set():
                try:
                    tx.send(p * STRIDE + s, timeout=0.05)
                    s += 1
                except BaseException as exc:
                    if not _is_timeout(exc):
                        raise
        return run

    def consumer() -> None:
        for _ in range(n):
            counts[_call("recv", rx.recv, timeout=WAIT) // STRIDE] += 1
        stop.set()
        end = time.monotonic() + WAIT  # drain so that no producer stays blocked
        while time.monotonic() < end and not _drained(rx):
            pass

    _run_threads([producer(0), producer(1), consumer], "fairness", LIMIT)
    return counts


def _drained(rx: Any) -> bool:
    try:
        rx.recv(timeout=0.1)
        return False
    except BaseException:
        return True


CHECKS = (smoke, capacity, spsc, mpmc, wakeups, disconnection, timeouts, linearizable, fairness,
          stress)
#: What a learner's channel is graded on (``check_channel``'s default): everything but fairness.
#: A channel built on ``threading.Condition`` is correct without being fair: ``notify`` wakes a
#: waiter, but the thread that is running may take the lock again first, and how often that
#: happens depends on the interpreter's thread switching (Python 3.10 starved one producer of two
#: down to 3% in a test run). course_lib's own channels are held to fairness in its test suite.
EXERCISE_CHECKS = tuple(c for c in CHECKS if c is not fairness)


#: The GIL switch interval during a check (CPython's default is 5 ms).
SWITCH_INTERVAL = 1e-6


_UNLOCKS = frozenset({"release", "__exit__"})


def _yield_on_unlock(frame: Any, event: str, arg: Any) -> None:
    if event == "c_return" and getattr(arg, "__name__", "") in _UNLOCKS:
        time.sleep(0)  # hand the GIL over right after a lock was released


@contextlib.contextmanager
def _yield_after_unlock() -> Iterator[None]:
    """In the threads started inside this block, give up the GIL right after every lock release.

    Frequent switches make a race between two critical sections likely; this makes it near
    certain: a thread that leaves one critical section (``with cond:`` ends, or ``release()``)
    lets the others run before it enters the next, which is exactly the moment a receive split
    over two sections is wrong. A correct channel, which does the whole receive in one section,
    has no such moment and is not affected. (It uses ``threading.setprofile``, which sees every
    call; the check runs a few times slower.)
    """
    threading.setprofile(_yield_on_unlock)
    try:
        yield
    finally:
        threading.setprofile(None)


@contextlib.contextmanager
def _frequent_switches() -> Iterator[None]:
    """Make the interpreter hand the GIL from thread to thread every ``SWITCH_INTERVAL`` s.

    With CPython's 5 ms a thread usually runs a whole send or recv, several critical sections
    in a row, before another thread gets the GIL, so a race between two of them almost never
    shows. Switching every few microseconds lands switches inside and between critical
    sections: a receive that checks in one locked section and pops in the next, or a notify
    that wakes the wrong waiter, then fails within a few runs.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_battery(make: Make, bounded: bool = True,
                checks: Optional[Iterable[Callable]] = None) -> dict:
    """Run checks on ``make`` and return ``{check name: None if passed, else the message}``.

    Args:
        make: ``make(cap) -> (sender, receiver)``.
        bounded: False for unbounded channels (skips ``capacity`` and ``fairness``, and the
            full-channel parts of ``disconnection`` and ``timeouts``).
        checks: the checks to run (default: all of ``CHECKS``).

    Example:
        >>> from course_lib.channel import bounded
        >>> all(msg is None for msg in run_battery(bounded).values())
        True
    """
    report: dict = {}
    hung = None
    for check in CHECKS if checks is None else checks:
        if not bounded and check in (capacity, fairness):
            continue
        name = check.__name__
        if hung is not None:
            report[name] = f"not run: the '{hung}' check hung (fix that first)"
            continue
        kw = {"bounded": bounded} if check in (disconnection, timeouts) else {}
        limit = 2 * LIMIT + WAIT

        def one(check: Callable = check, kw: dict = kw) -> Optional[str]:
            try:  # the check's own failures (CheckTimeout from a join included) are messages
                check(make, **kw)
                return None
            except AssertionError as exc:
                return str(exc)
        try:
            with _frequent_switches():
                report[name] = call_with_timeout(one, timeout=limit)
        except CheckTimeout:  # the whole check did not return: a call ignored its timeout
            hung = name
            report[name] = (f"did not finish within {limit:g} s: a send() or recv() never returned "
                            f"although every call in this check passes a timeout. Does your channel "
                            f"ignore its timeout argument (a wait() without a time limit), or miss a "
                            f"wake-up?")
    return report


def check_channel(make: Make, bounded: bool = True,
                  checks: Optional[Iterable[Callable]] = None) -> None:
    """Run the battery and raise one AssertionError listing every failed check.

    ``checks`` defaults to :data:`EXERCISE_CHECKS` (every check but ``fairness``); pass
    ``CHECKS`` to include fairness.

    Example:
        >>> from course_lib.channel import bounded
        >>> check_channel(bounded)
    """
    report = run_battery(make, bounded=bounded, checks=EXERCISE_CHECKS if checks is None else checks)
    failed = {k: v for k, v in report.items() if v is not None}
    if failed:
        lines = "\n".join(f"- {k}: {v}" for k, v in failed.items())
        raise AssertionError(f"{len(failed)} of {len(report)} channel checks failed:\n{lines}")
