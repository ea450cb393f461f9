"""Which SIMD instructions this CPU has, asked of the CPU itself, and which kernel variants can run.

A *lane* is one element of a vector register: a 128-bit register holds 4 float32 lanes, a 256-bit
one 8, a 512-bit one 16, and one vector instruction works on all its lanes at once. Each
generation of x86 added wider registers and new instructions, a ladder of *features*: SSE2 (every
x86-64), SSE4.2, AVX (256-bit registers), AVX2 (256-bit integer ops), FMA (fused multiply-add),
AVX-512 F/BW/VL (512-bit registers and mask registers). AArch64 has NEON (Arm also calls it
Advanced SIMD, ``asimd``) on every core, and some cores add SVE.

The C library (``course_lib/_c/simd.c``) asks the CPU, not a file: on x86 GCC/Clang's
``__builtin_cpu_supports`` (CPUID) plus XGETBV, which tells whether the OS saves the wide
registers; on Linux/AArch64 ``getauxval(AT_HWCAP)``; on Apple silicon NEON is a given. The answer
should agree with ``/proc/cpuinfo`` (what :func:`course_lib.measure.machine.describe` reads).

The kernels of :mod:`course_lib.simd.kernels` exist in *variants* (``scalar``, ``vecext``,
``sse``, ``avx2``, ``avx512``, ``neon``). One is *available* when the compiler built it (x86 code
is not built on an ARM machine) **and** this CPU has the features it needs. Without an explicit
variant, the kernels use the best available one: run-time dispatch, as NumPy does.

A *ceiling* pretends the CPU stops at a rung, so that a learner on an AVX-512 machine can see the
AVX2, SSE and scalar paths run (and a machine without AVX-512 simply says so):

- ``COURSE_SIMD_MAX=avx2`` (or ``sse``, ``vecext``, ``scalar``, ``neon``, ``avx512``; feature
  names such as ``avx512f`` or ``sse4.2`` work too; empty or ``native``: no ceiling),
- ``with ceiling("sse"): ...`` for a block of code; the innermost ``ceiling`` wins over the
  variable, and ``ceiling(None)`` lifts it. It is process-wide: threads started inside the
  block see it too, but enter and leave the blocks from one thread.

Variants above the ceiling are unavailable (``variants()`` says why) and naming one raises
:class:`SimdUnavailable`. :func:`features` is never affected: it is what the CPU really has.

Sources: GCC manual, "x86 Built-in Functions" (``__builtin_cpu_supports``); Intel SDM vol. 1,
ch. 13 (XCR0); Linux ``Documentation/arch/arm64/elf_hwcaps.rst``; NumPy's "CPU build options"
(``NPY_DISABLE_CPU_FEATURES``, the model for the ceiling).
"""
from __future__ import annotations

import contextlib
import platform
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

from course_lib import config
from course_lib._c import load as _load_extension

__all__ = ["SimdUnavailable", "Variant", "VARIANTS", "features", "ladder", "best_isa", "variants",
           "available", "check", "best_variant", "ceiling", "current_ceiling", "lanes",
           "compiler", "ENV"]

#: The environment variable that sets a ceiling.
ENV = "COURSE_SIMD_MAX"

X86_FEATURES = ("sse2", "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl")
ARM_FEATURES = ("neon", "sve")
_BIT = {"sse2": "SIMD_F_SSE2", "sse4.2": "SIMD_F_SSE42", "avx": "SIMD_F_AVX",
        "avx2": "SIMD_F_AVX2", "fma": "SIMD_F_FMA", "avx512f": "SIMD_F_AVX512F",
        "avx512bw": "SIMD_F_AVX512BW", "avx512vl": "SIMD_F_AVX512VL", "neon": "SIMD_F_NEON",
        "sve": "SIMD_F_SVE"}

