/*
 * memory.c: how long one load takes, and how many bytes per second a core (or all of them) can
 * move, for chapter c06 (course_lib.memory.latency, .stream, .prefetch).
 *
 * What it implements
 *   mem_chase       a pointer chase: i = next[i], over and over. Each load needs the result of
 *                   the previous one, so nothing overlaps: the time per step is the latency of
 *                   the level of the hierarchy (L1, L2, L3, DRAM) that holds the array.
 *   mem_gather_sum  sum of data[idx[i]]: the loads are independent (the addresses come from idx,
 *                   not from the data), so the core overlaps many misses; and because idx is
 *                   known in advance, the code can ask for data[idx[i + d]] d iterations early
 *                   with __builtin_prefetch: "a pointer chase whose next address is known early".
 *   mem_stream      John McCalpin's STREAM kernels (copy, scale, add, triad) and the C library's
 *                   memcpy, on nthreads POSIX threads, each thread on its own contiguous chunk,
 *                   timed rep by rep. With nt = 1 the stores are non-temporal (x86 SSE2
 *                   movntpd: _mm_stream_pd).
 *   mem_stream_init the same threads and chunks writing the arrays' first values: first touch.
 *
 * Ideas the code shows
 *   Dependent loads: in the chase the address of load k+1 is the value of load k. An
 *   out-of-order core can run hundreds of instructions ahead, but not past a load whose address
 *   it does not know yet, so the chase measures latency, where the gather measures throughput.
 *   Keeping the work: the chase's last index is written to *end, so the compiler cannot delete
 *   the loop (its result is used), and the bounds check (a well-predicted branch, off the chain
 *   of loads) turns a bad next[] array into an error instead of a crash.
 *   Threads made once per call: pthread_create costs tens of microseconds; a call starts
 *   nthreads - 1 workers (the calling thread is thread 0), and all of them run every rep,
 *   meeting at a barrier after each one. Thread 0 reads the clock just after the barrier, so
 *   rep r's time runs from the end of rep r-1 (every thread done) to the end of rep r: the
 *   slowest thread decides, as in STREAM's OpenMP version, whose parallel loop ends with an
 *   implicit barrier.
 *   A barrier written here: macOS has no pthread_barrier_t. This one is "sense-reversing": a
 *   shared counter counts arrivals down; the last thread to arrive resets it and flips a shared
 *   flag (the sense) with a release store; the others wait for the flip with acquire loads. Each
 *   thread's idea of the sense alternates, so the same barrier serves rep after rep. Waiters
 *   spin (with a pause instruction) for a while, then yield the CPU: spinning is fastest when
 *   every thread has a core, yielding is a must when there are more threads than cores.
 *   Chunks: thread t gets about n / nthreads elements, cut at multiples of 8 doubles (64 bytes,
 *   one cache line when the array starts on a line) so that two threads rarely store into the
 *   same line (false sharing); with n < 8 * nthreads some threads get nothing, which is allowed.
 *   First touch: Linux gives a page physical memory when it is first written, on the NUMA node
 *   of the CPU that wrote it. mem_stream_init writes each chunk from the thread that will later
 *   use it, so on a multi-socket machine every thread reads memory attached to its own socket.
 *   Write allocate: an ordinary store to a line that is not in the cache first reads the line
 *   (a "read for ownership"), then writes it back later: copy really moves 24 bytes per
 *   element, not 16. STREAM counts 16 (what the program asks for), and so does this code.
 *   Non-temporal stores (movntpd) skip the read: the core collects whole lines in write-combining
 *   buffers and sends them to memory directly, without polluting the cache. They need 16-byte
 *   aligned addresses, so each chunk starts with scalar stores up to the first aligned element
 *   (the head) and ends with scalar stores after the last full pair (the tail). They are weakly
 *   ordered (other cores may see them late, and out of order), so every thread ends its work
 *   with _mm_sfence() before it arrives at the barrier.
 *
 * Portability
 *   C11, POSIX threads, clock_gettime(CLOCK_MONOTONIC) (macOS 10.12+). The non-temporal kernels
 *   exist only on x86-64 (SSE2 is part of x86-64); elsewhere mem_nt_available() returns 0 and
 *   asking for them returns MEM_E_NOT_BUILT. ARMv8 has a non-temporal pair store (STNP), but it
 *   is only a hint that most cores treat as an ordinary store, so it is not offered.
 *
 * Threads and memory ordering
 *   The arrays are shared but each thread writes only its own chunk, so no element is written by
 *   two threads. The barrier's release/acquire pairs order every thread's kernel before anything
 *   after the barrier (the next rep, the return to Python). The start gate (`go`) is an atomic
 *   written once by thread 0 after every worker has been created, or set to abort if one could
 *   not be, in which case the created workers leave without touching the arrays.
 *
 * Sources
 *   J. D. McCalpin, "Memory Bandwidth and Machine Balance in Current High Performance
 *   Computers", IEEE TCCA Newsletter, 1995, and stream.c (the kernels, the 16/24-byte counting,
 *   the rule that each array be 4x the last-level caches); U. Drepper, "What Every Programmer
 *   Should Know About Memory", 2007 (pointer chasing, section 3.3; non-temporal stores and
 *   prefetching, section 6); J. M. Mellor-Crummey and M. L. Scott, "Algorithms for Scalable
 *   Synchronization on Shared-Memory Multiprocessors", ACM TOCS 1991 (the sense-reversing
 *   barrier); Intel Intrinsics Guide (_mm_stream_pd, _mm_sfence); GCC manual, "Other Built-in
 *   Functions" (__builtin_prefetch).
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "memory.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#define MEM_HAVE_NT 1
#else
#define MEM_HAVE_NT 0
#endif

#define MEM_LINE 64
#define MEM_LINE_DOUBLES 8
#define MEM_SPINS 2000 /* pause-spins before a waiting thread starts yielding its CPU */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int mem_nt_available(void) { return MEM_HAVE_NT; }

