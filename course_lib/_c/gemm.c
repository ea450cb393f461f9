/*
 * gemm.c: C = A B the way the fast libraries do it, for chapter c08 (course_lib.matmul.cgemm).
 *
 * What it implements
 *   gemm_f64 / gemm_f32: C = A B (accumulate = 0; C is only written) or C += A B (accumulate = 1)
 *   for an m x k A and a k x n B, each matrix given by a pointer and two strides in elements
 *   (element (i, j) of A is a[i * rsa + j * csa]): C- or Fortran-ordered operands, slices, even
 *   negative or zero strides, are read where they lie. On nthreads POSIX threads, with the cache
 *   blocking (mc, kc, nc) chosen by the caller (course_lib.matmul.cgemm.tile_sizes derives it
 *   from the cache sizes), and the micro-kernel of one SIMD variant (simd.h's numbers; the SIMD
 *   chapter's simd_variant_status, compiled into this module from simd.c, says whether it can
 *   run here). Every error is a negative status (gemm.h), checked before anything is touched.
 *   The micro-kernels: scalar and vector-extension ones here (the sse variant uses the latter),
 *   AVX2 and AVX-512 in gemm_x86.c, NEON in gemm_arm.c.
 *
 * The algorithm (Goto and van de Geijn; BLIS): five loops around a micro-kernel
 *     for jc in steps of NC:                  loop 5: a panel of NC columns of B and C
 *       for pc in steps of KC:                loop 4: KC steps of the sum
 *         pack B[pc:pc+KC, jc:jc+NC]          into NR-wide slivers: kc x nc, in L3
 *         for ic in steps of MC:              loop 3: a block of MC rows of A and C
 *           pack A[ic:ic+MC, pc:pc+KC]        into MR-tall slivers: mc x kc, in L2
 *           for jr in steps of NR:            loop 2: one sliver of B, kc x nr, in L1
 *             for ir in steps of MR:          loop 1: one sliver of A, streamed from L2
 *               micro-kernel: C[ir.., jr..] (+)= A sliver x B sliver, an MR x NR tile of C in
 *               registers for all KC steps: MR x NR fused multiply-adds per step, for MR + NR
 *               values loaded.
 *   Packing copies each operand once per use into the order the micro-kernel reads it, step after
 *   step with unit stride, whatever the source's strides: this is what makes any layout as fast
 *   as any other, and keeps the inner loop free of address arithmetic. The packed buffers start
 *   on a 64-byte line. Sizes that are not multiples of MR or NR are padded with zeros in the
 *   packed slivers; an edge tile is computed whole into a scratch tile and only its valid part
 *   copied to C (stored, or added when C must be accumulated). So C is never read or written
 *   outside the matrix, and with accumulate = 0 never read at all (np.empty will do).
 *   Orientation: the micro-kernels run their vectors down a column of C (MR is a multiple of the
 *   lanes) and want C's rows contiguous. A row-major C (NumPy's default) has its columns
 *   contiguous instead, so the driver computes C^T = B^T A^T: it swaps A and B, m and n, and each
 *   pair of strides, which costs nothing. A C with neither stride 1 goes through the scratch tile.
 *   The first pass over each B sliver and each A sliver packs it right before it is used,
 *   instead of packing the whole panel or block, then computing.
 *
 * Threads
 *   The rows of C (the micro-kernel's M, in whole MR-slivers) are split evenly over the threads:
 *   each runs loop 3 over its own rows, with its own packed A block (in its own L2: cores do not
 *   share L2 here), so no tile of C is written by two threads. The B panel is shared: each thread
 *   packs a share of its slivers (and uses them first), a barrier waits until the whole panel is
 *   packed, and a second barrier at the end of each pc pass keeps it until no thread reads it.
 *   Threads are started per call (nthreads - 1 of them; the caller is thread 0) and never
 *   outnumber the row slivers. The barrier spins with a pause instruction, then yields the core
 *   (more threads than cores, or a busy machine). If the OS refuses a thread, the work is divided
 *   among those that started.
 *   Buffers: fresh memory costs a page fault per 4 KiB page on first write (in this VM 10 to 50
 *   cycles per packed double, against 1 for a warm buffer: 7% of a 1024^3 product), so the
 *   packing buffers come from a small pool kept between calls (see "the buffer pool").
 *
 * Measured (AMD EPYC Zen 4, 2 cores of a VM, AVX-512, GCC 12 -O2; one core's FMA peak 58.7
 * GFLOP/s f64, 117 f32; NumPy's BLAS OpenBLAS 0.3.31 with its SkylakeX kernels; medians of
 * interleaved rounds, benchmarks/bench_matmul_c.py; GFLOP/s ours / BLAS):
 *                     N = 1024                      N = 2048
 *   f64, 1 thread     51.3 / 51.9 (87% of peak)     51.7 / 53.6 (88%)
 *   f64, 2 threads   100.7 / 102.7 (86%)           106.4 / 106.9 (91%)
 *   f32, 1 thread    100.8 / 100.1 (86%)           103.9 / 101.7 (89%)
 *   f32, 2 threads   194.1 / 199.0 (83%)           202.9 / 203.0 (87%)
 *   What mattered, in order: the micro-kernel (alone, in cache, 96% of the peak); reusing the
 *   packing buffers (+7% at N = 1024); KC (128, the textbook "both slivers in L1" size, 49.3
 *   GFLOP/s f64 at N = 1024; 512, 51.9: course_lib.matmul.cgemm.tile_sizes explains); the
 *   micro-tile shape (24 x 8 over 16 x 14, +1%); prefetching C's tile (only at small KC). What
 *   did not, within the noise: MC from 96 to 480; packing each sliver right before its first use
 *   instead of in a phase of its own (kept: it needs no more code, and it lets the memory reads
 *   overlap with arithmetic where the core can); prefetching the next sliver's source while
 *   packing; prefetching A inside the micro-kernel.
 *
 * Sources
 *   K. Goto and R. A. van de Geijn, "Anatomy of High-Performance Matrix Multiplication", ACM TOMS
 *   34(3), 2008 (the loops, packing, which operand lives in which cache); F. G. Van Zee and
 *   R. A. van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", ACM
 *   TOMS 41(3), 2015 (the five loops around one ISA-specific micro-kernel, general strides);
 *   T. M. Low, F. D. Igual, T. M. Smith and E. S. Quintana-Orti, "Analytical Modeling Is Enough
 *   for High-Performance BLIS", ACM TOMS 43(2), 2016 (MR, NR, KC, MC, NC from the registers and
 *   the caches); T. M. Smith et al., "Anatomy of High-Performance Many-Threaded Matrix
 *   Multiplication", IPDPS 2014 (which loop to split among threads); GCC manual, "Vector
 *   Extensions" and "x86 Function Attributes"; POSIX (pthread_create, posix_memalign).
 *
 * Threads and memory ordering
 *   Each thread writes only its own rows of C, its own A buffer and scratch tile, and its own
 *   slivers of the shared B panel. The barrier's acq_rel arrival and release/acquire generation
 *   order every thread's packing before any thread reads the panel, and every read of it before
 *   it is packed again. The start gate (go) is a release store after nt is set, read with
 *   acquire by each worker. The pool is guarded by a mutex; each buffer it hands out belongs to
 *   one caller until it is given back. cffi releases the GIL around the call, so several Python
 *   threads may multiply at once, each with its own buffers.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* posix_memalign and sched_yield under -std=c11 (macOS shows them anyway) */
