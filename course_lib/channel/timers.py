"""Timer channels: ``after(delay)``, ``tick(interval)``, ``never()`` (crossbeam's ``at``, ``tick``
and ``never`` flavours).

They are receive-only channels whose "sender" is the clock, so they can sit in a ``select``
next to ordinary channels to add a deadline, a heartbeat or a disabled branch:

1. ``after(delay)`` delivers one message, the ``time.monotonic()`` instant it became due, once
   ``delay`` seconds have passed; after that it stays empty forever.
2. ``tick(interval)`` delivers the due instant every ``interval`` seconds. Ticks do not pile up:
   a slow receiver gets one (late) tick, and the next one is due ``interval`` after that.
3. ``never()`` never delivers anything (a select branch switched off).

None of them ever disconnects. ``select`` asks ``_wake_at()`` when a timer becomes ready by
itself, because no sender will wake it up.

Source: crossbeam-channel ``flavors/at.rs``, ``flavors/tick.rs``, ``flavors/never.rs``.
Thread safety: state changes under the channel lock; clones share one timer (a tick goes to one
of them, like any message).
"""
from __future__ import annotations

import time
from typing import Any, Optional

from course_lib.channel.ends import _EMPTY, Receiver, _Chan

__all__ = ["after", "tick", "never"]


def _check_seconds(name: str, value: Any, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not (value > 0 if positive else value >= 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be {bound} seconds, got {value!r}")
    return float(value)


class _TimerChan(_Chan):
    """A channel fed by the clock: subclasses set ``_due`` (next delivery) and ``_advance``."""

    capacity = 1

    def __init__(self, due: Optional[float]) -> None:
        super().__init__()
        self._due = due  # monotonic instant of the next delivery; None: nothing more, ever

    def _advance(self, now: float) -> None:
        self._due = None

    def _len(self) -> int:
        return int(self._due is not None and time.monotonic() >= self._due)

    def _has_room(self) -> bool:
        return False

    def _poll_locked(self) -> Any:
        now = time.monotonic()
        if self._due is not None and now >= self._due:
            value = self._due
            self._advance(now)
            self._received += 1
            return value
        return _EMPTY

    _empty_message = "the timer is not due yet"
    _timeout_message = "recv timed out before the timer was due"

    def _recv_wait(self, left: Optional[float]) -> Optional[float]:
        """Sleep until the timer falls due (or the caller's deadline, if sooner)."""
        if self._due is None:
            return left
        until_due = max(self._due - time.monotonic(), 0.0)
        return until_due if left is None else min(left, until_due)

    def _wake_at(self) -> Optional[float]:
        return self._due


class _AtChan(_TimerChan):
    pass


class _TickChan(_TimerChan):
    def __init__(self, interval: float) -> None:
        super().__init__(time.monotonic() + interval)
        self._interval = interval

    def _advance(self, now: float) -> None:
        following = self._due + self._interval
        self._due = following if following > now else now + self._interval  # no backlog


class _NeverChan(_TimerChan):
    capacity = 0

    def __init__(self) -> None:
        super().__init__(None)


def after(delay: float) -> Receiver:
    """Return a Receiver that delivers one message ``delay`` seconds from now.

    Args:
        delay: seconds (>= 0).

    Returns:
        A Receiver whose only message is the ``time.monotonic()`` instant it became due.

    Raises:
        TypeError / ValueError: ``delay`` is not a number / is negative.

    Example:
        >>> t = after(0.01).recv(timeout=1.0)   # about 10 ms later
    """
    return Receiver(_AtChan(time.monotonic() + _check_seconds("delay", delay, positive=False)))


def tick(interval: float) -> Receiver:
    """Return a Receiver that delivers a message every ``interval`` seconds.

    Args:
        interval: seconds between ticks (> 0).

    Returns:
        A Receiver whose messages are the ``time.monotonic()`` instants the ticks were due.

    Raises:
        TypeError / ValueError: ``interval`` is not a number / is not positive.

    Example:
        >>> ticker = tick(0.01); first = ticker.recv(); second = ticker.recv()
    """
    return Receiver(_TickChan(_check_seconds("interval", interval, positive=True)))


def never() -> Receiver:
    """Return a Receiver that never delivers anything (and never disconnects).

    Example:
        >>> try:
        ...     never().recv(timeout=0.01)
        ... except Timeout:
        ...     print("nothing, as promised")
        nothing, as promised
    """
    return Receiver(_NeverChan())