const char *mem_nt_isa(void) { return MEM_HAVE_NT ? "movntpd (SSE2)" : ""; }

/* ====================================================================================== chase */
int mem_chase(const int64_t *next, int64_t len, int64_t start, int64_t steps, int64_t *end,
              double *ns_per_step)
{
    if (!next || !end || !ns_per_step || len < 1 || steps < 0 || start < 0 || start >= len)
        return MEM_E_ARG;
    int64_t i = start;
    double t0 = now_seconds();
    for (int64_t k = 0; k < steps; k++) {
        i = next[i]; /* the next address is the value just loaded: a chain of dependent loads */
        if ((uint64_t)i >= (uint64_t)len) {
            *end = i;
            return MEM_E_RANGE;
        }
    }
    double t1 = now_seconds();
    *end = i;
    *ns_per_step = steps > 0 ? (t1 - t0) * 1e9 / (double)steps : 0.0;
    return MEM_OK;
}

/* ===================================================================== gather with prefetch */
double mem_gather_sum(const double *data, const int64_t *idx, int64_t n, int64_t distance)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0; /* four sums: the adds do not wait in line */
    int64_t i = 0;
    /* Elements [0, ahead) also prefetch the element `distance` places further on; the rest
     * (the last `distance` ones, or all of them when distance is 0) have nothing left to ask
     * for. Same loop shape in both parts, so distance 0 is a fair baseline. */
    int64_t ahead = (distance > 0 && distance < n) ? n - distance : 0;
    for (; i + 4 <= ahead; i += 4) {
        /* rw = 0: for reading; locality = 3: keep it in every level of the cache */
        __builtin_prefetch(&data[idx[i + distance]], 0, 3);
        __builtin_prefetch(&data[idx[i + distance + 1]], 0, 3);
        __builtin_prefetch(&data[idx[i + distance + 2]], 0, 3);
        __builtin_prefetch(&data[idx[i + distance + 3]], 0, 3);
        s0 += data[idx[i]];
        s1 += data[idx[i + 1]];
        s2 += data[idx[i + 2]];
        s3 += data[idx[i + 3]];
    }
    for (; i < ahead; i++) {
        __builtin_prefetch(&data[idx[i + distance]], 0, 3);
        s0 += data[idx[i]];
    }
    for (; i + 4 <= n; i += 4) {
        s0 += data[idx[i]];
        s1 += data[idx[i + 1]];
        s2 += data[idx[i + 2]];
        s3 += data[idx[i + 3]];
    }
    for (; i < n; i++)
        s0 += data[idx[i]];
    return (s0 + s1) + (s2 + s3);
}

/* ==================================================================================== chunks */
int mem_chunk(int64_t n, int nthreads, int t, int64_t *lo, int64_t *hi)
{
    if (n < 0 || nthreads < 1 || t < 0 || t >= nthreads || !lo || !hi)
        return MEM_E_ARG;
    int64_t lines = (n + MEM_LINE_DOUBLES - 1) / MEM_LINE_DOUBLES;
    int64_t per = (lines + nthreads - 1) / nthreads * MEM_LINE_DOUBLES;
    int64_t a = (int64_t)t * per;
    *lo = a < n ? a : n;
    *hi = a + per < n ? a + per : n;
    return MEM_OK;
}

