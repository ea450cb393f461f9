/* numa.h: where a page lives (move_pages in query mode) and which CPU a thread runs on, for
 * course_lib.memory.numa and course_lib.memory.affinity (chapter c06). */
#ifndef COURSE_NUMA_H
#define COURSE_NUMA_H
#include <stdint.h>

/* Returned instead of an errno when the call cannot be made at all. */
#define NUMA_ERR_NOT_LINUX -1
#define NUMA_ERR_NO_SYSCALL -2

/* status[i] = the NUMA node of the page holding pages[i], or a negative errno for that page
 * (-ENOENT: not present, never touched; -EFAULT: the shared zero page or not mapped).
 * Returns 0; a positive errno when the system call failed (EPERM: filtered, e.g. by a
 * container's seccomp profile; ENOSYS: kernel without NUMA); NUMA_ERR_NOT_LINUX off Linux;
 * NUMA_ERR_NO_SYSCALL when the C library does not know the call's number. */
int numa_page_nodes(void **pages, int64_t count, int *status);

/* The CPU the calling thread is running on right now (sched_getcpu), or -1 when unknown. */
int numa_current_cpu(void);

/* 0 when move_pages answers a query about one page of this thread's stack, else the error
 * numa_page_nodes returns. */
int numa_probe_move_pages(void);

#endif
