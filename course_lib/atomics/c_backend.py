"""Atomic operations from Python threads, through C11 ``<stdatomic.h>`` (cffi), on NumPy memory.

1. Every cell lives in a NumPy array; the C code (``course_lib/_c/atomics.c``) casts its address
   to ``_Atomic T *`` and runs the C11 operation with the ordering asked for.
2. The free functions (``fetch_add(array, index, value, order)`` ...) take the array and an
   index; numba compiles the very same names to LLVM atomics (``atomics.numba_backend``), so a Python
   thread, a numba kernel and C code can work on one array together.
3. :class:`AtomicArray`, :class:`AtomicI64`, :class:`AtomicU64`, :class:`AtomicBool` keep the
   array and the C pointer, so each call is one cffi call (about 0.1-0.3 microseconds).

Source: ISO C11 7.17; Rust ``std::sync::atomic`` for the method names and rules.

Thread-safety: every method is one atomic C operation; cffi releases the GIL around it, so
threads really interleave on the cell (that is the point). Each operation has exactly the
ordering passed to it; invalid orderings raise ValueError before reaching C.
"""
from __future__ import annotations

import operator
from typing import Any, Callable

import numpy as np

from course_lib._c import load as _load_extension
from course_lib.atomics.ordering import (Ordering, check_compare_exchange, check_fence, check_load,
                                         check_ordering, check_store)

__all__ = ["load", "store", "swap", "fetch_add", "fetch_sub", "fetch_and", "fetch_or",
           "fetch_xor", "fetch_max", "fetch_min", "compare_exchange", "compare_exchange_weak",
           "fence", "spin_loop", "AtomicArray", "AtomicI64", "AtomicU64", "AtomicBool",
           "SUPPORTED_DTYPES", "c_loop_fetch_add", "c_loop_cas_add"]

#: The element types an atomic cell may have (uint8 is what AtomicBool uses).
SUPPORTED_DTYPES = tuple(np.dtype(t) for t in ("int32", "uint32", "int64", "uint64", "uint8"))
_SUFFIX = {np.dtype("int32"): "i32", np.dtype("uint32"): "u32", np.dtype("int64"): "i64",
           np.dtype("uint64"): "u64", np.dtype("uint8"): "u8"}
_CTYPE = {"i32": "int32_t", "u32": "uint32_t", "i64": "int64_t", "u64": "uint64_t",
          "u8": "uint8_t"}
_RMW = ("swap", "fetch_add", "fetch_sub", "fetch_and", "fetch_or", "fetch_xor", "fetch_max",
        "fetch_min")



def _lib() -> tuple[Any, Any]:
    """The compiled ``course_lib._c._atomics`` (ffi, lib), with a clear error if it is missing."""
    return _load_extension("_atomics")