#: The variants, in the order of their C numbers (SIMD_SCALAR = 0 ... SIMD_NEON = 5).
VARIANTS = ("scalar", "vecext", "sse", "avx2", "avx512", "neon")
# How high each variant sits: a ceiling at level L allows variants of level <= L. vecext is
# compiled for the baseline ISA (SSE2 / NEON) and sits just below the hand-written 128-bit ones.
_LEVEL = {"scalar": 0, "vecext": 1, "sse": 2, "neon": 2, "avx2": 3, "avx512": 4}
# Dispatch order: the first available one wins.
_PREFERENCE = ("avx512", "avx2", "neon", "sse", "vecext", "scalar")
# Ceiling spellings beyond the variant names: features map to the highest variant they permit.
_ALIASES = {"sse2": "sse", "sse4.2": "sse", "sse42": "sse", "avx": "sse", "fma": "avx2",
            "avx512f": "avx512", "avx512bw": "avx512", "avx512vl": "avx512", "avx-512": "avx512",
            "asimd": "neon", "sve": "neon", "portable": "vecext"}
_NO_CEILING = ("", "native", "max", "best")

_stack: list[str | None] = []
_stack_lock = threading.Lock()


class SimdUnavailable(RuntimeError):
    """A kernel variant cannot run here: not compiled for this machine, the CPU lacks a feature
    it needs, or it sits above the ceiling (``COURSE_SIMD_MAX`` / :func:`ceiling`)."""


class Variant(NamedTuple):
    """One row of :func:`variants`: ``why_not`` is ``""`` when ``available``."""

    name: str
    available: bool
    why_not: str


def _lib() -> tuple[Any, Any]:
    """The compiled ``course_lib._c._simd`` (ffi, lib), with a clear error if it is missing."""
    return _load_extension("_simd")


def _arch() -> str:
    m = platform.machine().lower()
    if m in ("x86_64", "amd64", "i386", "i686", "x86"):
        return "x86"
    if m in ("aarch64", "arm64"):
        return "arm"
    return "other"


def _ladder_features() -> tuple[str, ...]:
    return {"x86": X86_FEATURES, "arm": ARM_FEATURES}.get(_arch(), ())


def features() -> dict[str, bool]:
    """The SIMD features of this CPU, lowest rung first, as the CPU itself reports them.

    Returns:
        On x86: sse2, sse4.2, avx, avx2, fma, avx512f, avx512bw, avx512vl. On AArch64: neon
        (Advanced SIMD, ``asimd`` in /proc/cpuinfo) and sve. Elsewhere: an empty dict.

    Example:
        >>> features()["sse2"]  # doctest: +SKIP
        True
    """
    _, lib = _lib()
    word = lib.simd_cpu_features()
    return {f: bool(word & getattr(lib, _BIT[f])) for f in _ladder_features()}


def ladder() -> list[tuple[str, bool]]:
    """The kernel ISAs of this architecture, narrowest first, each with whether the CPU has it.

    x86: scalar, sse, avx2, avx512; AArch64: scalar, neon. (``vecext`` is not a rung: it is a
    way of writing code, compiled for the baseline rung.) The ceiling does not change this list.

    Example:
        >>> ladder()  # doctest: +SKIP
        [('scalar', True), ('sse', True), ('avx2', True), ('avx512', False)]
    """
    rungs = {"x86": ("scalar", "sse", "avx2", "avx512"), "arm": ("scalar", "neon")}.get(_arch(),
                                                                                     ("scalar",))
    _, lib = _lib()
    word = lib.simd_cpu_features()
    return [(r, (word & lib.simd_variant_needs(VARIANTS.index(r))) ==
             lib.simd_variant_needs(VARIANTS.index(r))) for r in rungs]


def best_isa() -> str:
    """The highest rung of :func:`ladder` this CPU has (``"avx512"``, ``"avx2"``, ``"neon"``...).
    The CPU's truth: the ceiling does not lower it (:func:`best_variant` respects the ceiling)."""
    return [r for r, ok in ladder() if ok][-1]


def _normalise(isa: str | None, source: str) -> str | None:
    if isa is None:
        return None
    if not isinstance(isa, str):
        raise TypeError(f"{source} must be a string such as 'avx2', got {type(isa).__name__}")
    key = isa.strip().lower()
    if key in _NO_CEILING:
        return None
    key = _ALIASES.get(key, key)
    if key not in _LEVEL:
        raise ValueError(f"{source}={isa!r} is not an ISA I know; choose one of "
                         f"{', '.join(VARIANTS)} (or a feature name such as avx512f, or "
                         f"'native' for no ceiling)")
    return key


