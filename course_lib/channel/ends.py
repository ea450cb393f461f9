"""The two ends of a channel (``Sender``, ``Receiver``) and the state every flavour shares.

A channel is one shared object (``_Chan``) and any number of *ends* that point at it. The ends
count themselves in; closing the last ``Sender`` disconnects the receiving side and the other way
round, exactly like dropping the last ``Sender``/``Receiver`` in Rust (Python has no ``Drop``, so
here it is ``close()`` or ``with``).

Algorithm of a blocking operation (``_Chan.send`` / ``_Chan.recv``), all under one lock:

1. If the other side is gone, raise ``Disconnected`` (a receiver first drains what is left).
2. If the operation can proceed (room to push / a message to pop), do it, wake *one* thread
   blocked on the opposite condition (only if one is waiting), wake any ``select`` waiters.
3. Otherwise: ``try_*`` raises ``Full``/``Empty``; a blocking call with time left waits on its
   condition variable and goes back to 1; one without time left raises ``Timeout``.

A waiter re-checks the state after every wake-up (spurious wake-ups, stolen messages), and
``Timeout`` is raised only when the state is still not ready, so a notification that races with
a timeout is never lost: either the timed-out thread consumes the message, or it was not needed.

Source: crossbeam-channel ``channel.rs`` and ``counter.rs`` (ends counting, disconnection);
trio ``_channel.py`` (clone/close, ``statistics()``); CPython ``queue.py`` (two conditions on one
lock). Thread safety: every field of ``_Chan`` is read and written with ``_lock`` held (the GIL
is not relied on). An end (``Sender``/``Receiver``) may be shared by threads; its ``_closed`` flag
is a guard against use-after-close, set under ``_lock`` so that an end is dropped only once.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from course_lib.channel.errors import Closed, Disconnected, Empty, Full, Timeout

__all__ = ["Sender", "Receiver", "ChannelStatistics"]

#: Deadline meaning "do not wait at all" (try_send / try_recv).
_TRY: Any = object()
#: What ``_Chan.poll`` returns when there is nothing to receive now.
_EMPTY: Any = object()


def _deadline(timeout: Optional[float]) -> Optional[float]:
    """Turn a user's ``timeout`` (seconds or None) into a ``time.monotonic()`` deadline."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if not timeout >= 0:  # also rejects NaN
        raise ValueError(f"timeout must be >= 0 seconds (or None to wait forever), got {timeout!r}")
    if timeout >= threading.TIMEOUT_MAX:  # inf, or beyond what a lock wait accepts: forever
        return None
    return time.monotonic() + timeout


def _remaining(deadline: Optional[float]) -> Optional[float]:
    """Seconds left before ``deadline`` (None: forever); <= 0 means time is up."""
    return None if deadline is None else deadline - time.monotonic()


@dataclass(frozen=True)
class ChannelStatistics:
    """A snapshot of a channel, as returned by ``statistics()`` on either end.

    Attributes:
        len: messages buffered now.
        capacity: the bound (None when unbounded, 0 for a rendezvous channel).
        senders: open ``Sender`` ends.
        receivers: open ``Receiver`` ends.
        waiting_senders: threads blocked in ``send`` now.
        waiting_receivers: threads blocked in ``recv`` now.
        sent: messages accepted by the channel since it was made.
        received: messages handed to receivers since it was made.
    """

    len: int
    capacity: Optional[int]
    senders: int
    receivers: int
    waiting_senders: int
    waiting_receivers: int
    sent: int
    received: int