#endif
#include "gemm_impl.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================== the thread team */
/* How many times a waiting thread polls before it yields its core. */
#define TEAM_SPINS 4000

typedef struct {
    _Alignas(GEMM_ALIGN) _Atomic int arrived; /* arrivals at the current instance */
    _Alignas(GEMM_ALIGN) _Atomic unsigned generation; /* bumped once per instance */
    _Alignas(GEMM_ALIGN) _Atomic int go;      /* 0: wait, 1: run (set once nt is known) */
    _Atomic int failed;                       /* a thread could not allocate its buffer */
    int nt;                                   /* threads in the team */
} gemm_team;

static inline void cpu_relax(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Wait until every thread of the team has arrived. The generation is read before arriving, so
 * a waiter compares against the instance it arrived at; the last to arrive resets the count and
 * then bumps the generation with a release store, which the waiters' acquire loads pair with:
 * whatever any thread wrote before arriving (its part of the B panel) is visible to every thread
 * after the barrier. */
static void team_barrier(gemm_team *team)
{
    if (team->nt == 1)
        return;
    const unsigned g = atomic_load_explicit(&team->generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(&team->arrived, 1, memory_order_acq_rel) == team->nt - 1) {
        atomic_store_explicit(&team->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&team->generation, g + 1, memory_order_release);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&team->generation, memory_order_acquire) == g;) {
        if (++spins < TEAM_SPINS) {
            cpu_relax();
        } else {
            sched_yield(); /* more threads than cores: let the one we wait for run */
            spins = 0;
        }
    }
}