def current_ceiling() -> str | None:
    """The ceiling in force: the innermost :func:`ceiling` block, else ``COURSE_SIMD_MAX``, else
    None (no ceiling).

    Raises:
        ValueError: ``COURSE_SIMD_MAX`` holds a name that is not an ISA (the message names it).
    """
    with _stack_lock:
        if _stack:
            return _stack[-1]
    return _normalise(config.simd_max(), ENV)


@contextlib.contextmanager
def ceiling(isa: str | None) -> Iterator[str | None]:
    """Pretend, inside the block, that the CPU stops at ``isa`` (None lifts any ceiling).

    Args:
        isa: a variant name (``"avx2"``, ``"sse"``, ``"scalar"``...) or a feature name
            (``"avx512f"``, ``"sse4.2"``...), or ``"native"`` / None for no ceiling.

    Yields:
        The normalised ceiling (a variant name, or None).

    Example:
        >>> from course_lib.simd import kernels
        >>> with ceiling("sse"):
        ...     kernels.dispatch("dot") in ("sse", "vecext", "neon", "scalar")
        True
    """
    key = _normalise(isa, "ceiling")
    with _stack_lock:
        _stack.append(key)
    try:
        yield key
    finally:
        with _stack_lock:
            _stack.pop()


def _why_not(name: str, cap: str | None) -> str:
    ffi, lib = _lib()
    number = VARIANTS.index(name)
    status = lib.simd_variant_status(number)
    if status == lib.SIMD_E_NOT_BUILT:
        compiler = ffi.string(lib.simd_compiler()).decode(errors="replace")
        if name == "vecext":
            return f"not built: {compiler} has no GCC/Clang vector extensions"
        return (f"not built: the {name} kernels are for another architecture (this is "
                f"{platform.machine() or 'an unknown machine'}, compiled with {compiler})")
    if status == lib.SIMD_E_CPU:
        word = lib.simd_cpu_features()
        missing = [f for f, bit in _BIT.items()
                   if lib.simd_variant_needs(number) & getattr(lib, bit) and not word & getattr(lib, bit)]
        return f"this CPU lacks {', '.join(missing)}"
    if status != 0:  # pragma: no cover - only if the C table and this module disagree
        return f"the C library refuses it (status {status})"
    if cap is not None and _LEVEL[name] > _LEVEL[cap]:
        return f"above the ceiling {cap!r} ({ENV} or simd.ceiling)"
    return ""


def lanes(variant: str, precision: int = 32) -> int:
    """float32 (``precision=32``) or float64 (64) lanes of a variant's vector; 1 for scalar."""
    _, lib = _lib()
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    n = lib.simd_lanes(VARIANTS.index(variant), precision)
    if n < 0:
        raise ValueError(f"precision must be 32 or 64, got {precision!r}")
    return n


def variants() -> list[Variant]:
    """Every variant with whether it can run here, and if not, why (in the order of VARIANTS)."""
    cap = current_ceiling()
    rows = []
    for name in VARIANTS:
        why = _why_not(name, cap)
        rows.append(Variant(name, not why, why))
    return rows


def available() -> list[str]:
    """The names of the variants that can run here, under the ceiling."""
    return [v.name for v in variants() if v.available]


def check(variant: str) -> int:
    """Return the C number of ``variant`` if it can run here.

    Raises:
        ValueError: not a variant name.
        SimdUnavailable: it cannot run here (the message says why).
    """
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)} "
                         "(or None for the best available)")
    why = _why_not(variant, current_ceiling())
    if why:
        raise SimdUnavailable(f"the {variant} variant cannot run here: {why}")
    return VARIANTS.index(variant)


def best_variant() -> str:
    """The variant the dispatcher picks: the widest one available under the ceiling."""
    cap = current_ceiling()
    for name in _PREFERENCE:
        if not _why_not(name, cap):
            return name
    raise AssertionError("the scalar variant is always available")  # pragma: no cover


def compiler() -> str:
    """The compiler that built the C kernels, e.g. ``"gcc 12.2.0"``."""
    ffi, lib = _lib()
    return ffi.string(lib.simd_compiler()).decode(errors="replace")
