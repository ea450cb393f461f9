/*
 * gemm_arm.c: the AArch64 NEON (Advanced SIMD) micro-kernels of gemm.c.
 *
 * What it implements
 *   SIMD_NEON's float64 and float32 micro-kernels and its row of the kernel table,
 *   gemm_kernels_neon, which gemm.c's dispatch points at. On another architecture the whole file
 *   is left out by its #if and compiles to nothing.
 *
 * The shapes, and why
 *   AArch64 has 32 vector registers of 128 bits (2 float64 or 4 float32 lanes) and a
 *   multiply-add by one lane of another register, vfmaq_laneq_f64(acc, a, b, lane) =
 *   acc + a * b[lane], rounded once: the B values need no broadcast of their own, a whole row of
 *   the B sliver is loaded with a few plain vector loads and each lane is used in turn.
 *     f64  8 x 6:  4 vectors down a column x 6 columns = 24 accumulators + 4 A vectors + 3 B
 *                  vectors (6 values) = 31 registers; per step 7 loads for 24 FMAs.
 *     f32  8 x 12: 2 vectors x 12 columns = 24 accumulators + 2 A + 3 B (12 values) = 29.
 *   24 independent accumulators cover latency 4 x 4 pipes = 16 FMAs in flight (Apple M,
 *   Neoverse V1/V2), twice what 2-pipe cores need. Not timed on ARM hardware here; checked for
 *   correctness under user-mode emulation (qemu-aarch64) against a plain triple loop.
 *
 * Sources
 *   Arm, "Arm C Language Extensions" and "Neon Intrinsics Reference" (vfmaq_laneq_f64 and
 *   friends); Arm Neoverse software optimization guides (FMA latency 4; 2 pipes on N1, 4 on
 *   V1); BLIS's armv8a configuration (its micro-kernels are 8 x 12 float32 and 6 x 8 float64:
 *   the same register budget, cut the other way).
 *
 * Threads and memory ordering
 *   A kernel touches only its arguments: gemm.c gives each thread its own tiles of C.
 */
#include "gemm_impl.h"

#if defined(GEMM_ON_ARM64)
#include <arm_neon.h>

/* float64, 8 x 6: column j of the tile is c<j>_0 .. c<j>_3 (rows 0-1, 2-3, 4-5, 6-7). */
static void ukr_neon_f64(int64_t kc, const double *restrict a, const double *restrict b,
                         double *restrict c, int64_t ldc, int accumulate)
{
#define DECL(j) float64x2_t c##j##_0 = vdupq_n_f64(0.0), c##j##_1 = c##j##_0, \
                            c##j##_2 = c##j##_0, c##j##_3 = c##j##_0;
#define COL(j, bv, lane)                                  \
    c##j##_0 = vfmaq_laneq_f64(c##j##_0, a0, bv, lane);   \
    c##j##_1 = vfmaq_laneq_f64(c##j##_1, a1, bv, lane);   \
    c##j##_2 = vfmaq_laneq_f64(c##j##_2, a2, bv, lane);   \
    c##j##_3 = vfmaq_laneq_f64(c##j##_3, a3, bv, lane);
#define ONE(j, v)                                                             \
    if (accumulate)                                                           \
        c##j##_##v = vaddq_f64(c##j##_##v, vld1q_f64(c + (j) * ldc + 2 * v)); \
    vst1q_f64(c + (j) * ldc + 2 * v, c##j##_##v);
#define STORE(j) ONE(j, 0) ONE(j, 1) ONE(j, 2) ONE(j, 3)
    GEMM_REP6(DECL)
    for (int64_t p = 0; p < kc; ++p, a += 8, b += 6) {
        const float64x2_t a0 = vld1q_f64(a), a1 = vld1q_f64(a + 2), a2 = vld1q_f64(a + 4),
                          a3 = vld1q_f64(a + 6);
        const float64x2_t b0 = vld1q_f64(b), b1 = vld1q_f64(b + 2), b2 = vld1q_f64(b + 4);
        COL(0, b0, 0) COL(1, b0, 1) COL(2, b1, 0) COL(3, b1, 1) COL(4, b2, 0) COL(5, b2, 1)
    }
    GEMM_REP6(STORE)
#undef DECL
#undef COL
#undef ONE
#undef STORE
}

/* float32, 8 x 12: column j is c<j>_0 (rows 0-3) and c<j>_1 (rows 4-7). */
static void ukr_neon_f32(int64_t kc, const float *restrict a, const float *restrict b,
                         float *restrict c, int64_t ldc, int accumulate)
{
#define DECL(j) float32x4_t c##j##_0 = vdupq_n_f32(0.0f), c##j##_1 = c##j##_0;
#define COL(j, bv, lane)                                  \
    c##j##_0 = vfmaq_laneq_f32(c##j##_0, a0, bv, lane);   \
    c##j##_1 = vfmaq_laneq_f32(c##j##_1, a1, bv, lane);
#define ONE(j, v)                                                             \
    if (accumulate)                                                           \
        c##j##_##v = vaddq_f32(c##j##_##v, vld1q_f32(c + (j) * ldc + 4 * v)); \
    vst1q_f32(c + (j) * ldc + 4 * v, c##j##_##v);
#define STORE(j) ONE(j, 0) ONE(j, 1)
    GEMM_REP12(DECL)
    for (int64_t p = 0; p < kc; ++p, a += 8, b += 12) {
        const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        COL(0, b0, 0) COL(1, b0, 1) COL(2, b0, 2) COL(3, b0, 3)
        COL(4, b1, 0) COL(5, b1, 1) COL(6, b1, 2) COL(7, b1, 3)
        COL(8, b2, 0) COL(9, b2, 1) COL(10, b2, 2) COL(11, b2, 3)
    }
    GEMM_REP12(STORE)
#undef DECL
#undef COL
#undef ONE
#undef STORE
}

/* ================================================================================= the row */
const gemm_kernels gemm_kernels_neon = {8, 6, ukr_neon_f64, 8, 12, ukr_neon_f32};
_Static_assert(8 * 12 <= GEMM_MAX_TILE, "the scratch tile must hold the largest micro-tile");
#endif /* GEMM_ON_ARM64 */
