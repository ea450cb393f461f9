/*
 * simd_x86.c: the x86 intrinsics variants of the kernels in simd.c (SSE2, AVX2 + FMA, AVX-512).
 *
 * What it implements
 *   For each of SIMD_SSE, SIMD_AVX2 and SIMD_AVX512, the seven functions of a `simd_ops` row
 *   (simd_impl.h): dot, saxpy, poly, masked_sum, argmin (one block, 32-bit lane indices), and the
 *   float32 / float64 multiply-add peak loops, and the row itself (simd_ops_sse, simd_ops_avx2,
 *   simd_ops_avx512), which simd.c's dispatch table points at. Nothing here is called unless
 *   simd.c has checked that the CPU and the OS support the variant (simd_variant_status).
 *     SSE2     _mm_* on 128-bit registers, 4 float lanes; no FMA: a multiply, then an add.
 *     AVX2     _mm256_* on 256-bit registers, 8 lanes, with fused multiply-add (_mm256_fmadd_ps).
 *     AVX-512  _mm512_* on 512-bit registers, 16 lanes, and mask registers (__mmask16): the tail
 *              is one masked load / store that touches only the valid lanes.
 *   The file is compiled for the baseline ISA (no -mavx2); each function carries a target
 *   attribute (T_SSE, T_AVX2, T_AVX512) that lets the compiler use those instructions in it alone.
 *   On another architecture the whole file is left out by its #if and compiles to nothing.
 *
 * How poly reaches the peak
 *   Horner's rule, r = r * x + c[k], is one dependency chain per vector: each step waits for the
 *   previous one (FMA latency 4 cycles; multiply + add 6 to 8). A core with two FMA units needs
 *   8 such steps in flight to be busy, so poly evaluates a block of POLY_CHAINS (12) vectors at
 *   once, every coefficient advancing all 12 chains (simd_impl.h has the measurements). The
 *   vectors left over after the last whole block go one at a time, then the last elements one
 *   by one (or, with AVX-512, in one masked step).
 *
 * Sources
 *   Intel Intrinsics Guide (the _mm*, _mm256*, _mm512* names, the instructions they map to, their
 *   latency and throughput); GCC manual, "x86 Function Attributes" (target); Intel 64 and IA-32
 *   Architectures Software Developer's Manual, vol. 1, "Programming with Intel AVX-512" (masking:
 *   a masked-off lane of a load is not read and cannot fault); Agner Fog, "Instruction tables"
 *   (FMA: latency 4, two per cycle on Haswell..Zen 4; multiply and add latencies) and "The
 *   microarchitecture of Intel, AMD and VIA CPUs" (Zen 4 runs 512-bit operations on its two
 *   256-bit units).
 *
 * Threads and memory ordering
 *   Every function touches only its arguments and locals: no shared state, no ordering to argue.
 */
#include "simd_impl.h"

/* ============================================================================== x86: SSE2 */
#if defined(SIMD_ON_X86)
#include <immintrin.h>

#define T_SSE __attribute__((target("sse2")))

T_SSE static inline float hsum128(__m128 v)
{
    __m128 hi = _mm_movehl_ps(v, v);                         /* lanes 2 3 2 3 */
    __m128 s = _mm_add_ps(v, hi);                           /* 0+2 1+3 . . */
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));             /* (0+2)+(1+3) */
    return _mm_cvtss_f32(s);
}

T_SSE static float dot_sse(const float *x, const float *y, int64_t n)
{
    __m128 s0 = _mm_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) { /* no FMA in SSE: a multiply, then an add */
        s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(x + i), _mm_loadu_ps(y + i)));
        s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(x + i + 4), _mm_loadu_ps(y + i + 4)));
        s2 = _mm_add_ps(s2, _mm_mul_ps(_mm_loadu_ps(x + i + 8), _mm_loadu_ps(y + i + 8)));
        s3 = _mm_add_ps(s3, _mm_mul_ps(_mm_loadu_ps(x + i + 12), _mm_loadu_ps(y + i + 12)));
    }
    for (; i + 4 <= n; i += 4)
        s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(x + i), _mm_loadu_ps(y + i)));
    float s = hsum128(_mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3)));
    for (; i < n; ++i)
        s += x[i] * y[i];
    return s;
}

T_SSE static void saxpy_sse(float a, const float *x, float *y, int64_t n)
{
    const __m128 va = _mm_set1_ps(a);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(y + i, _mm_add_ps(_mm_mul_ps(va, _mm_loadu_ps(x + i)), _mm_loadu_ps(y + i)));
    for (; i < n; ++i)
        y[i] = a * x[i] + y[i];
}

