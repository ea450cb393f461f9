/*
 * simd.c: the same float32 kernels written three ways, so that chapter c05 can time them.
 *
 * What it implements
 *   Six kernels: dot (sum of x*y), saxpy (y = a*x + y in place), poly (Horner's rule, a degree-K
 *   polynomial per element: compute-bound), masked_sum (the sum of x[i] > threshold: a mask),
 *   argmin/argmax (index of the first minimum or maximum: a reduction that carries an index), and
 *   fma_peak (independent multiply-adds and nothing else: the arithmetic ceiling of one core).
 *   Each kernel exists in up to six variants:
 *     SIMD_SCALAR  plain C, one element at a time. The compiler is told not to vectorise it
 *                  (GCC's optimize("no-tree-vectorize"), Clang's loop pragma, and an empty asm
 *                  that pins accumulators to scalar registers), so it is a real baseline.
 *     SIMD_VECEXT  GCC/Clang vector extensions: a type such as
 *                  `float __attribute__((vector_size(16)))` holds 4 lanes, and +, *, <, & work
 *                  lane by lane; a comparison gives a mask (-1 or 0 per lane). This is the C
 *                  analogue of Rust's portable SIMD: no intrinsics, and the compiler picks the
 *                  instructions of the baseline ISA (SSE2 on x86-64, NEON on AArch64).
 *     SIMD_SSE     x86 SSE2 intrinsics (_mm_*): 128-bit registers, 4 float lanes, no FMA.
 *     SIMD_AVX2    x86 AVX2 + FMA intrinsics (_mm256_*): 256-bit, 8 lanes, fused multiply-add.
 *     SIMD_AVX512  x86 AVX-512 intrinsics (_mm512_*): 512-bit, 16 lanes, and mask registers, so
 *                  the tail is one masked iteration instead of a scalar loop.
 *     SIMD_NEON    AArch64 Advanced SIMD intrinsics (v*q_f32): 128-bit, 4 lanes, FMA.
 *   The files: this one holds the scalar and vector-extension variants, CPU feature detection
 *   and the dispatch (simd_variant_status and the simd_* entry points of simd.h); simd_x86.c
 *   holds the SSE, AVX2 and AVX-512 variants, simd_arm.c the NEON one, each compiled to nothing
 *   on the other architecture; simd_impl.h is what the three share (the `simd_ops` row that
 *   each variant fills in, the constants, the scalar tail helpers).
 *
 * Ideas the code shows
 *   Lanes: a vector register holds several elements (lanes); one instruction works on all of
 *   them. A 256-bit register holds 8 float32 or 4 float64.
 *   Target attributes: the library is compiled for the baseline ISA (-O2, no -march=native), so
 *   it runs on any CPU of its architecture. A function marked __attribute__((target("avx2,fma")))
 *   may use AVX2 and FMA instructions all the same; it must only be *called* on a CPU that has
 *   them, which is what simd_variant_status checks at run time (run-time dispatch).
 *   Unaligned loads: a NumPy slice such as x[1:] starts 4 bytes into a 64-byte line, so every
 *   load here is an unaligned one (_mm256_loadu_ps, vld1q_f32, memcpy into a vector type). On
 *   CPUs since Nehalem / Zen, an unaligned load of aligned data costs the same as an aligned one,
 *   and one that crosses a cache line costs a little more; an aligned load (_mm256_load_ps) of a
 *   misaligned address would crash.
 *   Several accumulators: acc = acc + x*y has to wait for the previous acc (FMA latency: 4
 *   cycles) while the core could start two FMAs per cycle; with k independent accumulators k
 *   chains overlap. dot uses 4; fma_peak 12 (latency 4 x 2 FMA units = 8 in flight at least),
 *   14 where a multiply then an add make a longer chain (scalar, sse, vecext). poly, whose
 *   Horner chain runs through the whole coefficient loop, evaluates 12 vectors at once in every
 *   vector variant, the scalar variant one element at a time (simd_impl.h: the measurements).
 *   Tails: n is rarely a multiple of the lane count; the last n % lanes elements are done one at
 *   a time (or, with AVX-512, by one masked load and store that touch only the valid lanes).
 *   Rounding: the FMA variants round once per multiply-add, the others twice, and every variant
 *   adds in its own order, so results agree with NumPy to rounding error, not bit for bit.
 *
 * NaN
 *   masked_sum: x > t is false for NaN, so a NaN never counts (nor does anything if t is NaN).
 *   argmin/argmax: as NumPy, the index of the first NaN if there is one. The vector loop ignores
 *   NaN in its comparisons but ORs an "unordered" mask as it goes; if any lane saw a NaN, a
 *   scalar scan finds the first one. Otherwise the first minimum: each lane keeps the first index
 *   it saw for its smallest value (strictly-less updates), and lanes tie-break on the index.
 *   argmax is argmin of -x, done by flipping the sign bit as the data is loaded.
 *
 * Sources
 *   Intel Intrinsics Guide (the _mm*, _mm256*, _mm512* names and the instructions they map to);
 *   Arm, "Arm C Language Extensions" and "Neon Intrinsics Reference"; GCC manual, sections
 *   "Using Vector Instructions through Built-in Functions" (Vector Extensions), "x86 Function
 *   Attributes" (target) and "x86 Built-in Functions" (__builtin_cpu_supports); Intel 64 and
 *   IA-32 Architectures Software Developer's Manual, vol. 1, section 13 (XSAVE, XCR0, XGETBV: the
 *   OS must enable the AVX and AVX-512 register state); Linux Documentation/arch/arm64/
 *   elf_hwcaps.rst (getauxval(AT_HWCAP)); Agner Fog, "Instruction tables" (FMA latency and
 *   throughput: 4 cycles, 2 per cycle on Haswell..Zen 4).
 *
 * Threads and memory ordering
 *   Kernels touch only their arguments; no shared state but the cached feature word, which is
 *   a C11 atomic (relaxed: every thread computes the same value, so any one of them may store
 *   it). cffi releases the GIL around every call, so Python threads can run kernels in parallel.
 */
