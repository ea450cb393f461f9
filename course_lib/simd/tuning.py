"""Build tuning: the same C, compiled with different flags, timed side by side, read in assembly.

Five experiments, each returning a :class:`Tuning` whose ``report()`` gives the times, the
ratio, the flags and what the machine code shows (:func:`asm_summary` counts it):

``opt_levels()``   ``-O0 .. -O3`` (and ``-O3 -march=native``) on a saxpy-like loop. ``-O0``
                   keeps every variable in memory; ``-O1`` keeps them in registers; GCC 12's
                   ``-O2`` vectorises only loops that need no run-time checks; ``-O3`` vectorises
                   this one too, behind a check that ``x`` and ``y`` do not overlap.
``march_native()`` ``-O3`` against ``-O3 -march=native``. Without ``-march`` GCC may only use
                   the instructions *every* x86-64 has (SSE2: 128-bit ``xmm`` registers, no
                   FMA); ``native`` allows all this CPU has (AVX2/AVX-512: ``ymm``/``zmm``, fused
                   multiply-add). Such a binary does not travel: on an older CPU it dies with
                   "illegal instruction", which is why Python wheels and Linux distributions are
                   built for the baseline. (GCC manual, "x86 Options", ``-march=cpu-type``.)
``restrict()``     *Aliasing*: in ``void add(float *a, const float *b, const float *c, long n)``
                   the compiler must assume ``a`` may overlap ``b`` or ``c``, so writing
                   ``a[i]`` could change a later ``b[i+1]``. GCC vectorises anyway but
                   *versions* the loop: it compares the addresses at run time and keeps a
                   scalar copy for the overlapping case. ``restrict`` (C99) is the programmer's
                   promise that, while the function runs, the objects reached through each such
                   pointer are reached through it only: the check and the second loop go. The
                   time saved is small (a few comparisons per call), because the check runs
                   once per call, not once per element: that is the lesson. (ISO C11 6.7.3.1
                   "Formal definition of restrict"; GCC manual, "Restricting Pointer
                   Aliasing".)
``lto()``          A compiler sees one *translation unit* (one ``.c`` file and its headers) at a
                   time: a loop in ``apply.c`` that calls ``scale()`` from ``scale.c`` can only
                   ``call`` it, once per element, and cannot vectorise around the call. With
                   ``-flto`` the compiler also stores its intermediate code in the object files
                   and optimises again at link time, across files: ``scale`` is inlined. In a
                   shared library (our module) a global function could be replaced at load time
                   (ELF symbol interposition), so GCC inlines across files only with
                   ``-fno-semantic-interposition``, which both builds get here. (GCC manual,
                   "Optimize Options": ``-flto``, ``-fsemantic-interposition``.)
``pgo()``          Profile-guided optimisation: build once with instrumentation
                   (``-fprofile-generate``), run it on representative data (counters are
                   written to ``.gcda`` files when the process exits), and build again with
                   ``-fprofile-use``: the compiler now knows which branches are taken, how many
                   times loops run, and which values an operand usually has. On the kernel here
                   GCC lays out the common path first, unrolls the hot loop, and, seeing that
                   the bucket count is always 64, tests for 64 once and replaces the division
                   by a mask (value profiling, ``-fvpt``). Only as good as the training data: on
                   data unlike it the guesses are wrong. (GCC manual, "Optimize Options":
                   ``-fprofile-use``, ``-fvpt``; "Instrumentation Options":
                   ``-fprofile-generate``; gcov's "Data File Relocation to Support
                   Cross-Profiling" for ``GCOV_PREFIX``. Clang: "Profile Guided Optimization"
                   in the Clang Compiler User's Manual.)

PGO inside a notebook: the counters are written only when the instrumented process exits, and a
notebook kernel does not exit. So the instrumented module is never loaded here: a short child
process loads it, runs it on the training arrays (saved to ``.npy`` files) and exits; GCC's
run-time writes the ``.gcda`` files, redirected by ``GCOV_PREFIX``/``GCOV_PREFIX_STRIP`` into a
folder we choose; the profile goes into the second build's folder under the name GCC looks for.
With clang the same child writes a ``.profraw`` (``LLVM_PROFILE_FILE``) that ``llvm-profdata
merge`` turns into the ``.profdata`` passed to ``-fprofile-instr-use``; without llvm-profdata the
experiment is skipped. (Training with several threads would need ``-fprofile-update=atomic``,
so that the counters are not torn by concurrent increments; this training is single-threaded.)
Part of the gain is the optimisations ``-fprofile-use`` switches on (``-funroll-loops``,
``-fpeel-loops``, ``-ftracer``, ``-fvpt``...), which need the profile to pay off.

Timing: every build of one experiment is timed in the same run, in interleaved rounds (A B C,
C B A, ...), with :func:`course_lib.measure.bench.interleave`; ``best`` is the fastest sample,
``median`` the typical one, and ratios use medians. Each kernel repeats its loop inside C so
that one call lasts far longer than the cost of calling C from Python. On a busy machine ratios
move; the assembly does not.

When the compiler lacks a flag, the experiment says so in ``skipped`` (or in ``notes`` when it
could fall back) instead of failing. ``COURSE_QUICK=1`` shrinks sizes and time budgets.

Layout: this module holds the kernels, the results and the experiments; :func:`asm_summary`
and its x86 and ARM counting rules are in ``_asmstats``, the PGO training runs and profiles in
``_pgo``.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from course_lib.config import pick
from course_lib.measure.bench import interleave
from course_lib.simd import snippet as _snippet
from course_lib.simd._asmstats import asm_summary
from course_lib.simd._pgo import _PGO_BINS, _clang_profile, _gcc_profile, _llvm_profdata, _pgo_data
from course_lib.simd.snippet import CompileError, Snippet, accepts, compile_c, compiler

__all__ = ["Tuning", "Variant", "asm_summary", "opt_levels", "march_native", "restrict", "lto",
           "pgo", "run_all", "KERNELS"]

# ----------------------------------------------------------------------------- kernels
#: The experiments' C kernels. Each repeats its loop ``reps`` times inside C, over arrays that
#: fit in the L1/L2 cache, so that the loop (not memory, not the Python call) is timed.
KERNELS = {
    "saxpy": r"""