typedef struct {
    gemm_team *team;
    void (*body)(void *, int);
    void *job;
    int t;
} team_member;

static void *member_main(void *arg)
{
    team_member *w = arg;
    for (int spins = 0; !atomic_load_explicit(&w->team->go, memory_order_acquire);) {
        if (++spins < TEAM_SPINS) {
            cpu_relax();
        } else {
            sched_yield();
            spins = 0;
        }
    }
    w->body(w->job, w->t);
    return NULL;
}

/* Run body(job, t) on want threads, t = 0 on the calling one. If the OS refuses a thread, the
 * team is smaller (the work is divided among those that started: body reads team->nt). */
static void team_run(gemm_team *team, int want, void (*body)(void *, int), void *job)
{
    pthread_t threads[GEMM_MAX_THREADS];
    team_member members[GEMM_MAX_THREADS];
    atomic_init(&team->arrived, 0);
    atomic_init(&team->generation, 0u);
    atomic_init(&team->go, 0);
    atomic_init(&team->failed, 0);
    int started = 0;
    for (int t = 1; t < want; ++t) {
        members[started] = (team_member){team, body, job, t};
        if (pthread_create(&threads[started], NULL, member_main, &members[started]) != 0)
            break;
        ++started;
    }
    team->nt = started + 1;
    atomic_store_explicit(&team->go, 1, memory_order_release); /* publishes nt */
    body(job, 0);
    for (int t = 0; t < started; ++t)
        pthread_join(threads[t], NULL);
}

/* ======================================================================== the buffer pool */
/* Fresh memory is expensive: the first write to each 4 KiB page is a page fault (measured here,
 * in a VM: 10 to 50 cycles per packed double instead of 1, which cost 7% of a 1024^3 product).
 * So packing buffers are kept between calls, in a few slots guarded by a mutex (calls from
 * several Python threads at once each get their own). A request takes the smallest free slot
 * that is large enough, or replaces a free slot that is too small, or, when every slot is busy
 * or the request is huge, is allocated for this call only. gemm_release_buffers() frees the
 * free slots. The cost of reuse: a buffer's pages were first touched by whichever thread used
 * it first, which matters only on a machine with several NUMA nodes. */
#define POOL_SLOTS 16
#define POOL_MAX_BYTES ((size_t)64 << 20)

static struct {
    void *p;
    size_t bytes;
    int busy;
} pool[POOL_SLOTS];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static void *pool_get(size_t bytes)
{
    bytes = (bytes + GEMM_ALIGN - 1) / GEMM_ALIGN * GEMM_ALIGN;
    void *p = NULL;
    if (bytes <= POOL_MAX_BYTES) {
        pthread_mutex_lock(&pool_lock);
        int best = -1, spare = -1;
        for (int i = 0; i < POOL_SLOTS; ++i) {
            if (pool[i].busy)
                continue;
            if (pool[i].p && pool[i].bytes >= bytes) {
                if (best < 0 || pool[i].bytes < pool[best].bytes)
                    best = i;
            } else if (spare < 0 || !pool[i].p) {
                spare = i; /* an empty slot, or a free one too small to keep */
            }
        }
        if (best < 0 && spare >= 0) {
            free(pool[spare].p);
            pool[spare].p = NULL, pool[spare].bytes = 0;
            if (posix_memalign(&pool[spare].p, GEMM_ALIGN, bytes) == 0)
                pool[spare].bytes = bytes, best = spare;
            else
                pool[spare].p = NULL;
        }
        if (best >= 0)
            pool[best].busy = 1, p = pool[best].p;
        pthread_mutex_unlock(&pool_lock);
        if (p)
            return p;
    }
    return posix_memalign(&p, GEMM_ALIGN, bytes) == 0 ? p : NULL;
}

static void pool_put(void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&pool_lock);
    for (int i = 0; i < POOL_SLOTS; ++i)
        if (pool[i].p == p) {
            pool[i].busy = 0;
            pthread_mutex_unlock(&pool_lock);
            return;
        }
    pthread_mutex_unlock(&pool_lock);
    free(p); /* not from the pool */
}

int64_t gemm_release_buffers(void)
{
    int64_t freed = 0;
    pthread_mutex_lock(&pool_lock);
    for (int i = 0; i < POOL_SLOTS; ++i)
        if (pool[i].p && !pool[i].busy) {
            freed += (int64_t)pool[i].bytes;
            free(pool[i].p);
            pool[i].p = NULL, pool[i].bytes = 0;
        }
    pthread_mutex_unlock(&pool_lock);
    return freed;
}

