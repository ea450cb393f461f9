"""Zero-capacity (rendezvous) channel: ``bounded(0)``, crossbeam's ``zero`` flavour.

Nothing is ever buffered: a message passes from a sender's hand to a receiver's hand, and both
calls return together (CSP's synchronous communication, Go's unbuffered channel).

1. Each blocked thread waits on its own *packet* (value, done flag, condition on the channel
   lock) queued in ``_senders_q`` or ``_receivers_q`` (FIFO, so waiting threads are served in
   arrival order).
2. ``send``: if a receiver is waiting, fill its packet, mark it done and wake it: done. Otherwise
   queue a packet holding the value and wait until a receiver marks it done.
3. ``recv``: the mirror image: take a waiting sender's packet, or queue an empty packet and wait
   for a sender to fill it.
4. A waiter that times out or sees the other side disconnect removes its packet, so a
   handed-over value can never be lost: a packet is either done (delivered) or removed.
5. ``try_send`` / ``try_recv`` succeed only when a partner is already waiting.

Source: crossbeam-channel ``flavors/zero.rs``; C. A. R. Hoare, "Communicating Sequential
Processes", CACM 21(8), 1978.
Thread safety: everything runs with the channel lock held; each packet's condition shares it.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any

from course_lib.channel.ends import _EMPTY, _TRY, _Chan, _remaining
from course_lib.channel.errors import Disconnected, Empty, Full, Timeout

__all__: list[str] = []


class _Packet:
    __slots__ = ("value", "done", "cond")

    def __init__(self, lock: threading.Lock, value: Any = _EMPTY) -> None:
        self.value = value
        self.done = False  # True once the partner has taken (or filled) the value
        self.cond = threading.Condition(lock)


class _ZeroChan(_Chan):
    capacity = 0

    def __init__(self) -> None:
        super().__init__()
        self._senders_q: deque = deque()  # packets of blocked senders, each holding a value
        self._receivers_q: deque = deque()  # packets of blocked receivers, empty until filled

    def _len(self) -> int:
        return 0

    def _has_room(self) -> bool:
        return False

    def _handed_over(self) -> None:
        self._sent += 1
        self._received += 1

    def send(self, value: Any, deadline: Any) -> None:
        with self._lock:
            if self._receivers == 0:
                raise Disconnected("send on a channel whose receivers are all closed", value)
            if self._receivers_q:  # a receiver is waiting: hand over directly
                packet = self._receivers_q.popleft()
                packet.value, packet.done = value, True
                packet.cond.notify()
                self._handed_over()
                return
            if deadline is _TRY:
                raise Full("no receiver is waiting on this rendezvous channel", value)
            packet = _Packet(self._lock, value)
            self._senders_q.append(packet)
            self._waiting_send += 1
            if self._observers:  # a select() can now take this value
                self._wake_observers()
            try:
                while not packet.done:
                    if self._receivers == 0:
                        raise Disconnected("send on a channel whose receivers are all closed", value)
                    left = _remaining(deadline)
                    if left is not None and left <= 0:
                        raise Timeout("send timed out: no receiver came", value)
                    packet.cond.wait(left)
            finally:
                self._waiting_send -= 1
                if not packet.done:
                    self._senders_q.remove(packet)

    def _poll_locked(self) -> Any:
        if self._senders_q:
            packet = self._senders_q.popleft()
            packet.done = True
            packet.cond.notify()
            self._handed_over()
            return packet.value
        if self._senders == 0:
            raise Disconnected("recv on a channel whose senders are all closed")
        return _EMPTY

    def recv(self, deadline: Any) -> Any:
        with self._lock:
            value = self._poll_locked()
            if value is not _EMPTY:
                return value
            if deadline is _TRY:
                raise Empty("no sender is waiting on this rendezvous channel")
            packet = _Packet(self._lock)
            self._receivers_q.append(packet)
            self._waiting_recv += 1
            try:
                while not packet.done:
                    if self._senders == 0:
                        raise Disconnected("recv on a channel whose senders are all closed")
                    left = _remaining(deadline)
                    if left is not None and left <= 0:
                        raise Timeout("recv timed out: no sender came")
                    packet.cond.wait(left)
                return packet.value
            finally:
                self._waiting_recv -= 1
                if not packet.done:
                    self._receivers_q.remove(packet)

    def drop_end(self, sender: bool) -> None:
        with self._lock:
            if sender:
                self._senders -= 1
                if self._senders == 0:
                    for packet in self._receivers_q:
                        packet.cond.notify()
                    self._wake_observers()
            else:
                self._receivers -= 1
                if self._receivers == 0:
                    for packet in self._senders_q:
                        packet.cond.notify()
