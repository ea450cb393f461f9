"""The c05 checkers keep the graders' contract: plausible wrong answers fail, correct answers
written differently pass."""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit, prange

from contract import case, right, wrong
from course_lib.simd import numba_kernels as nk
from course_lib.testing.exercises import c05_simd as c

DOT = "c05_simd:test_dot"
ASM = "c05_simd:test_asm_reading"


# ---------------------------------------------------------------------------- exercise 1: dot
@njit(fastmath=True)
def dot_fastmath(x, y):
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    return s


@njit(fastmath={"reassoc", "contract", "nsz", "arcp"})
def dot_reassoc_only(x, y):  # the flags that matter, NaN and inf semantics kept
    total = np.float32(0)
    n = len(x)
    for i in range(n):
        total = total + x[i] * y[i]
    return total


@njit(fastmath=True)
def dot_float64_sum(x, y):  # correct, more accurate: float64 partial sums, still vectorised
    s = 0.0
    for i in range(x.shape[0]):
        s += np.float64(x[i]) * np.float64(y[i])
    return s


@njit(fastmath=True, parallel=True)
def dot_prange(x, y):  # correct: vectorised on each thread
    s = np.float32(0.0)
    for i in prange(x.shape[0]):
        s += x[i] * y[i]
    return s


@njit
def dot_strict(x, y):
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    return s


@njit
def dot_unrolled_by_hand(x, y):  # 4 accumulators: faster, but the compiler still adds in order
    a = b = cc = d = np.float32(0.0)
    n4 = x.shape[0] // 4 * 4
    for i in range(0, n4, 4):
        a += x[i] * y[i]
        b += x[i + 1] * y[i + 1]
        cc += x[i + 2] * y[i + 2]
        d += x[i + 3] * y[i + 3]
    for i in range(n4, x.shape[0]):
        a += x[i] * y[i]
    return a + b + cc + d