/* ==================================================================== portable micro-kernels */
/* Scalar: plain C, a 4 x 4 tile in 16 scalar accumulators. GCC is told not to vectorise it, so
 * it stays the bottom rung of the ladder (the other compilers may do as they please). */
#if defined(__GNUC__) && !defined(__clang__)
#define SCALAR_FN __attribute__((optimize("no-tree-vectorize"))) static
#else
#define SCALAR_FN static
#endif

#define SC_DECL(i, j) sc_t c##i##j = 0;
#define SC_STEP(i, j) c##i##j += a[i] * b[j];
#define SC_STORE(i, j) c[(i) + (j) * ldc] = accumulate ? c[(i) + (j) * ldc] + c##i##j : c##i##j;
#define SC_ROW(X, i) X(i, 0) X(i, 1) X(i, 2) X(i, 3)
#define SC_ALL(X) SC_ROW(X, 0) SC_ROW(X, 1) SC_ROW(X, 2) SC_ROW(X, 3)
#define SCALAR_UKR(T, SFX)                                                                   \
    SCALAR_FN void ukr_scalar_##SFX(int64_t kc, const T *restrict a, const T *restrict b,    \
                                    T *restrict c, int64_t ldc, int accumulate)              \
    {                                                                                        \
        typedef T sc_t;                                                                      \
        SC_ALL(SC_DECL)                                                                      \
        for (int64_t p = 0; p < kc; ++p, a += 4, b += 4) {                                   \
            SC_ALL(SC_STEP)                                                                  \
        }                                                                                    \
        SC_ALL(SC_STORE)                                                                     \
    }
SCALAR_UKR(double, f64)
SCALAR_UKR(float, f32)
static const gemm_kernels kernels_scalar = {4, 4, ukr_scalar_f64, 4, 4, ukr_scalar_f32};

/* Vector extensions: 16-byte vectors (SSE2 on x86-64, NEON on AArch64: the baseline ISA), a
 * tile two vectors tall and 4 columns wide: 8 accumulators, which SSE2's 16 registers hold with
 * the 2 A vectors and a broadcast. No FMA in the baseline x86 ISA: a multiply, then an add. The
 * sse variant uses these kernels: compiled for x86-64 they are the SSE2 code that intrinsics
 * would give. A vector times a scalar multiplies every lane by it (the scalar is broadcast);
 * memcpy into a vector is the portable unaligned load (one movupd / ldr q). */
#if defined(GEMM_HAS_VECEXT)
typedef double vd2 __attribute__((vector_size(16)));
typedef float vf4 __attribute__((vector_size(16)));