#include "simd_impl.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#if defined(SIMD_ON_X86)
#include <cpuid.h>
#endif
#if defined(SIMD_ON_ARM64) && defined(__linux__)
#include <sys/auxv.h>
#endif

/* ------------------------------------------------------------------ keeping the scalar scalar */
#if defined(__GNUC__) && !defined(__clang__)
#define SCALAR_FN __attribute__((optimize("no-tree-vectorize"))) static
#else
#define SCALAR_FN static
#endif
#if defined(__clang__)
#define SCALAR_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#else
#define SCALAR_LOOP
#endif
/* An empty asm that claims to change v in a scalar FP register: the compiler cannot pack such
 * values into one vector (the SLP vectoriser), because it would have to unpack them each time. */
#if defined(__GNUC__) && (defined(__x86_64__) || (defined(__i386__) && defined(__SSE2__)))
#define KEEP_SCALAR(v) __asm__("" : "+x"(v))
#elif defined(__GNUC__) && defined(__aarch64__)
#define KEEP_SCALAR(v) __asm__("" : "+w"(v))
#else
#define KEEP_SCALAR(v) ((void)0)
#endif

/* ============================================================================ feature detection */
#if defined(SIMD_ON_X86)
#ifndef bit_OSXSAVE
#define bit_OSXSAVE (1u << 27)
#endif
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t detect(void)
{
    uint32_t f = 0;
    __builtin_cpu_init();
    f |= __builtin_cpu_supports("sse2") ? SIMD_F_SSE2 : 0;
    f |= __builtin_cpu_supports("sse4.2") ? SIMD_F_SSE42 : 0;
    f |= __builtin_cpu_supports("avx") ? SIMD_F_AVX : 0;
    f |= __builtin_cpu_supports("avx2") ? SIMD_F_AVX2 : 0;
    f |= __builtin_cpu_supports("fma") ? SIMD_F_FMA : 0;
    f |= __builtin_cpu_supports("avx512f") ? SIMD_F_AVX512F : 0;
    f |= __builtin_cpu_supports("avx512bw") ? SIMD_F_AVX512BW : 0;
    f |= __builtin_cpu_supports("avx512vl") ? SIMD_F_AVX512VL : 0;
    /* The CPU having AVX is not enough: the OS must save the wider registers on a context
     * switch, and says so in XCR0 (bits 1-2: SSE and AVX state; 5-7: AVX-512 state). Recent
     * GCC and Clang check this inside __builtin_cpu_supports; older ones did not. */
    unsigned a, b, c, d;
    int avx_os = 0, avx512_os = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE)) {
        uint64_t xcr0 = xgetbv0();
        avx_os = (xcr0 & 0x6) == 0x6;
#if defined(__APPLE__)
        avx512_os = avx_os; /* macOS turns AVX-512 state on at a thread's first use of it */
#else
        avx512_os = avx_os && (xcr0 & 0xe0) == 0xe0;
#endif
    }
    if (!avx_os)
        f &= ~(uint32_t)(SIMD_F_AVX | SIMD_F_AVX2 | SIMD_F_FMA);
    if (!avx512_os)
        f &= ~(uint32_t)(SIMD_F_AVX512F | SIMD_F_AVX512BW | SIMD_F_AVX512VL);
    return f;
}
#elif defined(SIMD_ON_ARM64)
#if defined(__linux__)
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1ul << 1)
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1ul << 22)
#endif
static uint32_t detect(void)
{
    unsigned long hw = getauxval(AT_HWCAP);
    return ((hw & HWCAP_ASIMD) ? SIMD_F_NEON : 0) | ((hw & HWCAP_SVE) ? SIMD_F_SVE : 0);
}
#else
/* Apple silicon and other AArch64 systems: Advanced SIMD is part of every AArch64 core. */
static uint32_t detect(void) { return SIMD_F_NEON; }
#endif
#else
static uint32_t detect(void) { return 0; }
#endif

