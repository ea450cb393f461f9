"""A lock-free bounded MPMC channel of numbers, in C, usable from Python and from numba.

``bounded(cap, dtype)`` returns ``(RingSender, RingReceiver)`` with the same methods and errors as
``course_lib.channel`` (``send``/``try_send``/``recv``/``try_recv``, ``clone``, ``close``, ``with``,
iteration, ``len``, ``statistics``), but the messages are 64-bit numbers (``int64`` or
``float64``) stored in a C ring (``course_lib/_c/ring.c``):

1. The ring is Dmitry Vyukov's bounded MPMC queue: every slot has a sequence number that says
   whose turn it is (a producer's for position p when seq == 2p, a consumer's when seq == 2p + 1),
   so producers and consumers never take a lock; ``head`` and ``tail`` sit on separate cache lines.
2. A blocked call spins, then yields, then parks on a futex (Linux; short sleeps elsewhere).
   From Python it blocks inside C with the GIL released, in slices of 50 ms so that Ctrl-C works.
3. ``send_many(array)`` / ``recv_many(n)`` move a whole NumPy array per call: one Python call per
   batch instead of one per message, which is how Python code reaches millions of messages/s.
4. From numba: pass ``sender.address`` (an int) to ``@njit(nogil=True)`` code, which calls the C
   functions directly (``send_array``, ``recv_array``, or the externals in ``ring_numba``); keep the
   Python ends alive while numba threads use the address.

Why numba calls the C functions instead of re-implementing the ring: the ring's correctness rests
on C11 atomics with chosen orderings, and numba has no portable atomic CAS; one implementation,
tested once, serves both callers, and a C call from numba costs a few nanoseconds. The symbols are
registered with ``llvmlite.binding.add_symbol`` and declared with ``numba.types.ExternalFunction``
(not cffi's ``register_module``), so the numba kernels can be cached.

Source: D. Vyukov, "Bounded MPMC queue" (1024cores.net); crossbeam-channel ``flavors/array.rs``.
Thread safety: every operation is safe from any number of threads; the C code documents the
memory orderings. Ends may be shared between threads (``recv`` uses a per-thread out-buffer).
"""
from __future__ import annotations

import operator
import threading
import time
from typing import Any, Iterator, Optional

import numpy as np

from course_lib._c import _lockq, _ringpy
from course_lib._c._ring import ffi, lib
from course_lib.channel.ends import ChannelStatistics, _deadline, _EndBase
from course_lib.channel.errors import Closed, Disconnected, Empty, Full, Timeout
from course_lib.channel.ring_numba import (consume_sum, lockq_consume_sum, lockq_produce_range,
                                           produce_range, recv_array, send_array)

__all__ = ["bounded", "RingSender", "RingReceiver", "send_array", "recv_array", "produce_range",
           "consume_sum", "LockQueue", "throughput"]

# CR_FULL (from a send) and CR_EMPTY (from a receive) share a value; each path tests its own name.
_OK, _FULL, _EMPTY = lib.CR_OK, lib.CR_FULL, lib.CR_EMPTY
_TIMEOUT, _DISCONNECTED = lib.CR_TIMEOUT, lib.CR_DISCONNECTED
_SLICE = 0.05  # seconds a Python-side blocking call waits in C before checking for signals
_DTYPES = {"int64": np.dtype(np.int64), "float64": np.dtype(np.float64)}
_TLS = threading.local()  # per-thread out-buffers for recv


class _Ring:
    """Owns the C ring; freed when the last end (and so the last reference) is gone."""

    def __init__(self, cap: int, dtype: np.dtype) -> None:
        ptr = lib.cr_new(cap)
        if ptr == ffi.NULL:
            raise MemoryError(f"could not allocate a ring of {cap} slots")
        self.ptr = ffi.gc(ptr, lib.cr_free)
        self.address = int(ffi.cast("uintptr_t", ptr))
        self.dtype = dtype
        self.capacity = cap
        self.close_lock = threading.Lock()  # makes each end's close() a single test-and-set
        is_int = dtype == np.int64
        self.try_send = lib.cr_try_send_i64 if is_int else lib.cr_try_send_f64
        self.try_recv = lib.cr_try_recv_i64 if is_int else lib.cr_try_recv_f64
        self.send = lib.cr_send_i64 if is_int else lib.cr_send_f64
        self.recv = lib.cr_recv_i64 if is_int else lib.cr_recv_f64
        self.ctype = "int64_t *" if is_int else "double *"
        # The fast path keeps the GIL and never parks; it spins a bounded number of times on
        # another thread's half-done operation, then gives up (FULL / None) and the caller retries
        # through cffi with the GIL released (see _c/ringpy.c). It takes exactly this Python type; anything else (numpy scalars, bools, floats for an int
        # ring) goes through cffi, which converts or refuses with a clear error.
        self.fast_type = int if is_int else float
        self.fast_send = _ringpy.try_send_i64 if is_int else _ringpy.try_send_f64
        self.fast_recv = _ringpy.try_recv_i64 if is_int else _ringpy.try_recv_f64


