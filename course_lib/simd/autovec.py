"""Did the compiler vectorise this loop? Read the answer in the machine code.

numba compiles through LLVM, whose loop vectoriser turns ``for i in range(n): s += x[i]*y[i]``
into instructions that work on several *lanes* at once: on x86, 4 float32 lanes in an ``xmm``
register (SSE, 128 bits), 8 in ``ymm`` (AVX2, 256 bits), 16 in ``zmm`` (AVX-512, 512 bits); on
ARM, 4 in a NEON ``v`` register. Whether it did is not something to guess or time: it is written
in the assembly. :func:`vector_report` reads it.

What counts:

* **packed arithmetic**: x86 mnemonics ending in ``ps``/``pd`` (packed single/double: ``vaddps``,
  ``vfmadd231ps``, ``vmulpd``...) or packed integer ``p...`` ops, each as wide as its widest
  register; ARM instructions on arranged vector registers (``fadd v0.4s, v1.4s, v2.4s``) or SVE
  ``z`` registers. Moves, shuffles and zeroing idioms (``vmovups``, ``vxorps``) are not counted:
  copying data in vector registers is not computing with it (numba's wrappers do it too).
* **scalar float arithmetic**: ``ss``/``sd`` on x86 (``vaddss``: one lane of an xmm register),
  ``s``/``d`` registers on ARM. A loop that shows only these was *not* vectorised, whatever
  registers it names.

Sources: Intel 64 and IA-32 Architectures Software Developer's Manual vol. 1 ch. 10-15 (SSE,
AVX, AVX-512 register and naming conventions); Arm A64 ISA, "SIMD and floating-point
instructions"; LLVM's "Auto-Vectorization in LLVM" page.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["VectorReport", "vector_report", "asm_of", "report"]

_X86_WIDTH = {"xmm": 128, "ymm": 256, "zmm": 512}
_X86_ARITH = re.compile(
    r"^v?(add|sub|mul|div|f?n?m(add|sub)(sub|add)?\d*|max|min|sqrt|cmp\w*|blendv|rcp\w*|rsqrt\w*|"
    r"hadd|dp|and|andn|or|xor|round|cvt\w*)(ps|pd)$")
_X86_SCALAR = re.compile(
    r"^v?(add|sub|mul|div|f?n?m(add|sub)\d*|max|min|sqrt|ucomi|comi|cmp\w*|cvt\w*)(ss|sd)$")
_X86_INT = re.compile(r"^v?p(add|sub|mul|max|min|cmp|sad|madd)\w*$")
_ZEROING = re.compile(r"^v?p?xor(ps|pd|d|q)?$")
_ARM_VEC = re.compile(r"\bv\d+\.(\d+)([bhsd])\b")
_ARM_SCALAR = re.compile(r"^\s*f(add|sub|mul|div|madd|msub|nmadd|nmsub|max|min|sqrt)\s+[sd]\d+", re.M)
_ARM_BITS = {"b": 8, "h": 16, "s": 32, "d": 64}
_LINE = re.compile(r"^\s+([a-z][a-z0-9.]*)\s*(.*)$")


@dataclass(frozen=True)
class VectorReport:
    """What the machine code of one function computes with.

    Attributes:
        width_bits: the widest register used by packed arithmetic (0: none, scalar code).
        packed: number of packed arithmetic instructions, by register width in bits.
        scalar: number of scalar floating-point arithmetic instructions.
        fma: whether a packed fused multiply-add appears (``vfmadd...ps``, ``fmla``).
        examples: a few packed instructions as written, for the reader.
        conversions: packed or scalar conversions between precisions (``vcvtps2pd``...): the
            mark of a float64 constant in float32 code.
        families: packed arithmetic by kind: ``{"add": 4, "fma": 8, "mul": 2, ...}``.
    """

    width_bits: int
    packed: dict = field(default_factory=dict)
    scalar: int = 0
    fma: bool = False
    examples: tuple = ()
    conversions: int = 0
    families: dict = field(default_factory=dict)

    @property
    def vectorized(self) -> bool:
        """True when some arithmetic works on two or more lanes at once."""
        return self.width_bits >= 128

    def lanes(self, dtype: Any = "float32") -> int:
        """Lanes of ``dtype`` in the widest register the arithmetic used (1 for scalar code)."""
        import numpy as np

        return max(1, self.width_bits // (8 * np.dtype(dtype).itemsize))

    def __str__(self) -> str:
        if not self.vectorized:
            return f"scalar code: {self.scalar} scalar float operations, no packed arithmetic"
        widths = ", ".join(f"{n} at {w} bits" for w, n in sorted(self.packed.items()))
        return (f"vectorised: packed arithmetic {widths}; widest {self.width_bits} bits "
                f"({self.lanes('float32')} float32 lanes){', with FMA' if self.fma else ''}; "
                f"e.g. {'; '.join(self.examples[:3])}")


def vector_report(asm: str) -> VectorReport:
    """Classify the instructions of assembly text (x86-64 AT&T or Intel syntax, or AArch64).

    >>> str(vector_report("  vaddss %xmm1, %xmm0, %xmm0"))
    'scalar code: 1 scalar float operations, no packed arithmetic'
    >>> vector_report("  vfmadd231ps (%rdi), %ymm1, %ymm0").lanes("float32")
    8
    >>> vector_report("  fmla v0.4s, v1.4s, v2.4s").width_bits
    128
    """
    packed: dict[int, int] = {}
    scalar, fma, examples, conversions = 0, False, [], 0
    families: dict[str, int] = {}
    for line in asm.splitlines():
        m = _LINE.match(line)
        if not m or line.lstrip().startswith((".", "#", "//", ";")):
            continue
        op, rest = m.group(1), m.group(2)
        width = 0
        if re.match(r"^v?cvt(ps2pd|pd2ps|ss2sd|sd2ss)$", op) or op in ("fcvt", "fcvtl", "fcvtn"):
            conversions += 1
        regs = re.findall(r"\b([xyz]mm)\d+", rest)
        if regs and (_X86_ARITH.match(op) or _X86_INT.match(op)) and not _ZEROING.match(op):
            width = max(_X86_WIDTH[r] for r in regs)
            fma = fma or ("fmadd" in op or "fmsub" in op)
        elif regs and _X86_SCALAR.match(op):
            scalar += 1
            continue
        else:
            arm = _ARM_VEC.findall(rest)
            if arm and op[0] in "fsuam" and not op.startswith(("mov", "st", "ld", "dup", "ins", "umov")):
                width = max(int(n) * _ARM_BITS[t] for n, t in arm)
                fma = fma or op in ("fmla", "fmls")
            elif re.search(r"\bz\d+\.[bhsd]\b", rest) and op.startswith("f"):
                width = 128  # SVE: at least 128 bits; the real length is set by the hardware
                fma = fma or op in ("fmla", "fmad")
            elif _ARM_SCALAR.match(line):
                scalar += 1
                continue
        if width:
            packed[width] = packed.get(width, 0) + 1
            family = _family(op)
            families[family] = families.get(family, 0) + 1
            if len(examples) < 6:
                examples.append(f"{op} {rest}".strip())
    return VectorReport(max(packed, default=0), packed, scalar, fma, tuple(examples), conversions,
                        families)


def _family(op: str) -> str:
    """``vfmadd231ps`` -> ``fma``; ``vaddps``/``fadd``/``paddd`` -> ``add``; ``vcvtps2pd`` -> ``cvt``."""
    core = op[1:] if op.startswith("v") and not op.startswith("vp") else op
    if "fma" in core or "fms" in core or "fnm" in core or core in ("fmla", "fmls", "fmad"):
        return "fma"
    for name in ("add", "sub", "mul", "div", "max", "min", "sqrt", "cmp", "cvt", "and", "or", "xor"):
        if name in core:
            return name
    return core


def asm_of(fn: Callable, signature: Any = None) -> str:
    """The assembly numba generated for ``fn`` (its first compiled signature by default).

    Raises:
        TypeError: ``fn`` is not a numba function.
        ValueError: it has not been compiled yet (call it once first) or has no such signature.
    """
    if not hasattr(fn, "inspect_asm"):
        raise TypeError(f"{getattr(fn, '__name__', fn)!r} is not a numba function: put @njit on it")
    signatures = list(getattr(fn, "signatures", ()))
    if not signatures:
        raise ValueError(f"{fn.__name__} has not been compiled yet: call it once on example "
                         "arguments, then read its assembly")
    if signature is None:
        signature = signatures[0]
    elif signature not in signatures:
        raise ValueError(f"{fn.__name__} has no compiled signature {signature}; it has {signatures}")
    library = getattr(getattr(fn, "overloads", {}).get(signature), "library", None)
    if getattr(library, "_disable_inspection", False):
        # Loaded from numba's on-disk cache (cache=True): numba keeps no assembly for it and
        # would return an empty text. Compile the same function, same options, once more.
        from numba import jit

        options = {k: v for k, v in fn.targetoptions.items() if k != "cache"}
        fresh = jit(**options)(fn.py_func)
        fresh.compile(signature)
        return fresh.inspect_asm(signature)
    return fn.inspect_asm(signature)


def report(fn: Callable, *example_args: Any) -> VectorReport:
    """Compile ``fn`` on ``example_args`` (when given), and report on its machine code."""
    if example_args:
        fn(*example_args)
        signature = fn.signatures[-1] if len(fn.signatures) == 1 else _signature_of(fn, example_args)
        return vector_report(asm_of(fn, signature))
    return vector_report(asm_of(fn))


def _signature_of(fn: Callable, args: tuple) -> Any:
    from numba import typeof

    want = tuple(typeof(a) for a in args)
    for sig in fn.signatures:
        if tuple(sig) == want:
            return sig
    return fn.signatures[-1]
