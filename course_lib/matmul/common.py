"""What every matrix-multiply rung shares: checking the operands, the output, and the result.

Every rung of chapter 8, numba or C, computes ``C = A @ B`` for 2-D ``A`` (m x k) and ``B``
(k x n) of one floating-point dtype, into ``out`` when it is given, else into a new C-ordered
array, and returns it. Checking the operands is the same for all of them, so it lives here:

=============================  ==============================================================
:func:`check_operands`         the checks, with errors that name the problem; returns the
                               sizes and the output array
:func:`flops`                  ``2 m n k``: one multiply and one add per term of every sum
:func:`reference`              the product computed in float64 by NumPy, to compare against
:func:`error_bound`            how far from it a correct float32/float64 result may be
:func:`max_error_ratio`        the worst error of a result, in units of that bound
=============================  ==============================================================

Which errors (the rule of thumb of NumPy itself: a wrong *kind* of thing is a ``TypeError``, a
right kind with a wrong *value* or shape is a ``ValueError``):

- ``TypeError``: an operand that is not a NumPy array; a dtype other than float32/float64; A
  and B of different dtypes (NumPy would quietly promote to float64, and then the "float32
  kernel" you are timing would not be the one that runs); an ``out`` of the wrong dtype.
- ``ValueError``: an operand that is not 2-D; inner dimensions that do not match; an ``out`` of
  the wrong shape, read-only, or sharing memory with A or B (a kernel that writes C while it
  still reads A would read its own partial results).

Rounding: a sum of k products, each rounded, is off from the exact sum by at most
``gamma_k |A| |B|`` elementwise, with ``gamma_k = k u / (1 - k u)`` and ``u`` the unit roundoff
(half of ``np.finfo(dtype).eps``). Blocked and vectorised kernels add the terms in another order
than the naive loop, so their results differ in the last bits, but every order obeys the bound.
That is why the tests compare with a tolerance that grows with k, not with ``==``.

Source: N. J. Higham, "Accuracy and Stability of Numerical Algorithms" (2nd ed., SIAM 2002),
section 3.5 (the error bound of matrix products).
"""
from __future__ import annotations

import numpy as np

__all__ = ["FLOAT_DTYPES", "check_operands", "flops", "reference", "error_bound",
           "max_error_ratio"]

#: The dtypes every rung accepts.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(x: np.ndarray) -> str:
    return "x".join(str(s) for s in x.shape) if x.ndim else "a scalar"


def check_operands(a: np.ndarray, b: np.ndarray,
                   out: np.ndarray | None = None) -> tuple[int, int, int, np.ndarray]:
    """Check ``A``, ``B`` and ``out`` for ``C = A @ B``; return ``(m, k, n, out)``.

    Args:
        a: the m x k left operand, float32 or float64, any memory order.
        b: the k x n right operand, of the same dtype.
        out: where to write the m x n result (same dtype, writeable, not overlapping A or B),
            or None for a new C-ordered array (uninitialised: every rung writes every element).

    Returns:
        ``(m, k, n, out)``.

    Raises:
        TypeError: an operand or ``out`` is not a NumPy array; a dtype is not float32/float64;
            A and B differ in dtype; ``out`` has another dtype.
        ValueError: an operand is not 2-D; A's columns differ from B's rows; ``out`` has the
            wrong shape, is read-only, or shares memory with A or B.

    Example:
        >>> a, b = np.ones((2, 3)), np.ones((3, 4))
        >>> m, k, n, out = check_operands(a, b)
        >>> (m, k, n), out.shape, out.dtype
        ((2, 3, 4), (2, 4), dtype('float64'))
    """
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__} "
                            f"(convert it with np.asarray({name}, dtype=np.float64))")
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be float32 or float64, got {x.dtype} "
                            f"(convert it with {name}.astype(np.float64))")
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D (a matrix), got {x.ndim}-D with shape "
                             f"{x.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"a and b must have the same dtype, got a {a.dtype} and b {b.dtype} "
                        f"(convert one, e.g. b.astype(a.dtype): the kernels never mix them)")
    m, k = a.shape
    k2, n = b.shape
    if k != k2:
        raise ValueError(f"inner dimensions differ: a is {_describe(a)} and b is {_describe(b)}; "
                         f"a's columns ({k}) must equal b's rows ({k2})")
    if out is None:
        return m, k, n, np.empty((m, n), dtype=a.dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array or None, got {type(out).__name__}")
    if out.dtype != a.dtype:
        raise TypeError(f"out must have the operands' dtype {a.dtype}, got {out.dtype}")
    if out.shape != (m, n):
        raise ValueError(f"out must have shape ({m}, {n}) for a {_describe(a)} times a "
                         f"{_describe(b)}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writeable array")
    for name, x in (("a", a), ("b", b)):
        if np.may_share_memory(out, x) and np.shares_memory(out, x):
            raise ValueError(f"out shares memory with {name}: the result would overwrite an "
                             f"operand while it is still being read; pass a separate array")
    return m, k, n, out


def flops(m: int, k: int, n: int) -> int:
    """Floating-point operations of an (m x k) @ (k x n) product: ``2 m n k``.

    Each of the m n results is a sum of k products: k multiplies and k - 1 adds, counted as k
    (the convention of every GEMM benchmark, and exactly right when the kernel uses fused
    multiply-adds into a zeroed accumulator).

    Example:
        >>> flops(1024, 1024, 1024) / 1e9
        2.147483648
    """
    return 2 * int(m) * int(n) * int(k)


def reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``A @ B`` computed in float64 by NumPy: the value a rung is compared with.

    Example:
        >>> reference(np.eye(2, dtype=np.float32), np.ones((2, 2), np.float32)).dtype
        dtype('float64')
    """
    return np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)


def error_bound(a: np.ndarray, b: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    """Elementwise bound on the rounding error of a correct ``A @ B`` in ``dtype``.

    ``gamma_k |A| |B|`` with ``gamma_k = k u / (1 - k u)`` and ``u = eps / 2`` (see the module
    docstring), plus the smallest normal number so that an exact zero is allowed a tiny slack.

    Args:
        a, b: the operands.
        dtype: the precision of the computation; default ``a.dtype``.

    Returns:
        An m x n float64 array.

    Example:
        >>> a = np.ones((2, 1000), np.float32); b = np.ones((1000, 2), np.float32)
        >>> float(error_bound(a, b)[0, 0]) < 0.2
        True
    """
    dt = np.dtype(a.dtype if dtype is None else dtype)
    k = a.shape[1]
    u = np.finfo(dt).eps / 2
    gamma = k * u / (1 - k * u) if k * u < 1 else np.inf
    magnitude = np.abs(np.asarray(a, np.float64)) @ np.abs(np.asarray(b, np.float64))
    return gamma * magnitude + np.finfo(dt).tiny


def max_error_ratio(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """The worst error of a result ``c`` of ``A @ B``, in units of :func:`error_bound`.

    At most 1 for a correct kernel (typically well below: rounding errors partly cancel). A
    wrong kernel (a missing tile, a stale accumulator) gives errors of the size of the entries,
    thousands or millions of times the bound.

    Returns:
        ``max |c - A@B| / bound`` over the elements; 0.0 for an empty result.

    Example:
        >>> a = np.random.default_rng(0).random((5, 7)); b = np.ones((7, 3))
        >>> max_error_ratio(a @ b, a, b) <= 1
        True
    """
    if c.size == 0:
        return 0.0
    err = np.abs(np.asarray(c, np.float64) - reference(a, b))
    return float(np.max(err / error_bound(a, b, c.dtype)))