#define FEATURES_KNOWN 0x80000000u
static _Atomic uint32_t features_cache;

uint32_t simd_cpu_features(void)
{
    uint32_t f = atomic_load_explicit(&features_cache, memory_order_relaxed);
    if (!(f & FEATURES_KNOWN)) {
        f = detect() | FEATURES_KNOWN;
        atomic_store_explicit(&features_cache, f, memory_order_relaxed);
    }
    return f & ~FEATURES_KNOWN;
}

/* ==================================================================================== scalar */
SCALAR_FN float dot_scalar(const float *x, const float *y, int64_t n)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f; /* the same 4 chains as the vector code */
    int64_t i = 0;
    SCALAR_LOOP
    for (; i + 4 <= n; i += 4) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
        s2 += x[i + 2] * y[i + 2];
        s3 += x[i + 3] * y[i + 3];
        KEEP_SCALAR(s0); KEEP_SCALAR(s1); KEEP_SCALAR(s2); KEEP_SCALAR(s3);
    }
    SCALAR_LOOP
    for (; i < n; ++i)
        s0 += x[i] * y[i];
    return (s0 + s1) + (s2 + s3);
}

SCALAR_FN void saxpy_scalar(float a, const float *x, float *y, int64_t n)
{
    SCALAR_LOOP
    for (int64_t i = 0; i < n; ++i)
        y[i] = a * x[i] + y[i];
}

SCALAR_FN void poly_scalar(const float *x, float *out, int64_t n, const float *c, int32_t nc)
{
    SCALAR_LOOP
    for (int64_t i = 0; i < n; ++i)
        out[i] = horner1(x[i], c, nc);
}