def _out(ring: _Ring) -> Any:
    """This thread's one-element out-buffer for ring's payload type."""
    try:
        return _TLS.buffers[ring.ctype]
    except AttributeError:
        _TLS.buffers = {}
    except KeyError:
        pass
    buf = _TLS.buffers[ring.ctype] = ffi.new(ring.ctype)
    return buf


class _RingEnd(_EndBase):
    __slots__ = ("_ring", "_ptr", "_closed")

    def __init__(self, ring: _Ring) -> None:
        self._ring = ring
        self._ptr = ring.ptr
        self._closed = False

    def _add_end(self) -> None:
        (lib.cr_sender_add if self._is_sender else lib.cr_receiver_add)(self._ptr)

    def _drop_end(self) -> None:
        (lib.cr_sender_drop if self._is_sender else lib.cr_receiver_drop)(self._ptr)

    def _close_lock(self) -> Any:
        return self._ring.close_lock

    def _new_end(self) -> "_RingEnd":
        return type(self)(self._ring)

    def __len__(self) -> int:
        return int(lib.cr_len(self._ptr))

    @property
    def capacity(self) -> int:
        """Number of slots in the ring."""
        return self._ring.capacity

    @property
    def dtype(self) -> np.dtype:
        """The payload type, ``int64`` or ``float64``."""
        return self._ring.dtype

    @property
    def address(self) -> int:
        """The C ring's address, to pass to numba kernels (keep this end alive meanwhile)."""
        return self._ring.address

    def is_empty(self) -> bool:
        """True if no message is buffered now."""
        return lib.cr_len(self._ptr) == 0

    def is_full(self) -> bool:
        """True if every slot is taken now."""
        return lib.cr_len(self._ptr) >= self._ring.capacity

    def statistics(self) -> ChannelStatistics:
        """Snapshot: ``waiting_*`` counts threads parked on the futex (not those spinning).

        Example:
            >>> tx, rx = bounded(8); tx.send(1); tx.statistics().sent
            1
        """
        p = self._ptr
        return ChannelStatistics(int(lib.cr_len(p)), self._ring.capacity, int(lib.cr_senders(p)),
                                 int(lib.cr_receivers(p)), int(lib.cr_parked_senders(p)),
                                 int(lib.cr_parked_receivers(p)), int(lib.cr_sent(p)),
                                 int(lib.cr_received(p)))

    def snapshot(self) -> dict:
        """The ring's state for teaching: ``head`` and ``tail`` positions and, per slot, its
        sequence number and raw payload (not atomic as a whole: take it while nothing runs).

        Example:
            >>> tx, rx = bounded(4); tx.send(7); tx.snapshot()["seq"].tolist()
            [1, 2, 4, 6]
        """
        p, cap = self._ptr, self._ring.capacity
        return {"head": int(lib.cr_received(p)), "tail": int(lib.cr_sent(p)),
                "seq": np.array([lib.cr_slot_seq(p, i) for i in range(cap)], np.uint64),
                "value": np.array([lib.cr_slot_value(p, i) for i in range(cap)], np.uint64)
                .view(self._ring.dtype)}

    def draw(self, ax: Any = None, title: str = "") -> Any:
        """Draw the slots (payload, sequence number, whose turn) with the head and tail arrows.

        Example:
            >>> tx, rx = bounded(8); tx.send_many([1, 2, 3]); rx.recv(); ax = tx.draw()
        """
        import matplotlib.pyplot as plt

        snap, cap = self.snapshot(), self._ring.capacity
        if ax is None:
            ax = plt.subplots(figsize=(1.1 * cap + 1, 1.9))[1]
        for i in range(cap):
            seq = int(snap["seq"][i])
            full = seq % 2 == 1  # 2p + 1: holds position p's message; 2p: free for position p
            pos = (seq - 1) // 2 if full else seq // 2
            ax.add_patch(plt.Rectangle((i, 0), 0.94, 1, color="tab:orange" if full else "0.88"))
            ax.text(i + 0.47, 0.62, str(snap["value"][i]) if full else "free", ha="center",
                    fontsize=9)
            ax.text(i + 0.47, 0.22, f"seq {seq}\n({'msg' if full else 'for'} p={pos})",
                    ha="center", fontsize=7)
        for name, p, y in (("head", snap["head"], -0.35), ("tail", snap["tail"], 1.35)):
            x = p % cap + 0.47
            ax.annotate(f"{name}={p}", (x, 1.0 if y > 1 else 0.0), (x, y), ha="center",
                        arrowprops={"arrowstyle": "->"}, fontsize=8)
        ax.set_xlim(-0.2, cap + 0.2)
        ax.set_ylim(-0.6, 1.7)
        ax.axis("off")
        ax.set_title(title or f"{len(self)} of {cap} slots in use", fontsize=9)
        return ax

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {state}, {self._ring.dtype} ring of {self.capacity} at {self.address:#x}>"


def _blocking(call: Any, deadline: Optional[float]) -> int:
    """Run a timed C call in slices of ``_SLICE`` s until it is not a timeout or time is up."""
    while True:
        left = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
        rc = call(max(left, 0.0))
        if rc != _TIMEOUT or (deadline is not None and time.monotonic() >= deadline):
            return rc


class RingSender(_RingEnd):
    """Sending end of a C ring (see the module docstring)."""

    __slots__ = ()
    _is_sender = True

    def _coerce(self, value: Any) -> Any:
        try:
            if self._ring.dtype == np.int64:
                v = operator.index(value)
                if not -(1 << 63) <= v < (1 << 63):
                    raise OverflowError
                return v
            return float(value)
        except OverflowError:
            raise OverflowError(f"{value!r} does not fit in this ring's int64 payload") from None
        except (TypeError, ValueError):
            raise TypeError(f"this ring carries {self._ring.dtype} numbers; cannot send "
                            f"{type(value).__name__} {value!r}") from None

    def try_send(self, value: Any) -> None:
        """Send ``value`` only if a slot is free now.

        Raises:
            Full: every slot is taken. Disconnected: every Receiver is closed.
            TypeError / OverflowError: ``value`` is not a number of the ring's dtype.
            Closed: this Sender is closed.

        Example:
            >>> tx, rx = bounded(1); tx.try_send(1)
        """
        if self._closed:
            raise self._closed_error("try_send")
        ring = self._ring
        try:
            if type(value) is ring.fast_type:
                rc = ring.fast_send(ring.address, value)
                if rc == _FULL:  # full, or the fast path gave up on a half-done recv: ask cffi
                    rc = ring.try_send(self._ptr, value)
            else:
                rc = ring.try_send(self._ptr, value)
        except (TypeError, OverflowError):
            rc = ring.try_send(self._ptr, self._coerce(value))
        if rc:
            if rc == _FULL:
                raise Full(f"ring is full ({self._ring.capacity} slots)", value)
            raise Disconnected("send on a ring whose receivers are all closed", value)

    def send(self, value: Any, timeout: Optional[float] = None) -> None:
        """Send ``value``, blocking (GIL released) while the ring is full.

        Args:
            value: an int (int64 ring) or a float (float64 ring).
            timeout: seconds to wait at most; None waits as long as it takes.

        Raises:
            Disconnected: every Receiver is closed (``e.value`` is ``value``).
            Timeout: the ring stayed full for ``timeout`` seconds.
            TypeError / OverflowError / Closed: as for ``try_send``.

        Example:
            >>> tx, rx = bounded(4); tx.send(42); rx.recv()
            42
        """
        if self._closed:
            raise self._closed_error("send")
        ring, ptr = self._ring, self._ptr
        try:  # fast path: one C call with the GIL held, no clock, no allocation
            if type(value) is ring.fast_type:
                rc = ring.fast_send(ring.address, value)
            else:
                rc = ring.try_send(ptr, value)
        except (TypeError, OverflowError):
            value = self._coerce(value)
            rc = ring.try_send(ptr, value)
        if rc == _OK:
            return
        if rc == _FULL:
            deadline = _deadline(timeout)
            rc = _blocking(lambda t: ring.send(ptr, value, t), deadline)
            if rc == _OK:
                return
            if rc == _TIMEOUT:
                raise Timeout("send timed out: the ring stayed full", value)
        raise Disconnected("send on a ring whose receivers are all closed", value)

    def send_many(self, values: Any, timeout: Optional[float] = None) -> None:
        """Send every element of ``values`` (a 1-D array-like) in one C call, in order.

        Raises:
            Disconnected: every Receiver closed; ``e.value`` holds the elements not sent.
            Timeout: time ran out; ``e.value`` holds the elements not sent.
            Closed: this Sender is closed.

        Example:
            >>> import numpy as np
            >>> tx, rx = bounded(8); tx.send_many(np.arange(5)); rx.recv_many(8).tolist()
            [0, 1, 2, 3, 4]
        """
        if self._closed:
            raise self._closed_error("send_many")
        arr = np.ascontiguousarray(values, dtype=self._ring.dtype).reshape(-1)
        status = ffi.new("int32_t *")
        deadline = _deadline(timeout)
        done = 0
        while done < arr.size:
            left = _SLICE if deadline is None else min(_SLICE, max(deadline - time.monotonic(), 0.0))
            src = ffi.from_buffer("uint64_t[]", arr[done:])
            done += int(lib.cr_send_many(self._ptr, src, arr.size - done, left, status))
            if status[0] == _DISCONNECTED:
                raise Disconnected("send_many: every receiver is closed", arr[done:].copy())
            if status[0] == _TIMEOUT and deadline is not None and time.monotonic() >= deadline:
                raise Timeout("send_many timed out: the ring stayed full", arr[done:].copy())


class RingReceiver(_RingEnd):
    """Receiving end of a C ring (see the module docstring)."""

    __slots__ = ()
    _is_sender = False

    def try_recv(self) -> Any:
        """Receive a number if one is there now.

        Raises:
            Empty: nothing now. Disconnected: every Sender closed and drained. Closed.

        Example:
            >>> tx, rx = bounded(2, "float64"); tx.send(0.5); rx.try_recv()
            0.5
        """
        if self._closed:
            raise self._closed_error("try_recv")
        ring = self._ring
        value = ring.fast_recv(ring.address)  # GIL held, never parks: see _c/ringpy.c
        if value is not None:
            return value
        out = _out(ring)
        rc = ring.try_recv(self._ptr, out)
        if rc == _OK:  # a message arrived between the two calls
            return out[0]
        if rc == _EMPTY:
            raise Empty("ring is empty")
        raise Disconnected("recv on a ring whose senders are all closed and that is drained")

    def recv(self, timeout: Optional[float] = None) -> Any:
        """Receive the next number, blocking (GIL released) while the ring is empty.

        Raises:
            Disconnected: every Sender closed and nothing left. Timeout. Closed.

        Example:
            >>> tx, rx = bounded(2); tx.send(-7); rx.recv(timeout=1.0)
            -7
        """
        if self._closed:
            raise self._closed_error("recv")
        ring, ptr = self._ring, self._ptr
        value = ring.fast_recv(ring.address)  # fast path, GIL held, never parks: see _c/ringpy.c
        if value is not None:
            return value
        out = _out(ring)
        rc = ring.try_recv(ptr, out)
        if rc == _OK:  # a message arrived between the two calls
            return out[0]
        if rc == _EMPTY:
            rc = _blocking(lambda t: ring.recv(ptr, out, t), _deadline(timeout))
            if rc == _OK:
                return out[0]
            if rc == _TIMEOUT:
                raise Timeout("recv timed out: no message arrived")
        raise Disconnected("recv on a ring whose senders are all closed and that is drained")

    def recv_many(self, max_n: int, timeout: Optional[float] = None) -> np.ndarray:
        """Wait for at least one number, then take up to ``max_n`` that are there, in one C call.

        Returns:
            A 1-D array of 1 to ``max_n`` numbers (FIFO order).

        Raises:
            Disconnected: every Sender closed and drained. Timeout. Closed.
            ValueError: ``max_n < 1``.

        Example:
            >>> tx, rx = bounded(4); tx.send_many([1, 2, 3]); rx.recv_many(2).tolist()
            [1, 2]
        """
        if self._closed:
            raise self._closed_error("recv_many")
        if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)) or max_n < 1:
            raise ValueError(f"recv_many(max_n): max_n must be an int >= 1, got {max_n!r}")
        out = np.empty(int(max_n), dtype=self._ring.dtype)
        dst = ffi.from_buffer("uint64_t[]", out)
        status = ffi.new("int32_t *")
        deadline = _deadline(timeout)
        while True:
            left = _SLICE if deadline is None else min(_SLICE, max(deadline - time.monotonic(), 0.0))
            n = int(lib.cr_recv_many(self._ptr, dst, max_n, left, status))
            if status[0] == _OK:
                return out[:n]
            if status[0] == _TIMEOUT:
                if deadline is not None and time.monotonic() >= deadline:
                    raise Timeout("recv_many timed out: no message arrived")
                continue
            raise Disconnected("recv on a ring whose senders are all closed and that is drained")

    def __iter__(self) -> Iterator[Any]:
        """Yield numbers until the ring is disconnected and drained."""
        while True:
            try:
                yield self.recv()
            except Disconnected:
                return


