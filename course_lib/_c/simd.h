/* simd.h: float32 kernels written three ways (scalar C, compiler vector extensions, intrinsics),
 * CPU feature detection and an FMA peak loop, for course_lib.simd (cffi, chapter c05). */
#ifndef COURSE_SIMD_H
#define COURSE_SIMD_H
#include <stdint.h>

/* The variants: one way of writing every kernel each. */
#define SIMD_SCALAR 0 /* plain C, one element at a time, kept scalar on purpose */
#define SIMD_VECEXT 1 /* GCC/Clang vector extensions: portable, 16-byte vectors */
#define SIMD_SSE 2    /* x86 SSE2 intrinsics: 4 float lanes, multiply then add */
#define SIMD_AVX2 3   /* x86 AVX2 + FMA intrinsics: 8 float lanes, fused multiply-add */
#define SIMD_AVX512 4 /* x86 AVX-512 (F, BW, VL) intrinsics: 16 lanes, masked tails */
#define SIMD_NEON 5   /* AArch64 NEON (Advanced SIMD) intrinsics: 4 float lanes, FMA */
#define SIMD_NVARIANTS 6

/* CPU features, one bit each, as simd_cpu_features() reports them. */
#define SIMD_F_SSE2 1
#define SIMD_F_SSE42 2
#define SIMD_F_AVX 4
#define SIMD_F_AVX2 8
#define SIMD_F_FMA 16
#define SIMD_F_AVX512F 32
#define SIMD_F_AVX512BW 64
#define SIMD_F_AVX512VL 128
#define SIMD_F_NEON 256
#define SIMD_F_SVE 512

/* Status codes: 0 is success, every error is negative. */
#define SIMD_OK 0
#define SIMD_E_VARIANT -1   /* no such variant number */
#define SIMD_E_NOT_BUILT -2 /* the compiler did not build this variant (other architecture) */
#define SIMD_E_CPU -3       /* built, but this CPU (or its OS) lacks a feature it needs */
#define SIMD_E_ARG -4       /* a bad argument: negative length, no coefficients, bad precision */

/* Detection and the variants' table. */
uint32_t simd_cpu_features(void);
uint32_t simd_variant_needs(int variant);
int simd_variant_built(int variant);
int simd_variant_status(int variant);
int simd_variant_available(int variant);
int simd_lanes(int variant, int precision);
const char *simd_compiler(void);

/* The kernels. Each takes the variant first and returns a status (SIMD_OK or an error). */
int simd_dot(int variant, const float *x, const float *y, int64_t n, float *result);
int simd_dot_repeat(int variant, const float *x, const float *y, int64_t n, int64_t reps,
                    float *result);
int simd_saxpy(int variant, float a, const float *x, float *y, int64_t n);
int simd_poly(int variant, const float *x, float *out, int64_t n, const float *coeffs,
              int32_t ncoeffs);
int simd_masked_sum(int variant, const float *x, int64_t n, float threshold, float *result);
int simd_argmin(int variant, const float *x, int64_t n, int64_t *index, float *value);
int simd_argmax(int variant, const float *x, int64_t n, int64_t *index, float *value);

/* Peak: iters rounds of independent multiply-adds; returns the flops done, or an error. */
int64_t simd_fma_peak(int variant, int precision, int64_t iters, double *sink);

#endif
