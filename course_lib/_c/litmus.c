/*
 * litmus.c: classic two-thread litmus tests run on the real machine, counting outcomes.
 *
 * What it implements
 *   cl_run() starts two POSIX threads (pinned to two CPUs on Linux) that run millions of
 *   instances of one test: SB (store buffering), MP (message passing), LB (load buffering) or
 *   2+2W (two writes each), and returns how often each outcome occurred.
 *   1. Memory: every instance i has its own variables x[i], y[i] and result slots r0[i], r1[i]
 *      (arrays of one batch), so that no instance sees another's writes; the arrays are reset
 *      between batches.
 *   2. Racing: before instance i the two threads meet at a tiny barrier (each publishes "I am at
 *      i" and spins until the other is there too). They leave it within a few tens of
 *      nanoseconds of each other, so the two bodies really overlap; without it one thread would
 *      run far ahead and only the sequential outcomes would show.
 *   3. Per batch: thread 1 says "batch done", thread 0 counts the outcomes, resets the arrays and
 *      starts the next batch, or stops at the iteration or time limit.
 *   The idea (per-instance memory, a synchronising barrier, batches) follows the litmus7 tool;
 *   this code is written from scratch and much simpler.
 *
 * Source
 *   J. Alglave, L. Maranget et al., "Litmus: Running Tests against Hardware", TACAS 2011;
 *   P. Sewell et al., "x86-TSO: A Rigorous and Usable Programmer's Model for x86
 *   Multiprocessors", CACM 53(7), 2010 (why SB shows r0 = r1 = 0 on x86).
 *
 * Threads and memory ordering
 *   The test bodies use C11 atomics at the ordering chosen (all relaxed; release stores with
 *   acquire loads; all seq_cst), optionally with a seq_cst fence between the two accesses. An
 *   atomic_signal_fence (a compiler-only barrier, no instruction) also sits between them, so
 *   the compiler keeps program order and the histogram shows what the *hardware* does.
 *   The barrier counters use release stores / acquire loads: arriving publishes the previous
 *   instance's results and resets; the barrier's own ordering does not affect the tested
 *   accesses that follow it, which are what race. The batch hand-over uses release/acquire
 *   too, so thread 0 reads the result arrays only after thread 1's writes to them happen-before.
 *   On a single usable core the threads time-slice (sched_yield while waiting): the test still
 *   runs, but the relaxed outcomes become rare.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "litmus.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CL_LINE 64

typedef struct {
    _Alignas(CL_LINE) _Atomic uint64_t at;  /* the instance (+1) this thread has reached */
    char pad[CL_LINE - sizeof(uint64_t)];
} cl_flag;

typedef struct {
    int test, mode, fenced, cpu[2], spin;
    uint32_t batch;
    _Atomic int64_t *x, *y;       /* per-instance variables, reset to 0 per batch */
    int8_t *r0, *r1;              /* per-instance registers: r0 written by thread 0, r1 by 1 */
    cl_flag arrive[2];            /* per-instance barrier */
    cl_flag batch_go, batch_done; /* batch hand-over: thread 0 -> 1, thread 1 -> 0 */
    _Atomic int stop;
    _Atomic int pinned[2];
} cl_shared;

static inline void cl_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spin until *f >= target; after `spin` tries, yield the CPU (a must on one core). */
static void cl_wait(cl_flag *f, uint64_t target, int spin)
{
    int tries = 0;
    /* acquire: what the other thread did before publishing (e.g. resetting) is visible now */
    while (atomic_load_explicit(&f->at, memory_order_acquire) < target) {
        if (++tries >= spin) {
            sched_yield();
            tries = 0;
        } else {
            cl_relax();
        }
    }
}

#define CL_CF atomic_signal_fence(memory_order_seq_cst) /* compiler barrier only */

