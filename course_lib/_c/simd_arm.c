/*
 * simd_arm.c: the AArch64 NEON (Advanced SIMD) variant of the kernels in simd.c.
 *
 * What it implements
 *   The seven functions of SIMD_NEON's `simd_ops` row (simd_impl.h): dot, saxpy, poly,
 *   masked_sum, argmin (one block, 32-bit lane indices), the float32 / float64 multiply-add peak
 *   loops, and the row itself, simd_ops_neon, which simd.c's dispatch table points at. NEON works
 *   on 128-bit registers (float32x4_t: 4 lanes) and has a fused multiply-add, vfmaq_f32(a, b, c)
 *   = a + b * c rounded once. It is part of every AArch64 core, so no target attribute is needed;
 *   simd.c still asks the OS (getauxval) before calling it. On another architecture the whole
 *   file is left out by its #if and compiles to nothing.
 *   poly evaluates POLY_CHAINS (12) vectors at once, each coefficient advancing every Horner
 *   chain, so that enough FMAs are in flight (latency 4 x 2 to 4 FMA pipes); AArch64 has 32
 *   vector registers, so the 12 chains and their inputs fit. Not timed on ARM hardware here.
 *
 * Sources
 *   Arm, "Arm C Language Extensions" and "Neon Intrinsics Reference" (the v*q_f32 names);
 *   Arm Cortex / Neoverse software optimization guides (FMA latency 4, two pipes on Neoverse N1,
 *   four on V1); Linux Documentation/arch/arm64/elf_hwcaps.rst (HWCAP_ASIMD).
 *
 * Threads and memory ordering
 *   Every function touches only its arguments and locals: no shared state, no ordering to argue.
 */
#include "simd_impl.h"

/* ============================================================================== AArch64 NEON */
#if defined(SIMD_ON_ARM64)
#include <arm_neon.h>

static float dot_neon(const float *x, const float *y, int64_t n)
{
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) { /* vfmaq_f32(a, b, c) = a + b * c, rounded once */
        s0 = vfmaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
        s1 = vfmaq_f32(s1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; ++i)
        s += x[i] * y[i];
    return s;
}

static void saxpy_neon(float a, const float *x, float *y, int64_t n)
{
    const float32x4_t va = vdupq_n_f32(a);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_f32(vld1q_f32(y + i), va, vld1q_f32(x + i)));
    for (; i < n; ++i)
        y[i] = a * x[i] + y[i];
}

static void poly_neon(const float *x, float *out, int64_t n, const float *c, int32_t nc)
{
    const int64_t block = 4 * POLY_CHAINS;
    int64_t i = 0;
    for (; i + block <= n; i += block) { /* independent Horner chains, one per vector */
        const float32x4_t c0 = vdupq_n_f32(c[0]);
#define LOAD(j) float32x4_t x##j = vld1q_f32(x + i + 4 * (j)), r##j = c0;
#define STEP(j) r##j = vfmaq_f32(ck, r##j, x##j); /* ck + r * x, rounded once */
#define STORE(j) vst1q_f32(out + i + 4 * (j), r##j);
        POLY_REP(LOAD)
        for (int32_t k = 1; k < nc; ++k) {
            const float32x4_t ck = vdupq_n_f32(c[k]);
            POLY_REP(STEP)
        }
        POLY_REP(STORE)
#undef LOAD
#undef STEP
#undef STORE
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t xv = vld1q_f32(x + i), r = vdupq_n_f32(c[0]);
        for (int32_t k = 1; k < nc; ++k)
            r = vfmaq_f32(vdupq_n_f32(c[k]), r, xv);
        vst1q_f32(out + i, r);
    }
    for (; i < n; ++i)
        out[i] = horner1(x[i], c, nc);
}

static float masked_sum_neon(const float *x, int64_t n, float t)
{
    const float32x4_t vt = vdupq_n_f32(t);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        uint32x4_t ma = vcgtq_f32(a, vt), mb = vcgtq_f32(b, vt); /* all ones where a > t */
        s0 = vaddq_f32(s0, vreinterpretq_f32_u32(vandq_u32(ma, vreinterpretq_u32_f32(a))));
        s1 = vaddq_f32(s1, vreinterpretq_f32_u32(vandq_u32(mb, vreinterpretq_u32_f32(b))));
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t a = vld1q_f32(x + i);
        uint32x4_t ma = vcgtq_f32(a, vt);
        s0 = vaddq_f32(s0, vreinterpretq_f32_u32(vandq_u32(ma, vreinterpretq_u32_f32(a))));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; ++i)
        s += x[i] > t ? x[i] : 0.0f;
    return s;
}

static int64_t argmin_neon(const float *x, int64_t n, int flip, int *nan)
{
    const uint32x4_t sign = vdupq_n_u32(flip ? 0x80000000u : 0u), four = vdupq_n_u32(4);
    static const uint32_t lane_ids[4] = {0, 1, 2, 3};
    float32x4_t best = vdupq_n_f32(INFINITY);
    uint32x4_t idx = vld1q_u32(lane_ids), cur = idx, unordered = vdupq_n_u32(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4, cur = vaddq_u32(cur, four)) {
        float32x4_t v = vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(vld1q_f32(x + i)), sign));
        uint32x4_t lt = vcltq_f32(v, best);
        best = vbslq_f32(lt, v, best); /* bitwise select: lt ? v : best */
        idx = vbslq_u32(lt, cur, idx);
        unordered = vorrq_u32(unordered, vmvnq_u32(vceqq_f32(v, v))); /* v != v: NaN */
    }
    if (vmaxvq_u32(unordered))
        return *nan = 1, 0;
    float bv[4], b;
    uint32_t bu[4];
    int32_t bi[4];
    int64_t b_i;
    vst1q_f32(bv, best), vst1q_u32(bu, idx);
    for (int k = 0; k < 4; ++k)
        bi[k] = (int32_t)bu[k];
    argmin_lanes(bv, bi, 4, &b, &b_i);
    *nan = argmin_tail(x, i, n, flip, &b, &b_i);
    return b_i;
}

static int64_t peak32_neon(int64_t iters, double *sink)
{
    const float32x4_t m = vdupq_n_f32((float)PEAK_M), c = vdupq_n_f32((float)PEAK_C);
#define DECL(k) float32x4_t a##k = vdupq_n_f32((float)PEAK_START(k));
#define STEP(k) a##k = vfmaq_f32(c, a##k, m);
    PEAK_REP(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP(STEP)
    }
#undef DECL
#undef STEP
#define ADD(k) s = vaddq_f32(s, a##k);
    float32x4_t s = vdupq_n_f32(0.0f);
    PEAK_REP(ADD)
#undef ADD
    *sink = (double)vaddvq_f32(s);
    return iters * PEAK_ACC * 4 * 2;
}

static int64_t peak64_neon(int64_t iters, double *sink)
{
    const float64x2_t m = vdupq_n_f64(PEAK_M), c = vdupq_n_f64(PEAK_C);
#define DECL(k) float64x2_t a##k = vdupq_n_f64(PEAK_START(k));
#define STEP(k) a##k = vfmaq_f64(c, a##k, m);
    PEAK_REP(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP(STEP)
    }
#undef DECL
#undef STEP
#define ADD(k) s = vaddq_f64(s, a##k);
    float64x2_t s = vdupq_n_f64(0.0);
    PEAK_REP(ADD)
#undef ADD
    *sink = vaddvq_f64(s);
    return iters * PEAK_ACC * 2 * 2;
}

/* ================================================================================= the row */
const simd_ops simd_ops_neon = SIMD_OPS_ROW(neon);
#endif /* SIMD_ON_ARM64 */