def _check_array(array: Any, writes: bool) -> str:
    """Validate an array for atomic access; return its C suffix (``"i64"`` ...)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected a NumPy array, got {type(array).__name__}")
    suffix = _SUFFIX.get(array.dtype)
    if suffix is None or array.dtype.byteorder not in "=|":
        names = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise TypeError(f"atomics work on arrays of {names} (native byte order), "
                        f"not {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"atomics work on 1-D arrays, got {array.ndim}-D; pass a 1-D view "
                         "such as a.reshape(-1) (it shares memory)")
    if not array.flags.aligned:
        raise ValueError("the array is not aligned to its element size; an atomic on a "
                         "misaligned cell is not atomic (copy it with np.ascontiguousarray)")
    if writes and not array.flags.writeable:
        raise ValueError("the array is read-only; an atomic write needs a writeable array")
    return suffix


def _wrap_index(index: Any, n: int) -> int:
    """NumPy-style index (negative counts from the end) with a clear IndexError."""
    try:
        i = operator.index(index)
    except TypeError:
        raise TypeError(f"index must be an integer, got {type(index).__name__}") from None
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range for an array of length {n}")
    return i + n if i < 0 else i


def _pointer(array: np.ndarray, index: Any, writes: bool) -> tuple[str, Any]:
    suffix = _check_array(array, writes)
    i = _wrap_index(index, array.shape[0])
    ffi, _ = _lib()
    address = array.ctypes.data + i * array.strides[0]
    return suffix, ffi.cast(_CTYPE[suffix] + " *", address)


# ----------------------------------------------------------------------------- free functions
def load(array: np.ndarray, index: int, order: Ordering) -> int:
    """Atomically read ``array[index]``.

    Args:
        array: a 1-D aligned array of int32, uint32, int64, uint64 or uint8.
        index: the cell; negative counts from the end, as in NumPy.
        order: Relaxed, Acquire or SeqCst.
    Returns:
        The value.
    Raises:
        TypeError: wrong array type, or ``order`` not an :class:`Ordering`.
        ValueError: Release or AcqRel (a load has nothing to release); bad array layout.
        IndexError: ``index`` out of range.
    Example:
        >>> a = np.array([7], np.int64); load(a, 0, Ordering.Acquire)
        7
    """
    check_load(check_ordering(order))
    suffix, p = _pointer(array, index, writes=False)
    return getattr(_lib()[1], "ca_load_" + suffix)(p, order)


def store(array: np.ndarray, index: int, value: int, order: Ordering) -> None:
    """Atomically write ``value`` to ``array[index]``.

    Args:
        array: a 1-D aligned, writeable array of a supported dtype.
        index: the cell (negative counts from the end).
        value: the new value; must fit the dtype (OverflowError otherwise).
        order: Relaxed, Release or SeqCst.
    Raises:
        ValueError: Acquire or AcqRel (a store reads nothing to acquire); read-only array.
        TypeError, IndexError, OverflowError: as for :func:`load`; value out of range.
    Example:
        >>> a = np.zeros(1, np.int64); store(a, 0, 5, Ordering.Release); int(a[0])
        5
    """
    check_store(check_ordering(order))
    suffix, p = _pointer(array, index, writes=True)
    getattr(_lib()[1], "ca_store_" + suffix)(p, value, order)


def _make_rmw(name: str, doc: str) -> Callable[..., int]:
    def rmw(array: np.ndarray, index: int, value: int, order: Ordering) -> int:
        check_ordering(order)
        suffix, p = _pointer(array, index, writes=True)
        return getattr(_lib()[1], f"ca_{name}_{suffix}")(p, value, order)

    rmw.__name__ = rmw.__qualname__ = name
    rmw.__doc__ = f"""Atomically {doc}, and return the value the cell held before.

    Args:
        array: a 1-D aligned, writeable array of int32, uint32, int64, uint64 or uint8.
        index: the cell (negative counts from the end).
        value: the operand; must fit the dtype. Arithmetic wraps around, as in Rust and C.
        order: any :class:`Ordering` (a read-modify-write both reads and writes).
    Returns:
        The previous value of ``array[index]``.
    Raises:
        TypeError: wrong array type, or ``order`` not an Ordering.
        ValueError: bad layout or read-only array.
        IndexError: ``index`` out of range.
        OverflowError: ``value`` does not fit the dtype.
    Example:
        >>> a = np.array([6], np.int64); {name}(a, 0, 3, Ordering.Relaxed)
        6
    """
    return rmw


swap = _make_rmw("swap", "replace ``array[index]`` by ``value``")
fetch_add = _make_rmw("fetch_add", "add ``value`` to ``array[index]`` (wrapping)")
fetch_sub = _make_rmw("fetch_sub", "subtract ``value`` from ``array[index]`` (wrapping)")
fetch_and = _make_rmw("fetch_and", "bitwise-and ``array[index]`` with ``value``")
fetch_or = _make_rmw("fetch_or", "bitwise-or ``array[index]`` with ``value``")
fetch_xor = _make_rmw("fetch_xor", "bitwise-xor ``array[index]`` with ``value``")
fetch_max = _make_rmw("fetch_max", "set ``array[index]`` to ``max(array[index], value)`` "
                      "(signed or unsigned comparison, as the dtype)")
fetch_min = _make_rmw("fetch_min", "set ``array[index]`` to ``min(array[index], value)`` "
                      "(signed or unsigned comparison, as the dtype)")


def compare_exchange(array: np.ndarray, index: int, current: int, new: int,
                     success: Ordering, failure: Ordering) -> tuple[bool, int]:
    """If ``array[index] == current``, atomically set it to ``new``.

    Args:
        array: a 1-D aligned, writeable array of a supported dtype.
        index: the cell (negative counts from the end).
        current: the value expected in the cell.
        new: the value to install if the cell holds ``current``.
        success: the ordering of the read-modify-write when it succeeds (any).
        failure: the ordering of the load when it fails: Relaxed, Acquire or SeqCst (it may be
            stronger than ``success``, as in Rust since 1.64).
    Returns:
        ``(ok, seen)``: whether the exchange happened, and the value the cell held (equal to
        ``current`` exactly when ``ok``). Rust returns ``Ok(seen)`` / ``Err(seen)``.
    Raises:
        ValueError: ``failure`` is Release or AcqRel; bad layout or read-only array.
        TypeError, IndexError, OverflowError: as for :func:`fetch_add`.
    Example:
        >>> a = np.array([1], np.int64)
        >>> compare_exchange(a, 0, 1, 5, Ordering.AcqRel, Ordering.Acquire)
        (True, 1)
        >>> compare_exchange(a, 0, 1, 9, Ordering.AcqRel, Ordering.Acquire)
        (False, 5)
    """
    check_compare_exchange(check_ordering(success, "success"), check_ordering(failure, "failure"))
    suffix, p = _pointer(array, index, writes=True)
    ffi, lib = _lib()
    expected = ffi.new(_CTYPE[suffix] + " *", current)
    ok = getattr(lib, "ca_compare_exchange_" + suffix)(p, expected, new, success, failure)
    return bool(ok), expected[0]


def compare_exchange_weak(array: np.ndarray, index: int, current: int, new: int,
                          success: Ordering, failure: Ordering) -> tuple[bool, int]:
    """Like :func:`compare_exchange`, but allowed to fail spuriously (for use in a retry loop).

    From Python this is the strong version (never fails spuriously, which the weak contract
    allows). In numba code it compiles to ``cmpxchg weak``: on ARM an ``ldxr/stxr`` pair without
    an inner retry loop; on x86 the same ``lock cmpxchg``.

    Example:
        >>> a = np.array([1], np.int64)
        >>> compare_exchange_weak(a, 0, 1, 2, Ordering.SeqCst, Ordering.Relaxed)[1]
        1
    """
    return compare_exchange(array, index, current, new, success, failure)


def fence(order: Ordering) -> None:
    """An atomic fence (``atomic_thread_fence``) with the given ordering.

    A Release fence followed by a Relaxed store acts like a Release store (and a Relaxed load
    followed by an Acquire fence like an Acquire load); a SeqCst fence also forbids the
    store-buffer reordering (``mfence`` on x86, ``dmb ish`` on ARM).

    Args:
        order: Acquire, Release, AcqRel or SeqCst.
    Raises:
        ValueError: Relaxed (a relaxed fence orders nothing).
    Example:
        >>> fence(Ordering.SeqCst)
    """
    check_fence(check_ordering(order))
    _lib()[1].ca_fence(order)


def spin_loop() -> None:
    """Tell the CPU we are spinning (Rust's ``std::hint::spin_loop``).

    In numba code it compiles to ``pause`` (x86) or ``yield`` (ARM). From Python, where one
    iteration of a spin loop costs far more than the hint, it does nothing.

    Example:
        >>> spin_loop()
    """


def c_loop_fetch_add(cell: "AtomicI64", n: int, order: Ordering) -> None:
    """Run ``n`` C fetch_adds of 1 on ``cell`` (a benchmark baseline; releases the GIL).

    Example:
        >>> c = AtomicI64(0); c_loop_fetch_add(c, 10, Ordering.SeqCst); c.load(Ordering.SeqCst)
        10
    """
    check_ordering(order)
    _lib()[1].ca_loop_fetch_add_i64(cell._ptr, n, order)


def c_loop_cas_add(cell: "AtomicI64", n: int, order: Ordering) -> None:
    """Add 1 to ``cell`` ``n`` times with a C compare_exchange loop (a benchmark baseline).

    Example:
        >>> c = AtomicI64(0); c_loop_cas_add(c, 10, Ordering.SeqCst); c.load(Ordering.SeqCst)
        10
    """
    check_ordering(order)
    _lib()[1].ca_loop_cas_add_i64(cell._ptr, n, order)


# ----------------------------------------------------------------------------- objects
class AtomicArray:
    """A 1-D NumPy array whose cells are used atomically (from Python, numba and C at once).

    Args:
        size_or_array: a length (a new zeroed array) or an existing 1-D array to share.
        dtype: element type of a new array: int32, uint32, int64 (default) or uint64.

    Attributes:
        array: the NumPy array (pass it to numba kernels: they see the same cells).
        buffer: the raw bytes as a cffi buffer (``memoryview(a.buffer)`` works).
        address: the address of cell 0.

    Raises:
        TypeError: unsupported dtype; ValueError: not 1-D, misaligned or read-only.

    Example:
        >>> a = AtomicArray(4)
        >>> a.fetch_add(2, 10, Ordering.Relaxed), a.load(2, Ordering.Relaxed)
        (0, 10)
    """

    def __init__(self, size_or_array: int | np.ndarray, dtype: Any = np.int64) -> None:
        if isinstance(size_or_array, np.ndarray):
            array = size_or_array
        else:
            n = operator.index(size_or_array)
            if n < 0:
                raise ValueError(f"size must be >= 0, got {n}")
            array = np.zeros(n, dtype=dtype)
        self._suffix = _check_array(array, writes=True)
        self._array = array
        ffi, lib = _lib()
        self._base = ffi.cast(_CTYPE[self._suffix] + " *", array.ctypes.data)
        self._step = array.strides[0] // array.itemsize
        self._n = array.shape[0]
        self._fns = {op: getattr(lib, f"ca_{op}_{self._suffix}")
                     for op in ("load", "store", "compare_exchange") + _RMW}

    @property
    def array(self) -> np.ndarray:
        """The NumPy array holding the cells (shared, not a copy)."""
        return self._array

    @property
    def buffer(self) -> Any:
        """The cells' bytes as a cffi buffer (shared memory)."""
        return _lib()[0].buffer(self._base, self._array.nbytes)

    @property
    def address(self) -> int:
        """The address of cell 0."""
        return int(self._array.ctypes.data)

    @property
    def dtype(self) -> np.dtype:
        """The element type."""
        return self._array.dtype

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        values = [self.load(i, Ordering.Relaxed) for i in range(min(self._n, 8))]
        more = ", ..." if self._n > 8 else ""
        return f"AtomicArray({str(values)[:-1]}{more}], dtype={self.dtype})"

    def _p(self, index: Any) -> Any:
        if type(index) is int and 0 <= index < self._n:  # fast path
            return self._base + index * self._step
        return self._base + _wrap_index(index, self._n) * self._step

    def load(self, index: int, order: Ordering) -> int:
        """Atomically read cell ``index`` (order: Relaxed, Acquire or SeqCst); see :func:`load`.

        Example:
            >>> AtomicArray(np.array([3], np.int64)).load(0, Ordering.SeqCst)
            3
        """
        check_load(check_ordering(order))
        return self._fns["load"](self._p(index), order)

    def store(self, index: int, value: int, order: Ordering) -> None:
        """Atomically write cell ``index`` (order: Relaxed, Release or SeqCst); see :func:`store`.

        Example:
            >>> a = AtomicArray(1); a.store(0, 4, Ordering.Release); a.array[0]
            np.int64(4)
        """
        check_store(check_ordering(order))
        self._fns["store"](self._p(index), value, order)

    def _rmw(self, op: str, index: int, value: int, order: Ordering) -> int:
        check_ordering(order)
        return self._fns[op](self._p(index), value, order)

    def swap(self, index: int, value: int, order: Ordering) -> int:
        """Store ``value`` in cell ``index``, return the old value; see :func:`swap`."""
        return self._rmw("swap", index, value, order)

    def fetch_add(self, index: int, value: int, order: Ordering) -> int:
        """Add (wrapping) to cell ``index``, return the old value; see :func:`fetch_add`."""
        return self._rmw("fetch_add", index, value, order)

    def fetch_sub(self, index: int, value: int, order: Ordering) -> int:
        """Subtract (wrapping), return the old value; see :func:`fetch_sub`."""
        return self._rmw("fetch_sub", index, value, order)

    def fetch_and(self, index: int, value: int, order: Ordering) -> int:
        """Bitwise-and, return the old value; see :func:`fetch_and`."""
        return self._rmw("fetch_and", index, value, order)

    def fetch_or(self, index: int, value: int, order: Ordering) -> int:
        """Bitwise-or, return the old value; see :func:`fetch_or`."""
        return self._rmw("fetch_or", index, value, order)

    def fetch_xor(self, index: int, value: int, order: Ordering) -> int:
        """Bitwise-xor, return the old value; see :func:`fetch_xor`."""
        return self._rmw("fetch_xor", index, value, order)

    def fetch_max(self, index: int, value: int, order: Ordering) -> int:
        """Raise cell ``index`` to at least ``value``, return the old value; see :func:`fetch_max`."""
        return self._rmw("fetch_max", index, value, order)

    def fetch_min(self, index: int, value: int, order: Ordering) -> int:
        """Lower cell ``index`` to at most ``value``, return the old value; see :func:`fetch_min`."""
        return self._rmw("fetch_min", index, value, order)

    def compare_exchange(self, index: int, current: int, new: int, success: Ordering,
                         failure: Ordering) -> tuple[bool, int]:
        """``(ok, seen)``: set cell ``index`` to ``new`` if it holds ``current``; see
        :func:`compare_exchange`.

        Example:
            >>> AtomicArray(2).compare_exchange(1, 0, 7, Ordering.AcqRel, Ordering.Relaxed)
            (True, 0)
        """
        check_compare_exchange(check_ordering(success, "success"),
                               check_ordering(failure, "failure"))
        expected = _lib()[0].new(_CTYPE[self._suffix] + " *", current)
        ok = self._fns["compare_exchange"](self._p(index), expected, new, success, failure)
        return bool(ok), expected[0]

    def compare_exchange_weak(self, index: int, current: int, new: int, success: Ordering,
                              failure: Ordering) -> tuple[bool, int]:
        """Same as :meth:`compare_exchange` from Python (see :func:`compare_exchange_weak`)."""
        return self.compare_exchange(index, current, new, success, failure)


class _AtomicScalar:
    """One atomic cell: element ``index`` of a NumPy array (its own 1-element array by default)."""

    _dtype: np.dtype = np.dtype("int64")

    def __init__(self, value: Any = 0) -> None:
        self._init(np.full(1, self._encode(value), dtype=self._dtype), 0)

    def _init(self, array: np.ndarray, index: int) -> None:
        self._cells = AtomicArray(array)
        self._index = _wrap_index(index, len(self._cells))
        self._ptr = self._cells._p(self._index)
        self._fns = self._cells._fns

    @classmethod
    def at(cls, array: np.ndarray, index: int = 0) -> Any:
        """An atomic view of ``array[index]`` (shares memory; the array must have this class's dtype).

        Example:
            >>> a = np.zeros(3, np.int64); c = AtomicI64.at(a, 2)
            >>> c.store(9, Ordering.SeqCst); int(a[2])
            9
        """
        if not isinstance(array, np.ndarray) or array.dtype != cls._dtype:
            got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise TypeError(f"{cls.__name__}.at needs an array of {cls._dtype}, got {got}")
        obj = cls.__new__(cls)
        obj._init(array, index)
        return obj

    @property
    def array(self) -> np.ndarray:
        """A 1-element NumPy view of the cell (pass it to numba: index 0 is this cell)."""
        return self._cells.array[self._index:self._index + 1]

    @property
    def buffer(self) -> Any:
        """The cell's bytes as a cffi buffer (shared memory)."""
        return _lib()[0].buffer(self._ptr, self._dtype.itemsize)

    @property
    def address(self) -> int:
        """The cell's address."""
        return int(_lib()[0].cast("uintptr_t", self._ptr))

    @staticmethod
    def _encode(value: Any) -> Any:
        return value

    @staticmethod
    def _decode(value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.load(Ordering.Relaxed)!r})"

    def load(self, order: Ordering) -> Any:
        """Atomically read the value (order: Relaxed, Acquire or SeqCst).

        Example:
            >>> AtomicI64(3).load(Ordering.Acquire)
            3
        """
        check_load(check_ordering(order))
        return self._decode(self._fns["load"](self._ptr, order))

    def store(self, value: Any, order: Ordering) -> None:
        """Atomically write ``value`` (order: Relaxed, Release or SeqCst).

        Example:
            >>> c = AtomicI64(); c.store(3, Ordering.Release); c.load(Ordering.Acquire)
            3
        """
        check_store(check_ordering(order))
        self._fns["store"](self._ptr, self._encode(value), order)

    def _rmw(self, op: str, value: Any, order: Ordering) -> Any:
        check_ordering(order)
        return self._decode(self._fns[op](self._ptr, self._encode(value), order))

    def swap(self, value: Any, order: Ordering) -> Any:
        """Store ``value`` and return the previous value.

        Example:
            >>> AtomicI64(1).swap(2, Ordering.AcqRel)
            1
        """
        return self._rmw("swap", value, order)

    def compare_exchange(self, current: Any, new: Any, success: Ordering,
                         failure: Ordering) -> tuple[bool, Any]:
        """``(ok, seen)``: install ``new`` if the cell holds ``current`` (see
        :func:`compare_exchange` for the orderings).

        Example:
            >>> AtomicI64(1).compare_exchange(1, 2, Ordering.AcqRel, Ordering.Acquire)
            (True, 1)
        """
        check_compare_exchange(check_ordering(success, "success"),
                               check_ordering(failure, "failure"))
        expected = _lib()[0].new(_CTYPE[_SUFFIX[self._dtype]] + " *", self._encode(current))
        ok = self._fns["compare_exchange"](self._ptr, expected, self._encode(new), success,
                                           failure)
        return bool(ok), self._decode(expected[0])

    def compare_exchange_weak(self, current: Any, new: Any, success: Ordering,
                              failure: Ordering) -> tuple[bool, Any]:
        """Same as :meth:`compare_exchange` from Python (the weak contract allows it)."""
        return self.compare_exchange(current, new, success, failure)

    def fetch_and(self, value: Any, order: Ordering) -> Any:
        """Bitwise-and with ``value``, return the previous value."""
        return self._rmw("fetch_and", value, order)

    def fetch_or(self, value: Any, order: Ordering) -> Any:
        """Bitwise-or with ``value``, return the previous value."""
        return self._rmw("fetch_or", value, order)

    def fetch_xor(self, value: Any, order: Ordering) -> Any:
        """Bitwise-xor with ``value``, return the previous value."""
        return self._rmw("fetch_xor", value, order)


