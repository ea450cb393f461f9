/* perfev.h: hardware and software event counters around a call (Linux perf_event_open), and a
 * marker function that callgrind starts and stops counting at, for course_lib.profile.counters
 * and course_lib.profile.instructions (chapter c07). */
#ifndef COURSE_PERFEV_H
#define COURSE_PERFEV_H
#include <stdint.h>

/* Returned instead of a negative errno when the call cannot be made at all. Far below any errno
 * (Linux's largest is 133), so Python can never mistake them for one. */
#define PERFEV_ERR_NOT_LINUX -100001
#define PERFEV_ERR_NO_SYSCALL -100002

/* Event types and configs: the numbers of the kernel's ABI (include/uapi/linux/perf_event.h),
 * repeated here so that Python can read them on every OS. */
#define PERFEV_TYPE_HARDWARE 0
#define PERFEV_TYPE_SOFTWARE 1
#define PERFEV_TYPE_HW_CACHE 3

#define PERFEV_HW_CPU_CYCLES 0
#define PERFEV_HW_INSTRUCTIONS 1
#define PERFEV_HW_CACHE_REFERENCES 2
#define PERFEV_HW_CACHE_MISSES 3
#define PERFEV_HW_BRANCH_INSTRUCTIONS 4
#define PERFEV_HW_BRANCH_MISSES 5

#define PERFEV_SW_CPU_CLOCK 0
#define PERFEV_SW_TASK_CLOCK 1
#define PERFEV_SW_PAGE_FAULTS 2
#define PERFEV_SW_CONTEXT_SWITCHES 3
#define PERFEV_SW_CPU_MIGRATIONS 4
#define PERFEV_SW_PAGE_FAULTS_MIN 5
#define PERFEV_SW_PAGE_FAULTS_MAJ 6

/* A HW_CACHE config is cache | (operation << 8) | (result << 16). */
#define PERFEV_CACHE_L1D 0
#define PERFEV_CACHE_LL 2
#define PERFEV_CACHE_DTLB 3
#define PERFEV_CACHE_OP_READ 0
#define PERFEV_CACHE_RESULT_ACCESS 0
#define PERFEV_CACHE_RESULT_MISS 1

/* Open one counter; returns its file descriptor (>= 0) or a negative errno (-EACCES, -ENOENT,
 * ...) or PERFEV_ERR_*. pid: 0 = the calling thread, or a thread id (tid); cpu -1 = wherever that
 * thread runs. group_fd: -1 for a counter of its own (or a group leader), else the leader's fd.
 * disabled: 1 = created stopped (leaders and single counters), 0 = follows its leader.
 * inherit: 1 = threads that the counted thread creates later are counted too.
 * exclude_kernel: 1 = count user space only (allowed at perf_event_paranoid 2).
 * Every counter reads as {value, time enabled, time running} (for multiplexing). */
int perfev_open(uint32_t type, uint64_t config, int32_t pid, int32_t cpu, int32_t group_fd,
                int32_t disabled, int32_t inherit, int32_t exclude_kernel);

/* Reset then enable / disable each of the n counters, in one tight loop; 0 or the first
 * negative errno. */
int perfev_start(const int32_t *fds, int32_t n);
int perfev_stop(const int32_t *fds, int32_t n);

/* out[3*i .. 3*i+2] = value, time enabled (ns), time running (ns) of fds[i]; errors[i] = 0 or a
 * negative errno for that counter. Returns how many counters could not be read. */
int perfev_read_all(const int32_t *fds, int32_t n, uint64_t *out, int32_t *errors);

/* Close n counters (a negative fd is skipped); 0 or the first negative errno. */
int perfev_close_all(const int32_t *fds, int32_t n);

/* The calling thread's id (gettid), or -1 off Linux. */
int32_t perfev_thread_id(void);

/* The region callgrind counts: calls body, a `void (*)(void)` function (a cffi callback), and
 * returns. course_lib.profile.instructions runs valgrind --tool=callgrind
 * --toggle-collect=perfev_region, so only instructions executed inside it (on the calling
 * thread) are counted, and --dump-after=perfev_region writes one count per call. Never inlined.
 * body is passed as void * to keep this header's declarations plain names and types. */
void perfev_region(void *body);

/* 1 when this module was built with valgrind's client-request header (valgrind/callgrind.h),
 * else 0. */
int perfev_has_client_requests(void);

/* 1 when this module was built with valgrind's client-request header and runs under valgrind,
 * else 0. */
int perfev_on_valgrind(void);

/* Ask callgrind to start instrumenting now (for valgrind --instr-atstart=no: the start-up,
 * imports and compilation run about ten times faster uninstrumented). Returns 1 when the request
 * was made, 0 when this build has no client-request header. */
int perfev_callgrind_instrument(void);

#endif