T_SSE static void poly_sse(const float *x, float *out, int64_t n, const float *c, int32_t nc)
{
    const int64_t block = 4 * POLY_CHAINS;
    int64_t i = 0;
    for (; i + block <= n; i += block) { /* independent Horner chains, one per vector */
        const __m128 c0 = _mm_set1_ps(c[0]);
#define LOAD(j) __m128 x##j = _mm_loadu_ps(x + i + 4 * (j)), r##j = c0;
#define STEP(j) r##j = _mm_add_ps(_mm_mul_ps(r##j, x##j), ck);
#define STORE(j) _mm_storeu_ps(out + i + 4 * (j), r##j);
        POLY_REP(LOAD)
        for (int32_t k = 1; k < nc; ++k) {
            const __m128 ck = _mm_set1_ps(c[k]);
            POLY_REP(STEP)
        }
        POLY_REP(STORE)
#undef LOAD
#undef STEP
#undef STORE
    }
    for (; i + 4 <= n; i += 4) { /* what is left of the last block: one chain at a time */
        __m128 xv = _mm_loadu_ps(x + i), r = _mm_set1_ps(c[0]);
        for (int32_t k = 1; k < nc; ++k)
            r = _mm_add_ps(_mm_mul_ps(r, xv), _mm_set1_ps(c[k]));
        _mm_storeu_ps(out + i, r);
    }
    for (; i < n; ++i)
        out[i] = horner1(x[i], c, nc);
}

T_SSE static float masked_sum_sse(const float *x, int64_t n, float t)
{
    const __m128 vt = _mm_set1_ps(t);
    __m128 s0 = _mm_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
        s0 = _mm_add_ps(s0, _mm_and_ps(a, _mm_cmpgt_ps(a, vt))); /* ordered: NaN gives 0 */
        s1 = _mm_add_ps(s1, _mm_and_ps(b, _mm_cmpgt_ps(b, vt)));
    }
    for (; i + 4 <= n; i += 4) {
        __m128 a = _mm_loadu_ps(x + i);
        s0 = _mm_add_ps(s0, _mm_and_ps(a, _mm_cmpgt_ps(a, vt)));
    }
    float s = hsum128(_mm_add_ps(s0, s1));
    for (; i < n; ++i)
        s += x[i] > t ? x[i] : 0.0f;
    return s;
}

T_SSE static int64_t argmin_sse(const float *x, int64_t n, int flip, int *nan)
{
    const __m128 sign = _mm_set1_ps(flip ? -0.0f : 0.0f);
    const __m128i four = _mm_set1_epi32(4);
    __m128 best = _mm_set1_ps(INFINITY), unordered = _mm_setzero_ps();
    __m128i idx = _mm_setr_epi32(0, 1, 2, 3), cur = idx;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4, cur = _mm_add_epi32(cur, four)) {
        __m128 v = _mm_xor_ps(_mm_loadu_ps(x + i), sign);
        __m128 lt = _mm_cmplt_ps(v, best);
        /* SSE2 has no blend: (lt & v) | (~lt & best) */
        best = _mm_or_ps(_mm_and_ps(lt, v), _mm_andnot_ps(lt, best));
        __m128i m = _mm_castps_si128(lt);
        idx = _mm_or_si128(_mm_and_si128(m, cur), _mm_andnot_si128(m, idx));
        unordered = _mm_or_ps(unordered, _mm_cmpunord_ps(v, v));
    }
    if (_mm_movemask_ps(unordered))
        return *nan = 1, 0;
    float bv[4], b;
    int32_t bi[4];
    int64_t b_i;
    _mm_storeu_ps(bv, best), _mm_storeu_si128((__m128i *)bi, idx);
    argmin_lanes(bv, bi, 4, &b, &b_i);
    *nan = argmin_tail(x, i, n, flip, &b, &b_i);
    return b_i;
}

T_SSE static int64_t peak32_sse(int64_t iters, double *sink)
{
    const __m128 m = _mm_set1_ps((float)PEAK_M), c = _mm_set1_ps((float)PEAK_C);
#define DECL(k) __m128 a##k = _mm_set1_ps((float)PEAK_START(k));
#define STEP(k) a##k = _mm_add_ps(_mm_mul_ps(a##k, m), c);
    PEAK_REP_MULADD(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP_MULADD(STEP)
    }
#undef DECL
#undef STEP
#define ADD(k) s = _mm_add_ps(s, a##k);
    __m128 s = _mm_setzero_ps();
    PEAK_REP_MULADD(ADD)
#undef ADD
    *sink = (double)hsum128(s);
    return iters * PEAK_ACC_MULADD * 4 * 2;
}