SCALAR_FN float masked_sum_scalar(const float *x, int64_t n, float t)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int64_t i = 0;
    SCALAR_LOOP
    for (; i + 4 <= n; i += 4) {
        s0 += x[i] > t ? x[i] : 0.0f;
        s1 += x[i + 1] > t ? x[i + 1] : 0.0f;
        s2 += x[i + 2] > t ? x[i + 2] : 0.0f;
        s3 += x[i + 3] > t ? x[i + 3] : 0.0f;
        KEEP_SCALAR(s0); KEEP_SCALAR(s1); KEEP_SCALAR(s2); KEEP_SCALAR(s3);
    }
    SCALAR_LOOP
    for (; i < n; ++i)
        s0 += x[i] > t ? x[i] : 0.0f;
    return (s0 + s1) + (s2 + s3);
}

SCALAR_FN int64_t argmin_scalar(const float *x, int64_t n, int flip, int *nan)
{
    float best = INFINITY;
    int64_t best_i = 0;
    *nan = argmin_tail(x, 0, n, flip, &best, &best_i);
    return best_i;
}

/* A multiply then an add, as sse and vecext: PEAK_ACC_MULADD accumulators (simd_impl.h). */
SCALAR_FN int64_t peak32_scalar(int64_t iters, double *sink)
{
    const float m = (float)PEAK_M, c = (float)PEAK_C;
#define DECL(k) float a##k = (float)PEAK_START(k);
#define STEP(k) a##k = a##k * m + c; KEEP_SCALAR(a##k);
#define ADD(k) s += a##k;
    PEAK_REP_MULADD(DECL)
    SCALAR_LOOP
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP_MULADD(STEP)
    }
    float s = 0.0f;
    PEAK_REP_MULADD(ADD)
    *sink = (double)s;
#undef DECL
#undef STEP
#undef ADD
    return iters * PEAK_ACC_MULADD * 2;
}

SCALAR_FN int64_t peak64_scalar(int64_t iters, double *sink)
{
    const double m = PEAK_M, c = PEAK_C;
#define DECL(k) double a##k = PEAK_START(k);
#define STEP(k) a##k = a##k * m + c; KEEP_SCALAR(a##k);
#define ADD(k) s += a##k;
    PEAK_REP_MULADD(DECL)
    SCALAR_LOOP
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP_MULADD(STEP)
    }
    double s = 0.0;
    PEAK_REP_MULADD(ADD)
    *sink = s;
#undef DECL
#undef STEP
#undef ADD
    return iters * PEAK_ACC_MULADD * 2;
}

/* ========================================================================= vector extensions */
#if defined(SIMD_HAS_VECEXT)
/* 16 bytes: the width of the baseline ISA everywhere (SSE2, NEON). The compiler lowers each
 * operator to those instructions, or to several scalar ones where there is no SIMD at all. */
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));
typedef double vd2 __attribute__((vector_size(16)));

/* memcpy into a vector: the portable unaligned load (it compiles to one movups / ldr q). */
static inline vf4 vf4_load(const float *p) { vf4 v; memcpy(&v, p, sizeof v); return v; }
static inline void vf4_store(float *p, vf4 v) { memcpy(p, &v, sizeof v); }
static inline float vf4_sum(vf4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }
static inline vf4 vf4_splat(float v) { return (vf4){v, v, v, v}; }
static inline vd2 vd2_splat(double v) { return (vd2){v, v}; }

static float dot_vecext(const float *x, const float *y, int64_t n)
{
    vf4 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 += vf4_load(x + i) * vf4_load(y + i);
        s1 += vf4_load(x + i + 4) * vf4_load(y + i + 4);
        s2 += vf4_load(x + i + 8) * vf4_load(y + i + 8);
        s3 += vf4_load(x + i + 12) * vf4_load(y + i + 12);
    }
    for (; i + 4 <= n; i += 4)
        s0 += vf4_load(x + i) * vf4_load(y + i);
    float s = vf4_sum((s0 + s1) + (s2 + s3));
    for (; i < n; ++i)
        s += x[i] * y[i];
    return s;
}

