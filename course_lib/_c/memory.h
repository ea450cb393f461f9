/* memory.h: memory-hierarchy experiments for course_lib.memory (cffi, chapter c06): a pointer
 * chase (latency), an indirect gather with software prefetch, McCalpin's STREAM kernels on
 * threads (bandwidth), with ordinary or non-temporal stores, and a threaded memcpy. */
#ifndef COURSE_MEMORY_H
#define COURSE_MEMORY_H
#include <stdint.h>

/* The kernels of mem_stream, in STREAM's order. */
#define MEM_COPY 0   /* c[i] = a[i]              16 bytes counted per element */
#define MEM_SCALE 1  /* b[i] = s * c[i]          16 bytes */
#define MEM_ADD 2    /* c[i] = a[i] + b[i]       24 bytes */
#define MEM_TRIAD 3  /* a[i] = b[i] + s * c[i]   24 bytes */
#define MEM_MEMCPY 4 /* memcpy(c, a): the C library's copy, 16 bytes */
#define MEM_NKERNELS 5

/* Status codes: 0 is success, every error is negative. */
#define MEM_OK 0
#define MEM_E_ARG -1       /* a bad argument: negative length, no threads, unknown kernel */
#define MEM_E_THREAD -2    /* pthread_create failed (too many threads for the OS) */
#define MEM_E_NOT_BUILT -3 /* non-temporal stores asked for, but not built for this ISA */
#define MEM_E_RANGE -4     /* the chase left its array: next[] is not a permutation of it */

/* The most threads one call may start. */
#define MEM_MAX_THREADS 1024

/* 1 when the non-temporal store kernels were compiled in (x86-64 with SSE2), else 0. */
int mem_nt_available(void);
/* The instruction behind them ("movntpd (SSE2)"), or "" where there is none. */
const char *mem_nt_isa(void);

/* Latency: i = next[i], steps times, from start. Writes the last index to *end and the elapsed
 * time per step in nanoseconds (clock_gettime, CLOCK_MONOTONIC) to *ns_per_step. */
int mem_chase(const int64_t *next, int64_t len, int64_t start, int64_t steps, int64_t *end,
              double *ns_per_step);

/* The sum of data[idx[i]] for i < n; with distance > 0, data[idx[i + distance]] is prefetched.
 * The indices are not checked here (Python does it once): each must lie in the data array. */
double mem_gather_sum(const double *data, const int64_t *idx, int64_t n, int64_t distance);

/* Bandwidth: run one kernel reps times on nthreads threads, each on its own contiguous chunk;
 * times[r] gets the seconds of rep r (all threads, barrier to barrier). nt = 1: non-temporal
 * stores. Arrays are n doubles each; the ones a kernel does not use may be NULL. */
int mem_stream(int kernel, double *a, double *b, double *c, int64_t n, double scalar,
               int nthreads, int64_t reps, int nt, double *times);

/* First touch: write va, vb, vc into a, b, c with the same threads and chunks as mem_stream,
 * so that (Linux's first-touch policy) each page lives on the NUMA node of its thread. Any
 * array may be NULL (skipped). */
int mem_stream_init(double *a, double *b, double *c, int64_t n, double va, double vb, double vc,
                    int nthreads);

/* The chunk [*lo, *hi) that thread t of nthreads gets out of n elements (for tests and plots). */
int mem_chunk(int64_t n, int nthreads, int t, int64_t *lo, int64_t *hi);

#endif