T_SSE static int64_t peak64_sse(int64_t iters, double *sink)
{
    const __m128d m = _mm_set1_pd(PEAK_M), c = _mm_set1_pd(PEAK_C);
#define DECL(k) __m128d a##k = _mm_set1_pd(PEAK_START(k));
#define STEP(k) a##k = _mm_add_pd(_mm_mul_pd(a##k, m), c);
    PEAK_REP_MULADD(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP_MULADD(STEP)
    }
#undef DECL
#undef STEP
#define ADD(k) s = _mm_add_pd(s, a##k);
    __m128d s = _mm_setzero_pd();
    PEAK_REP_MULADD(ADD)
#undef ADD
    double lanes[2];
    _mm_storeu_pd(lanes, s);
    *sink = lanes[0] + lanes[1];
    return iters * PEAK_ACC_MULADD * 2 * 2;
}

/* ======================================================================== x86: AVX2 + FMA */
#define T_AVX2 __attribute__((target("avx,avx2,fma")))

T_AVX2 static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

T_AVX2 static float dot_avx2(const float *x, const float *y, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) { /* fmadd(a, b, c) = a * b + c, rounded once */
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; ++i)
        s += x[i] * y[i];
    return s;
}

T_AVX2 static void saxpy_avx2(float a, const float *x, float *y, int64_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i)
        y[i] = a * x[i] + y[i];
}

T_AVX2 static void poly_avx2(const float *x, float *out, int64_t n, const float *c, int32_t nc)
{
    const int64_t block = 8 * POLY_CHAINS;
    int64_t i = 0;
    for (; i + block <= n; i += block) { /* independent Horner chains, one per vector */
        const __m256 c0 = _mm256_set1_ps(c[0]);
#define LOAD(j) __m256 x##j = _mm256_loadu_ps(x + i + 8 * (j)), r##j = c0;
#define STEP(j) r##j = _mm256_fmadd_ps(r##j, x##j, ck);
#define STORE(j) _mm256_storeu_ps(out + i + 8 * (j), r##j);
        POLY_REP(LOAD)
        for (int32_t k = 1; k < nc; ++k) {
            const __m256 ck = _mm256_set1_ps(c[k]);
            POLY_REP(STEP)
        }
        POLY_REP(STORE)
#undef LOAD
#undef STEP
#undef STORE
    }
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_loadu_ps(x + i), r = _mm256_set1_ps(c[0]);
        for (int32_t k = 1; k < nc; ++k)
            r = _mm256_fmadd_ps(r, xv, _mm256_set1_ps(c[k]));
        _mm256_storeu_ps(out + i, r);
    }
    for (; i < n; ++i)
        out[i] = horner1(x[i], c, nc);
}

T_AVX2 static float masked_sum_avx2(const float *x, int64_t n, float t)
{
    const __m256 vt = _mm256_set1_ps(t);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        /* _CMP_GT_OQ: greater-than, Ordered (false if either is NaN), Quiet (no FP exception) */
        s0 = _mm256_add_ps(s0, _mm256_and_ps(a, _mm256_cmp_ps(a, vt, _CMP_GT_OQ)));
        s1 = _mm256_add_ps(s1, _mm256_and_ps(b, _mm256_cmp_ps(b, vt, _CMP_GT_OQ)));
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(x + i);
        s0 = _mm256_add_ps(s0, _mm256_and_ps(a, _mm256_cmp_ps(a, vt, _CMP_GT_OQ)));
    }
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; ++i)
        s += x[i] > t ? x[i] : 0.0f;
    return s;
}

T_AVX2 static int64_t argmin_avx2(const float *x, int64_t n, int flip, int *nan)
{
    const __m256 sign = _mm256_set1_ps(flip ? -0.0f : 0.0f);
    const __m256i eight = _mm256_set1_epi32(8);
    __m256 best = _mm256_set1_ps(INFINITY), unordered = _mm256_setzero_ps();
    __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), cur = idx;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8, cur = _mm256_add_epi32(cur, eight)) {
        __m256 v = _mm256_xor_ps(_mm256_loadu_ps(x + i), sign);
        __m256 lt = _mm256_cmp_ps(v, best, _CMP_LT_OQ);
        best = _mm256_blendv_ps(best, v, lt); /* per lane: lt ? v : best */
        idx = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(idx),
                                                   _mm256_castsi256_ps(cur), lt));
        unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    if (_mm256_movemask_ps(unordered))
        return *nan = 1, 0;
    float bv[8], b;
    int32_t bi[8];
    int64_t b_i;
    _mm256_storeu_ps(bv, best), _mm256_storeu_si256((__m256i *)bi, idx);
    argmin_lanes(bv, bi, 8, &b, &b_i);
    *nan = argmin_tail(x, i, n, flip, &b, &b_i);
    return b_i;
}