static void saxpy_vecext(float a, const float *x, float *y, int64_t n)
{
    const vf4 va = {a, a, a, a};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vf4_store(y + i, va * vf4_load(x + i) + vf4_load(y + i));
    for (; i < n; ++i)
        y[i] = a * x[i] + y[i];
}

static void poly_vecext(const float *x, float *out, int64_t n, const float *c, int32_t nc)
{
    const int64_t block = 4 * POLY_CHAINS;
    int64_t i = 0;
    for (; i + block <= n; i += block) { /* independent Horner chains, one per vector */
        const vf4 c0 = {c[0], c[0], c[0], c[0]};
#define LOAD(j) vf4 x##j = vf4_load(x + i + 4 * (j)), r##j = c0;
#define STEP(j) r##j = r##j * x##j + ck;
#define STORE(j) vf4_store(out + i + 4 * (j), r##j);
        POLY_REP(LOAD)
        for (int32_t k = 1; k < nc; ++k) {
            const vf4 ck = {c[k], c[k], c[k], c[k]};
            POLY_REP(STEP)
        }
        POLY_REP(STORE)
#undef LOAD
#undef STEP
#undef STORE
    }
    for (; i + 4 <= n; i += 4) { /* what is left of the last block: one chain at a time */
        vf4 xv = vf4_load(x + i), r = {c[0], c[0], c[0], c[0]};
        for (int32_t k = 1; k < nc; ++k)
            r = r * xv + (vf4){c[k], c[k], c[k], c[k]};
        vf4_store(out + i, r);
    }
    for (; i < n; ++i)
        out[i] = horner1(x[i], c, nc);
}

static float masked_sum_vecext(const float *x, int64_t n, float t)
{
    const vf4 vt = {t, t, t, t};
    vf4 s0 = {0}, s1 = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vf4 a = vf4_load(x + i), b = vf4_load(x + i + 4);
        vi4 ma = a > vt, mb = b > vt; /* a comparison gives a mask: -1 (all ones) or 0 per lane */
        s0 += (vf4)((vi4)a & ma);       /* the cast reinterprets the bits, lane by lane */
        s1 += (vf4)((vi4)b & mb);
    }
    for (; i + 4 <= n; i += 4) {
        vf4 a = vf4_load(x + i);
        s0 += (vf4)((vi4)a & (a > vt));
    }
    float s = vf4_sum(s0 + s1);
    for (; i < n; ++i)
        s += x[i] > t ? x[i] : 0.0f;
    return s;
}

static int64_t argmin_vecext(const float *x, int64_t n, int flip, int *nan)
{
    const int32_t sb = flip ? INT32_MIN : 0;
    const vi4 sign = {sb, sb, sb, sb}, four = {4, 4, 4, 4};
    const float inf = INFINITY;
    vf4 best = {inf, inf, inf, inf};
    vi4 idx = {0, 1, 2, 3}, cur = idx, unordered = {0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4, cur += four) {
        vf4 v = (vf4)((vi4)vf4_load(x + i) ^ sign);
        vi4 lt = v < best;
        best = (vf4)(((vi4)v & lt) | ((vi4)best & ~lt)); /* select: lt ? v : best */
        idx = (cur & lt) | (idx & ~lt);
        unordered |= v != v;
    }
    if (unordered[0] | unordered[1] | unordered[2] | unordered[3])
        return *nan = 1, 0;
    float bv[4], b;
    int32_t bi[4];
    int64_t b_i;
    memcpy(bv, &best, sizeof bv), memcpy(bi, &idx, sizeof bi);
    argmin_lanes(bv, bi, 4, &b, &b_i);
    *nan = argmin_tail(x, i, n, flip, &b, &b_i);
    return b_i;
}

