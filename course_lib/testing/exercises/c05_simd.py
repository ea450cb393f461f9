"""Checkers for chapter c05_simd: a numba reduction that vectorises, a runtime dispatcher that
falls back, a masked sum in GCC/Clang vector extensions, and reading a speedup from assembly.

Vectorisation is graded from the machine code (:mod:`course_lib.simd.autovec`), never from a
stopwatch: packed arithmetic in the compiled loop is there or it is not, on a busy machine too.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from course_lib.simd import autovec
from course_lib.simd import features as simd_features
from course_lib.simd import kernels as simd_kernels
from course_lib.simd import numba_kernels as nk
from course_lib.testing.delegation import answers
from course_lib.testing.exercises import seal

__all__ = ["check_vectorised_dot", "check_pick_variant", "check_masked_sum", "forced_feature_sets", "check_asm_reading", "dot_tolerance",
           "BOUND_CHOICES", "MASKED_SUM_CDEF"]

#: Lengths that catch a missing tail, a one-element input, the empty input and odd sizes.
LENGTHS = (0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 1000, 4099, 65_537)


def dot_tolerance(x: np.ndarray, y: np.ndarray) -> float:
    """How far a float32 dot product may be from the exact one: a float32 sum of n terms can
    be off by about n * eps * sum|x*y| in the worst order; we allow 1e-3 * sum|x*y| (the
    worst case for n up to ~8000, far more than any real reordering costs), plus 1e-6."""
    return 1e-3 * float(np.abs(x.astype(np.float64) * y).sum()) + 1e-6


def _require_numba(fn: Any, name: str) -> None:
    if not hasattr(fn, "inspect_asm"):
        raise AssertionError(f"{name} should be a numba function: put @njit(...) above it")


@answers("dot", np.dot, np.vdot, np.inner, np.sum, np.einsum, np.matmul, nk.dot_fastmath,
         nk.sumsq_fastmath, nk.dot_strict)
def check_vectorised_dot(dot: Callable, name: str = "dot") -> None:
    """Grade ``dot(x, y)`` on float32 arrays: the right value (within :func:`dot_tolerance` of
    the float64 result, on every length in :data:`LENGTHS` and on misaligned starts) and packed
    add or FMA instructions in its machine code.

    Raises:
        AssertionError: naming the length and the error, or what the machine code shows.
    """
    _require_numba(dot, name)
    rng = np.random.default_rng(5)
    base = rng.uniform(-1, 1, 2 * max(LENGTHS) + 2).astype(np.float32)
    for n in LENGTHS:
        for start in (0, 1):  # x[1:] starts 4 bytes past an aligned address
            x, y = base[start:start + n], base[max(LENGTHS) + 1 + start:][:n]
            try:
                got = float(dot(x, y))
            except Exception as exc:
                raise AssertionError(f"{name} raised {type(exc).__name__}: {exc} on {n} float32 "
                                     "values") from None
            want = float(np.dot(x.astype(np.float64), y.astype(np.float64)))
            if not abs(got - want) <= dot_tolerance(x, y):
                raise AssertionError(f"{name} of {n} values{' (misaligned start)' if start else ''} "
                                     f"returned {got!r}; the exact dot product is {want!r} (allowed "
                                     f"error {dot_tolerance(x, y):.2g}): sum x[i] * y[i] over every i")
    r = autovec.report(dot, base[:64], base[1:65])
    if not (r.families.get("add") or r.families.get("fma")):
        raise AssertionError(
            f"{name} gives the right value but its machine code is {r}: the sum is not "
            "vectorised. Adding in a fixed order is a dependency chain the compiler must keep "
            "(IEEE 754); allow reassociation with @njit(fastmath=True) and LLVM adds several "
            "lanes at once, then combines them at the end")
    print(f"{name}: {r}")


# ---------------------------------------------------------------------------- exercise 2
#: What each kernel variant needs from the CPU, and the order a dispatcher should try them in.
PREFERENCE = ("avx512", "avx2", "neon", "sse", "vecext", "scalar")
NEEDS = {"avx512": ("avx512f", "avx512bw", "avx512vl"), "avx2": ("avx", "avx2", "fma"), "neon": ("neon",),
         "sse": ("sse2",), "vecext": (), "scalar": ()}
_X86_LADDER = ("sse2", "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl")


def reference_pick(cpu: dict) -> str:
    """The dispatcher the exercise asks for: the first variant of PREFERENCE whose needs the
    feature dict grants (a missing key means the feature is absent)."""
    return next(v for v in PREFERENCE if all(cpu.get(f, False) for f in NEEDS[v]))


def forced_feature_sets() -> list[tuple[str, dict]]:
    """Feature dicts a dispatcher must handle: every rung of the x86 ladder forced down, the
    combinations real CPUs and VMs report (AVX2 without FMA, AVX-512F without BW/VL), AArch64,
    and an unknown machine."""
    sets = []
    for k in range(len(_X86_LADDER) + 1):
        cpu = {f: i < k for i, f in enumerate(_X86_LADDER)}
        sets.append((f"x86 up to {_X86_LADDER[k - 1] if k else 'nothing'}", cpu))
    every = {f: True for f in _X86_LADDER}
    sets += [("x86 with AVX2 but no FMA (an early VM)", {**every, "fma": False, "avx512f": False,
                                                         "avx512bw": False, "avx512vl": False}),
             ("x86 with AVX-512F only (no BW, VL)", {**every, "avx512bw": False, "avx512vl": False}),
             ("x86 with AVX-512 but FMA hidden", {**every, "fma": False}),
             ("AArch64", {"neon": True, "sve": False}), ("AArch64 with SVE", {"neon": True, "sve": True}),
             ("an unknown CPU (no features reported)", {})]
    return sets


@answers("pick_variant", simd_features.best_variant, simd_features.best_isa, simd_kernels.dispatch)
def check_pick_variant(pick_variant: Callable) -> None:
    """Grade ``pick_variant(cpu) -> str`` on every feature set of :func:`forced_feature_sets`,
    each given as a fresh dict that the answer must not need to be complete.

    Raises:
        AssertionError: naming the feature set, the answer's choice and the right one.
    """
    for what, cpu in forced_feature_sets():
        want = reference_pick(cpu)
        try:
            got = pick_variant(dict(cpu))
        except KeyError as exc:
            raise AssertionError(f"on {what}, pick_variant raised KeyError {exc}: a feature the "
                                 "dict does not list is a feature the CPU does not have (use "
                                 "cpu.get(name, False))") from None
        except Exception as exc:
            raise AssertionError(f"on {what}, pick_variant raised {type(exc).__name__}: {exc}") from None
        if got != want:
            missing = [f for f in NEEDS.get(got, ()) if not cpu.get(f, False)] if isinstance(got, str) else []
            why = (f": {got} needs {', '.join(missing)}, which this CPU lacks (the program would "
                   "die of an illegal instruction)" if missing else
                   f": {want} is available and wider" if got in PREFERENCE else
                   f": answer one of {', '.join(PREFERENCE)}")
            raise AssertionError(f"on {what} ({', '.join(k for k, v in cpu.items() if v) or 'no features'}), "
                                 f"pick_variant chose {got!r}, expected {want!r}{why}")


# ---------------------------------------------------------------------------- exercise 3
#: The prototype the masked-sum exercise asks for.
MASKED_SUM_CDEF = "float masked_sum(const float *x, int64_t n, float t);"


def _masked_cases() -> list[tuple[np.ndarray, float, str]]:
    rng = np.random.default_rng(11)
    base = rng.uniform(-1, 1, 4096).astype(np.float32)
    cases = [(base[:0], 0.0, "an empty array")]
    for n in list(range(1, 50)) + [1000, 4095]:  # every tail length for 4, 8 and 16 lanes
        cases.append((base[:n], 0.25, f"{n} values"))
    cases.append((base[1:1000], 0.25, "999 values starting 4 bytes past an aligned address"))
    with_nan = base[:67].copy()
    with_nan[::5] = np.nan
    cases.append((with_nan, 0.0, "67 values, every 5th NaN"))
    cases.append((with_nan, -np.inf, "67 values, every 5th NaN, threshold -inf"))
    ties = np.full(37, 0.5, np.float32)
    ties[::3] = 0.75
    cases.append((ties, 0.5, "37 values, most equal to the threshold 0.5"))
    cases.append((base[:100], np.inf, "100 values, threshold +inf"))
    return cases


def _kept_sum(x: np.ndarray, t: float) -> float:
    return float(x[x > t].astype(np.float64).sum())


def check_masked_sum(source: str, flags: tuple = ("-O2",)) -> None:
    """Grade C source defining ``float masked_sum(const float *x, int64_t n, float t)``: the sum
    of the ``x[i] > t`` (NaN never counts, as ``NaN > t`` is false), written with GCC/Clang
    vector extensions.

    It is compiled with :func:`course_lib.simd.snippet.compile_c` at ``flags`` (``-O2``, which
    does not vectorise a float sum by itself), compared with NumPy on empty, short, odd-length,
    misaligned, NaN and tie inputs, and its machine code must hold packed arithmetic.

    Raises:
        AssertionError: a compile error (with the compiler's message), the first input that
            gives a wrong sum, or what the machine code shows.
    """
    from course_lib.simd.snippet import CompileError, compile_c

    if not isinstance(source, str):
        raise AssertionError(f"MASKED_SUM_C should be the C source as a string, got {type(source).__name__}")
    try:
        snip = compile_c(source, cdef=MASKED_SUM_CDEF, flags=flags, name="masked_sum_answer")
    except CompileError as exc:
        raise AssertionError(f"your C did not compile:\n{exc}") from None
    for x, t, what in _masked_cases():
        got = float(snip.lib.masked_sum(snip.ptr(x), len(x), t))
        kept = x[x > t].astype(np.float64)
        want = float(kept.sum())
        if not abs(got - want) <= 1e-5 * float(np.abs(kept).sum()) + 1e-6:
            hint = ""
            if np.isnan(got):
                hint = ": a NaN got into the sum (NaN > t is false, so a NaN lane must be masked out)"
            elif np.any(x == t) and abs(got - float(x[x >= t].astype(np.float64).sum())) < 1e-4:
                hint = ": values equal to t were counted; the test is x > t"
            elif any(len(x) % k and abs(got - float(_kept_sum(x[:len(x) // k * k], t))) < 1e-4
                     for k in (4, 8, 16)):
                hint = ": the last n % lanes values were left out (the scalar tail)"
            raise AssertionError(f"masked_sum on {what} with t={t} returned {got!r}, expected "
                                 f"{want!r}{hint}")
    r = autovec.vector_report(snip.asm("masked_sum"))
    if not (r.families.get("add") or r.families.get("fma")):
        raise AssertionError(f"masked_sum gives the right sums, but its machine code at "
                             f"{' '.join(flags)} is {r}: write the loop with vector types "
                             "(typedef float v4f __attribute__((vector_size(16)))), a lane-wise "
                             "compare for the mask, and a vector accumulator")
    print(f"masked_sum: {r}")


#: Exercise 4's question: what limits the strict loop's speed.
BOUND_CHOICES = {
    "latency": "each add waits for the previous add's result (one dependency chain)",
    "bandwidth": "memory cannot deliver the data faster",
    "cores": "it runs on one core",
    "clock": "the CPU's clock is too slow",
}


def fastmath_lanes() -> int:
    """float32 lanes per packed instruction in ``dot_fastmath`` on the machine running this."""
    x = np.ones(64, np.float32)
    return autovec.report(nk.dot_fastmath, x, x).lanes("float32")


def check_asm_reading(lanes: Any, strict_is_scalar: Any, bound_by: Any) -> None:
    """Grade answers read off the notebook's assembly reports of ``dot_strict`` and
    ``dot_fastmath`` (:mod:`course_lib.simd.numba_kernels`), on the machine that runs the grader.

    Args:
        lanes: float32 lanes per packed instruction in ``dot_fastmath`` (an int).
        strict_is_scalar: whether ``dot_strict``'s arithmetic is scalar (a bool).
        bound_by: one key of :data:`BOUND_CHOICES`: what limits the strict loop.
    """
    x = np.ones(64, np.float32)
    strict = autovec.report(nk.dot_strict, x, x)
    want = fastmath_lanes()
    problems = []
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)):
        problems.append(f"LANES should be an int, got {lanes!r}")
    elif lanes != want:
        hint = (" (that is the register width in bits; divide by 32 bits per float32)"
                if lanes == want * 32 else
                " (the widest register the packed instructions use, divided by 32 bits per float32)")
        problems.append(f"LANES: dot_fastmath's packed instructions here handle {want} float32 lanes, "
                        f"not {lanes}{hint}")
    if not isinstance(strict_is_scalar, (bool, np.bool_)):
        problems.append(f"STRICT_IS_SCALAR should be True or False, got {strict_is_scalar!r}")
    elif bool(strict_is_scalar) != (not strict.vectorized):
        problems.append(f"STRICT_IS_SCALAR: the report of dot_strict says {strict}")
    if bound_by not in BOUND_CHOICES:
        problems.append(f"BOUND_BY should be one of {sorted(BOUND_CHOICES)}, got {bound_by!r}")
    elif bound_by != "latency":
        problems.append(f"BOUND_BY: not {bound_by!r}. The strict loop's data fit in cache and it "
                        "does one add per element, yet it runs far below one add per cycle: each "
                        "add needs the previous sum (a chain of ~4-cycle latencies). The vector "
                        "loop keeps several independent sums, so it is latency-free as well as wide")
    if problems:
        raise AssertionError("\n".join(problems))


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_vectorised_dot", "check_pick_variant", "check_masked_sum", "check_asm_reading")
seal(__name__)