T_AVX2 static int64_t peak32_avx2(int64_t iters, double *sink)
{
    const __m256 m = _mm256_set1_ps((float)PEAK_M), c = _mm256_set1_ps((float)PEAK_C);
#define DECL(k) __m256 a##k = _mm256_set1_ps((float)PEAK_START(k));
#define STEP(k) a##k = _mm256_fmadd_ps(a##k, m, c);
    PEAK_REP(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP(STEP)
    }
#undef DECL
#undef STEP
#define ADD(k) s = _mm256_add_ps(s, a##k);
    __m256 s = _mm256_setzero_ps();
    PEAK_REP(ADD)
#undef ADD
    *sink = (double)hsum256(s);
    return iters * PEAK_ACC * 8 * 2;
}

T_AVX2 static int64_t peak64_avx2(int64_t iters, double *sink)
{
    const __m256d m = _mm256_set1_pd(PEAK_M), c = _mm256_set1_pd(PEAK_C);
#define DECL(k) __m256d a##k = _mm256_set1_pd(PEAK_START(k));
#define STEP(k) a##k = _mm256_fmadd_pd(a##k, m, c);
    PEAK_REP(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP(STEP)
    }
#undef DECL
#undef STEP
#define ADD(k) s = _mm256_add_pd(s, a##k);
    __m256d s = _mm256_setzero_pd();
    PEAK_REP(ADD)
#undef ADD
    double lanes[4];
    _mm256_storeu_pd(lanes, s);
    *sink = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    return iters * PEAK_ACC * 4 * 2;
}

/* ================================================================================ x86: AVX-512 */
#define T_AVX512 __attribute__((target("avx,avx2,fma,avx512f,avx512bw,avx512vl")))

/* The lanes [0, rem) of a mask register: the tail is one masked iteration. */
T_AVX512 static inline __mmask16 tail16(int64_t rem) { return (__mmask16)((1u << rem) - 1u); }

T_AVX512 static inline float hsum512(__m512 v)
{
    float lanes[16], s = 0.0f;
    _mm512_storeu_ps(lanes, v);
    for (int k = 0; k < 16; ++k)
        s += lanes[k];
    return s;
}

T_AVX512 static float dot_avx512(const float *x, const float *y, int64_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
    if (i < n) { /* masked loads read only the valid lanes (no fault past the end), zero the rest */
        __mmask16 k = tail16(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, y + i), s1);
    }
    return hsum512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

T_AVX512 static void saxpy_avx512(float a, const float *x, float *y, int64_t n)
{
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 k = tail16(n - i);
        __m512 r = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, y + i));
        _mm512_mask_storeu_ps(y + i, k, r); /* writes only the valid lanes */
    }
}

T_AVX512 static inline __m512 horner16(__m512 xv, const float *c, int32_t nc)
{
    __m512 r = _mm512_set1_ps(c[0]);
    for (int32_t k = 1; k < nc; ++k)
        r = _mm512_fmadd_ps(r, xv, _mm512_set1_ps(c[k]));
    return r;
}

T_AVX512 static void poly_avx512(const float *x, float *out, int64_t n, const float *c, int32_t nc)
{
    const int64_t block = 16 * POLY_CHAINS;
    int64_t i = 0;
    for (; i + block <= n; i += block) { /* independent Horner chains, one per vector */
        const __m512 c0 = _mm512_set1_ps(c[0]);
#define LOAD(j) __m512 x##j = _mm512_loadu_ps(x + i + 16 * (j)), r##j = c0;
#define STEP(j) r##j = _mm512_fmadd_ps(r##j, x##j, ck);
#define STORE(j) _mm512_storeu_ps(out + i + 16 * (j), r##j);
        POLY_REP(LOAD)
        for (int32_t k = 1; k < nc; ++k) {
            const __m512 ck = _mm512_set1_ps(c[k]);
            POLY_REP(STEP)
        }
        POLY_REP(STORE)
#undef LOAD
#undef STEP
#undef STORE
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, horner16(_mm512_loadu_ps(x + i), c, nc));
    if (i < n) {
        __mmask16 k = tail16(n - i);
        _mm512_mask_storeu_ps(out + i, k, horner16(_mm512_maskz_loadu_ps(k, x + i), c, nc));
    }
}

