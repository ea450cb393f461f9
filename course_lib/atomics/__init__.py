"""Atomic operations with explicit memory orderings, the same API in numba kernels and in Python.

The model is Rust's ``std::sync::atomic`` (itself C11's): every operation names an
:class:`Ordering`.

1. **numba** (``@njit``, also in ``prange`` loops and ``nogil`` functions, ``cache=True`` works):
   call the free functions on an element of a 1-D int32/uint32/int64/uint64 (or uint8) array::

       old = fetch_add(counts, i, 1, Ordering.Relaxed)
       ok, seen = compare_exchange(cells, i, expected, new, Ordering.AcqRel, Ordering.Acquire)

   Each call compiles to one LLVM atomic instruction (``atomicrmw add`` -> ``lock xadd`` on
   x86). The ordering must be known when the function is compiled: write ``Ordering.X`` in the
   code, use a global holding one, or pass it as an argument from Python (the function is then
   compiled once per ordering). Plain ints are refused, so a mistake cannot slip through.
   Indices are checked (``IndexError``); ``*_unchecked`` twins skip the check for hot loops.
2. **Python**: the same free functions work on NumPy arrays (through C11 ``<stdatomic.h>`` via
   cffi), and :class:`AtomicI64`, :class:`AtomicU64`, :class:`AtomicBool`, :class:`AtomicArray`
   are objects with the same methods. Their ``.array`` is the NumPy memory itself, so Python
   threads, numba kernels and C code can all work on the same cells.
3. **Rules** (as in Rust): a load cannot be Release/AcqRel, a store cannot be Acquire/AcqRel, a
   compare_exchange failure ordering cannot be Release/AcqRel (it may be stronger than the
   success ordering, as in Rust since 1.64), a fence cannot be Relaxed. Python raises
   ``ValueError``; numba raises a ``TypingError`` with the same message.
4. :func:`show_asm` / :func:`show_llvm` show the machine code or LLVM IR of a numba function
   around its atomics, the way ``cargo asm`` or godbolt is used with Rust.

Source: Rust ``std::sync::atomic`` docs; M. Bos, "Rust Atomics and Locks" (O'Reilly 2023),
ch. 2-3 and 7; ISO C11 7.17; the LLVM Language Reference ("Atomic Memory Ordering Constraints").

Thread-safety: every operation is atomic on its cell, whoever else (Python thread, numba
thread, C) accesses it atomically at the same time. Mixing atomic and plain (non-atomic)
writes of one cell from different threads is a data race: don't.

API for the later chapters (stable): the names in ``__all__``; signatures
``load(a, i, order)``, ``store(a, i, v, order)``, ``fetch_<op>(a, i, v, order) -> old``,
``swap(a, i, v, order) -> old``, ``compare_exchange[_weak](a, i, current, new, success,
failure) -> (ok, seen)``, ``fence(order)``, ``spin_loop()``; each with an ``_unchecked`` twin
except fence and spin_loop.
"""
from __future__ import annotations

import platform
import re
from typing import Any, Sequence

from course_lib.atomics import numba_backend  # noqa: F401  (registers the numba implementations)
from course_lib.atomics.c_backend import (SUPPORTED_DTYPES, AtomicArray, AtomicBool, AtomicI64,
                                          AtomicU64, c_loop_cas_add, c_loop_fetch_add,
                                          compare_exchange, compare_exchange_weak, fence, fetch_add,
                                          fetch_and, fetch_max, fetch_min, fetch_or, fetch_sub,
                                          fetch_xor, load, spin_loop, store, swap)
from course_lib.atomics.ordering import Ordering

_U = numba_backend.UNCHECKED
load_unchecked = _U["load_unchecked"]
store_unchecked = _U["store_unchecked"]
swap_unchecked = _U["swap_unchecked"]
fetch_add_unchecked = _U["fetch_add_unchecked"]
fetch_sub_unchecked = _U["fetch_sub_unchecked"]
fetch_and_unchecked = _U["fetch_and_unchecked"]
fetch_or_unchecked = _U["fetch_or_unchecked"]
fetch_xor_unchecked = _U["fetch_xor_unchecked"]
fetch_max_unchecked = _U["fetch_max_unchecked"]
fetch_min_unchecked = _U["fetch_min_unchecked"]
compare_exchange_unchecked = _U["compare_exchange_unchecked"]
compare_exchange_weak_unchecked = _U["compare_exchange_weak_unchecked"]

