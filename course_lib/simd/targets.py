"""One numba kernel compiled for several target CPUs, side by side: ``-C target-cpu`` for numba.

numba compiles for the CPU it runs on (LLVM's "host"), so the same notebook makes AVX-512 code
on one machine and SSE2 code on another. ``NUMBA_CPU_NAME`` and ``NUMBA_CPU_FEATURES`` choose a
different target; numba reads them once, at import, so each target here is compiled in a fresh
Python process (:func:`compile_for`), which reports the kernel's vector width, its best time
and an excerpt of its assembly as JSON.

The x86-64 ladder uses the psABI's micro-architecture levels: ``x86-64`` (SSE2, every 64-bit x86
CPU), ``x86-64-v2`` (SSE4.2), ``x86-64-v3`` (AVX2 + FMA), ``x86-64-v4`` (AVX-512). Code for a level
the CPU lacks would die of an illegal instruction, so such a level is compiled and shown but
never run (``seconds`` is None and ``note`` says why). Note that numba uses the *host's*
features with a named CPU unless ``NUMBA_CPU_FEATURES`` is set too, so every rung sets both.

Wider is not always faster: LLVM's generic AVX-512 level prefers 256-bit vectors (wide
instructions can lower the clock on some CPUs), while a named recent CPU (``znver4``,
``sapphirerapids``) may use 512-bit ones. The table shows what this machine does.

Sources: numba's "Environment variables" (NUMBA_CPU_NAME, NUMBA_CPU_FEATURES); the x86-64 psABI
(micro-architecture levels); LLVM's X86 target features.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["Target", "TargetResult", "ladder", "compile_for", "compare_targets", "host_features",
           "numpy_dispatch"]


@dataclass(frozen=True)
class Target:
    """A compilation target: an LLVM CPU name and the features it enables."""

    cpu: str
    features: str  # LLVM feature string, "+avx2,+fma"; "" for the CPU's own defaults
    label: str
    needs: tuple = ()  # host features this code needs to run

    def runnable(self, host: set | None = None) -> bool:
        host = host_features() if host is None else host
        return all(f in host for f in self.needs)


_X86 = (
    Target("x86-64", "+sse2", "SSE2 (any x86-64)", ("sse2",)),
    Target("x86-64-v2", "+sse2,+sse3,+ssse3,+sse4.1,+sse4.2,+popcnt", "SSE4.2", ("sse4.2",)),
    Target("x86-64-v3", "+avx,+avx2,+fma,+bmi,+bmi2,+f16c,+sse4.2", "AVX2 + FMA", ("avx2", "fma")),
    Target("x86-64-v4", "+avx,+avx2,+fma,+avx512f,+avx512bw,+avx512vl,+avx512dq,+avx512cd",
           "AVX-512", ("avx512f", "avx512bw", "avx512vl")),
)
_ARM = (Target("generic", "+neon", "NEON (any AArch64)", ("neon",)),)


def host_features() -> set[str]:
    """The features LLVM sees on this CPU (what numba's "host" target compiles for)."""
    import llvmlite.binding as ll

    try:
        feats = ll.get_host_cpu_features()
    except RuntimeError:  # some platforms cannot report them
        return set()
    have = {k for k, v in feats.items() if v}
    if ll.get_host_cpu_name() and ("neon" in have or os.uname().machine in ("arm64", "aarch64")):
        have.add("neon")
    return have


def ladder() -> tuple[Target, ...]:
    """The targets worth comparing on this kind of machine, the host last."""
    import platform

    machine = platform.machine().lower()
    rungs = _X86 if machine in ("x86_64", "amd64") else _ARM if machine in ("arm64", "aarch64") else ()
    return rungs + (Target("host", "", "this CPU (numba's default)"),)


@dataclass(frozen=True)
class TargetResult:
    target: Target
    width_bits: int
    fma: bool
    seconds: float | None
    asm: str
    note: str = ""

    def row(self) -> dict:
        return {"target": self.target.cpu, "isa": self.target.label,
                "vector bits": self.width_bits or "scalar", "fma": self.fma,
                "time (us)": None if self.seconds is None else round(self.seconds * 1e6, 1),
                "note": self.note}


_CHILD = r"""
import importlib, json, sys, time
import numpy as np
from course_lib.simd.autovec import asm_of, vector_report
module, name, n, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
fn = getattr(importlib.import_module(module), name)
x = np.random.default_rng(0).random(n, dtype=np.float32)
from numba import float32
fn.compile((float32[::1],))
asm = asm_of(fn)
r = vector_report(asm)
best = None
if run:
    fn(x)
    best = float("inf")
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(20):
            fn(x)
        best = min(best, (time.perf_counter() - t) / 20)
lines = [l for l in asm.splitlines() if any(e.split()[0] in l for e in r.examples[:1])][:4]
print(json.dumps({"width": r.width_bits, "fma": r.fma, "seconds": best, "asm": "\n".join(lines)}))
"""


def compile_for(target: Target, kernel: str = "course_lib.simd.numba_kernels:sumsq_fastmath",
                n: int = 1 << 14, timeout: float = 120) -> TargetResult:
    """Compile ``kernel`` (``"module:function"``, a numba function of one float32 array) for
    ``target`` in a fresh process; run and time it only if this CPU can execute that code."""
    module, _, name = kernel.partition(":")
    if not name:
        raise ValueError(f"kernel should be 'module:function', got {kernel!r}")
    runnable = target.runnable()
    env = dict(os.environ)
    env.pop("NUMBA_CPU_NAME", None)
    env.pop("NUMBA_CPU_FEATURES", None)
    if target.cpu != "host":
        env["NUMBA_CPU_NAME"], env["NUMBA_CPU_FEATURES"] = target.cpu, target.features
    out = subprocess.run([sys.executable, "-c", _CHILD, module, name, str(n), "1" if runnable else "0"],
                         env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeError(f"compiling {kernel} for {target.cpu} failed: {tail}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    note = "" if runnable else f"not run: this CPU lacks {', '.join(f for f in target.needs if f not in host_features())}"
    return TargetResult(target, data["width"], data["fma"], data["seconds"], data["asm"], note)


def compare_targets(kernel: str = "course_lib.simd.numba_kernels:sumsq_fastmath", n: int = 1 << 14,
                    targets: tuple[Target, ...] | None = None) -> list[TargetResult]:
    """:func:`compile_for` on every rung of :func:`ladder` (or ``targets``), in order."""
    return [compile_for(t, kernel, n) for t in (targets or ladder())]


def numpy_dispatch(funcs: str = "add|multiply|sqrt|maximum", signature: str = "float32") -> list[dict]:
    """Which compiled variant NumPy itself picked for some ufuncs on this CPU.

    NumPy ships each hot loop built for several targets (its baseline, and e.g. ``X86_V3``,
    ``X86_V4``, ``AVX512_SKX``) and picks one at import: the same runtime dispatch as the C
    kernels of this chapter. Uses ``numpy.lib.introspect.opt_func_info`` (NumPy >= 2.0).

    Returns:
        One row per (function, type signature): ``{"function", "types", "current", "available"}``;
        an empty list (with nothing raised) on a NumPy without the introspection call.
    """
    try:
        from numpy.lib.introspect import opt_func_info
    except ImportError:
        return []
    rows = []
    for name, sigs in opt_func_info(func_name=funcs, signature=signature).items():
        for types, info in sigs.items():
            rows.append({"function": name, "types": types, "current": info.get("current", "?"),
                         "available": info.get("available", "?")})
    return rows