#define VX_DECL(j) vt c##j##_0 = {0}, c##j##_1 = {0};
#define VX_STEP(j) c##j##_0 += a0 * b[j], c##j##_1 += a1 * b[j];
#define VX_STORE(j)                                                        \
    if (accumulate) {                                                      \
        memcpy(&t0, c + (j) * ldc, sizeof t0), c##j##_0 += t0;             \
        memcpy(&t1, c + (j) * ldc + lanes, sizeof t1), c##j##_1 += t1;     \
    }                                                                      \
    memcpy(c + (j) * ldc, &c##j##_0, sizeof t0);                           \
    memcpy(c + (j) * ldc + lanes, &c##j##_1, sizeof t1);
#define VECEXT_UKR(T, V, SFX)                                                                \
    static void ukr_vecext_##SFX(int64_t kc, const T *restrict a, const T *restrict b,       \
                                 T *restrict c, int64_t ldc, int accumulate)                 \
    {                                                                                        \
        typedef V vt;                                                                        \
        enum { lanes = sizeof(V) / sizeof(T) };                                              \
        vt a0, a1, t0, t1;                                                                   \
        GEMM_REP4(VX_DECL)                                                                   \
        for (int64_t p = 0; p < kc; ++p, a += 2 * lanes, b += 4) {                           \
            memcpy(&a0, a, sizeof a0), memcpy(&a1, a + lanes, sizeof a1);                    \
            GEMM_REP4(VX_STEP)                                                               \
        }                                                                                    \
        GEMM_REP4(VX_STORE)                                                                  \
    }
VECEXT_UKR(double, vd2, f64)
VECEXT_UKR(float, vf4, f32)
static const gemm_kernels kernels_vecext = {4, 4, ukr_vecext_f64, 8, 4, ukr_vecext_f32};
#endif

/* ================================================================================== dispatch */
/* One row per variant; a variant the compiler did not build has none (a null pointer). */
static const gemm_kernels *const KERNELS[SIMD_NVARIANTS] = {
    [SIMD_SCALAR] = &kernels_scalar,
#if defined(GEMM_HAS_VECEXT)
    [SIMD_VECEXT] = &kernels_vecext,
#endif
#if defined(GEMM_ON_X86) && defined(GEMM_HAS_VECEXT)
    [SIMD_SSE] = &kernels_vecext, /* SSE2 is x86-64's baseline: the vecext code is SSE2 code */
#endif
#if defined(GEMM_ON_X86)
    [SIMD_AVX2] = &gemm_kernels_avx2, /* gemm_x86.c */
    [SIMD_AVX512] = &gemm_kernels_avx512,
#endif
#if defined(GEMM_ON_ARM64)
    [SIMD_NEON] = &gemm_kernels_neon, /* gemm_arm.c */
#endif
};

int gemm_variant_status(int variant)
{
    int st = simd_variant_status(variant); /* the SIMD chapter's check: built, and this CPU */
    if (st != SIMD_OK)
        return st;
    return KERNELS[variant] ? GEMM_OK : GEMM_E_NOT_BUILT;
}

int gemm_microkernel_shape(int variant, int precision, int32_t *mr, int32_t *nr)
{
    if (variant < 0 || variant >= SIMD_NVARIANTS)
        return GEMM_E_VARIANT;
    const gemm_kernels *k = KERNELS[variant];
    if (!k)
        return GEMM_E_NOT_BUILT;
    if (precision != 32 && precision != 64)
        return GEMM_E_ARG;
    *mr = precision == 64 ? k->mr_f64 : k->mr_f32;
    *nr = precision == 64 ? k->nr_f64 : k->nr_f32;
    return GEMM_OK;
}

/* The micro-kernel wants C's rows contiguous (its vectors run down a column). When C's columns
 * are the contiguous ones (a row-major, C-ordered result), the transposed problem has them. */
static int wants_transpose(int64_t rsc, int64_t csc) { return rsc != 1 && csc == 1; }

/* Threads: at most one per mr-sliver of rows (a thread with no rows would only pack). */
static int threads_for(int64_t m, int mr, int nthreads)
{
    int64_t slivers = (m + mr - 1) / mr;
    return slivers < nthreads ? (slivers > 0 ? (int)slivers : 1) : nthreads;
}

int gemm_threads_used(int variant, int precision, int64_t m, int64_t n, int64_t rsc, int64_t csc,
                      int32_t nthreads)
{
    int32_t mr, nr;
    int st = gemm_microkernel_shape(variant, precision, &mr, &nr);
    if (st != GEMM_OK)
        return st;
    if (m < 0 || n < 0 || nthreads < 1 || nthreads > GEMM_MAX_THREADS)
        return GEMM_E_ARG;
    return threads_for(wants_transpose(rsc, csc) ? n : m, mr, nthreads);
}

/* ======================================================================== the loops, per type */
#ifdef GEMM_PROF
#include <x86intrin.h>
unsigned long long gemm_prof[4];
#define PROF_START unsigned long long prof_t0 = __rdtsc()
#define PROF_STOP(i) if (t == 0) gemm_prof[i] += __rdtsc() - prof_t0
#else
#define PROF_START
#define PROF_STOP(i)
#endif
#define GEMM_T double
#define GEMM_SFX f64
#include "gemm_loops.h"
#undef GEMM_T
#undef GEMM_SFX

#define GEMM_T float
#define GEMM_SFX f32
#include "gemm_loops.h"
#undef GEMM_T
#undef GEMM_SFX

int gemm_f64(int variant, int64_t m, int64_t n, int64_t k, const double *a, int64_t rsa,
             int64_t csa, const double *b, int64_t rsb, int64_t csb, double *c, int64_t rsc,
             int64_t csc, int32_t accumulate, int32_t nthreads, int64_t mc, int64_t kc,
             int64_t nc)
{
    return gemm_run_f64(variant, m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc, accumulate,
                        nthreads, mc, kc, nc);
}

int gemm_f32(int variant, int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa,
             int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c, int64_t rsc,
             int64_t csc, int32_t accumulate, int32_t nthreads, int64_t mc, int64_t kc,
             int64_t nc)
{
    return gemm_run_f32(variant, m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc, accumulate,
                        nthreads, mc, kc, nc);
}