__all__ = [
    "Ordering", "fence", "spin_loop",
    "load", "store", "swap", "fetch_add", "fetch_sub", "fetch_and", "fetch_or", "fetch_xor",
    "fetch_max", "fetch_min", "compare_exchange", "compare_exchange_weak",
    "load_unchecked", "store_unchecked", "swap_unchecked", "fetch_add_unchecked",
    "fetch_sub_unchecked", "fetch_and_unchecked", "fetch_or_unchecked", "fetch_xor_unchecked",
    "fetch_max_unchecked", "fetch_min_unchecked", "compare_exchange_unchecked",
    "compare_exchange_weak_unchecked",
    "AtomicI64", "AtomicU64", "AtomicBool", "AtomicArray", "SUPPORTED_DTYPES",
    "c_loop_fetch_add", "c_loop_cas_add", "show_asm", "show_llvm", "atomic_instructions",
]

_ARM = platform.machine().lower() in ("aarch64", "arm64")
#: What an atomic looks like in machine code: x86 marks read-modify-writes with the ``lock``
#: prefix (``xchg`` is implicitly locked) and SeqCst fences with ``mfence`` or a locked ``or``;
#: ARMv8.1+ has single instructions (``ldadd``, ``swp``, ``cas``), older ARM a load-linked /
#: store-conditional pair (``ldaxr`` ... ``stlxr``) in a retry loop, ``ldar``/``stlr`` for
#: acquire loads/release stores and ``dmb`` for fences.
_DEFAULT_ASM_GREP = (r"\b(ldadd\w*|ldclr\w*|ldset\w*|ldeor\w*|ld[su]max\w*|ld[su]min\w*|swp\w*|"
                     r"cas\w*|ld[a]?xr\w*|st[l]?xr\w*|ldar\w*|stlr\w*|dmb)\b" if _ARM
                     else r"\block\b|\bxchg|\bmfence\b")
_DEFAULT_LLVM_GREP = r"=\s*atomicrmw\s|=\s*cmpxchg\s|^\s*fence\s|load atomic|store atomic"


def _uncached_copy(fn: Any, signature: Any) -> tuple[Any, Any]:
    """Compile ``fn`` again without ``cache`` (numba cannot inspect code loaded from its cache)."""
    import numba

    if not hasattr(fn, "py_func") or not hasattr(fn, "targetoptions"):
        raise TypeError(f"expected a numba-jitted function (@njit), got {type(fn).__name__}")
    if signature is None:
        if not fn.signatures:
            raise ValueError(f"{fn.__name__} has not been compiled yet: call it once, or pass "
                             "signature=(types of its arguments)")
        signature = fn.signatures[0]
    options = {k: v for k, v in fn.targetoptions.items() if k not in ("cache", "nopython")}
    copy = numba.njit(**options)(fn.py_func)
    copy.compile(tuple(signature))
    return copy, copy.signatures[0]


_RUNTIME = ("NRT_", "nrt_")  # numba's reference counting: atomics that are not the user's


def _without_runtime(text: str, asm: bool) -> list[str]:
    """Drop the functions of numba's runtime (NRT_incref/decref use atomics of their own)."""
    kept, skipping = [], False
    for line in text.splitlines():
        if asm and line and not line[0].isspace() and not line.startswith((".", '"')) \
                and line.endswith(":"):
            skipping = line.startswith(_RUNTIME)  # a global symbol starts a function
        elif not asm and line.startswith(("define", "declare")):
            name = line.split("@", 1)[-1].lstrip('"')
            skipping = name.startswith(_RUNTIME)
        if not skipping:
            kept.append(line)
    return kept