class _AtomicInteger(_AtomicScalar):
    def fetch_add(self, value: int, order: Ordering) -> int:
        """Add ``value`` (wrapping), return the previous value.

        Example:
            >>> AtomicI64(5).fetch_add(1, Ordering.Relaxed)
            5
        """
        return self._rmw("fetch_add", value, order)

    def fetch_sub(self, value: int, order: Ordering) -> int:
        """Subtract ``value`` (wrapping), return the previous value."""
        return self._rmw("fetch_sub", value, order)

    def fetch_max(self, value: int, order: Ordering) -> int:
        """Set to ``max(current, value)``, return the previous value."""
        return self._rmw("fetch_max", value, order)

    def fetch_min(self, value: int, order: Ordering) -> int:
        """Set to ``min(current, value)``, return the previous value."""
        return self._rmw("fetch_min", value, order)


class AtomicI64(_AtomicInteger):
    """A signed 64-bit atomic integer (Rust's ``AtomicI64``) in a NumPy int64 cell.

    Args:
        value: the initial value.

    Attributes:
        array: a 1-element int64 view of the cell, for numba (index 0) or NumPy.
        buffer, address: the cell's bytes and address, for C.

    Example:
        >>> c = AtomicI64(0)
        >>> c.fetch_add(5, Ordering.Relaxed), c.load(Ordering.Relaxed)
        (0, 5)
    """

    _dtype = np.dtype("int64")


class AtomicU64(_AtomicInteger):
    """An unsigned 64-bit atomic integer (Rust's ``AtomicU64``); arithmetic wraps mod 2**64.

    Example:
        >>> c = AtomicU64(0); c.fetch_sub(1, Ordering.Relaxed); c.load(Ordering.Relaxed)
        0
        18446744073709551615
    """

    _dtype = np.dtype("uint64")


class AtomicBool(_AtomicScalar):
    """An atomic boolean (Rust's ``AtomicBool``) in a NumPy uint8 cell holding 0 or 1.

    Methods take and return Python bools: load, store, swap, compare_exchange, fetch_and,
    fetch_or, fetch_xor.

    Example:
        >>> flag = AtomicBool(False)
        >>> flag.swap(True, Ordering.AcqRel), flag.load(Ordering.Acquire)
        (False, True)
    """

    _dtype = np.dtype("uint8")

    def __init__(self, value: bool = False) -> None:
        super().__init__(value)

    @staticmethod
    def _encode(value: Any) -> int:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"AtomicBool takes True or False, got {value!r}")
        return int(value)

    @staticmethod
    def _decode(value: Any) -> bool:
        return bool(value)