/* y = a*x + y, swept `reps` times. x and y may overlap as far as the compiler knows. */
void saxpy(float *y, const float *x, float a, long n, long reps)
{
    for (long r = 0; r < reps; r++)
        for (long i = 0; i < n; i++)
            y[i] = a * x[i] + y[i];
}
""",
    "poly": r"""
/* A cubic polynomial per element: three multiply-adds, no overlap (restrict). */
void poly(float *restrict y, const float *restrict x, long n, long reps)
{
    for (long r = 0; r < reps; r++)
        for (long i = 0; i < n; i++) {
            float t = x[i];
            y[i] = ((0.25f * t + 0.5f) * t + 0.75f) * t + 0.5f * y[i];
        }
}
""",
    "add": r"""
/* The same loop twice: may a, b, c overlap? Without restrict the compiler must assume so. */
__attribute__((noinline))
void add(float *a, const float *b, const float *c, long n)
{
    for (long i = 0; i < n; i++)
        a[i] = b[i] + c[i];
}

__attribute__((noinline))
void add_restrict(float *restrict a, const float *restrict b, const float *restrict c, long n)
{
    for (long i = 0; i < n; i++)
        a[i] = b[i] + c[i];
}

void add_reps(float *a, const float *b, const float *c, long n, long reps)
{
    for (long r = 0; r < reps; r++)
        add(a, b, c, n);
}

void add_restrict_reps(float *a, const float *b, const float *c, long n, long reps)
{
    for (long r = 0; r < reps; r++)
        add_restrict(a, b, c, n);
}
""",
    "apply": r"""
float scale(float x);   /* defined in scale.c: this file sees only the declaration */

void apply(float *restrict y, const float *restrict x, long n, long reps)
{
    for (long r = 0; r < reps; r++)
        for (long i = 0; i < n; i++)
            y[i] += scale(x[i]);
}
""",
    "scale": "float scale(float x) { return 0.5f * x + 1.0f; }\n",
    "classify": r"""
