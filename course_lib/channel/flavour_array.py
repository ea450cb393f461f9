"""Bounded channel on a preallocated array (crossbeam's ``array`` flavour, ``mpsc::sync_channel``).

1. The buffer is a Python list of ``cap`` slots, allocated once; ``head`` is the index of the
   oldest message, ``count`` how many are stored. The next free slot is ``(head + count) % cap``.
2. ``send`` writes the free slot and increments ``count``; when ``count == cap`` it waits on the
   ``not_full`` condition: this waiting is the *back-pressure* a bounded channel exists for.
3. ``recv`` reads slot ``head``, clears it (so the channel does not keep the object alive),
   advances ``head`` and decrements ``count``; when ``count == 0`` it waits on ``not_empty``.

crossbeam makes the same ring lock-free with a per-slot sequence number (Dmitry Vyukov's bounded
MPMC queue); that version is in C in ``course_lib/_c/ring.c`` (see ``course_lib.channel.ring``), because
Python has no atomic compare-and-swap. Here one lock protects ``head`` and ``count``.

Source: crossbeam-channel ``flavors/array.rs``; D. Vyukov, "Bounded MPMC queue", 1024cores.net.
Thread safety: the hooks run with the channel lock held (see ``ends``).
"""
from __future__ import annotations

from typing import Any

from course_lib.channel.ends import _Chan

__all__: list[str] = []


class _ArrayChan(_Chan):
    def __init__(self, cap: int) -> None:
        super().__init__()
        self.capacity = cap
        self._slots: list = [None] * cap
        self._head = 0  # index of the oldest message
        self._count = 0  # messages stored; the free slot is (head + count) % cap

    def _len(self) -> int:
        return self._count

    def _has_room(self) -> bool:
        return self._count < self.capacity

    def _push(self, value: Any) -> None:
        tail = self._head + self._count
        if tail >= self.capacity:
            tail -= self.capacity
        self._slots[tail] = value
        self._count += 1

    def _pop(self) -> Any:
        head = self._head
        value = self._slots[head]
        self._slots[head] = None  # drop the reference: a channel must not keep messages alive
        self._head = head + 1 if head + 1 < self.capacity else 0
        self._count -= 1
        return value