/* One instance of the test, for thread t, at the orderings LD (loads) and ST (stores). */
#define CL_BODY(LD, ST)                                                                        \
    do {                                                                                       \
        _Atomic int64_t *x = &s->x[i], *y = &s->y[i];                                          \
        switch (s->test) {                                                                     \
        case CL_SB: /* t0: x=1; r0=y   t1: y=1; r1=x */                                        \
            if (t == 0) {                                                                      \
                atomic_store_explicit(x, 1, ST); CL_CF; FENCE;                                 \
                s->r0[i] = (int8_t)atomic_load_explicit(y, LD);                                \
            } else {                                                                           \
                atomic_store_explicit(y, 1, ST); CL_CF; FENCE;                                 \
                s->r1[i] = (int8_t)atomic_load_explicit(x, LD);                                \
            }                                                                                  \
            break;                                                                             \
        case CL_MP: /* t0: x=1; y=1   t1: r0=y; r1=x */                                        \
            if (t == 0) {                                                                      \
                atomic_store_explicit(x, 1, ST); CL_CF; FENCE;                                 \
                atomic_store_explicit(y, 1, ST);                                               \
            } else {                                                                           \
                s->r0[i] = (int8_t)atomic_load_explicit(y, LD); CL_CF; FENCE;                  \
                s->r1[i] = (int8_t)atomic_load_explicit(x, LD);                                \
            }                                                                                  \
            break;                                                                             \
        case CL_LB: /* t0: r0=x; y=1   t1: r1=y; x=1 */                                        \
            if (t == 0) {                                                                      \
                s->r0[i] = (int8_t)atomic_load_explicit(x, LD); CL_CF; FENCE;                  \
                atomic_store_explicit(y, 1, ST);                                               \
            } else {                                                                           \
                s->r1[i] = (int8_t)atomic_load_explicit(y, LD); CL_CF; FENCE;                  \
                atomic_store_explicit(x, 1, ST);                                               \
            }                                                                                  \
            break;                                                                             \
        default: /* 2+2W  t0: x=1; y=2   t1: y=1; x=2   (outcome: final x, y) */               \
            if (t == 0) {                                                                      \
                atomic_store_explicit(x, 1, ST); CL_CF; FENCE;                                 \
                atomic_store_explicit(y, 2, ST);                                               \
            } else {                                                                           \
                atomic_store_explicit(y, 1, ST); CL_CF; FENCE;                                 \
                atomic_store_explicit(x, 2, ST);                                               \
            }                                                                                  \
            break;                                                                             \
        }                                                                                      \
    } while (0)

#define CL_DEFINE_BODY(NAME, LD, ST, FENCE_STMT)                                               \
    static void NAME(cl_shared *s, int t, uint32_t i)                                          \
    {                                                                                          \
        CL_BODY(LD, ST);                                                                       \
    }
#define FENCE ((void)0)
CL_DEFINE_BODY(cl_body_relaxed, memory_order_relaxed, memory_order_relaxed, 0)
CL_DEFINE_BODY(cl_body_acq_rel, memory_order_acquire, memory_order_release, 0)
CL_DEFINE_BODY(cl_body_seq_cst, memory_order_seq_cst, memory_order_seq_cst, 0)
#undef FENCE
#define FENCE atomic_thread_fence(memory_order_seq_cst)
CL_DEFINE_BODY(cl_body_relaxed_f, memory_order_relaxed, memory_order_relaxed, 1)
CL_DEFINE_BODY(cl_body_acq_rel_f, memory_order_acquire, memory_order_release, 1)
CL_DEFINE_BODY(cl_body_seq_cst_f, memory_order_seq_cst, memory_order_seq_cst, 1)
#undef FENCE

typedef void (*cl_body_fn)(cl_shared *, int, uint32_t);

typedef struct {
    cl_shared *s;
    int t;
    uint64_t iterations, done;
    double max_seconds;
    uint64_t *histogram;
} cl_thread_arg;

static double cl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cl_pin(int cpu)
{
#if defined(__linux__)
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0; /* 0: the calling thread */
#else
    (void)cpu;
    return 0; /* macOS has no CPU pinning API; threads run where the scheduler puts them */
#endif
}

static void cl_tally(cl_shared *s, uint32_t n, uint64_t *histogram)
{
    for (uint32_t i = 0; i < n; ++i) {
        int a, b;
        if (s->test == CL_2P2W) {
            a = (int)atomic_load_explicit(&s->x[i], memory_order_relaxed);
            b = (int)atomic_load_explicit(&s->y[i], memory_order_relaxed);
        } else {
            a = s->r0[i];
            b = s->r1[i];
        }
        histogram[(a & 3) * 4 + (b & 3)]++;
        atomic_store_explicit(&s->x[i], 0, memory_order_relaxed);
        atomic_store_explicit(&s->y[i], 0, memory_order_relaxed);
    }
}