def bounded(cap: int, dtype: Any = "int64") -> tuple[RingSender, RingReceiver]:
    """Create a C ring channel of ``cap`` slots carrying ``int64`` or ``float64`` numbers.

    Args:
        cap: number of slots (>= 1; the ring has no rendezvous mode).
        dtype: ``"int64"`` (default) or ``"float64"`` (or the NumPy dtypes).

    Returns:
        ``(RingSender, RingReceiver)``.

    Raises:
        TypeError: ``cap`` is not an int. ValueError: ``cap < 1`` or another dtype.

    Example:
        >>> tx, rx = bounded(1024)
        >>> tx.send(1); tx.close(); list(rx)
        [1]
    """
    if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)):
        raise TypeError(f"ring.bounded(cap): cap must be an int, not {type(cap).__name__}")
    if cap < 1:
        raise ValueError(f"ring.bounded(cap): cap must be >= 1 (the C ring has no rendezvous "
                         f"mode; use course_lib.channel.bounded(0)), got {cap}")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _DTYPES:
        raise ValueError(f"ring.bounded: dtype must be int64 or float64, got {dtype!r}")
    ring = _Ring(int(cap), _DTYPES[dt.name])
    return RingSender(ring), RingReceiver(ring)


class LockQueue:
    """The baseline: a bounded int64 queue in C on one mutex and two condition variables
    (``course_lib/_c/lockq.c``), driven from numba like the ring. No timeouts, no disconnection.

    Example:
        >>> q = LockQueue(1024); lockq_produce_range(q.address, 0, 3)
        3
    """

    def __init__(self, cap: int) -> None:
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(f"LockQueue(cap): cap must be an int >= 1, got {cap!r}")
        ptr = _lockq.lib.lq_new(cap)
        if ptr == _lockq.ffi.NULL:
            raise MemoryError(f"could not allocate a queue of {cap} slots")
        self._ptr = _lockq.ffi.gc(ptr, _lockq.lib.lq_free)
        self.address = int(_lockq.ffi.cast("uintptr_t", ptr))
        self.capacity = cap