@njit(fastmath=True)
def dot_drops_the_tail(x, y):
    s = np.float32(0.0)
    for i in range(x.shape[0] // 8 * 8):
        s += x[i] * y[i]
    return s


@njit(fastmath=True)
def dot_via_numpy(x, y):
    return np.dot(x, y)


@njit(fastmath=True)
def dot_forgets_y(x, y):
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return s


@pytest.mark.parametrize("answer", [
    case(dot_fastmath, mark=right(DOT, "fastmath=True")),
    case(dot_reassoc_only, mark=right(DOT, "only the reassociation flags")),
    case(dot_float64_sum, mark=right(DOT, "float64 sums")),
    case(dot_prange, mark=right(DOT, "prange and fastmath")),
])
def test_dot_accepts(answer, capsys):
    c.check_vectorised_dot(answer)
    assert "vectorised" in capsys.readouterr().out


@pytest.mark.parametrize("answer, match", [
    case(dot_strict, "not vectorised", mark=wrong(DOT, "no fastmath: scalar")),
    case(dot_unrolled_by_hand, "not vectorised", mark=wrong(DOT, "unrolled by hand, still scalar")),
    case(dot_drops_the_tail, "exact dot product", mark=wrong(DOT, "drops the tail")),
    case(dot_forgets_y, "exact dot product", mark=wrong(DOT, "result")),
    case(dot_via_numpy, "write it yourself", mark=wrong(DOT, "delegation to np.dot")),
    case(dot_strict.py_func, "numba function", mark=wrong(DOT, "not numba")),
])
def test_dot_rejects(answer, match):
    with pytest.raises(AssertionError, match=match):
        c.check_vectorised_dot(answer)


def test_dot_tolerance_is_far_from_any_real_error():
    rng = np.random.default_rng(0)
    x, y = (rng.uniform(-1, 1, 65_537).astype(np.float32) for _ in range(2))
    exact = np.dot(x.astype(np.float64), y.astype(np.float64))
    for fn in (nk.dot_strict, nk.dot_fastmath):
        assert abs(float(fn(x, y)) - exact) < c.dot_tolerance(x, y) / 20


# ---------------------------------------------------------------------------- exercise 4
@pytest.mark.parametrize("lanes", [case(None, mark=right(ASM, "an int")),
                                   case("numpy", mark=right(ASM, "a NumPy integer"))])
def test_asm_reading_accepts(lanes):
    want = c.fastmath_lanes()
    value = want if lanes is None else np.int64(want)
    c.check_asm_reading(value, True, "latency")
    c.check_asm_reading(value, np.bool_(True), "latency")


@pytest.mark.parametrize("answer, match", [
    case(lambda w: (w * 32, True, "latency"), "divide by 32", mark=wrong(ASM, "bits, not lanes")),
    case(lambda w: (w * 2 if w < 16 else w // 2, True, "latency"), "LANES", mark=wrong(ASM, "another ISA's lanes")),
    case(lambda w: (w, False, "latency"), "STRICT_IS_SCALAR", mark=wrong(ASM, "strict judged vectorised")),
    case(lambda w: (w, True, "bandwidth"), "previous sum", mark=wrong(ASM, "bandwidth")),
    case(lambda w: (float(w), True, "latency"), "should be an int", mark=wrong(ASM, "a float")),
    case(lambda w: (w, True, "the latency"), "one of", mark=wrong(ASM, "not a listed choice")),
])
def test_asm_reading_rejects(answer, match):
    with pytest.raises(AssertionError, match=match):
        c.check_asm_reading(*answer(c.fastmath_lanes()))


# ---------------------------------------------------------------------------- exercise 3
MASKED = "c05_simd:test_masked_sum"

_HEAD = """
#include <stdint.h>
#include <string.h>
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
"""

MASKED_V4 = _HEAD + """
float masked_sum(const float *x, int64_t n, float t) {
    v4f acc = {0, 0, 0, 0}, tv = {t, t, t, t};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f v;
        memcpy(&v, x + i, sizeof v);
        acc += (v4f)((v4i)v & (v > tv));
    }
    float s = acc[0] + acc[1] + acc[2] + acc[3];
    for (; i < n; i++)
        if (x[i] > t) s += x[i];
    return s;
}
"""

MASKED_V8_TWO_ACC = """
#include <stdint.h>
typedef float f8 __attribute__((vector_size(32), aligned(4)));
typedef int i8 __attribute__((vector_size(32), aligned(4)));

static float hsum(f8 v) {
    float s = 0;
    for (int k = 0; k < 8; k++) s += v[k];
    return s;
}

float masked_sum(const float *x, int64_t n, float t) {
    f8 a = {0}, b = {0};
    f8 tv = t - (f8){0};              /* a scalar broadcast by the vector arithmetic */
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        f8 u = *(const f8 *)(x + i), w = *(const f8 *)(x + i + 8);   /* aligned(4): unaligned loads */
        a += (f8)((i8)u & (u > tv));
        b += (f8)((i8)w & (w > tv));
    }
    float s = hsum(a + b);
    while (i < n) { float v = x[i++]; s += v > t ? v : 0.0f; }
    return s;
}
"""

MASKED_NO_TAIL = MASKED_V4.replace("for (; i < n; i++)\n        if (x[i] > t) s += x[i];", "")
MASKED_COUNTS_NAN = MASKED_V4.replace("(v > tv)", "~(v <= tv)").replace("if (x[i] > t)", "if (!(x[i] <= t))")
MASKED_GE = MASKED_V4.replace("(v > tv)", "(v >= tv)").replace("if (x[i] > t)", "if (x[i] >= t)")
MASKED_SCALAR = """
#include <stdint.h>
float masked_sum(const float *x, int64_t n, float t) {
    float s = 0;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > t) s += x[i];
    return s;
}
"""
MASKED_TYPO = MASKED_V4.replace("acc[3];", "acc[3]")


@pytest.mark.parametrize("source", [case(MASKED_V4, mark=right(MASKED, "4 lanes, memcpy loads")),
                                    case(MASKED_V8_TWO_ACC, mark=right(MASKED, "8 lanes, two accumulators"))])
def test_masked_sum_accepts(source, capsys):
    c.check_masked_sum(source)
    assert "vectorised" in capsys.readouterr().out


@pytest.mark.parametrize("source, match", [
    case(MASKED_NO_TAIL, "scalar tail", mark=wrong(MASKED, "drops the tail")),
    case(MASKED_COUNTS_NAN, "NaN", mark=wrong(MASKED, "NaN counted")),
    case(MASKED_GE, "equal to t", mark=wrong(MASKED, ">= for >")),
    case(MASKED_SCALAR, "vector types", mark=wrong(MASKED, "scalar C")),
    case(MASKED_TYPO, "did not compile", mark=wrong(MASKED, "does not compile")),
])
def test_masked_sum_rejects(source, match):
    with pytest.raises(AssertionError, match=match):
        c.check_masked_sum(source)


# ---------------------------------------------------------------------------- exercise 2
PICK = "c05_simd:test_pick_variant"


def pick_if_chain(cpu):
    has = lambda *names: all(cpu.get(n, False) for n in names)  # noqa: E731
    if has("avx512f", "avx512bw", "avx512vl"):
        return "avx512"
    if has("avx2", "fma"):
        return "avx2"
    if has("neon"):
        return "neon"
    if has("sse2"):
        return "sse"
    return "vecext"


def pick_table(cpu):
    table = [("avx512", {"avx512f", "avx512bw", "avx512vl"}), ("avx2", {"avx", "avx2", "fma"}),
             ("neon", {"neon"}), ("sse", {"sse2"}), ("vecext", set())]
    have = {name for name, present in cpu.items() if present}
    for variant, needs in table:
        if needs <= have:
            return variant


def pick_only_avx512f(cpu):  # AVX-512F alone does not make the BW/VL kernels safe
    return pick_if_chain({**cpu, "avx512bw": cpu.get("avx512f"), "avx512vl": cpu.get("avx512f")})


def pick_assumes_fma_with_avx2(cpu):
    return pick_if_chain({**cpu, "fma": cpu.get("avx2")})


def pick_indexes(cpu):  # cpu["neon"] on an x86 dict: KeyError
    if cpu["avx512f"] and cpu["avx512bw"] and cpu["avx512vl"]:
        return "avx512"
    if cpu["avx2"] and cpu["fma"]:
        return "avx2"
    return "sse" if cpu["sse2"] else "vecext"


def pick_no_fallback(cpu):  # nothing for a CPU without features
    return pick_if_chain(cpu) if cpu else None


def pick_the_real_cpu(cpu):  # ignores the dict: what this machine has, not what was asked
    from course_lib import simd
    return simd.features.best_variant()


def pick_sse_first(cpu):
    return "sse" if cpu.get("sse2") else pick_if_chain(cpu)


@pytest.mark.parametrize("answer", [case(pick_if_chain, mark=right(PICK, "if chain with get")),
                                    case(pick_table, mark=right(PICK, "a table of needs"))])
def test_pick_variant_accepts(answer):
    c.check_pick_variant(answer)


@pytest.mark.parametrize("answer, match", [
    case(pick_only_avx512f, "avx512bw", mark=wrong(PICK, "AVX-512F taken for all of AVX-512")),
    case(pick_assumes_fma_with_avx2, "needs .*fma", mark=wrong(PICK, "FMA assumed with AVX2")),
    case(pick_indexes, "KeyError", mark=wrong(PICK, "missing key")),
    case(pick_no_fallback, "expected 'vecext'", mark=wrong(PICK, "no fallback")),
    case(pick_the_real_cpu, "write it yourself", mark=wrong(PICK, "delegation to the real CPU")),
    case(pick_sse_first, "wider", mark=wrong(PICK, "wrong order")),
])
def test_pick_variant_rejects(answer, match):
    with pytest.raises(AssertionError, match=match):
        c.check_pick_variant(answer)


def test_the_exercise_table_matches_the_c_library():
    from course_lib.simd import features as f

    ffi, lib = f._lib()
    for i, name in enumerate(f.VARIANTS):
        word = lib.simd_variant_needs(i)
        c_needs = {k for k, bit in f._BIT.items() if word & getattr(lib, bit)}
        assert set(c.NEEDS[name]) == c_needs, name
    assert c.PREFERENCE == f._PREFERENCE
