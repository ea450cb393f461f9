"""Channels for threads: crossbeam-channel's semantics with Python's manners.

A channel is a queue with two kinds of ends. ``unbounded()`` and ``bounded(cap)`` return
``(Sender, Receiver)``: data flows left to right. Both ends can be cloned (many producers, many
consumers; each message is received exactly once) and closed; when every Sender is closed the
receivers drain what is left and then get ``Disconnected``, which is how a pipeline shuts down.

Flavours, one per private module as in crossbeam:

1. ``unbounded()`` -> ``flavour_list``: a deque; ``send`` never blocks (no back-pressure).
2. ``bounded(cap)``, ``cap >= 1`` -> ``flavour_array``: a fixed ring of ``cap`` slots; ``send``
   blocks while it is full.
3. ``bounded(0)`` -> ``flavour_zero``: a rendezvous; ``send`` waits for a receiver to take the
   value from its hand.
4. ``after``, ``tick``, ``never`` -> ``timers``; ``select`` -> ``select``.
5. Patterns (``worker_pool``, ``pipeline``, ``fan_out_fan_in``, ``merge``, and
   ``measure_pipeline`` to watch back-pressure) -> ``patterns``.

For numbers at tens of millions of messages per second (and from numba ``nogil`` code) see
``course_lib.channel.ring``, a lock-free C ring with the same ends and errors.

Source: crossbeam-channel (docs.rs/crossbeam-channel), Rust ``std::sync::mpsc``, trio's memory
channels. Thread safety: every operation is atomic with respect to the channel (one lock per
channel); the GIL is not relied on.
"""
from __future__ import annotations

from course_lib.channel.ends import ChannelStatistics, Receiver, Sender
from course_lib.channel.errors import ChannelError, Closed, Disconnected, Empty, Full, Timeout
from course_lib.channel.flavour_array import _ArrayChan
from course_lib.channel.flavour_list import _ListChan
from course_lib.channel.flavour_zero import _ZeroChan
from course_lib.channel.patterns import (LengthSampler, PipelineRun, fan_out_fan_in,
                                         measure_pipeline, merge, pipeline, worker_pool)
from course_lib.channel.select import select
from course_lib.channel.timers import after, never, tick

__all__ = [
    "unbounded", "bounded", "Sender", "Receiver", "ChannelStatistics",
    "ChannelError", "Full", "Empty", "Timeout", "Disconnected", "Closed",
    "select", "after", "tick", "never",
    "worker_pool", "pipeline", "fan_out_fan_in", "merge", "LengthSampler",
    "measure_pipeline", "PipelineRun",
]


def unbounded() -> tuple[Sender, Receiver]:
    """Create a channel of unbounded capacity (Rust: ``crossbeam_channel::unbounded``,
    ``std::sync::mpsc::channel``).

    Returns:
        ``(sender, receiver)``.

    Example:
        >>> tx, rx = unbounded()
        >>> for i in range(3):
        ...     tx.send(i)
        >>> tx.close(); list(rx)
        [0, 1, 2]
    """
    chan = _ListChan()
    return Sender(chan), Receiver(chan)


def bounded(cap: int) -> tuple[Sender, Receiver]:
    """Create a channel that holds at most ``cap`` messages (Rust: ``crossbeam_channel::bounded``,
    ``std::sync::mpsc::sync_channel``).

    Args:
        cap: capacity; ``0`` makes a rendezvous channel, where ``send`` waits for a receiver.

    Returns:
        ``(sender, receiver)``.

    Raises:
        TypeError: ``cap`` is not an int.
        ValueError: ``cap`` is negative.

    Example:
        >>> tx, rx = bounded(2); tx.send(1); tx.send(2); tx.is_full()
        True
    """
    if isinstance(cap, bool) or not isinstance(cap, int):
        raise TypeError(f"bounded(cap): cap must be an int (0 for a rendezvous channel), "
                        f"not {type(cap).__name__}; use unbounded() for no limit")
    if cap < 0:
        raise ValueError(f"bounded(cap): cap must be >= 0, got {cap}")
    chan = _ZeroChan() if cap == 0 else _ArrayChan(cap)
    return Sender(chan), Receiver(chan)