/* Count values into bins; negative and huge values are rare, and the bin count is a parameter
   (always 64 in practice, which the compiler cannot know... unless a profile tells it). */
long classify(const int32_t *v, long n, int64_t *counts, uint32_t nbins)
{
    long odd = 0;
    for (long i = 0; i < n; i++) {
        int32_t x = v[i];
        if (x < 0) {                    /* about 1% of values */
            counts[0] += 1;
        } else if (x > 1000000) {       /* about 1% */
            counts[1] += 1;
        } else {
            counts[2 + (uint32_t)x % nbins] += 1;
            odd += x & 1;
        }
    }
    return odd;
}
""",
}
_CLASSIFY_PROTO = ("long classify(const int32_t *v, long n, int64_t *counts, uint32_t nbins);")


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Variant:
    """One build of the experiment's kernel.

    Attributes:
        label: how the report names it (usually its flags).
        flags: the compile flags.
        best, median: seconds per call, fastest and typical of the interleaved samples.
        asm: :func:`asm_summary` of the kernel's assembly.
        asm_text: that assembly (``print(v.asm_text)``).
    """

    label: str
    flags: tuple[str, ...]
    best: float
    median: float
    asm: dict = field(default_factory=dict)
    asm_text: str = field(default="", repr=False)


@dataclass(frozen=True)
class Tuning:
    """What one build-tuning experiment found.

    Attributes:
        experiment: its name (``"restrict"``...).
        function: the C function whose assembly is summarised.
        work: what one timed call does.
        variants: the builds, baseline first.
        finding: one sentence on what the assembly shows.
        notes: fallbacks taken and other remarks.
        skipped: why the experiment could not run here (then ``variants`` is empty).
        compiler: the compiler's name and version.
    """

    experiment: str
    function: str = ""
    work: str = ""
    variants: tuple[Variant, ...] = ()
    finding: str = ""
    notes: tuple[str, ...] = ()
    skipped: str | None = None
    compiler: str = ""

    @property
    def ratio(self) -> float | None:
        """Median time of the first build over that of the last (above 1: the last is faster)."""
        if len(self.variants) < 2 or self.variants[-1].median <= 0:
            return None
        return self.variants[0].median / self.variants[-1].median

    def variant(self, label: str) -> Variant:
        """The build with this label (or these flags, space-separated)."""
        for v in self.variants:
            if label in (v.label, " ".join(v.flags)):
                return v
        raise KeyError(f"no build {label!r}; there are {[v.label for v in self.variants]}")

    def report(self) -> str:
        """The figures as a small table, the ratio, and what the assembly shows."""
        if self.skipped:
            return f"{self.experiment}: skipped: {self.skipped}" + "".join(
                f"\n  note: {n}" for n in self.notes)
        from course_lib.measure.stats import format_seconds

        head = f"{self.experiment}: {self.function}() - {self.work}"
        if self.compiler:
            head += f" [{self.compiler}]"
        width = max(len(v.label) for v in self.variants)
        rows = [head, f"  {'build':<{width}}  {'best':>10}  {'median':>10}  {'speedup':>7}  "
                      f"{'vector':>6}  {'width':>5}  {'fma':>4}  {'calls':>5}  {'branches':>8}"]
        base = self.variants[0].median
        for v in self.variants:
            a = v.asm
            rows.append(f"  {v.label:<{width}}  {format_seconds(v.best):>10}  "
                        f"{format_seconds(v.median):>10}  {base / v.median:>6.2f}x  "
                        f"{a.get('vector', 0):>6}  {a.get('width_bits', 0):>5}  {a.get('fma', 0):>4}  "
                        f"{a.get('calls', 0):>5}  {a.get('branches', 0):>8}")
        if self.ratio is not None:
            rows.append(f"  ratio {self.variants[0].label} / {self.variants[-1].label} (medians): "
                        f"{self.ratio:.2f}x")
        if self.finding:
            rows.append(f"  asm: {self.finding}")
        rows.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.report()


# ----------------------------------------------------------------------------- shared machinery
def _budget(budget: float | None) -> float:
    return budget if budget is not None else pick(2.0, 0.3)


def _compiler_label() -> str:
    info = compiler()
    return f"{info['name']} {info['version']}" if info["name"] else ""


def _no_compiler() -> str | None:
    info = compiler()
    return None if info["name"] else info["error"]


def _skip(experiment: str, reason: str, notes: Sequence[str] = ()) -> Tuning:
    return Tuning(experiment, skipped=reason, notes=tuple(notes), compiler=_compiler_label())


def _float_arrays(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)


def _native_flag() -> str | None:
    """``-march=native`` where accepted, else ``-mcpu=native`` (some ARM compilers), else None."""
    for flag in ("-march=native", "-mcpu=native"):
        if accepts(flag):
            return flag
    return None


def _code_kind(s: dict) -> str:
    if not s["width_bits"]:
        return f"scalar code ({s['instructions']} instructions)"
    return (f"{s['width_bits']}-bit vectors{' with FMA' if s['fma'] else ''} "
            f"({s['vector']} vector instructions)")


def _widths(s: dict) -> str:
    return f"{s['width_bits']}-bit" if s["width_bits"] else "no vector"


# ----------------------------------------------------------------------------- experiments
def opt_levels(kernel: str = "saxpy", n: int | None = None, reps: int | None = None,
               budget: float | None = None) -> Tuning:
    """The same kernel at ``-O0``, ``-O1``, ``-O2``, ``-O3`` and ``-O3 -march=native``.

    Args:
        kernel: ``"saxpy"`` (``y = a*x + y``) or ``"poly"`` (a cubic per element).
        n: elements per sweep (default 4096; 1024 quick); reps: sweeps per call.
        budget: seconds of timing for all builds together.
    Returns:
        A :class:`Tuning`; speedups are relative to ``-O0``.

    Times can also hinge on where the code lands in memory: on one test machine (AMD EPYC,
    GCC 12) this scalar loop ran twice as slow at ``-O2`` as at ``-O1`` with the same
    instructions, because ``-O2`` aligns loop starts (``-falign-loops``); ``-O2
    -fno-align-loops`` gave the speed back. Read the assembly before explaining a time.
    """
    if kernel not in ("saxpy", "poly"):
        raise ValueError(f"kernel must be 'saxpy' or 'poly', got {kernel!r}")
    if (why := _no_compiler()):
        return _skip("opt_levels", why)
    n = n or pick(4096, 1024)
    reps = reps or pick(1000, 100)
    levels = [("-O0",), ("-O1",), ("-O2",), ("-O3",)]
    notes = []
    native = _native_flag()
    if native:
        levels.append(("-O3", native))
    else:
        notes.append("the compiler accepts neither -march=native nor -mcpu=native: left out")
    x, y = _float_arrays(n)
    builds: list[tuple[tuple[str, ...], Snippet]] = []
    for flags in levels:
        try:
            builds.append((flags, compile_c(KERNELS[kernel], flags=flags, name=kernel)))
        except CompileError as exc:
            notes.append(f"{' '.join(flags)} did not build: {str(exc).splitlines()[0]}")
    if not builds:
        return _skip("opt_levels", "no optimisation level built", notes)

    def call(s: Snippet) -> Callable[[], object]:
        f, px, py = getattr(s.lib, kernel), s.ptr(x), s.ptr(y)
        if kernel == "saxpy":
            return lambda: f(py, px, 1e-3, n, reps)
        return lambda: f(py, px, n, reps)

    times = interleave([(" ".join(fl), call(s)) for fl, s in builds], _budget(budget) * 1.5)
    variants = tuple(_variant(" ".join(fl), fl, m, s, kernel) for (fl, s), m in zip(builds, times))
    first = variants[0]
    finding = (f"{first.label} keeps variables in memory ({first.asm['instructions']} "
               "instructions, a load and a store around each operation); then "
               + ", ".join(f"{v.label}: {_code_kind(v.asm)}" for v in variants[1:]))
    return Tuning("opt_levels", kernel, f"n={n} floats x {reps} sweeps per call", variants,
                  finding + ".", tuple(notes), compiler=_compiler_label())


def _find(variants: Sequence[Variant], label: str) -> Variant | None:
    return next((v for v in variants if v.label == label), None)


def _variant(label: str, flags: Sequence[str], m, s: Snippet, function: str,
             disassemble: bool = False) -> Variant:
    try:
        text = s.disassemble(function) if disassemble else s.asm(function)
    except (CompileError, KeyError) as exc:
        text = f"(no assembly: {exc})"
    return Variant(label, tuple(flags), m.min, m.median, asm_summary(text), text)


def march_native(n: int | None = None, reps: int | None = None,
                 budget: float | None = None) -> Tuning:
    """``-O3`` against ``-O3 -march=native`` on a float polynomial (three multiply-adds each).

    Shows wider registers (``xmm`` -> ``ymm``/``zmm``) and FMA where the CPU has them. A module
    built with ``-march=native`` may crash ("illegal instruction") on another, older CPU.
    """
    if (why := _no_compiler()):
        return _skip("march_native", why)
    native = _native_flag()
    if native is None:
        return _skip("march_native", "the compiler accepts neither -march=native nor "
                                     "-mcpu=native (an old clang on ARM?)")
    n = n or pick(4096, 1024)
    reps = reps or pick(1000, 100)
    x, y = _float_arrays(n, 1)
    try:
        builds = [(("-O3",), compile_c(KERNELS["poly"], flags=("-O3",), name="poly")),
                  (("-O3", native), compile_c(KERNELS["poly"], flags=("-O3", native), name="poly"))]
    except CompileError as exc:
        return _skip("march_native", f"the kernel did not build: {exc}")
    calls = []
    for fl, s in builds:
        f, px, py = s.lib.poly, s.ptr(x), s.ptr(y)
        calls.append((" ".join(fl), lambda f=f, px=px, py=py: f(py, px, n, reps)))
    times = interleave(calls, _budget(budget))
    variants = tuple(_variant(" ".join(fl), fl, m, s, "poly") for (fl, s), m in zip(builds, times))
    a, b = variants[0].asm, variants[1].asm
    same = a["width_bits"] == b["width_bits"] and a["fma"] == b["fma"]
    finding = (f"-O3 alone computes in {_widths(a)} registers "
               f"{'with' if a['fma'] else 'without'} FMA; {native} uses {_widths(b)} registers "
               f"{'with' if b['fma'] else 'without'} FMA ({b['fma']} fused multiply-adds)")
    if same:
        finding += " - the same as the baseline: this CPU offers nothing beyond it"
    return Tuning("march_native", "poly", f"n={n} floats x {reps} sweeps per call", variants,
                  finding + ".", compiler=_compiler_label())


def restrict(n: int = 1000, reps: int | None = None, budget: float | None = None) -> Tuning:
    """``add(a, b, c, n)`` with and without ``restrict``, both at ``-O3``, on separate arrays.

    The arrays never overlap, so both versions run their vector loop; the one without
    ``restrict`` first spends a few instructions proving it may (the alias check). Expect a
    ratio close to 1: GCC's loop versioning makes the missing ``restrict`` cheap here. The
    difference is in the assembly: more instructions and branches, and a second (scalar) loop
    for the overlapping case.
    """
    if (why := _no_compiler()):
        return _skip("restrict", why)
    reps = reps or pick(2000, 200)
    try:
        s = compile_c(KERNELS["add"], flags=("-O3",), name="restrict")
    except CompileError as exc:
        return _skip("restrict", f"the kernel did not build: {exc}")
    a = np.zeros(n, np.float32)
    b, c = _float_arrays(n, 2)
    pa, pb, pc = s.ptr(a), s.ptr(b), s.ptr(c)
    plain, strict = s.lib.add_reps, s.lib.add_restrict_reps
    times = interleave([("without restrict", lambda: plain(pa, pb, pc, n, reps)),
                         ("with restrict", lambda: strict(pa, pb, pc, n, reps))], _budget(budget))
    variants = (_variant("without restrict", ("-O3",), times[0], s, "add"),
                _variant("with restrict", ("-O3",), times[1], s, "add_restrict"))
    u, r = variants[0].asm, variants[1].asm
    if u["branches"] > r["branches"] or u["instructions"] > r["instructions"]:
        finding = (f"without restrict the compiler adds a run-time overlap check and keeps a "
                   f"scalar fallback loop: {u['instructions']} instructions and {u['branches']} "
                   f"branches against {r['instructions']} and {r['branches']} with restrict; "
                   "both have the vector loop")
    else:
        finding = (f"this compiler emitted the same code both ways ({u['instructions']} "
                   "instructions): it did not vectorise, or it ignores the possible overlap")
    return Tuning("restrict", "add", f"n={n} floats x {reps} calls per timing, at -O3",
                  variants, finding + ".", compiler=_compiler_label())


def lto(n: int | None = None, reps: int | None = None, budget: float | None = None) -> Tuning:
    """A loop in ``apply.c`` calling ``scale()`` from ``scale.c``, at ``-O2``, without and with
    ``-flto``; the built module is disassembled to count the ``call`` in ``apply``."""
    if (why := _no_compiler()):
        return _skip("lto", why)
    if not accepts("-flto"):
        return _skip("lto", "the compiler does not accept -flto")
    n = n or pick(4096, 1024)
    reps = reps or pick(1000, 100)
    base = ["-O2"]
    notes = []
    if accepts("-fno-semantic-interposition"):
        base.append("-fno-semantic-interposition")
    else:
        notes.append("-fno-semantic-interposition is not accepted: an ELF shared library may then "
                     "keep the call even with -flto")
    extra = {"scale.c": KERNELS["scale"]}
    try:
        plain = compile_c(KERNELS["apply"], flags=base, name="apply", extra_sources=extra)
    except CompileError as exc:
        return _skip("lto", f"the two files did not build: {exc}")
    try:
        linked = compile_c(KERNELS["apply"], flags=base + ["-flto"], name="apply",
                           extra_sources=extra, link_flags=base + ["-flto"])
    except CompileError as exc:
        return _skip("lto", "linking with -flto failed (GCC needs the linker plugin; clang "
                            f"needs lld or the LLVM gold plugin): {str(exc)[:600]}", notes)
    x, y = _float_arrays(n, 3)
    calls = []
    for s in (plain, linked):
        f, px, py = s.lib.apply, s.ptr(x), s.ptr(y)
        calls.append((lambda f=f, px=px, py=py: f(py, px, n, reps)))
    times = interleave([("-O2", calls[0]), ("-O2 -flto", calls[1])], _budget(budget))
    can_read = shutil.which("objdump") or shutil.which("llvm-objdump")
    if not can_read:
        notes.append("objdump is missing: the linked code cannot be read back, only timed")
    variants = (_variant("-O2", tuple(base), times[0], plain, "apply", disassemble=True),
                _variant("-O2 -flto", tuple(base) + ("-flto",), times[1], linked, "apply",
                         disassemble=True))
    a, b = variants[0].asm, variants[1].asm
    if can_read and a["calls"] > b["calls"]:
        finding = (f"without LTO apply() calls scale() for every element ({a['calls']} call in "
                   f"its loop); with -flto it has {b['calls']} calls: scale() was inlined across "
                   "the two files")
    elif can_read:
        finding = (f"apply() has {a['calls']} call(s) without LTO and {b['calls']} with it: "
                   "the link-time optimiser did not inline scale() here")
    else:
        finding = "the machine code could not be read (no objdump)"
    return Tuning("lto", "apply", f"n={n} floats x {reps} sweeps per call, scale() in another file",
                  variants, finding + ".", tuple(notes), compiler=_compiler_label())


# ----------------------------------------------------------------------------- PGO
def pgo(n: int | None = None, budget: float | None = None) -> Tuning:
    """Profile-guided optimisation of a branchy counting kernel: ``-O2`` against ``-O2`` with
    the profile of a training run (GCC: ``-fprofile-generate``/``-fprofile-use``; clang:
    ``-fprofile-instr-generate``/``-fprofile-instr-use`` and ``llvm-profdata``).

    The training data and the timed data are drawn from the same distribution (different
    seeds), with the bin count 64 both times.
    """
    if (why := _no_compiler()):
        return _skip("pgo", why)
    info = compiler()
    n = n or pick(1_000_000, 100_000)
    proto = _CLASSIFY_PROTO + "\n"
    extra = {"kernel.c": "#include <stdint.h>\n" + KERNELS["classify"]}
    notes: list[str] = []
    if info["name"] == "gcc":
        gen_flags, gen_link = ("-O2", "-fprofile-generate"), ("-fprofile-generate",)
        if not accepts("-fprofile-generate"):
            return _skip("pgo", "this gcc does not accept -fprofile-generate")
    elif "clang" in (info["name"] or ""):
        tool = _llvm_profdata()
        if tool is None:
            return _skip("pgo", "clang without llvm-profdata: the raw profile cannot be merged "
                                "(install LLVM's tools, e.g. `apt install llvm` or Homebrew's "
                                "`llvm`, matching the compiler's version)")
        gen_flags, gen_link = ("-O2", "-fprofile-instr-generate"), ("-fprofile-instr-generate",)
    else:
        return _skip("pgo", f"no PGO recipe for the compiler {info['name']!r}")
    try:
        plain = compile_c(proto, cdef=proto, flags=("-O2",), name="pgo", extra_sources=extra)
        instrumented = _snippet._build(proto, proto, gen_flags, "pgo", extra, gen_link, load=False)
        train = _pgo_data(n, seed=1)
        if info["name"] == "gcc":
            profile = _gcc_profile(instrumented, train)
            use_flags, files = ("-O2", "-fprofile-use"), {"kernel.gcda": profile}
        else:
            profile = _clang_profile(instrumented, train, tool)
            use_flags = ("-O2", "-fprofile-instr-use=pgo.profdata")
            files = {"pgo.profdata": profile}
        tuned = _snippet._build(proto, proto, use_flags, "pgo", extra, (), files=files)
    except CompileError as exc:
        return _skip("pgo", f"a step of the PGO build failed: {exc}", notes)
    v = _pgo_data(n, seed=2)
    counts = [np.zeros(2 + _PGO_BINS, np.int64) for _ in range(2)]
    calls = []
    for s, c in zip((plain, tuned), counts):
        f, pv, pc = s.lib.classify, s.ptr(v), s.ptr(c)
        calls.append(lambda f=f, pv=pv, pc=pc: f(pv, n, pc, _PGO_BINS))
    times = interleave([("-O2", calls[0]), ("-O2 + profile", calls[1])], _budget(budget))
    variants = (_variant("-O2", ("-O2",), times[0], plain, "classify"),
                _variant("-O2 + profile", use_flags, times[1], tuned, "classify"))
    a, b = variants[0].asm, variants[1].asm
    parts = []
    constant = rf"(\$?#?({_PGO_BINS}|{hex(_PGO_BINS)}))"
    if b["divides"] < a["divides"] or re.search(
            rf"\bcmp\w*\s+({constant}\s*,|[\w%]+\s*,\s*{constant}\b)", variants[1].asm_text):
        parts.append(f"it tests for nbins == {_PGO_BINS} (the value seen in training) and "
                     "replaces the division by a mask on that path")
    if b["instructions"] > a["instructions"]:
        parts.append(f"it unrolled the hot loop ({a['instructions']} -> {b['instructions']} "
                     "instructions)")
    finding = ("with the profile, " + "; ".join(parts)) if parts else (
        "the profiled build differs only in block layout (the common path falls through)")
    notes.append(f"{n} values: 98% in range, 1% negative, 1% too large; {_PGO_BINS} bins; "
                 "trained on another draw of the same distribution")
    return Tuning("pgo", "classify", f"{n} int32 values binned per call", variants,
                  finding + ".", tuple(notes), compiler=_compiler_label())


def run_all(budget: float | None = None) -> list[Tuning]:
    """All five experiments, in the chapter's order (``COURSE_QUICK=1``: about 20 s cold)."""
    return [opt_levels(budget=budget), march_native(budget=budget), restrict(budget=budget),
            lto(budget=budget), pgo(budget=budget)]


if __name__ == "__main__":  # python -m course_lib.simd.tuning
    for result in run_all():
        print(result.report(), end="\n\n")