class _Chan:
    """State shared by every end of one channel. Flavours override the four buffer hooks
    (``_len``, ``_has_room``, ``_push``, ``_pop``), all called with ``_lock`` held."""

    capacity: Optional[int] = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)  # receivers wait here
        self._not_full = threading.Condition(self._lock)  # senders wait here
        self._senders = 1
        self._receivers = 1
        self._waiting_send = 0
        self._waiting_recv = 0
        self._sent = 0
        self._received = 0
        self._observers: set = set()  # threading.Event of each select() waiting on us

    # -- buffer hooks (flavours) ---------------------------------------------------------------
    def _len(self) -> int:
        raise NotImplementedError

    def _has_room(self) -> bool:
        raise NotImplementedError

    def _push(self, value: Any) -> None:
        raise NotImplementedError

    def _pop(self) -> Any:
        raise NotImplementedError

    # -- wake-ups ------------------------------------------------------------------------------
    def _wake_observers(self) -> None:
        for event in self._observers:
            event.set()

    def _observe(self, event: threading.Event) -> None:
        with self._lock:
            self._observers.add(event)

    def _unobserve(self, event: threading.Event) -> None:
        with self._lock:
            self._observers.discard(event)

    def _wake_at(self) -> Optional[float]:
        """When this channel becomes ready by itself (timers); None for ordinary channels."""
        return None

    # -- operations ----------------------------------------------------------------------------
    def send(self, value: Any, deadline: Any) -> None:
        with self._lock:
            while True:
                if self._receivers == 0:
                    raise Disconnected("send on a channel whose receivers are all closed", value)
                if self._has_room():
                    self._push(value)
                    self._sent += 1
                    if self._waiting_recv:
                        self._not_empty.notify()
                    if self._observers:
                        self._wake_observers()
                    return
                if deadline is _TRY:
                    raise Full(f"channel is full ({self._len()} of {self.capacity})", value)
                left = _remaining(deadline)
                if left is not None and left <= 0:
                    raise Timeout("send timed out: the channel stayed full", value)
                self._waiting_send += 1
                try:
                    self._not_full.wait(left)
                finally:
                    self._waiting_send -= 1

    def poll(self) -> Any:
        """Pop a message if one is there (else ``_EMPTY``); raise ``Disconnected`` at the end."""
        with self._lock:
            return self._poll_locked()

    def _poll_locked(self) -> Any:
        if self._len():
            value = self._pop()
            self._received += 1
            if self._waiting_send:
                self._not_full.notify()
            return value
        if self._senders == 0:
            raise Disconnected("recv on a channel whose senders are all closed and that is drained")
        return _EMPTY

    #: The messages of a receive that found nothing (a timer channel words them its own way).
    _empty_message = "channel is empty"
    _timeout_message = "recv timed out: no message arrived"

    def _recv_wait(self, left: Optional[float]) -> Optional[float]:
        """Seconds a blocked receive sleeps before it looks again (None: until notified)."""
        return left

    def recv(self, deadline: Any) -> Any:
        with self._lock:
            while True:
                value = self._poll_locked()
                if value is not _EMPTY:
                    return value
                if deadline is _TRY:
                    raise Empty(self._empty_message)
                left = _remaining(deadline)
                if left is not None and left <= 0:
                    raise Timeout(self._timeout_message)
                self._waiting_recv += 1
                try:
                    self._not_empty.wait(self._recv_wait(left))
                finally:
                    self._waiting_recv -= 1

    def len(self) -> int:
        with self._lock:
            return self._len()

    def is_full(self) -> bool:
        with self._lock:
            return not self._has_room()

    def add_end(self, sender: bool) -> None:
        with self._lock:
            if sender:
                self._senders += 1
            else:
                self._receivers += 1

    def drop_end(self, sender: bool) -> None:
        with self._lock:
            if sender:
                self._senders -= 1
                if self._senders == 0:  # receivers must learn there is nothing more to wait for
                    self._not_empty.notify_all()
                    self._wake_observers()
            else:
                self._receivers -= 1
                if self._receivers == 0:  # blocked senders must give up
                    self._not_full.notify_all()

    def statistics(self) -> ChannelStatistics:
        with self._lock:
            return ChannelStatistics(self._len(), self.capacity, self._senders, self._receivers,
                                     self._waiting_send, self._waiting_recv, self._sent,
                                     self._received)


