/* gemm.h: a packed, register-blocked matrix multiply C = A B (or C += A B) in the style of
 * Goto / van de Geijn and BLIS: five loops around a micro-kernel, one micro-kernel per ISA,
 * chosen at run time through the SIMD chapter's dispatcher, and POSIX threads, for
 * course_lib.matmul.cgemm (cffi, chapter c08). gemm.c explains the ideas and the sources. */
#ifndef COURSE_GEMM_H
#define COURSE_GEMM_H
#include <stdint.h>

/* Status codes: 0 is success, every error is negative. The first four are simd.h's. */
#define GEMM_OK 0
#define GEMM_E_VARIANT -1   /* no such variant number */
#define GEMM_E_NOT_BUILT -2 /* the compiler did not build this variant (other architecture) */
#define GEMM_E_CPU -3       /* built, but this CPU (or its OS) lacks a feature it needs */
#define GEMM_E_ARG -4       /* a bad argument: a negative size, a bad tile size or thread count */
#define GEMM_E_NOMEM -5     /* the packing buffers could not be allocated */

/* The most threads one call may use. */
#define GEMM_MAX_THREADS 256

/* The micro-kernel's register tile for a variant and a precision (32 or 64): mr rows of C (the
 * vector dimension, a multiple of the lanes) by nr columns. Returns a status. */
int gemm_microkernel_shape(int variant, int precision, int32_t *mr, int32_t *nr);

/* Whether a variant can run here: simd_variant_status of the SIMD chapter (simd.c). */
int gemm_variant_status(int variant);

/* C = A B (accumulate = 0; C is never read, so it may hold garbage) or C += A B (accumulate = 1),
 * A m x k, B k x n, C m x n, each with a row stride and a column stride counted in elements:
 * element (i, j) of A is a[i * rsa + j * csa]. Any strides work for A and B (negative, zero);
 * C's must not make two elements share memory. Tiles: mc a multiple of the micro-kernel's mr,
 * nc a multiple of its nr, kc >= 1; they describe the problem as the micro-kernel sees it (when
 * C is row-major, the transposed one: see gemm.c). nthreads >= 1 (fewer are used when there are
 * fewer row slivers than threads). Returns a status. */
int gemm_f64(int variant, int64_t m, int64_t n, int64_t k, const double *a, int64_t rsa,
             int64_t csa, const double *b, int64_t rsb, int64_t csb, double *c, int64_t rsc,
             int64_t csc, int32_t accumulate, int32_t nthreads, int64_t mc, int64_t kc,
             int64_t nc);
int gemm_f32(int variant, int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa,
             int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c, int64_t rsc,
             int64_t csc, int32_t accumulate, int32_t nthreads, int64_t mc, int64_t kc,
             int64_t nc);

/* The number of threads gemm_f64/gemm_f32 would use for this problem (after the transposition
 * and the clamp to the row slivers), or a negative status. */
int gemm_threads_used(int variant, int precision, int64_t m, int64_t n, int64_t rsc, int64_t csc,
                      int32_t nthreads);

/* Free the packing buffers kept between calls (those not in use); returns the bytes freed. */
int64_t gemm_release_buffers(void);

#endif