T_AVX512 static float masked_sum_avx512(const float *x, int64_t n, float t)
{
    const __m512 vt = _mm512_set1_ps(t);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        /* the comparison gives a mask register (one bit per lane); the add obeys it */
        s0 = _mm512_mask_add_ps(s0, _mm512_cmp_ps_mask(a, vt, _CMP_GT_OQ), s0, a);
        s1 = _mm512_mask_add_ps(s1, _mm512_cmp_ps_mask(b, vt, _CMP_GT_OQ), s1, b);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 a = _mm512_loadu_ps(x + i);
        s0 = _mm512_mask_add_ps(s0, _mm512_cmp_ps_mask(a, vt, _CMP_GT_OQ), s0, a);
    }
    if (i < n) {
        __mmask16 k = tail16(n - i);
        __m512 a = _mm512_maskz_loadu_ps(k, x + i);
        s1 = _mm512_mask_add_ps(s1, _mm512_mask_cmp_ps_mask(k, a, vt, _CMP_GT_OQ), s1, a);
    }
    return hsum512(_mm512_add_ps(s0, s1));
}

T_AVX512 static int64_t argmin_avx512(const float *x, int64_t n, int flip, int *nan)
{
    /* sign flip on the integer side: _mm512_xor_ps would need AVX512DQ */
    const __m512i sign = _mm512_set1_epi32(flip ? INT32_MIN : 0), sixteen = _mm512_set1_epi32(16);
    __m512 best = _mm512_set1_ps(INFINITY);
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), cur = idx;
    __mmask16 unordered = 0;
    for (int64_t i = 0; i < n; i += 16, cur = _mm512_add_epi32(cur, sixteen)) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tail16(n - i);
        __m512i bits = _mm512_xor_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(k, x + i)), sign);
        __m512 v = _mm512_castsi512_ps(bits);
        __mmask16 lt = _mm512_mask_cmp_ps_mask(k, v, best, _CMP_LT_OQ);
        best = _mm512_mask_mov_ps(best, lt, v);
        idx = _mm512_mask_mov_epi32(idx, lt, cur);
        unordered |= _mm512_mask_cmp_ps_mask(k, v, v, _CMP_UNORD_Q);
    }
    if (unordered)
        return *nan = 1, 0;
    float bv[16], b;
    int32_t bi[16];
    int64_t b_i;
    _mm512_storeu_ps(bv, best), _mm512_storeu_si512(bi, idx);
    argmin_lanes(bv, bi, 16, &b, &b_i);
    *nan = 0;
    return b_i;
}

T_AVX512 static int64_t peak32_avx512(int64_t iters, double *sink)
{
    const __m512 m = _mm512_set1_ps((float)PEAK_M), c = _mm512_set1_ps((float)PEAK_C);
#define DECL(k) __m512 a##k = _mm512_set1_ps((float)PEAK_START(k));
#define STEP(k) a##k = _mm512_fmadd_ps(a##k, m, c);
    PEAK_REP(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP(STEP)
    }
#undef DECL
#undef STEP
#define ADD(k) s = _mm512_add_ps(s, a##k);
    __m512 s = _mm512_setzero_ps();
    PEAK_REP(ADD)
#undef ADD
    *sink = (double)hsum512(s);
    return iters * PEAK_ACC * 16 * 2;
}

T_AVX512 static int64_t peak64_avx512(int64_t iters, double *sink)
{
    const __m512d m = _mm512_set1_pd(PEAK_M), c = _mm512_set1_pd(PEAK_C);
#define DECL(k) __m512d a##k = _mm512_set1_pd(PEAK_START(k));
#define STEP(k) a##k = _mm512_fmadd_pd(a##k, m, c);
    PEAK_REP(DECL)
    for (int64_t i = 0; i < iters; ++i) {
        PEAK_REP(STEP)
    }
#undef DECL
#undef STEP
#define ADD(k) s = _mm512_add_pd(s, a##k);
    __m512d s = _mm512_setzero_pd();
    PEAK_REP(ADD)
#undef ADD
    double lanes[8], t = 0.0;
    _mm512_storeu_pd(lanes, s);
    for (int k = 0; k < 8; ++k)
        t += lanes[k];
    *sink = t;
    return iters * PEAK_ACC * 8 * 2;
}

/* ================================================================================ the rows */
const simd_ops simd_ops_sse = SIMD_OPS_ROW(sse);
const simd_ops simd_ops_avx2 = SIMD_OPS_ROW(avx2);
const simd_ops simd_ops_avx512 = SIMD_OPS_ROW(avx512);
#endif /* SIMD_ON_X86 */
