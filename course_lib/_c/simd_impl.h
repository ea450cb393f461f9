/* simd_impl.h: what simd.c, simd_x86.c and simd_arm.c share, and nothing the Python side sees.
 *
 * simd.h is the public header (cffi's declarations are generated from it, so it holds no #if);
 * this one is private: the platform tests, the table of function pointers that each variant
 * fills in (one `simd_ops` per variant, defined in the file that implements it), the shared
 * constants, and the scalar helpers every variant uses for its tail. See simd.c for the ideas and
 * the sources.
 */
#ifndef COURSE_SIMD_IMPL_H
#define COURSE_SIMD_IMPL_H

#include "simd.h"

#include <math.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ which code is built */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SIMD_ON_X86 1 /* simd_x86.c: SSE2, AVX2 + FMA, AVX-512 */
#endif
#if defined(__aarch64__)
#define SIMD_ON_ARM64 1 /* simd_arm.c: NEON */
#endif
#if defined(__GNUC__) /* Clang defines it too */
#define SIMD_HAS_VECEXT 1 /* simd.c: vector extensions */
#endif

#if defined(__GNUC__)
#define SIMD_HIDDEN __attribute__((visibility("hidden"))) /* not exported from the .so */
#else
#define SIMD_HIDDEN
#endif

/* ------------------------------------------------------------------------------ the constants */
#define REP4(X) X(0) X(1) X(2) X(3)
#define REP8(X) REP4(X) X(4) X(5) X(6) X(7)
#define REP12(X) REP8(X) X(8) X(9) X(10) X(11)
#define REP14(X) REP12(X) X(12) X(13)

/* fma_peak: independent accumulators per loop. With FMA, latency 4 x 2 units = 8 must be in
 * flight; 12 leave room. Without FMA a step is a multiply then an add (3 + 3 cycles on Zen), so
 * a core with two multiply and two add pipes needs 2 x 6 = 12 exactly, and a loop with no slack
 * falls short; 14 (with m and c, SSE's 16 registers) leave some. sse float32 GFLOP/s measured
 * with 11 / 12 / 13 / 14 accumulators: Zen 4 49.9 / 50.9 / 54.7 / 58.0 (FMA loops: 118 = 3.69 GHz;
 * a shared host, where the multiply-add loops, unlike the FMA ones, swing by 20% from run to
 * run), Xeon (Emerald Rapids) 26.3 / 27.6 / 28.4 / 29.4; 15 spill and halve the rate. */
#define PEAK_ACC 12
#define PEAK_REP REP12
#define PEAK_ACC_MULADD 14
#define PEAK_REP_MULADD REP14
/* a = a * M + C converges to C / (1 - M) = 1: never overflows, never becomes subnormal. The
 * start values 1 + (k + 1) / 64 are exact in float and none is 1: an accumulator that started at
 * the fixed point 1.0 would stay there, and a compiler that sees this (GCC for SSE, Clang for
 * every variant) takes it out of the loop, while the flops returned still count it. */
#define PEAK_M 0.9990234375
#define PEAK_C 0.0009765625
#define PEAK_START(k) (1.0 + ((k) + 1) / 64.0)

/* poly: Horner's rule is one dependency chain per vector (each step needs the previous one),
 * so a block of POLY_CHAINS vectors is evaluated at once, each step of the coefficient loop
 * advancing every chain. The need is latency x units: 4 x 2 = 8 with FMA, 6 x 2 = 12 for a
 * multiply then an add on Zen; a few more give the scheduler slack. 12 chains and their inputs
 * fit AVX-512's and NEON's 32 registers; with AVX2 and SSE (16) some inputs stay in memory and
 * the multiply reads them from there, which costs little. Measured (n = 16384, degree 32,
 * GFLOP/s for 4 / 8 / 10 / 12 chains; the old code had 4):
 *   Zen 4 (EPYC, 3.7 GHz):   avx2 83-90 / 113 / 112 / 111, avx512 113 / 114 / 117 / 117
 *                            (FMA peak 118 for both: Zen 4 splits a 512-bit FMA in two)
 *   Xeon (Emerald Rapids):   avx2 69 / 77 / 81 / 82 (peak 83), avx512 117 / 152 / 160 / 162
 *                            (peak 165); sse 8 / 10 / 12 / 14 chains 22 / 25 / 27 / 29 (peak 29)
 * NEON is not measured (no ARM machine here); 12 suits cores with 4 FMA pipes (Apple M, V1). */
#define POLY_CHAINS 12
#define POLY_REP REP12

/* Indices in the vector argmin are 32-bit lanes: simd.c hands it the data in blocks this long. */
#define ARG_BLOCK ((int64_t)1 << 30)

/* ------------------------------------------------------------------------ one variant's kernels */
typedef struct {
    float (*dot)(const float *, const float *, int64_t);
    void (*saxpy)(float, const float *, float *, int64_t);
    void (*poly)(const float *, float *, int64_t, const float *, int32_t);
    float (*masked_sum)(const float *, int64_t, float);
    int64_t (*argmin)(const float *, int64_t, int, int *); /* one block, 32-bit lane indices */
    int64_t (*peak32)(int64_t, double *);
    int64_t (*peak64)(int64_t, double *);
} simd_ops;

#define SIMD_OPS_ROW(sfx) \
    {dot_##sfx, saxpy_##sfx, poly_##sfx, masked_sum_##sfx, argmin_##sfx, peak32_##sfx, peak64_##sfx}

#if defined(SIMD_ON_X86)
SIMD_HIDDEN extern const simd_ops simd_ops_sse, simd_ops_avx2, simd_ops_avx512; /* simd_x86.c */
#endif
#if defined(SIMD_ON_ARM64)
SIMD_HIDDEN extern const simd_ops simd_ops_neon; /* simd_arm.c */
#endif

/* ------------------------------------------------------------------- scalar helpers for tails */
/* Horner's rule for one element: c[0] x^K + c[1] x^(K-1) + ... + c[K] (np.polyval's order). */
static inline float horner1(float x, const float *c, int32_t nc)
{
    float acc = c[0];
    for (int32_t k = 1; k < nc; ++k)
        acc = acc * x + c[k];
    return acc;
}

/* The scalar argmin step, shared by every variant's tail: continues the search at x[i..n) from
 * (*best, *best_i); returns 1 on meeting a NaN. flip != 0 searches for the maximum instead. */
static inline int argmin_tail(const float *x, int64_t i, int64_t n, int flip, float *best,
                              int64_t *best_i)
{
    for (; i < n; ++i) {
        float v = flip ? -x[i] : x[i];
        if (v != v)
            return 1;
        if (v < *best)
            *best = v, *best_i = i;
    }
    return 0;
}

/* Reduce per-lane (value, first index) pairs: smallest value, and the smallest index on a tie. */
static inline void argmin_lanes(const float *v, const int32_t *idx, int lanes, float *best,
                                int64_t *best_i)
{
    *best = v[0], *best_i = idx[0];
    for (int k = 1; k < lanes; ++k)
        if (v[k] < *best || (v[k] == *best && idx[k] < *best_i))
            *best = v[k], *best_i = idx[k];
}

#endif
