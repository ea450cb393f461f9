"""The exceptions raised by course_lib's channels (every flavour, and the C ring).

They mirror crossbeam-channel's error enums, flattened into one Python hierarchy:

1. ``Full`` / ``Empty``: a non-blocking call (``try_send`` / ``try_recv``, or a queue's ``push`` /
   ``pop``) could not proceed now. They are also the standard library's ``queue.Full`` /
   ``queue.Empty`` (subclasses), so code written against ``queue.Queue`` catches them unchanged.
2. ``Timeout``: a blocking call with ``timeout=`` ran out of time (also a ``TimeoutError``).
3. ``Disconnected``: the other side is gone for good. For ``send`` every Receiver is closed; for
   ``recv`` every Sender is closed *and* the buffer is drained.
4. ``Closed``: you used an end that you closed yourself: a bug in the caller, not a channel state.

The lock-free queues of ``course_lib.queues`` raise the same ``Full`` and ``Empty``: one family
of "could not proceed now" errors for every queue-like thing in the course.

Errors raised by a send carry the value that was not sent in ``.value`` (crossbeam returns it
inside ``SendError(T)``), so nothing is lost silently.

Source: crossbeam-channel ``err.rs`` (``TrySendError``, ``SendTimeoutError``, ``RecvTimeoutError``);
trio ``_channel.py`` (``WouldBlock``, ``EndOfChannel``, ``ClosedResourceError``).
"""
from __future__ import annotations

import queue
from typing import Any

__all__ = ["ChannelError", "Full", "Empty", "Timeout", "Disconnected", "Closed"]

_NO_VALUE: Any = object()


class ChannelError(Exception):
    """Base class of every channel error.

    Args:
        message: what happened, in words.
        value: for errors raised by a send, the value that was not sent.

    Example:
        >>> try:
        ...     raise Full("channel full", value=3)
        ... except ChannelError as e:
        ...     e.value
        3
    """

    def __init__(self, message: str = "", value: Any = _NO_VALUE, receiver: Any = None):
        super().__init__(message)
        self._value = value
        #: For ``select``: the receiver whose channel is disconnected.
        self.receiver = receiver

    @property
    def has_value(self) -> bool:
        """True when the error came from a send and carries the unsent value."""
        return self._value is not _NO_VALUE

    @property
    def value(self) -> Any:
        """The value a failed send did not deliver.

        Raises:
            AttributeError: when the error came from a receive (there is no value).
        """
        if self._value is _NO_VALUE:
            raise AttributeError(f"{type(self).__name__} from a receive carries no value")
        return self._value


class Full(ChannelError, queue.Full):
    """``try_send`` on a bounded channel that has no free slot (or, for a rendezvous channel,
    no receiver waiting); ``push`` on a full lock-free queue.
    Example: ``try: tx.try_send(1) except Full as e: retry(e.value)``."""


class Empty(ChannelError, queue.Empty):
    """``try_recv`` on a channel with nothing in it whose senders are still open; ``pop`` on an
    empty lock-free queue. Example: ``try: v = rx.try_recv() except Empty: do_other_work()``."""


class Timeout(ChannelError, TimeoutError):
    """A blocking ``send``/``recv``/``select`` ran out of the time given by ``timeout=``.
    Example: ``try: rx.recv(timeout=0.1) except Timeout: print("nothing yet")``."""


class Disconnected(ChannelError):
    """The other side of the channel has gone: no message can ever arrive (``recv``) or
    be received (``send``; the unsent value is in ``.value``).
    Example: ``try: tx.send(1) except Disconnected as e: print("nobody listens for", e.value)``."""


class Closed(ChannelError, RuntimeError):
    """An operation on an end that the caller already closed (``close()`` or leaving ``with``).
    Example: ``tx.close(); tx.send(1)`` raises ``Closed``; ``clone()`` before closing instead."""
