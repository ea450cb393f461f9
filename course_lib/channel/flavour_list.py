"""Unbounded channel: a growable FIFO (crossbeam's ``list`` flavour, Rust's ``mpsc::channel``).

1. ``send`` appends to the right of a ``collections.deque`` and never blocks (only
   disconnection stops it); memory grows with the backlog: there is no back-pressure.
2. ``recv`` pops from the left, waiting on a condition variable while the deque is empty.

crossbeam builds this flavour as a linked list of 31-slot blocks with lock-free head and tail;
in Python the GIL-free part of that design buys nothing, so a deque under the channel's lock
is the honest equivalent (``deque.append``/``popleft`` are O(1)).

Source: crossbeam-channel ``flavors/list.rs``; CPython ``collections.deque``.
Thread safety: the hooks run with the channel lock held (see ``ends``).
"""
from __future__ import annotations

from collections import deque
from typing import Any

from course_lib.channel.ends import _Chan

__all__: list[str] = []


class _ListChan(_Chan):
    capacity = None

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque = deque()

    def _len(self) -> int:
        return len(self._queue)

    def _has_room(self) -> bool:
        return True

    def _push(self, value: Any) -> None:
        self._queue.append(value)

    def _pop(self) -> Any:
        return self._queue.popleft()