class _EndBase:
    """What every channel end shares, whatever holds the messages (a Python deque here, a C ring
    in course_lib.channel.ring): ``clone``, ``close``, ``with`` and the ``Closed`` error.

    Subclasses say how their backend counts ends (``_add_end``, ``_drop_end``), which lock makes
    closing atomic (``_close_lock``) and how to make a sibling end (``_new_end``); they define the
    ``_closed`` slot.
    """

    __slots__ = ()
    _is_sender = True

    def _add_end(self) -> None:
        raise NotImplementedError

    def _drop_end(self) -> None:
        raise NotImplementedError

    def _close_lock(self) -> Any:
        raise NotImplementedError

    def _new_end(self) -> "_EndBase":
        raise NotImplementedError

    def _closed_error(self, what: str) -> Closed:
        return Closed(f"{what}() on a closed {type(self).__name__}: this end was closed by close() or by "
                      f"leaving its 'with' block; clone() it first if another thread still needs it")

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise self._closed_error(what)

    def clone(self):
        """Return a new end on the same channel; the channel stays connected until *every*
        clone is closed.

        Returns:
            A new Sender (or Receiver) that must be closed on its own.

        Raises:
            Closed: if this end is already closed.

        Example:
            >>> tx, rx = unbounded(); tx2 = tx.clone(); tx.close(); tx2.send(1); rx.recv()
            1
        """
        self._check_open("clone")
        self._add_end()
        return self._new_end()

    def close(self) -> None:
        """Close this end (idempotent). Closing the last Sender lets receivers drain and then
        get ``Disconnected``; closing the last Receiver makes every ``send`` raise ``Disconnected``.

        Example:
            >>> tx, rx = bounded(1); tx.send(7); tx.close(); rx.recv()
            7
        """
        with self._close_lock():  # test-and-set: two threads closing one end must drop it once
            if self._closed:
                return
            self._closed = True
        self._drop_end()

    @property
    def closed(self) -> bool:
        """True once this end has been closed."""
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _End(_EndBase):
    __slots__ = ("_chan", "_closed", "__weakref__")

    def __init__(self, chan: _Chan) -> None:
        self._chan = chan
        self._closed = False

    def _add_end(self) -> None:
        self._chan.add_end(self._is_sender)

    def _drop_end(self) -> None:
        self._chan.drop_end(self._is_sender)

    def _close_lock(self) -> Any:
        return self._chan._lock

    def _new_end(self) -> "_End":
        return type(self)(self._chan)

    def __len__(self) -> int:
        return self._chan.len()

    @property
    def capacity(self) -> Optional[int]:
        """The bound given to ``bounded(cap)``; None for ``unbounded()``."""
        return self._chan.capacity

    def is_empty(self) -> bool:
        """True if no message is buffered now (always True for a rendezvous channel)."""
        return self._chan.len() == 0

    def is_full(self) -> bool:
        """True if a ``try_send`` would raise ``Full`` now (always True for a rendezvous
        channel, never for an unbounded one)."""
        return self._chan.is_full()

    def statistics(self) -> ChannelStatistics:
        """Return a :class:`ChannelStatistics` snapshot of the channel.

        Example:
            >>> tx, rx = bounded(4); tx.send(1); tx.statistics().len
            1
        """
        return self._chan.statistics()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {state}, channel {type(self._chan).__name__} at {id(self._chan):#x}>"


class Sender(_End):
    """The sending end of a channel. Made by ``bounded()`` / ``unbounded()``; share it between
    threads or give each producer a ``clone()``; ``close()`` it (or use ``with``) when done."""

    __slots__ = ()
    _is_sender = True

    def send(self, value: Any, timeout: Optional[float] = None) -> None:
        """Send ``value``, blocking while a bounded channel is full.

        Args:
            value: any Python object (it is passed by reference, not copied).
            timeout: seconds to wait at most; None waits for as long as it takes.

        Raises:
            Disconnected: every Receiver is closed (``e.value`` is ``value``).
            Timeout: the channel stayed full for ``timeout`` seconds (``e.value`` is ``value``).
            Closed: this Sender is closed.

        Example:
            >>> tx, rx = bounded(1); tx.send("hello"); rx.recv()
            'hello'
        """
        if self._closed:
            self._check_open("send")
        self._chan.send(value, None if timeout is None else _deadline(timeout))

    def try_send(self, value: Any) -> None:
        """Send ``value`` only if that needs no waiting.

        Raises:
            Full: no free slot now (for a rendezvous channel: no receiver waiting now).
            Disconnected: every Receiver is closed.
            Closed: this Sender is closed.

        Example:
            >>> tx, rx = bounded(1); tx.try_send(1)
            >>> try:
            ...     tx.try_send(2)
            ... except Full as e:
            ...     print("full, kept", e.value)
            full, kept 2
        """
        if self._closed:
            self._check_open("try_send")
        self._chan.send(value, _TRY)


class Receiver(_End):
    """The receiving end of a channel. Iterate over it to receive until the channel is
    disconnected and drained; ``clone()`` it for several consumers (each message goes to one)."""

    __slots__ = ()
    _is_sender = False

    def recv(self, timeout: Optional[float] = None) -> Any:
        """Receive the next message, blocking while the channel is empty.

        Args:
            timeout: seconds to wait at most; None waits for as long as it takes.

        Returns:
            The oldest message in the channel.

        Raises:
            Disconnected: every Sender is closed and nothing is left.
            Timeout: nothing arrived within ``timeout`` seconds.
            Closed: this Receiver is closed.

        Example:
            >>> tx, rx = unbounded(); tx.send(1); rx.recv(timeout=1.0)
            1
        """
        if self._closed:
            self._check_open("recv")
        return self._chan.recv(None if timeout is None else _deadline(timeout))

    def try_recv(self) -> Any:
        """Receive a message only if one is there now.

        Raises:
            Empty: nothing buffered now (and senders still open).
            Disconnected: every Sender is closed and nothing is left.
            Closed: this Receiver is closed.

        Example:
            >>> tx, rx = unbounded()
            >>> try:
            ...     rx.try_recv()
            ... except Empty:
            ...     print("empty")
            empty
        """
        if self._closed:
            self._check_open("try_recv")
        return self._chan.recv(_TRY)

    def __iter__(self) -> Iterator[Any]:
        """Yield messages until the channel is disconnected and drained (like Rust's ``iter()``).

        Example:
            >>> tx, rx = unbounded(); tx.send(1); tx.send(2); tx.close(); list(rx)
            [1, 2]
        """
        while True:
            try:
                yield self.recv()
            except Disconnected:
                return