/* No FMA here: PEAK_ACC_MULADD accumulators, for the longer multiply-then-add chain. */
static int64_t peak32_vecext(int64_t iters, double *sink)
{
    const vf4 m = {PEAK_M, PEAK_M, PEAK_M, PEAK_M}, c = {PEAK_C, PEAK_C, PEAK_C, PEAK_C};
#define DECL(k) vf4 a##k = vf4_splat((float)PEAK_START(k));
#define STEP(k) a##k = a##k * m + c;
#define ADD(k) s += a##k;
    PEAK_REP_MULADD(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP_MULADD(STEP)
    }
    vf4 s = {0};
    PEAK_REP_MULADD(ADD)
    *sink = (double)vf4_sum(s);
#undef DECL
#undef STEP
#undef ADD
    return iters * PEAK_ACC_MULADD * 4 * 2;
}

static int64_t peak64_vecext(int64_t iters, double *sink)
{
    const vd2 m = {PEAK_M, PEAK_M}, c = {PEAK_C, PEAK_C};
#define DECL(k) vd2 a##k = vd2_splat(PEAK_START(k));
#define STEP(k) a##k = a##k * m + c;
#define ADD(k) s += a##k;
    PEAK_REP_MULADD(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP_MULADD(STEP)
    }
    vd2 s = {0};
    PEAK_REP_MULADD(ADD)
    *sink = s[0] + s[1];
#undef DECL
#undef STEP
#undef ADD
    return iters * PEAK_ACC_MULADD * 2 * 2;
}
#endif /* SIMD_HAS_VECEXT */

/* ================================================================================== dispatch */
static const simd_ops ops_scalar = SIMD_OPS_ROW(scalar);
#if defined(SIMD_HAS_VECEXT)
static const simd_ops ops_vecext = SIMD_OPS_ROW(vecext);
#endif

/* One row per variant; a variant the compiler did not build has none (a null pointer). */
static const simd_ops *const OPS[SIMD_NVARIANTS] = {
    [SIMD_SCALAR] = &ops_scalar,
#if defined(SIMD_HAS_VECEXT)
    [SIMD_VECEXT] = &ops_vecext,
#endif
#if defined(SIMD_ON_X86)
    [SIMD_SSE] = &simd_ops_sse, /* simd_x86.c */
    [SIMD_AVX2] = &simd_ops_avx2,
    [SIMD_AVX512] = &simd_ops_avx512,
#endif
#if defined(SIMD_ON_ARM64)
    [SIMD_NEON] = &simd_ops_neon, /* simd_arm.c */
#endif
};

/* The feature bits each variant needs, and its vector width in bytes (known even where the
 * variant is not built, for messages). */
static const uint32_t NEEDS[SIMD_NVARIANTS] = {
    [SIMD_SSE] = SIMD_F_SSE2, [SIMD_AVX2] = SIMD_F_AVX | SIMD_F_AVX2 | SIMD_F_FMA,
    [SIMD_AVX512] = SIMD_F_AVX512F | SIMD_F_AVX512BW | SIMD_F_AVX512VL, [SIMD_NEON] = SIMD_F_NEON};
static const int BYTES[SIMD_NVARIANTS] = {4, 16, 16, 32, 64, 16};

uint32_t simd_variant_needs(int variant)
{
    return variant >= 0 && variant < SIMD_NVARIANTS ? NEEDS[variant] : 0;
}

int simd_variant_built(int variant)
{
    return variant >= 0 && variant < SIMD_NVARIANTS && OPS[variant] != NULL;
}

int simd_variant_status(int variant)
{
    if (variant < 0 || variant >= SIMD_NVARIANTS)
        return SIMD_E_VARIANT;
    if (!OPS[variant])
        return SIMD_E_NOT_BUILT;
    uint32_t needs = NEEDS[variant];
    return (simd_cpu_features() & needs) == needs ? SIMD_OK : SIMD_E_CPU;
}

int simd_variant_available(int variant) { return simd_variant_status(variant) == SIMD_OK; }

int simd_lanes(int variant, int precision)
{
    if (variant < 0 || variant >= SIMD_NVARIANTS || (precision != 32 && precision != 64))
        return SIMD_E_ARG;
    return variant == SIMD_SCALAR ? 1 : BYTES[variant] * 8 / precision;
}

