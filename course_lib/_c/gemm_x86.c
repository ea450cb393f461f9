/*
 * gemm_x86.c: the x86 micro-kernels of gemm.c (AVX2 + FMA, AVX-512).
 *
 * What it implements
 *   For SIMD_AVX2 and SIMD_AVX512, a float64 and a float32 micro-kernel and the row of the
 *   kernel table (gemm_kernels_avx2, gemm_kernels_avx512) that gemm.c's dispatch points at.
 *   A micro-kernel computes one mr x nr tile of C, kept in vector registers for the whole call:
 *   for each of the kc steps it loads mr values of the packed A sliver (mr / lanes vectors),
 *   and for each of the nr columns broadcasts one value of the packed B sliver into every lane
 *   and does one fused multiply-add per A vector. The tile is column-major (rows contiguous),
 *   so the vectors run down a column of C and the write-back is one load/store per vector.
 *
 * The shapes, and why (register counts: 16 ymm with AVX2, 32 zmm with AVX-512)
 *   AVX2     f64  8 x 6:  2 vectors x 6 columns = 12 accumulators + 2 A vectors + 1 broadcast
 *            f32 16 x 6:  the same 15 registers with 8 lanes. 12 independent accumulators also
 *                         cover the need of 2 FMA units x 4 cycles latency = 8 in flight.
 *   AVX-512  f64 24 x 8:  3 vectors x 8 columns = 24 accumulators + 3 A vectors + 1 broadcast
 *                         = 28 registers. Per step: 3 vector loads + 8 broadcasts for 24 FMAs,
 *                         far below the two loads per cycle the core can do.
 *            f32 48 x 8:  the same with 16 lanes.
 *   Measured on Zen 4 (EPYC, 1 thread, C-ordered N^3, GFLOP/s; one core's FMA peak 58.7 f64 /
 *   117 f32): the first AVX-512 shapes were 16 x 14 and 32 x 14 (2 vectors x 14 columns, 28
 *   accumulators): 24 x 8 and 48 x 8 are 0.5 to 1.5% faster at N = 1000, 1024, 1536, 2048 (and
 *   8 divides the usual sizes, 14 does not: fewer edge tiles). Alone, on packed data in cache, the
 *   16 x 14 kernel ran at 56 (f64) and 112 (f32) GFLOP/s: 96% of the peak.
 *   The AVX2 kernels run as fast as the AVX-512 ones here (50.9 f64, 101.8 f32 at N = 1024):
 *   Zen 4 executes a 512-bit FMA on its two 256-bit units, one per cycle, so AVX-512 has the
 *   same flops; what it buys is twice the tile per register, hence fewer loads and less loop
 *   overhead per flop, and 32 registers. On a core with two 512-bit FMA units (Intel Xeon since
 *   Skylake-SP) it has twice the flops.
 *
 * Prefetch
 *   Before the loop each kernel asks for the lines of its C tile (prefetcht0): they are needed
 *   only at the end, and this hides their miss behind the kc steps. Measured: +2% at N = 1024
 *   and +10% at N = 2048 with kc = 128, no difference at the default kc (512), where C's miss is
 *   a small part of a long call. Prefetching the packed A sliver 4, 8 or 16 steps ahead inside
 *   the loop made no difference (the hardware prefetcher follows a sequential stream), so the
 *   loop does not.
 *
 * Sources
 *   K. Goto and R. A. van de Geijn, "Anatomy of High-Performance Matrix Multiplication", ACM TOMS
 *   34(3), 2008; F. G. Van Zee and R. A. van de Geijn, "BLIS: A Framework for Rapidly
 *   Instantiating BLAS Functionality", ACM TOMS 41(3), 2015 (the micro-kernel as the one
 *   ISA-specific piece); T. M. Low et al., "Analytical Modeling Is Enough for High-Performance
 *   BLIS", ACM TOMS 43(2), 2016 (mr x nr from the FMA latency and the register count); Intel
 *   Intrinsics Guide; Agner Fog, "Instruction tables" (FMA latency 4, two per cycle) and "The
 *   microarchitecture of Intel, AMD and VIA CPUs" (Zen 4's 512-bit operations).
 *
 * Threads and memory ordering
 *   A kernel touches only its arguments: gemm.c gives each thread its own tiles of C.
 */
#include "gemm_impl.h"

#if defined(GEMM_ON_X86)
#include <immintrin.h>

#define T_AVX2 __attribute__((target("avx,avx2,fma")))
#define T_AVX512 __attribute__((target("avx,avx2,fma,avx512f,avx512bw,avx512vl")))