static void *cl_thread(void *p)
{
    cl_thread_arg *a = p;
    cl_shared *s = a->s;
    const int t = a->t;
    atomic_store_explicit(&s->pinned[t], cl_pin(s->cpu[t]), memory_order_relaxed);
    static const cl_body_fn bodies[2][3] = {
        {cl_body_relaxed, cl_body_acq_rel, cl_body_seq_cst},
        {cl_body_relaxed_f, cl_body_acq_rel_f, cl_body_seq_cst_f}};
    const cl_body_fn body = bodies[s->fenced ? 1 : 0][s->mode];
    const double deadline = cl_now() + a->max_seconds;
    uint64_t seq = 0; /* barrier generation: instances entered so far */
    for (uint64_t b = 0;; ++b) {
        /* Batch start: thread 1 waits for thread 0's go (arrays reset, or stop). */
        if (t == 1) {
            cl_wait(&s->batch_go, b + 1, s->spin);
            if (atomic_load_explicit(&s->stop, memory_order_relaxed))
                break;
        }
        uint64_t left = a->iterations - a->done;
        uint32_t n = left < s->batch ? (uint32_t)left : s->batch;
        for (uint32_t i = 0; i < n; ++i) {
            ++seq;
            /* release: our previous instance's accesses are done before the other sees us */
            atomic_store_explicit(&s->arrive[t].at, seq, memory_order_release);
            cl_wait(&s->arrive[1 - t], seq, s->spin);
            body(s, t, i);
        }
        a->done += n;
        if (t == 1) {
            /* release: our r1[] writes and stores happen-before thread 0's tally */
            atomic_store_explicit(&s->batch_done.at, b + 1, memory_order_release);
            continue;
        }
        cl_wait(&s->batch_done, b + 1, s->spin);
        cl_tally(s, n, a->histogram);
        int stop = a->done >= a->iterations || cl_now() > deadline;
        atomic_store_explicit(&s->stop, stop, memory_order_relaxed);
        /* release: the reset arrays and the stop flag are visible to thread 1 before it goes */
        atomic_store_explicit(&s->batch_go.at, b + 2, memory_order_release);
        if (stop)
            break;
    }
    return NULL;
}

int cl_run(int test, int mode, int fenced, uint64_t iterations, uint32_t batch,
           double max_seconds, int cpu0, int cpu1, int spin_before_yield,
           uint64_t *histogram, uint64_t *done, int *pinned)
{
    if (batch == 0)
        batch = 1;
    cl_shared *s = aligned_alloc(CL_LINE, (sizeof(cl_shared) + CL_LINE - 1) / CL_LINE * CL_LINE);
    if (!s)
        return -1;
    memset(s, 0, sizeof *s);
    s->test = test;
    s->mode = mode < 0 || mode > 2 ? CL_SEQ_CST : mode;
    s->fenced = fenced;
    s->batch = batch;
    s->cpu[0] = cpu0;
    s->cpu[1] = cpu1;
    s->spin = spin_before_yield < 1 ? 1 : spin_before_yield;
    s->x = calloc(batch, sizeof *s->x);
    s->y = calloc(batch, sizeof *s->y);
    s->r0 = calloc(batch, 1);
    s->r1 = calloc(batch, 1);
    memset(histogram, 0, 16 * sizeof *histogram);
    int rc = -1;
    if (s->x && s->y && s->r0 && s->r1) {
        /* batch_go starts at 1: batch 0 may begin at once */
        atomic_store_explicit(&s->batch_go.at, 1, memory_order_relaxed);
        cl_thread_arg args[2] = {{s, 0, iterations, 0, max_seconds, histogram},
                                 {s, 1, iterations, 0, max_seconds, histogram}};
        pthread_t th[2];
        int started = 0;
        for (; started < 2; ++started)
            if (pthread_create(&th[started], NULL, cl_thread, &args[started]) != 0)
                break;
        if (started == 2) {
            for (int k = 0; k < 2; ++k)
                pthread_join(th[k], NULL);
            *done = args[0].done;
            *pinned = atomic_load(&s->pinned[0]) && atomic_load(&s->pinned[1]);
            rc = 0;
        } else if (started == 1) { /* cannot happen in practice; do not leave it spinning */
            atomic_store(&s->stop, 1);
            atomic_store(&s->batch_go.at, UINT64_MAX);
            pthread_cancel(th[0]);
            pthread_join(th[0], NULL);
        }
    }
    free(s->x);
    free(s->y);
    free(s->r0);
    free(s->r1);
    free(s);
    return rc;
}
