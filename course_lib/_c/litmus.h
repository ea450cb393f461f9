/* litmus.h: two-thread litmus tests (SB, MP, LB, 2+2W) on real hardware, for course_lib.atomics.litmus. */
#ifndef COURSE_LITMUS_H
#define COURSE_LITMUS_H
#include <stdint.h>

enum { CL_SB = 0, CL_MP = 1, CL_LB = 2, CL_2P2W = 3 };
enum { CL_RELAXED = 0, CL_ACQ_REL = 1, CL_SEQ_CST = 2 };

/* Run `iterations` instances of `test` (in batches of `batch`), with the accesses at `mode`
 * and, if `fenced`, a seq_cst fence between each thread's two accesses. Thread 0 runs on CPU
 * cpu0 and thread 1 on cpu1 when both are >= 0 (Linux), else unpinned. Stops early after
 * max_seconds. histogram[a * 4 + b] counts outcome (a, b). Returns 0, or -1 if the threads
 * could not be started. *done gets the iterations run, *pinned whether pinning worked. */
int cl_run(int test, int mode, int fenced, uint64_t iterations, uint32_t batch,
           double max_seconds, int cpu0, int cpu1, int spin_before_yield,
           uint64_t *histogram, uint64_t *done, int *pinned);

#endif
