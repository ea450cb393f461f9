"""``select``: wait on several receivers and take a message from whichever is ready first.

Algorithm (crossbeam's ``Select``, simplified for Python):

1. Poll every receiver once, starting at a *random* position, so that under load no receiver is
   always first (an always-ready first channel would otherwise starve the others: fairness).
2. If one had a message, return ``(receiver, message)``. A disconnected, drained receiver is also
   "ready": ``select`` raises ``Disconnected`` with ``e.receiver`` set to it, so a fan-in loop can
   drop it and go on (as ``crossbeam::select!`` reports ``Err`` for that branch).
3. Otherwise register one ``threading.Event`` with every channel (senders set it after each
   push), poll once more (a message that arrived between 1 and 3 would otherwise be missed: the
   classic lost wake-up), then sleep on the event until the deadline or the earliest timer
   (``after``/``tick`` have no sender to set the event). Clear the event and go to 1.

Source: crossbeam-channel ``select.rs`` (random start, register/re-check/park); Go's
``selectgo`` (random poll order).
Thread safety: ``select`` may run in many threads on the same receivers; each message still goes
to exactly one caller, because the take itself is a channel ``poll`` under the channel's lock.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Any, Iterable, Optional

from course_lib.channel.ends import _EMPTY, Receiver, _deadline
from course_lib.channel.errors import Disconnected, Timeout

__all__ = ["select"]


def select(receivers: Iterable[Receiver], timeout: Optional[float] = None) -> tuple[Receiver, Any]:
    """Receive from whichever of ``receivers`` is ready first.

    Args:
        receivers: one or more open Receivers (timers from ``after``/``tick``/``never`` included).
        timeout: seconds to wait at most; None waits for as long as it takes.

    Returns:
        ``(receiver, message)``: the receiver that delivered and what it delivered.

    Raises:
        Disconnected: one receiver's channel is disconnected and drained; ``e.receiver`` is it.
        Timeout: nothing was ready within ``timeout`` seconds.
        ValueError / TypeError: no receivers, or something that is not a Receiver.
        Closed: one of the receivers is closed.

    Example:
        >>> tx, rx = unbounded(); tx.send("job")
        >>> r, msg = select([rx, after(1.0)], timeout=2.0)
        >>> r is rx, msg
        (True, 'job')
    """
    chans = list(receivers)
    if not chans:
        raise ValueError("select() needs at least one receiver")
    for r in chans:
        if not isinstance(r, Receiver):
            raise TypeError(f"select() takes Receivers, got {type(r).__name__}")
        r._check_open("select")
    deadline = _deadline(timeout)
    n = len(chans)
    event: Optional[threading.Event] = None
    try:
        while True:
            start = random.randrange(n)  # step 1: random start for fairness
            for k in range(n):
                r = chans[(start + k) % n]
                try:
                    value = r._chan.poll()
                except Disconnected:
                    raise Disconnected("select: this receiver's channel is disconnected and drained",
                                       receiver=r) from None
                if value is not _EMPTY:
                    return r, value
            if event is None:  # step 3: register, then poll once more before sleeping
                event = threading.Event()
                for r in chans:
                    r._chan._observe(event)
                continue
            now = time.monotonic()
            wait = None if deadline is None else deadline - now
            if wait is not None and wait <= 0:
                raise Timeout("select timed out: no receiver was ready")
            for r in chans:
                due = r._chan._wake_at()
                if due is not None:
                    wait = due - now if wait is None else min(wait, due - now)
            event.wait(None if wait is None else max(wait, 0.0))
            event.clear()
    finally:
        if event is not None:
            for r in chans:
                r._chan._unobserve(event)
