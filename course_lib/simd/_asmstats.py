"""Counting what a piece of assembly does, for :mod:`course_lib.simd.tuning`: :func:`asm_summary`.

It reads x86-64 (Intel or AT&T syntax) and AArch64 compiler output line by line: which
instructions work on several lanes and how wide their registers are, the scalar float work,
fused multiply-adds, calls, branches and divisions. It guesses the architecture from the
register names, and classifies by mnemonic, so it suits compiler output, not arbitrary
assembly. Import it from :mod:`course_lib.simd.tuning`.
"""
from __future__ import annotations

import re

from course_lib.simd._asmtext import strip_asm_comment

__all__ = ["asm_summary"]

_X86_REG = re.compile(r"\b([xyz])mm\d+\b")
_X86_WIDTH = {"x": 128, "y": 256, "z": 512}
_X86_HINT = re.compile(r"\b(r[a-d]x|e[a-d]x|[re]?[sd]i|[re]sp|r\d+d?|[xyz]mm\d+)\b")
_ARM_HINT = re.compile(r"\b([xw]([12]?\d|30)|v\d+\.\d*[bhsd]|sp)\b")
_ARM_VEC = re.compile(r"\bv\d+\.(\d*)([bhsd])\b|\bq\d+\b")
_ARM_SVE = re.compile(r"\bz\d+(\.[bhsdq])?\b")
_ARM_SCALAR_FP = re.compile(r"^\s*[hsd]\d+\b")
_ARM_COND = r"(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al|nv)"  # ble = b.le (GCC)
_PREFIXES = {"lock", "rep", "repz", "repe", "repnz", "repne", "notrack", "bnd", "data16", "cs", "ds"}


def _instructions(asm: str):
    """(mnemonic, operands) of each instruction line; labels, directives, comments skipped."""
    for line in asm.splitlines():
        s = strip_asm_comment(line).strip()
        if not s or s.endswith(":") or s.startswith((".", "<")):
            continue
        words = s.split(None, 1)
        while words and words[0].lower() in _PREFIXES and len(words) > 1:
            words = words[1].split(None, 1)
        yield words[0].lower(), (words[1].lower() if len(words) > 1 else "")


def asm_summary(asm: str) -> dict:
    """Count what a piece of assembly (x86-64 Intel or AT&T syntax, or AArch64) does.

    Returns a dict with:

    * ``arch``: ``"x86"``, ``"arm"`` or ``"unknown"`` (guessed from the register names);
    * ``instructions``: instruction lines;
    * ``vector``: instructions on several lanes at once (packed arithmetic, vector loads,
      stores and shuffles), and of those ``xmm``/``ymm``/``zmm`` (x86, by widest register:
      128/256/512 bits) or ``v`` (ARM NEON) and ``sve`` (ARM SVE ``z`` registers);
    * ``width_bits``: the widest vector register used (0: none);
    * ``scalar_fp``: one-lane float operations (``addss``, ``vfmadd213sd``, ``fadd s0, ...``);
    * ``fma``: fused multiply-adds, scalar or packed (``vfmadd231ps``, ``fmla``, ``fmadd``);
    * ``calls``: ``call`` (x86) or ``bl``/``blr`` (ARM);
    * ``branches``: jumps, conditional or not (``jne``, ``jmp``; ``b.ne``, ``cbz``...);
    * ``divides``: integer divisions (``div``/``idiv``; ``udiv``/``sdiv``), tens of cycles each.

    The scalar/vector split reads the mnemonic (an x86 ``ss``/``sd`` suffix is one lane even in
    an ``xmm`` register): a heuristic good for compiler output, not a disassembler.

    Example:
        >>> s = asm_summary("vfmadd231ps ymm0, ymm1, YMMWORD PTR [rdi]\\ncall f\\njne .L3")
        >>> s["ymm"], s["fma"], s["calls"], s["branches"], s["width_bits"]
        (1, 1, 1, 1, 256)
    """
    insns = list(_instructions(asm))
    text = " ".join(ops for _, ops in insns)
    x86_votes = len(_X86_HINT.findall(text)) + sum(m in ("call", "ret", "jmp") for m, _ in insns)
    arm_votes = len(_ARM_HINT.findall(text)) + sum(m in ("bl", "ldr", "str", "ldp", "stp")
                                                   for m, _ in insns)
    arch = "x86" if x86_votes > arm_votes else "arm" if arm_votes else "unknown"
    out = {"arch": arch, "instructions": len(insns), "vector": 0, "xmm": 0, "ymm": 0, "zmm": 0,
           "v": 0, "sve": 0, "width_bits": 0, "scalar_fp": 0, "fma": 0, "calls": 0,
           "branches": 0, "divides": 0}
    for m, ops in insns:
        if arch == "arm":
            _count_arm(out, m, ops)
        else:
            _count_x86(out, m, ops)
    return out


def _count_x86(out: dict, m: str, ops: str) -> None:
    if m in ("call", "callq", "calll"):
        out["calls"] += 1
    elif m.startswith("j"):
        out["branches"] += 1
    elif re.fullmatch(r"i?div[bwlq]?", m):
        out["divides"] += 1
    if re.match(r"v?f(n)?m(add|sub)", m):
        out["fma"] += 1
    regs = _X86_REG.findall(ops)
    if not regs:
        return
    scalar = (re.search(r"(ss|sd|sh)$|(ss|sd)2", m) and not m.startswith(("vbroadcast", "vpbroadcast"))
              or m in ("movd", "movq", "vmovd", "vmovq"))
    if scalar:
        if not re.match(r"v?mov|v?cvt|v?ucomi|v?comi", m):
            out["scalar_fp"] += 1
        return
    in_memory = "[" in ops or "(" in ops
    if not in_memory and (re.match(r"v?mov(ap|up|dq)", m) or
                          re.match(r"v?p?xor", m) and len(set(_X86_REG.findall(ops))) == 1):
        return  # a register copy or a zeroing idiom: no lanes computed or loaded
    widest = max(_X86_WIDTH[r] for r in regs)
    out["vector"] += 1
    out[{128: "xmm", 256: "ymm", 512: "zmm"}[widest]] += 1
    out["width_bits"] = max(out["width_bits"], widest)


def _count_arm(out: dict, m: str, ops: str) -> None:
    if m in ("bl", "blr"):
        out["calls"] += 1
    elif m in ("b", "br", "cbz", "cbnz", "tbz", "tbnz") or re.fullmatch(r"b\.?" + _ARM_COND, m):
        out["branches"] += 1
    elif m in ("udiv", "sdiv"):
        out["divides"] += 1
    if m in ("fmla", "fmls", "fmadd", "fmsub", "fnmadd", "fnmsub", "fmad", "fmsb"):
        out["fma"] += 1
    if _ARM_SVE.search(ops) and not re.search(r"\b[xw]\d", ops.split(",")[0]):
        out["vector"] += 1
        out["sve"] += 1
        out["width_bits"] = max(out["width_bits"], 128)  # at least; the hardware sets the length
        return
    lanes = _ARM_VEC.findall(ops)
    if lanes:
        bits = [int(n or 1) * {"b": 8, "h": 16, "s": 32, "d": 64}[t] if t else 128 for n, t in lanes]
        out["vector"] += 1
        out["v"] += 1
        out["width_bits"] = max(out["width_bits"], max(bits))
    elif m.startswith("f") and _ARM_SCALAR_FP.match(ops) and not m.startswith(("fmov", "fcvt")):
        out["scalar_fp"] += 1
