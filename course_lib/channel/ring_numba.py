"""numba access to the C ring (``course_lib/_c/ring.c``): externals and ``nogil`` kernels.

1. At import, the C functions' addresses (from the cffi module) are registered with
   ``llvmlite.binding.add_symbol``, so LLVM can link calls to them by name.
2. ``numba.types.ExternalFunction`` declares each one's signature. The ring pointer is passed as
   ``uintp`` (an integer): on every 64-bit ABI numba targets a pointer argument travels in the same
   register as a 64-bit integer, so declaring ``cr_ring *`` as ``uintp`` is exact. Out-parameters
   are passed as ``arr.ctypes.data`` of a one-element array.
3. The kernels are ``@njit(nogil=True, cache=True)``: several Python threads can run them at once,
   and the cached machine code refers to the symbols by name, resolved again after step 1 on the
   next import (cffi's ``register_module`` would embed a Python object and forbid caching).

Payloads are moved as raw 64 bits (``values.view(np.uint64)``), so the same kernels serve
``int64`` and ``float64`` rings.

Source: numba docs, "Calling C code from Numba" / ``ExternalFunction``; llvmlite ``add_symbol``.
Thread safety: the C ring is MPMC-safe; each kernel only touches its own arrays.
"""
from __future__ import annotations

import llvmlite.binding as _llvm
import numpy as np
from numba import njit, types

from course_lib._c import _lockq
from course_lib._c._ring import ffi, lib

__all__ = ["nb_send", "nb_recv", "nb_try_send", "nb_try_recv", "send_array", "recv_array",
           "produce_range", "consume_sum", "lockq_produce_range", "lockq_consume_sum"]

for _name in ("cr_send", "cr_recv", "cr_try_send", "cr_try_recv"):
    _llvm.add_symbol(_name, int(ffi.cast("uintptr_t", ffi.addressof(lib, _name))))
for _name in ("lq_send", "lq_recv"):  # the mutex + condvar baseline (lockq.c)
    _llvm.add_symbol(_name, int(_lockq.ffi.cast("uintptr_t", _lockq.ffi.addressof(_lockq.lib, _name))))

_ptr, _u64, _i32, _f64 = types.uintp, types.uint64, types.int32, types.float64
#: ``nb_send(address, bits, timeout) -> status`` (timeout < 0: forever)
nb_send = types.ExternalFunction("cr_send", _i32(_ptr, _u64, _f64))
#: ``nb_recv(address, out_address, timeout) -> status``
nb_recv = types.ExternalFunction("cr_recv", _i32(_ptr, _ptr, _f64))
#: ``nb_try_send(address, bits) -> status``
nb_try_send = types.ExternalFunction("cr_try_send", _i32(_ptr, _u64))
#: ``nb_try_recv(address, out_address) -> status``
nb_try_recv = types.ExternalFunction("cr_try_recv", _i32(_ptr, _ptr))
_lq_send = types.ExternalFunction("lq_send", _i32(_ptr, _u64))
_lq_recv = types.ExternalFunction("lq_recv", _i32(_ptr, _ptr))


@njit(nogil=True, cache=True)
def send_array(address, values, timeout=-1.0):
    """Send every element of ``values`` (int64 or float64, matching the ring) in order.

    Args:
        address: ``sender.address``. values: 1-D contiguous array. timeout: per message, < 0 = none.

    Returns:
        Number of elements sent (fewer than ``len(values)`` on timeout or disconnection).

    Example:
        >>> tx, rx = bounded(8); send_array(tx.address, np.arange(3)); rx.recv_many(3).tolist()
        3
        [0, 1, 2]
    """
    bits = values.view(np.uint64)
    for i in range(bits.size):
        if nb_send(address, bits[i], timeout) != 0:
            return i
    return bits.size


@njit(nogil=True, cache=True)
def recv_array(address, out, timeout=-1.0):
    """Receive into ``out`` until it is full, or the ring is disconnected (and drained) or a
    single wait exceeds ``timeout``.

    Returns:
        Number of elements received.

    Example:
        >>> n = recv_array(rx.address, np.empty(100, np.int64))
    """
    bits = out.view(np.uint64)
    for i in range(bits.size):
        if nb_recv(address, bits[i:].ctypes.data, timeout) != 0:
            return i
    return bits.size


@njit(nogil=True, cache=True)
def produce_range(address, start, n):
    """Send the int64 messages ``start, start + 1, ..., start + n - 1`` (blocking).

    Returns:
        Number sent (fewer than ``n`` only if every receiver closed).

    Example:
        >>> produce_range(tx.address, 0, 1000)
        1000
    """
    for i in range(n):
        if nb_send(address, np.uint64(start + i), -1.0) != 0:
            return i
    return n


@njit(nogil=True, cache=True)
def consume_sum(address, n):
    """Receive up to ``n`` int64 messages (stopping at disconnection) and return
    ``(count, sum)``: a cheap consumer for benchmarks.

    Example:
        >>> count, total = consume_sum(rx.address, 1000)
    """
    buf = np.empty(1, np.uint64)
    p = buf.ctypes.data
    total = 0
    for i in range(n):
        if nb_recv(address, p, -1.0) != 0:
            return i, total
        total += np.int64(buf[0])
    return n, total


@njit(nogil=True, cache=True)
def lockq_produce_range(address, start, n):
    """``produce_range`` for the mutex + condvar baseline queue (``lockq.c``)."""
    for i in range(n):
        _lq_send(address, np.uint64(start + i))
    return n


@njit(nogil=True, cache=True)
def lockq_consume_sum(address, n):
    """``consume_sum`` for the mutex + condvar baseline queue (``lockq.c``)."""
    buf = np.empty(1, np.uint64)
    p = buf.ctypes.data
    total = 0
    for _ in range(n):
        _lq_recv(address, p)
        total += np.int64(buf[0])
    return n, total