/* ================================================================================== kernels */
/* The plain kernels. restrict: the arrays do not overlap, so the compiler need not check.
 * Vectors of 2 doubles (GCC/Clang vector extensions: one SSE2 or NEON register), two per
 * iteration: GCC at -O2 vectorises only loops whose trip count suits it (its "very cheap"
 * cost model), so a plain loop here would stay scalar while numba's LLVM (at -O3) vectorises
 * its own; writing the lanes out keeps the comparison fair. memcpy into a vector is an
 * unaligned load or store (NumPy arrays are only 8- or 16-byte aligned). The compiler may
 * still turn the copy loop into a call to memmove (it recognises the idiom); "c" copy is then
 * the C library's copy, as it is in the original stream.c built by GCC. */
#if defined(__GNUC__)
#define MEM_VEC 1
typedef double v2d __attribute__((vector_size(16)));
static inline v2d ld2(const double *p)
{
    v2d v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st2(double *p, v2d v) { memcpy(p, &v, sizeof v); }
#else
#define MEM_VEC 0
#endif

static void k_copy(const double *restrict a, double *restrict c, int64_t lo, int64_t hi)
{
    int64_t i = lo;
#if MEM_VEC
    for (; i + 4 <= hi; i += 4) {
        st2(c + i, ld2(a + i));
        st2(c + i + 2, ld2(a + i + 2));
    }
#endif
    for (; i < hi; i++)
        c[i] = a[i];
}

static void k_scale(double *restrict b, const double *restrict c, double s, int64_t lo, int64_t hi)
{
    int64_t i = lo;
#if MEM_VEC
    const v2d vs = {s, s};
    for (; i + 4 <= hi; i += 4) {
        st2(b + i, vs * ld2(c + i));
        st2(b + i + 2, vs * ld2(c + i + 2));
    }
#endif
    for (; i < hi; i++)
        b[i] = s * c[i];
}

static void k_add(const double *restrict a, const double *restrict b, double *restrict c,
                  int64_t lo, int64_t hi)
{
    int64_t i = lo;
#if MEM_VEC
    for (; i + 4 <= hi; i += 4) {
        st2(c + i, ld2(a + i) + ld2(b + i));
        st2(c + i + 2, ld2(a + i + 2) + ld2(b + i + 2));
    }
#endif
    for (; i < hi; i++)
        c[i] = a[i] + b[i];
}

static void k_triad(double *restrict a, const double *restrict b, const double *restrict c,
                    double s, int64_t lo, int64_t hi)
{
    int64_t i = lo;
#if MEM_VEC
    const v2d vs = {s, s};
    for (; i + 4 <= hi; i += 4) {
        st2(a + i, ld2(b + i) + vs * ld2(c + i));
        st2(a + i + 2, ld2(b + i + 2) + vs * ld2(c + i + 2));
    }
#endif
    for (; i < hi; i++)
        a[i] = b[i] + s * c[i];
}

#if MEM_HAVE_NT
/* One non-temporal kernel per STREAM kernel: dst[i] = EXPR, where EXPR uses x[i] (and y[i]) as
 * X (and Y) for one element, VX (and VY) for a pair loaded into an SSE register. */
#define NT_KERNEL(NAME, SCALAR, VECTOR)                                                         \
    static void NAME(double *restrict dst, const double *restrict x, const double *restrict y, \
                     double s, int64_t lo, int64_t hi)                                         \
    {                                                                                          \
        (void)y; (void)s;                                                                      \
        const __m128d vs = _mm_set1_pd(s);                                                     \
        (void)vs;                                                                              \
        int64_t i = lo;                                                                        \
        /* head: ordinary stores until dst + i is 16-byte aligned (at most one double) */      \
        for (; i < hi && ((uintptr_t)(dst + i) & 15u); i++) {                                  \
            double X = x[i], Y = y ? y[i] : 0.0;                                               \
            (void)Y;                                                                           \
            dst[i] = (SCALAR);                                                                 \
        }                                                                                      \
        /* body: one 64-byte line (8 doubles) per iteration, as 4 streaming pairs */           \
        for (; i + 8 <= hi; i += 8) {                                                          \
            for (int k = 0; k < 8; k += 2) {                                                   \
                __m128d VX = _mm_loadu_pd(x + i + k);                                          \
                __m128d VY = y ? _mm_loadu_pd(y + i + k) : VX;                                 \
                (void)VY;                                                                      \
                _mm_stream_pd(dst + i + k, (VECTOR));                                          \
            }                                                                                  \
        }                                                                                      \
        for (; i + 2 <= hi; i += 2) {                                                          \
            __m128d VX = _mm_loadu_pd(x + i);                                                  \
            __m128d VY = y ? _mm_loadu_pd(y + i) : VX;                                         \
            (void)VY;                                                                          \
            _mm_stream_pd(dst + i, (VECTOR));                                                  \
        }                                                                                      \
        /* tail: the last odd element */                                                       \
        for (; i < hi; i++) {                                                                  \
            double X = x[i], Y = y ? y[i] : 0.0;                                               \
            (void)Y;                                                                           \
            dst[i] = (SCALAR);                                                                 \
        }                                                                                      \
        /* the streaming stores are weakly ordered: make them visible before the barrier */    \
        _mm_sfence();                                                                          \
    }

NT_KERNEL(nt_copy, X, VX)                                             /* c = a       */
NT_KERNEL(nt_scale, s * X, _mm_mul_pd(vs, VX))                        /* b = s c     */
NT_KERNEL(nt_add, X + Y, _mm_add_pd(VX, VY))                          /* c = a + b   */
NT_KERNEL(nt_triad, X + s * Y, _mm_add_pd(VX, _mm_mul_pd(vs, VY)))    /* a = b + s c */
#endif

#define MEM_INIT (-1) /* internal kernel number: first touch */

typedef struct {
    _Alignas(MEM_LINE) _Atomic int count; /* arrivals still expected at this instance */
    char pad0[MEM_LINE - sizeof(int)];
    _Alignas(MEM_LINE) _Atomic int sense; /* flips once per instance */
    char pad1[MEM_LINE - sizeof(int)];
    int total;
} mem_barrier;

static void barrier_wait(mem_barrier *b, int *local_sense)
{
    int mine = !*local_sense; /* the value the sense takes when this instance opens */
    *local_sense = mine;
    if (atomic_fetch_sub_explicit(&b->count, 1, memory_order_acq_rel) == 1) {
        /* the last to arrive: reset for the next instance, then open this one. The reset is
         * ordered before the release store, so no thread can arrive at the next instance and
         * see the old count. */
        atomic_store_explicit(&b->count, b->total, memory_order_relaxed);
        atomic_store_explicit(&b->sense, mine, memory_order_release);
        return;
    }
    int spins = 0;
    while (atomic_load_explicit(&b->sense, memory_order_acquire) != mine) {
        if (++spins < MEM_SPINS) {
            cpu_relax();
        } else {
            sched_yield();
            spins = 0;
        }
    }
}

typedef struct {
    int kernel, nt, nthreads;
    double *a, *b, *c;
    int64_t n, reps;
    double scalar, init[3];
    double *times;
    mem_barrier bar;
    _Alignas(MEM_LINE) _Atomic int go; /* 0: wait, 1: run, -1: abort (a worker failed to start) */
} mem_job;

typedef struct {
    mem_job *job;
    int t;
} mem_worker;

static void fill(double *x, double v, int64_t lo, int64_t hi)
{
    if (x)
        for (int64_t i = lo; i < hi; i++)
            x[i] = v;
}

static void one_rep(mem_job *j, int64_t lo, int64_t hi)
{
    double s = j->scalar;
#if MEM_HAVE_NT
    if (j->nt) {
        switch (j->kernel) {
        case MEM_COPY: nt_copy(j->c, j->a, NULL, s, lo, hi); return;
        case MEM_SCALE: nt_scale(j->b, j->c, NULL, s, lo, hi); return;
        case MEM_ADD: nt_add(j->c, j->a, j->b, s, lo, hi); return;
        case MEM_TRIAD: nt_triad(j->a, j->b, j->c, s, lo, hi); return;
        }
    }
#endif
    switch (j->kernel) {
    case MEM_COPY: k_copy(j->a, j->c, lo, hi); break;
    case MEM_SCALE: k_scale(j->b, j->c, s, lo, hi); break;
    case MEM_ADD: k_add(j->a, j->b, j->c, lo, hi); break;
    case MEM_TRIAD: k_triad(j->a, j->b, j->c, s, lo, hi); break;
    case MEM_MEMCPY:
        if (hi > lo)
            memcpy(j->c + lo, j->a + lo, (size_t)(hi - lo) * sizeof(double));
        break;
    }
}

static void run_thread(mem_job *j, int t)
{
    int64_t lo, hi;
    int sense = 0;
    mem_chunk(j->n, j->nthreads, t, &lo, &hi);
    if (j->kernel == MEM_INIT) {
        fill(j->a, j->init[0], lo, hi);
        fill(j->b, j->init[1], lo, hi);
        fill(j->c, j->init[2], lo, hi);
        barrier_wait(&j->bar, &sense);
        return;
    }
    barrier_wait(&j->bar, &sense); /* everyone has started: the clock may start */
    double t_prev = t == 0 ? now_seconds() : 0.0;
    for (int64_t r = 0; r < j->reps; r++) {
        one_rep(j, lo, hi);
        barrier_wait(&j->bar, &sense); /* the rep ends when the slowest thread is done */
        if (t == 0) {
            double t_now = now_seconds();
            j->times[r] = t_now - t_prev;
            t_prev = t_now;
        }
    }
}

static void *worker_main(void *arg)
{
    mem_worker *w = arg;
    int spins = 0, go;
    while ((go = atomic_load_explicit(&w->job->go, memory_order_acquire)) == 0) {
        if (++spins < MEM_SPINS) {
            cpu_relax();
        } else {
            sched_yield();
            spins = 0;
        }
    }
    if (go > 0)
        run_thread(w->job, w->t);
    return NULL;
}

static int run_job(mem_job *j)
{
    int T = j->nthreads;
    j->bar.total = T;
    atomic_init(&j->bar.count, T);
    atomic_init(&j->bar.sense, 0);
    atomic_init(&j->go, 0);
    if (T == 1) {
        atomic_store_explicit(&j->go, 1, memory_order_relaxed);
        run_thread(j, 0);
        return MEM_OK;
    }
    pthread_t *th = malloc(sizeof(pthread_t) * (size_t)(T - 1));
    mem_worker *ws = malloc(sizeof(mem_worker) * (size_t)(T - 1));
    if (!th || !ws) {
        free(th);
        free(ws);
        return MEM_E_THREAD;
    }
    int started = 0;
    for (; started < T - 1; started++) {
        ws[started].job = j;
        ws[started].t = started + 1;
        if (pthread_create(&th[started], NULL, worker_main, &ws[started]) != 0)
            break;
    }
    int ok = started == T - 1;
    atomic_store_explicit(&j->go, ok ? 1 : -1, memory_order_release);
    if (ok)
        run_thread(j, 0);
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    free(th);
    free(ws);
    return ok ? MEM_OK : MEM_E_THREAD;
}

int mem_stream(int kernel, double *a, double *b, double *c, int64_t n, double scalar,
               int nthreads, int64_t reps, int nt, double *times)
{
    if (kernel < 0 || kernel >= MEM_NKERNELS || n < 0 || nthreads < 1 ||
        nthreads > MEM_MAX_THREADS || reps < 1 || !times || (nt != 0 && nt != 1))
        return MEM_E_ARG;
    if (nt && kernel == MEM_MEMCPY)
        return MEM_E_ARG; /* memcpy chooses its own stores */
    if (nt && !MEM_HAVE_NT)
        return MEM_E_NOT_BUILT;
    /* every array the kernel reads or writes must be there: c is used by all of them, a by
     * all but scale, b by scale, add and triad */
    int need_a = kernel != MEM_SCALE;
    int need_b = kernel == MEM_SCALE || kernel == MEM_ADD || kernel == MEM_TRIAD;
    if ((need_a && !a) || (need_b && !b) || !c)
        return MEM_E_ARG;
    mem_job job;
    memset(&job, 0, sizeof job);
    job.kernel = kernel;
    job.nt = nt;
    job.nthreads = nthreads;
    job.a = a;
    job.b = b;
    job.c = c;
    job.n = n;
    job.reps = reps;
    job.scalar = scalar;
    job.times = times;
    return run_job(&job);
}

int mem_stream_init(double *a, double *b, double *c, int64_t n, double va, double vb, double vc,
                    int nthreads)
{
    if (n < 0 || nthreads < 1 || nthreads > MEM_MAX_THREADS)
        return MEM_E_ARG;
    mem_job job;
    memset(&job, 0, sizeof job);
    job.kernel = MEM_INIT;
    job.nthreads = nthreads;
    job.a = a;
    job.b = b;
    job.c = c;
    job.n = n;
    job.init[0] = va;
    job.init[1] = vb;
    job.init[2] = vc;
    return run_job(&job);
}
