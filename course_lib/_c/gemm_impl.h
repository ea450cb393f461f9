/* gemm_impl.h: what gemm.c, gemm_x86.c and gemm_arm.c share, and nothing the Python side sees.
 *
 * gemm.h is the public header (cffi's declarations are generated from it, so it holds no #if);
 * this one is private: which code is built on this platform, the micro-kernel's signature, the
 * table row that each variant fills in (defined in the file that implements it), and the
 * repetition macros the kernels are written with. gemm.c explains the ideas and the sources.
 */
#ifndef COURSE_GEMM_IMPL_H
#define COURSE_GEMM_IMPL_H

#include "gemm.h"
#include "simd.h" /* the variant numbers (SIMD_SCALAR ...) and simd_variant_status */

#include <stdint.h>

/* ------------------------------------------------------------------------ which code is built */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define GEMM_ON_X86 1 /* gemm_x86.c: AVX2 + FMA, AVX-512 */
#endif
#if defined(__aarch64__)
#define GEMM_ON_ARM64 1 /* gemm_arm.c: NEON */
#endif
#if defined(__GNUC__) /* Clang defines it too */
#define GEMM_HAS_VECEXT 1 /* gemm.c: vector extensions (and sse, which uses them) */
#define GEMM_HIDDEN __attribute__((visibility("hidden")))
#else
#define GEMM_HIDDEN
#endif

/* ------------------------------------------------------------------------ the micro-kernel */
/* One call computes an mr x nr tile of C from kc steps:
 *     C_tile (+)= sum over p < kc of the outer product of
 *                 a[p * mr + (0 .. mr-1)]  and  b[p * nr + (0 .. nr-1)]
 * a: a packed sliver of A, mr values per step (a column of the tile's rows);
 * b: a packed sliver of B, nr values per step (a row of the tile's columns);
 * c: the tile, column-major: element (i, j) at c[i + j * ldc] (rows contiguous: the vector
 *    dimension); accumulate = 0 stores the result (C is not read), 1 adds it to C.
 * The tile is always whole: the driver sends edge tiles to a scratch tile and copies the valid
 * part out. kc >= 1. */
typedef void (*gemm_ukr_f64)(int64_t kc, const double *a, const double *b, double *c,
                             int64_t ldc, int accumulate);
typedef void (*gemm_ukr_f32)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                             int accumulate);

/* One variant's micro-kernels and their shapes. */
typedef struct {
    int mr_f64, nr_f64;
    gemm_ukr_f64 ukr_f64;
    int mr_f32, nr_f32;
    gemm_ukr_f32 ukr_f32;
} gemm_kernels;

/* The largest tile any kernel uses (the driver's scratch tile holds this many elements). */
#define GEMM_MAX_TILE (64 * 16)
/* Packing buffers and the scratch tile start on a cache line (and on a 512-bit vector). */
#define GEMM_ALIGN 64

#if defined(GEMM_ON_X86)
GEMM_HIDDEN extern const gemm_kernels gemm_kernels_avx2, gemm_kernels_avx512; /* gemm_x86.c */
#endif
#if defined(GEMM_ON_ARM64)
GEMM_HIDDEN extern const gemm_kernels gemm_kernels_neon; /* gemm_arm.c */
#endif

/* ------------------------------------------------------------------------ repetition */
/* GEMM_REPn(X) expands to X(0) X(1) ... X(n-1): one line per column of the register tile. */
#define GEMM_REP2(X) X(0) X(1)
#define GEMM_REP4(X) GEMM_REP2(X) X(2) X(3)
#define GEMM_REP6(X) GEMM_REP4(X) X(4) X(5)
#define GEMM_REP8(X) GEMM_REP6(X) X(6) X(7)
#define GEMM_REP10(X) GEMM_REP8(X) X(8) X(9)
#define GEMM_REP12(X) GEMM_REP10(X) X(10) X(11)
#define GEMM_REP14(X) GEMM_REP12(X) X(12) X(13)
#define GEMM_REP16(X) GEMM_REP14(X) X(14) X(15)

#endif
