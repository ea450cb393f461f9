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
 *   AVX-512  f64 16 x 14: 2 vectors x 14 columns = 28 accumulators + 2 A vectors; the broadcast
 *                         is folded into the FMA ({1to8} embedded broadcast from memory), so it
 *                         needs no register. Per step: 2 vector loads + 14 broadcasts for 28 FMAs,
 *                         far below the two loads per cycle the core can do.
 *            f32 32 x 14: the same with 16 lanes.
 *   Alternatives measured on Zen 4 (EPYC, 2 cores, 1024^3 and 2048^3, one thread) are in gemm.c.
 *   Zen 4 runs a 512-bit FMA on its two 256-bit units (one per cycle: the same flops as AVX2);
 *   what AVX-512 buys there is twice the tile per register, so half the loads and loop overhead
 *   per flop, and 32 registers.
 *
 * Prefetch
 *   Before the loop each kernel asks for the lines of its C tile (prefetcht0): they are needed
 *   only at the end, and this hides their miss behind the kc steps. Inside the loop it asks for
 *   the A sliver a few steps ahead: A streams from L2 (the packed block lives there), B sits in L1.
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

/* How many steps ahead the A sliver is prefetched. */
#define PF_STEPS 8

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
        _mm_prefetch((const char *)(a + 8 * PF_STEPS), _MM_HINT_T0);
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
        _mm_prefetch((const char *)(a + 16 * PF_STEPS), _MM_HINT_T0);
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
/* float64, 16 x 14: column j is c<j>_0 (rows 0-7) and c<j>_1 (rows 8-15). */
#define AVX512_NR64 14
T_AVX512 static void ukr_avx512_f64(int64_t kc, const double *restrict a,
                                    const double *restrict b, double *restrict c, int64_t ldc,
                                    int accumulate)
{
#define DECL(j) __m512d c##j##_0 = _mm512_setzero_pd(), c##j##_1 = _mm512_setzero_pd();
#define PF(j) _mm_prefetch((const char *)(c + (j) * ldc), _MM_HINT_T0);      \
              _mm_prefetch((const char *)(c + (j) * ldc + 8), _MM_HINT_T0);  \
              _mm_prefetch((const char *)(c + (j) * ldc + 15), _MM_HINT_T0);
#define STEP(j) bj = _mm512_set1_pd(b[j]);                          \
                c##j##_0 = _mm512_fmadd_pd(a0, bj, c##j##_0);       \
                c##j##_1 = _mm512_fmadd_pd(a1, bj, c##j##_1);
#define STORE(j)                                                               \
    if (accumulate) {                                                          \
        c##j##_0 = _mm512_add_pd(c##j##_0, _mm512_loadu_pd(c + (j) * ldc));     \
        c##j##_1 = _mm512_add_pd(c##j##_1, _mm512_loadu_pd(c + (j) * ldc + 8)); \
    }                                                                          \
    _mm512_storeu_pd(c + (j) * ldc, c##j##_0);                                 \
    _mm512_storeu_pd(c + (j) * ldc + 8, c##j##_1);
    GEMM_REP14(DECL)
    GEMM_REP14(PF)
    for (int64_t p = 0; p < kc; ++p) {
        _mm_prefetch((const char *)(a + 16 * PF_STEPS), _MM_HINT_T0);
        const __m512d a0 = _mm512_loadu_pd(a), a1 = _mm512_loadu_pd(a + 8);
        __m512d bj;
        GEMM_REP14(STEP)
        a += 16;
        b += AVX512_NR64;
    }
    GEMM_REP14(STORE)
#undef DECL
#undef PF
#undef STEP
#undef STORE
}

/* float32, 32 x 14. */
#define AVX512_NR32 14
T_AVX512 static void ukr_avx512_f32(int64_t kc, const float *restrict a, const float *restrict b,
                                    float *restrict c, int64_t ldc, int accumulate)
{
#define DECL(j) __m512 c##j##_0 = _mm512_setzero_ps(), c##j##_1 = _mm512_setzero_ps();
#define PF(j) _mm_prefetch((const char *)(c + (j) * ldc), _MM_HINT_T0);       \
              _mm_prefetch((const char *)(c + (j) * ldc + 16), _MM_HINT_T0);  \
              _mm_prefetch((const char *)(c + (j) * ldc + 31), _MM_HINT_T0);
#define STEP(j) bj = _mm512_set1_ps(b[j]);                        \
                c##j##_0 = _mm512_fmadd_ps(a0, bj, c##j##_0);     \
                c##j##_1 = _mm512_fmadd_ps(a1, bj, c##j##_1);
#define STORE(j)                                                                \
    if (accumulate) {                                                           \
        c##j##_0 = _mm512_add_ps(c##j##_0, _mm512_loadu_ps(c + (j) * ldc));      \
        c##j##_1 = _mm512_add_ps(c##j##_1, _mm512_loadu_ps(c + (j) * ldc + 16)); \
    }                                                                           \
    _mm512_storeu_ps(c + (j) * ldc, c##j##_0);                                  \
    _mm512_storeu_ps(c + (j) * ldc + 16, c##j##_1);
    GEMM_REP14(DECL)
    GEMM_REP14(PF)
    for (int64_t p = 0; p < kc; ++p) {
        _mm_prefetch((const char *)(a + 32 * PF_STEPS), _MM_HINT_T0);
        const __m512 a0 = _mm512_loadu_ps(a), a1 = _mm512_loadu_ps(a + 16);
        __m512 bj;
        GEMM_REP14(STEP)
        a += 32;
        b += AVX512_NR32;
    }
    GEMM_REP14(STORE)
#undef DECL
#undef PF
#undef STEP
#undef STORE
}

/* ================================================================================ the rows */
const gemm_kernels gemm_kernels_avx2 = {8, 6, ukr_avx2_f64, 16, 6, ukr_avx2_f32};
const gemm_kernels gemm_kernels_avx512 = {16, AVX512_NR64, ukr_avx512_f64, 32, AVX512_NR32,
                                          ukr_avx512_f32};
#endif /* GEMM_ON_X86 */