def _grep(lines: list[str], pattern: str | None, context: int) -> list[str]:
    if pattern is None:
        return lines
    rx = re.compile(pattern)
    keep: set[int] = set()
    for i, line in enumerate(lines):
        if rx.search(line):
            keep.update(range(max(0, i - context), min(len(lines), i + context + 1)))
    return [lines[i] for i in sorted(keep)]


def show_asm(fn: Any, signature: Sequence[Any] | None = None, grep: str | None = "auto",
             context: int = 0) -> list[str]:
    """The machine-code lines of a numba function that do atomic work (like ``cargo asm``).

    On x86-64 you will see ``lock xadd`` (fetch_add), ``lock cmpxchg`` (compare_exchange),
    ``xchg`` (swap, and a SeqCst store), ``mfence`` (a SeqCst fence); plain ``mov`` for every
    other load and store, because x86 (TSO) already gives them acquire/release semantics. On
    ARM64 you see ``ldadd``/``ldaddal``, ``cas``, ``swp`` (ARMv8.1 atomics) or ``ldaxr`` ...
    ``stlxr`` retry loops, ``ldar``/``stlr`` and ``dmb ish``. numba's own reference counting
    (``NRT_incref``/``NRT_decref``, a ``lock incq``/``lock decq`` each) is left out.

    Args:
        fn: an ``@njit`` function (cached or not; it is recompiled uncached for inspection).
        signature: argument types, e.g. ``(numba.int64[:], numba.int64)``; default: the first
            signature it has been compiled for.
        grep: a regular expression selecting lines; ``"auto"`` picks the atomic instructions of
            this CPU; ``None`` returns the whole listing.
        context: lines to keep before and after each match.
    Returns:
        The selected lines of assembly (also those of ``prange`` bodies).
    Raises:
        TypeError: ``fn`` is not a numba function. ValueError: no signature known.
    Example:
        >>> import numba
        >>> @numba.njit
        ... def bump(a):
        ...     return fetch_add(a, 0, 1, Ordering.SeqCst)
        >>> show_asm(bump, (numba.int64[:],))      # doctest: +SKIP
        ['\\tlock\\t\\txaddq\\t%rcx, (%rax)']
    """
    copy, sig = _uncached_copy(fn, signature)
    pattern = _DEFAULT_ASM_GREP if grep == "auto" else grep
    return _grep(_without_runtime(copy.inspect_asm(sig), asm=True), pattern, context)


def show_llvm(fn: Any, signature: Sequence[Any] | None = None, grep: str | None = "auto",
              context: int = 0) -> list[str]:
    """The LLVM IR lines of a numba function that are atomic (``atomicrmw``, ``cmpxchg``...).

    The IR says what was asked for (``atomicrmw add ... monotonic``) independently of the CPU;
    :func:`show_asm` shows what the CPU will run.

    Args:
        fn, signature, context: as for :func:`show_asm`.
        grep: a regular expression; ``"auto"`` keeps atomic instructions; ``None`` keeps all.
    Returns:
        The selected lines of LLVM IR.
    Example:
        >>> show_llvm(bump, (numba.int64[:],))     # doctest: +SKIP
        ['  %.27 = atomicrmw add ptr %.25, i64 1 seq_cst, align 8']
    """
    copy, sig = _uncached_copy(fn, signature)
    pattern = _DEFAULT_LLVM_GREP if grep == "auto" else grep
    return _grep(_without_runtime(copy.inspect_llvm(sig), asm=False), pattern, context)


def atomic_instructions(fn: Any, signature: Sequence[Any] | None = None) -> dict[str, int]:
    """Count the atomic LLVM instructions of a numba function, by kind.

    Args:
        fn, signature: as for :func:`show_asm`.
    Returns:
        ``{"atomicrmw add": 2, "cmpxchg": 1, ...}``: kind (with the operation for atomicrmw)
        -> how many. Empty when the function has no atomics.
    Example:
        >>> atomic_instructions(bump, (numba.int64[:],))     # doctest: +SKIP
        {'atomicrmw add': 1}
    """
    counts: dict[str, int] = {}
    for line in show_llvm(fn, signature):
        m = re.search(r"\b(atomicrmw \w+|cmpxchg|fence|load atomic|store atomic)\s", line)
        if m:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts
