"""Six float32 kernels in C, each written several ways (variants), callable from Python.

========================  ==========================================================
``dot(x, y)``             sum of x*y: a reduction, four independent accumulators
``saxpy(a, x, y)``        y = a*x + y in place: streaming, memory-bound when large
``poly(x, coeffs)``       Horner's rule per element: compute-bound (K multiply-adds)
``masked_sum(x, t)``      sum of the x[i] > t: a mask instead of a branch
``argmin(x)``/``argmax``  index of the first minimum/maximum: a reduction with an index
========================  ==========================================================

Every function takes ``variant=None``: the best variant this machine can run (run-time
dispatch, under the ceiling of :mod:`course_lib.simd.features`), or a name among ``"scalar"``
(plain C, kept scalar), ``"vecext"`` (GCC/Clang vector extensions: portable code with lanes,
masks and lane-wise operators), ``"sse"``, ``"avx2"``, ``"avx512"`` (x86 intrinsics) and
``"neon"`` (AArch64 intrinsics). A named variant that cannot run raises
:class:`~course_lib.simd.features.SimdUnavailable` with the reason.

Why the code looks as it does (``course_lib/_c/simd.c`` explains it in full):

- *Lanes*: one AVX2 instruction multiplies 8 float32 pairs; AVX-512, 16.
- *Several accumulators*: ``s = s + x*y`` waits for the previous ``s`` (about 4 cycles) while
  the core could start two multiply-adds per cycle, so dot keeps 4 independent sums.
- *Unaligned loads*: a slice such as ``x[1:]`` starts 4 bytes into a cache line; every load is
  an unaligned one (``loadu``), which costs nothing extra on modern cores.
- *Tails*: ``len(x)`` need not be a multiple of the lanes; the rest is done one by one (AVX-512:
  one masked instruction).

Results agree with NumPy to rounding error, not bit for bit: the variants add in different
orders, and those with FMA round once per multiply-add instead of twice.

Arrays must be NumPy ``float32``, one-dimensional and C-contiguous (a strided view such as
``x[::2]`` is refused: copy it with ``np.ascontiguousarray``). cffi releases the GIL for each
call, so several Python threads can run kernels at once.

Sources: Intel Intrinsics Guide; Arm Neon Intrinsics Reference; GCC manual, "Using Vector
Instructions through Built-in Functions" and "x86 Function Attributes" (``target``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.simd import features as _features
from course_lib.simd.features import SimdUnavailable

__all__ = ["dot", "saxpy", "poly", "masked_sum", "argmin", "argmax", "dispatch", "KERNELS",
           "SimdUnavailable"]

#: The kernels' names, for :func:`dispatch`.
KERNELS = ("dot", "saxpy", "poly", "masked_sum", "argmin", "argmax")


def _array(name: str, a: Any, writable: bool = False) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy float32 array, got {type(a).__name__}; "
                        f"make one with np.asarray({name}, dtype=np.float32)")
    if a.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32 (native byte order), got {a.dtype}; "
                        f"convert it with {name}.astype(np.float32)")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {a.ndim}-D with shape {a.shape}; "
                         f"flatten it with {name}.reshape(-1)")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous: the kernels read consecutive floats, so "
                         f"a strided view such as x[::2] is refused; copy it with "
                         f"np.ascontiguousarray({name})")
    if not a.flags.aligned:
        raise ValueError(f"{name} is not aligned to 4 bytes (the size of a float32); copy it "
                         f"with np.array({name})")
    if writable and not a.flags.writeable:
        raise ValueError(f"{name} is read-only, but this kernel writes into it")
    return a


def _same_length(**arrays: np.ndarray) -> int:
    lengths = {k: v.shape[0] for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError("the arrays must have the same length, got "
                         + ", ".join(f"len({k}) = {n}" for k, n in lengths.items()))
    return next(iter(lengths.values()))


def _no_partial_overlap(a: np.ndarray, b: np.ndarray, names: str) -> None:
    """Allow a and b to be the very same memory (in place), but not to overlap shifted."""
    if np.may_share_memory(a, b) and a.ctypes.data != b.ctypes.data:
        raise ValueError(f"{names} overlap with an offset: the vector code would read values it "
                         "has already overwritten; pass separate arrays (or the same one)")


def _number(name: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}: {v!r}")
    return float(v)


def _variant(variant: str | None) -> int:
    return _features.VARIANTS.index(_features.best_variant()) if variant is None \
        else _features.check(variant)


def _ptr(ffi: Any, a: np.ndarray) -> Any:
    return ffi.from_buffer("float[]", a)


def _ok(status: int, what: str) -> None:
    if status == 0:
        return
    _, lib = _features._lib()
    if status in (lib.SIMD_E_CPU, lib.SIMD_E_NOT_BUILT, lib.SIMD_E_VARIANT):
        raise SimdUnavailable(f"{what}: the C library says the variant cannot run (status {status})")
    raise ValueError(f"{what}: the C library refused an argument (status {status})")


def dispatch(kernel: str) -> str:
    """The variant ``kernel(..., variant=None)`` would use now (all kernels dispatch alike).

    Example:
        >>> dispatch("dot")  # doctest: +SKIP
        'avx512'
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    return _features.best_variant()


def dot(x: np.ndarray, y: np.ndarray, variant: str | None = None) -> float:
    """The dot product ``sum(x[i] * y[i])``, accumulated in float32.

    Args:
        x, y: float32, 1-D, C-contiguous, of the same length (0 gives 0.0).
        variant: None for the best available, or a variant name.

    Returns:
        The float32 result as a Python float.

    Raises:
        TypeError / ValueError: bad arrays (the message says which and how to fix it).
        SimdUnavailable: the named variant cannot run here.

    Example:
        >>> dot(np.ones(5, np.float32), np.full(5, 2, np.float32))
        10.0
    """
    x, y = _array("x", x), _array("y", y)
    n = _same_length(x=x, y=y)
    v = _variant(variant)
    ffi, lib = _features._lib()
    out = ffi.new("float *")
    _ok(lib.simd_dot(v, _ptr(ffi, x), _ptr(ffi, y), n, out), "dot")
    return float(out[0])


def saxpy(a: float, x: np.ndarray, y: np.ndarray, variant: str | None = None) -> np.ndarray:
    """``y = a * x + y``, in place (BLAS's SAXPY: Single-precision A X Plus Y).

    Args:
        a: the scale (rounded to float32).
        x: float32, 1-D, C-contiguous. y: the same, writeable, as long as x; it may be x itself
            but must not overlap it with an offset.
        variant: None for the best available, or a variant name.

    Returns:
        ``y`` (the same array, updated).

    Example:
        >>> y = np.ones(3, np.float32); saxpy(2.0, np.arange(3, dtype=np.float32), y)
        array([1., 3., 5.], dtype=float32)
    """
    a = _number("a", a)
    x, y = _array("x", x), _array("y", y, writable=True)
    n = _same_length(x=x, y=y)
    _no_partial_overlap(x, y, "x and y")
    v = _variant(variant)
    ffi, lib = _features._lib()
    _ok(lib.simd_saxpy(v, a, _ptr(ffi, x), _ptr(ffi, y), n), "saxpy")
    return y


def poly(x: np.ndarray, coeffs: Any, variant: str | None = None,
         out: np.ndarray | None = None) -> np.ndarray:
    """Evaluate a polynomial at every element by Horner's rule (compute-bound for long ``coeffs``).

    Args:
        x: float32, 1-D, C-contiguous.
        coeffs: K + 1 coefficients, highest power first, as :func:`numpy.polyval` takes them
            (converted to float32); at least one.
        variant: None for the best available, or a variant name.
        out: optional float32 array as long as x to write into (may be x itself).

    Returns:
        ``out`` (a new array if none was given): ``coeffs[0] * x**K + ... + coeffs[K]``.

    Example:
        >>> poly(np.array([2.0], np.float32), [1, 0, -1])  # x**2 - 1
        array([3.], dtype=float32)
    """
    x = _array("x", x)
    c = np.ascontiguousarray(coeffs, dtype=np.float32)
    if c.ndim != 1 or not 1 <= c.shape[0] < 2**31:
        raise ValueError(f"coeffs must be a 1-D sequence of 1 to 2**31 - 1 numbers, got shape "
                         f"{c.shape}")
    if out is None:
        out = np.empty_like(x)
    else:
        out = _array("out", out, writable=True)
        _same_length(x=x, out=out)
        _no_partial_overlap(x, out, "x and out")
    v = _variant(variant)
    ffi, lib = _features._lib()
    _ok(lib.simd_poly(v, _ptr(ffi, x), _ptr(ffi, out), x.shape[0], _ptr(ffi, c), c.shape[0]),
        "poly")
    return out


def masked_sum(x: np.ndarray, threshold: float, variant: str | None = None) -> float:
    """The sum of the elements greater than ``threshold``, accumulated in float32.

    A NaN never counts (``NaN > t`` is false), and nothing counts if ``threshold`` is NaN, as
    ``x[x > threshold].sum()`` in NumPy.

    Example:
        >>> masked_sum(np.array([1, 5, np.nan, 7], np.float32), 2)
        12.0
    """
    t = _number("threshold", threshold)
    x = _array("x", x)
    v = _variant(variant)
    ffi, lib = _features._lib()
    out = ffi.new("float *")
    _ok(lib.simd_masked_sum(v, _ptr(ffi, x), x.shape[0], t, out), "masked_sum")
    return float(out[0])


def _arg(fn_name: str, x: np.ndarray, variant: str | None) -> int:
    x = _array("x", x)
    if x.shape[0] == 0:
        raise ValueError(f"attempt to get {fn_name} of an empty sequence")
    v = _variant(variant)
    ffi, lib = _features._lib()
    index, value = ffi.new("int64_t *"), ffi.new("float *")
    _ok(getattr(lib, "simd_" + fn_name)(v, _ptr(ffi, x), x.shape[0], index, value), fn_name)
    return int(index[0])


def argmin(x: np.ndarray, variant: str | None = None) -> int:
    """The index of the first smallest element, as :func:`numpy.argmin`.

    NaN: as NumPy, the index of the first NaN if there is one (NaN "wins"). -0.0 and 0.0 are
    equal, so the first of them wins. The value is ``x[argmin(x)]``.

    Raises:
        ValueError: x is empty (as NumPy), or a bad array.

    Example:
        >>> argmin(np.array([3, 1, 2, 1], np.float32))
        1
    """
    return _arg("argmin", x, variant)


def argmax(x: np.ndarray, variant: str | None = None) -> int:
    """The index of the first largest element, as :func:`numpy.argmax` (NaN: the first NaN)."""
    return _arg("argmax", x, variant)