/* ======================================================================= AVX2 + FMA, 256-bit */
/* float64, 8 x 6: column j of the tile is the two vectors c<j>_0 (rows 0-3) and c<j>_1 (4-7). */
T_AVX2 static void ukr_avx2_f64(int64_t kc, const double *restrict a, const double *restrict b,
                                double *restrict c, int64_t ldc, int accumulate)
{
#define DECL(j) __m256d c##j##_0 = _mm256_setzero_pd(), c##j##_1 = _mm256_setzero_pd();
#define PF(j) _mm_prefetch((const char *)(c + (j) * ldc), _MM_HINT_T0); \
              _mm_prefetch((const char *)(c + (j) * ldc + 7), _MM_HINT_T0);
#define STEP(j) bj = _mm256_broadcast_sd(b + (j));                  \
                c##j##_0 = _mm256_fmadd_pd(a0, bj, c##j##_0);       \
                c##j##_1 = _mm256_fmadd_pd(a1, bj, c##j##_1);
#define STORE(j)                                                               \
    if (accumulate) {                                                          \
        c##j##_0 = _mm256_add_pd(c##j##_0, _mm256_loadu_pd(c + (j) * ldc));     \
        c##j##_1 = _mm256_add_pd(c##j##_1, _mm256_loadu_pd(c + (j) * ldc + 4)); \
    }                                                                          \
    _mm256_storeu_pd(c + (j) * ldc, c##j##_0);                                 \
    _mm256_storeu_pd(c + (j) * ldc + 4, c##j##_1);
    GEMM_REP6(DECL)
    GEMM_REP6(PF)
    for (int64_t p = 0; p < kc; ++p) {
        const __m256d a0 = _mm256_loadu_pd(a), a1 = _mm256_loadu_pd(a + 4);
        __m256d bj;
        GEMM_REP6(STEP)
        a += 8;
        b += 6;
    }
    GEMM_REP6(STORE)
#undef DECL
#undef PF
#undef STEP
#undef STORE
}

/* float32, 16 x 6. */
T_AVX2 static void ukr_avx2_f32(int64_t kc, const float *restrict a, const float *restrict b,
                                float *restrict c, int64_t ldc, int accumulate)
{
#define DECL(j) __m256 c##j##_0 = _mm256_setzero_ps(), c##j##_1 = _mm256_setzero_ps();
#define PF(j) _mm_prefetch((const char *)(c + (j) * ldc), _MM_HINT_T0); \
              _mm_prefetch((const char *)(c + (j) * ldc + 15), _MM_HINT_T0);
#define STEP(j) bj = _mm256_broadcast_ss(b + (j));                \
                c##j##_0 = _mm256_fmadd_ps(a0, bj, c##j##_0);     \
                c##j##_1 = _mm256_fmadd_ps(a1, bj, c##j##_1);
#define STORE(j)                                                               \
    if (accumulate) {                                                          \
        c##j##_0 = _mm256_add_ps(c##j##_0, _mm256_loadu_ps(c + (j) * ldc));     \
        c##j##_1 = _mm256_add_ps(c##j##_1, _mm256_loadu_ps(c + (j) * ldc + 8)); \
    }                                                                          \
    _mm256_storeu_ps(c + (j) * ldc, c##j##_0);                                 \
    _mm256_storeu_ps(c + (j) * ldc + 8, c##j##_1);
    GEMM_REP6(DECL)
    GEMM_REP6(PF)
    for (int64_t p = 0; p < kc; ++p) {
        const __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8);
        __m256 bj;
        GEMM_REP6(STEP)
        a += 16;
        b += 6;
    }
    GEMM_REP6(STORE)
#undef DECL
#undef PF
#undef STEP
#undef STORE
}

/* ========================================================================= AVX-512, 512-bit */
/* float64, 24 x 8: column j is c<j>_0, c<j>_1, c<j>_2 (rows 0-7, 8-15, 16-23). */
T_AVX512 static void ukr_avx512_f64(int64_t kc, const double *restrict a,
                                    const double *restrict b, double *restrict c, int64_t ldc,
                                    int accumulate)
{
#define DECL(j) __m512d c##j##_0 = _mm512_setzero_pd(), c##j##_1 = c##j##_0, c##j##_2 = c##j##_0;
#define PF(j) _mm_prefetch((const char *)(c + (j) * ldc), _MM_HINT_T0);      \
              _mm_prefetch((const char *)(c + (j) * ldc + 8), _MM_HINT_T0);  \
              _mm_prefetch((const char *)(c + (j) * ldc + 16), _MM_HINT_T0); \
              _mm_prefetch((const char *)(c + (j) * ldc + 23), _MM_HINT_T0);
#define STEP(j) bj = _mm512_set1_pd(b[j]);                          \
                c##j##_0 = _mm512_fmadd_pd(a0, bj, c##j##_0);       \
                c##j##_1 = _mm512_fmadd_pd(a1, bj, c##j##_1);       \
                c##j##_2 = _mm512_fmadd_pd(a2, bj, c##j##_2);
#define STORE(j)                                                               \
    if (accumulate) {                                                          \
        c##j##_0 = _mm512_add_pd(c##j##_0, _mm512_loadu_pd(c + (j) * ldc));     \
        c##j##_1 = _mm512_add_pd(c##j##_1, _mm512_loadu_pd(c + (j) * ldc + 8)); \
        c##j##_2 = _mm512_add_pd(c##j##_2, _mm512_loadu_pd(c + (j) * ldc + 16)); \
    }                                                                          \
    _mm512_storeu_pd(c + (j) * ldc, c##j##_0);                                 \
    _mm512_storeu_pd(c + (j) * ldc + 8, c##j##_1);                             \
    _mm512_storeu_pd(c + (j) * ldc + 16, c##j##_2);
    GEMM_REP8(DECL)
    GEMM_REP8(PF)
    for (int64_t p = 0; p < kc; ++p) {
        const __m512d a0 = _mm512_loadu_pd(a), a1 = _mm512_loadu_pd(a + 8),
                      a2 = _mm512_loadu_pd(a + 16);
        __m512d bj;
        GEMM_REP8(STEP)
        a += 24;
        b += 8;
    }
    GEMM_REP8(STORE)
#undef DECL
#undef PF
#undef STEP
#undef STORE
}

/* float32, 48 x 8. */
T_AVX512 static void ukr_avx512_f32(int64_t kc, const float *restrict a,
                                    const float *restrict b, float *restrict c, int64_t ldc,
                                    int accumulate)
{
#define DECL(j) __m512 c##j##_0 = _mm512_setzero_ps(), c##j##_1 = c##j##_0, c##j##_2 = c##j##_0;
#define PF(j) _mm_prefetch((const char *)(c + (j) * ldc), _MM_HINT_T0);      \
              _mm_prefetch((const char *)(c + (j) * ldc + 16), _MM_HINT_T0);  \
              _mm_prefetch((const char *)(c + (j) * ldc + 32), _MM_HINT_T0); \
              _mm_prefetch((const char *)(c + (j) * ldc + 47), _MM_HINT_T0);
#define STEP(j) bj = _mm512_set1_ps(b[j]);                          \
                c##j##_0 = _mm512_fmadd_ps(a0, bj, c##j##_0);       \
                c##j##_1 = _mm512_fmadd_ps(a1, bj, c##j##_1);       \
                c##j##_2 = _mm512_fmadd_ps(a2, bj, c##j##_2);
#define STORE(j)                                                               \
    if (accumulate) {                                                          \
        c##j##_0 = _mm512_add_ps(c##j##_0, _mm512_loadu_ps(c + (j) * ldc));     \
        c##j##_1 = _mm512_add_ps(c##j##_1, _mm512_loadu_ps(c + (j) * ldc + 16)); \
        c##j##_2 = _mm512_add_ps(c##j##_2, _mm512_loadu_ps(c + (j) * ldc + 32)); \
    }                                                                          \
    _mm512_storeu_ps(c + (j) * ldc, c##j##_0);                                 \
    _mm512_storeu_ps(c + (j) * ldc + 16, c##j##_1);                             \
    _mm512_storeu_ps(c + (j) * ldc + 32, c##j##_2);
    GEMM_REP8(DECL)
    GEMM_REP8(PF)
    for (int64_t p = 0; p < kc; ++p) {
        const __m512 a0 = _mm512_loadu_ps(a), a1 = _mm512_loadu_ps(a + 16),
                     a2 = _mm512_loadu_ps(a + 32);
        __m512 bj;
        GEMM_REP8(STEP)
        a += 48;
        b += 8;
    }
    GEMM_REP8(STORE)
#undef DECL
#undef PF
#undef STEP
#undef STORE
}

/* ================================================================================ the rows */
const gemm_kernels gemm_kernels_avx2 = {8, 6, ukr_avx2_f64, 16, 6, ukr_avx2_f32};
const gemm_kernels gemm_kernels_avx512 = {24, 8, ukr_avx512_f64, 48, 8, ukr_avx512_f32};
_Static_assert(48 * 8 <= GEMM_MAX_TILE, "the scratch tile must hold the largest micro-tile");
#endif /* GEMM_ON_X86 */