const char *simd_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "an unknown compiler";
#endif
}

int simd_dot(int variant, const float *x, const float *y, int64_t n, float *result)
{
    int st = simd_variant_status(variant);
    if (st != SIMD_OK)
        return st;
    if (n < 0)
        return SIMD_E_ARG;
    *result = OPS[variant]->dot(x, y, n);
    return SIMD_OK;
}

int simd_dot_repeat(int variant, const float *x, const float *y, int64_t n, int64_t reps,
                    float *result)
{
    int st = simd_variant_status(variant);
    if (st != SIMD_OK)
        return st;
    if (n < 0 || reps < 1)
        return SIMD_E_ARG;
    float (*dot)(const float *, const float *, int64_t) = OPS[variant]->dot;
    float s = 0.0f;
    for (int64_t r = 0; r < reps; ++r) /* an indirect call: the compiler cannot hoist it */
        s += dot(x, y, n);
    *result = s;
    return SIMD_OK;
}

int simd_saxpy(int variant, float a, const float *x, float *y, int64_t n)
{
    int st = simd_variant_status(variant);
    if (st != SIMD_OK)
        return st;
    if (n < 0)
        return SIMD_E_ARG;
    OPS[variant]->saxpy(a, x, y, n);
    return SIMD_OK;
}

int simd_poly(int variant, const float *x, float *out, int64_t n, const float *coeffs,
              int32_t ncoeffs)
{
    int st = simd_variant_status(variant);
    if (st != SIMD_OK)
        return st;
    if (n < 0 || ncoeffs < 1)
        return SIMD_E_ARG;
    OPS[variant]->poly(x, out, n, coeffs, ncoeffs);
    return SIMD_OK;
}

int simd_masked_sum(int variant, const float *x, int64_t n, float threshold, float *result)
{
    int st = simd_variant_status(variant);
    if (st != SIMD_OK)
        return st;
    if (n < 0)
        return SIMD_E_ARG;
    *result = OPS[variant]->masked_sum(x, n, threshold);
    return SIMD_OK;
}

static int arg_extreme(int variant, const float *x, int64_t n, int flip, int64_t *index,
                       float *value)
{
    int st = simd_variant_status(variant);
    if (st != SIMD_OK)
        return st;
    if (n < 1)
        return SIMD_E_ARG; /* no element, no index */
    int64_t best_i = 0;
    float best = 0.0f;
    for (int64_t start = 0; start < n; start += ARG_BLOCK) {
        int64_t len = n - start < ARG_BLOCK ? n - start : ARG_BLOCK;
        int nan = 0;
        int64_t i = start + OPS[variant]->argmin(x + start, len, flip, &nan);
        if (nan) { /* the first NaN is in this block: earlier blocks had none */
            for (i = start; x[i] == x[i]; ++i)
                ;
            best_i = i;
            break;
        }
        float v = flip ? -x[i] : x[i];
        if (start == 0 || v < best) /* strictly less: an equal value later is not first */
            best = v, best_i = i;
    }
    *index = best_i;
    *value = x[best_i];
    return SIMD_OK;
}

int simd_argmin(int variant, const float *x, int64_t n, int64_t *index, float *value)
{
    return arg_extreme(variant, x, n, 0, index, value);
}

int simd_argmax(int variant, const float *x, int64_t n, int64_t *index, float *value)
{
    return arg_extreme(variant, x, n, 1, index, value);
}

int64_t simd_fma_peak(int variant, int precision, int64_t iters, double *sink)
{
    int st = simd_variant_status(variant);
    if (st != SIMD_OK)
        return st;
    if (iters < 0 || (precision != 32 && precision != 64))
        return SIMD_E_ARG;
    return precision == 32 ? OPS[variant]->peak32(iters, sink) : OPS[variant]->peak64(iters, sink);
}