def throughput(kind: str = "ring", producers: int = 1, consumers: int = 1, n: int = 1_000_000,
               cap: int = 1024) -> float:
    """Move ``n`` int64 messages from numba ``nogil`` producer threads to consumer threads and
    return messages per second (wall clock, threads started and joined inside).

    Args:
        kind: ``"ring"`` (the lock-free C ring) or ``"lock"`` (``LockQueue``, mutex + condvars).
        producers, consumers: thread counts (>= 1); ``n`` is rounded down to a multiple of both.
        n: messages in total. cap: slots.

    Returns:
        Messages per second. Also checks that the consumers received exactly the sum sent.

    Raises:
        ValueError: an unknown ``kind`` or a count < 1.

    Example:
        >>> rate = throughput("ring", 1, 1, n=100_000)
    """
    if kind not in ("ring", "lock"):
        raise ValueError(f"throughput(kind): 'ring' or 'lock', got {kind!r}")
    if min(producers, consumers) < 1:
        raise ValueError("throughput: producers and consumers must be >= 1")
    per_p = n // (producers * consumers) * consumers  # each producer's share
    per_c = per_p * producers // consumers
    if kind == "ring":
        tx, rx = bounded(cap)
        send_to, recv_from, produce, consume = tx.address, rx.address, produce_range, consume_sum
    else:
        q = LockQueue(cap)
        send_to = recv_from = q.address
        produce, consume = lockq_produce_range, lockq_consume_sum
    produce(send_to, 0, 0)  # compile (or load from cache) outside the timing
    consume(recv_from, 0)
    sums: list = []
    threads = [threading.Thread(target=produce, args=(send_to, p * per_p, per_p))
               for p in range(producers)]
    threads += [threading.Thread(target=lambda: sums.append(consume(recv_from, per_c)[1]))
                for _ in range(consumers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    total = producers * per_p
    if sum(sums) != total * (total - 1) // 2:
        raise AssertionError(f"throughput({kind!r}): messages were lost or duplicated")
    return total / seconds
