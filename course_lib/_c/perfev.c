/*
 * perfev.c: count hardware and software events (cycles, instructions, cache misses, page faults,
 * context switches...) around a call, and mark a region for callgrind, for chapter c07
 * (course_lib.profile.counters, course_lib.profile.instructions).
 *
 * What it implements
 *   perfev_open: a thin wrapper of the perf_event_open(2) system call. It fills a struct
 *   perf_event_attr from a few integers (type, config, disabled, inherit, exclude_kernel) and
 *   always asks for read_format = TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING: a CPU has only a few
 *   hardware counters (often 4 to 8 per core), and when more events are asked for, the kernel
 *   time-shares ("multiplexes") them; reading both times lets Python scale the raw value up to
 *   an estimate for the whole window: value * enabled / running. exclude_hv is always set (the
 *   hypervisor is never ours to count). The counter is created with O_CLOEXEC semantics
 *   (PERF_FLAG_FD_CLOEXEC), so a subprocess started meanwhile does not inherit it.
 *   A group: a counter opened with group_fd = a leader's fd is scheduled onto the PMU together
 *   with the leader, all or nothing, so ratios between its members (instructions per cycle) are
 *   over exactly the same time. Members are opened enabled (disabled = 0) and follow the leader.
 *   perfev_start / perfev_stop: PERF_EVENT_IOC_RESET + PERF_EVENT_IOC_ENABLE, then
 *   PERF_EVENT_IOC_DISABLE, over an array of fds in one C loop, so the few hundred nanoseconds
 *   between the first and the last counter are not spent in Python.
 *   perfev_read_all: read(2) of each counter: three u64 (value, enabled, running).
 *   Every failure returns -errno, read at once, so Python can explain it: -EACCES / -EPERM (the
 *   kernel's perf_event_paranoid policy, or a container's seccomp filter), -ENOENT /
 *   -EOPNOTSUPP / -ENODEV (no such event on this CPU, or a VM that exposes no PMU), -ESRCH (the
 *   thread is gone), -EMFILE (out of file descriptors).
 *   perfev_region: the marker for callgrind. It calls a function pointer (a cffi callback that
 *   runs the Python target) and returns; callgrind's --toggle-collect=perfev_region counts only
 *   what runs between entering and leaving it. It is never inlined and does one store after the
 *   call, so the compiler cannot turn the call into a jump (a tail call would leave the region
 *   before the body ran, as far as callgrind's call tracking is concerned).
 *   perfev_callgrind_instrument: CALLGRIND_START_INSTRUMENTATION from valgrind's own header
 *   when the build found it; Python then runs callgrind with --instr-atstart=no.
 *   Off Linux every counter call compiles to a stub that returns PERFEV_ERR_NOT_LINUX (macOS
 *   has no perf_event_open; its counters are reached through Instruments and the private kperf
 *   framework). The region marker works everywhere.
 *
 * Sources
 *   Linux man-pages: perf_event_open(2) (struct perf_event_attr, read_format, the ioctls,
 *   group_fd, inherit, and the perf_event_paranoid levels), ioctl(2), gettid(2); the kernel's
 *   include/uapi/linux/perf_event.h; the Valgrind manual, Callgrind chapter (--toggle-collect,
 *   --dump-after, --instr-atstart, CALLGRIND_START_INSTRUMENTATION).
 *
 * Threads and memory ordering
 *   No shared state except a counter of regions run (a volatile store, only to keep the call
 *   out of tail position; nobody reads it for synchronisation). A perf counter belongs to the
 *   thread named by pid: reading it from another thread is allowed and returns the counts so
 *   far. cffi releases the GIL around each call, which is harmless here.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "perfev.h"

#include <errno.h>
#include <string.h>

#ifdef __linux__
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define PERFEV_HAVE_VALGRIND 1
#endif
#endif

#if defined(__linux__) && defined(SYS_perf_event_open)
#define PERFEV_LINUX 1
#endif

int perfev_open(uint32_t type, uint64_t config, int32_t pid, int32_t cpu, int32_t group_fd,
                int32_t disabled, int32_t inherit, int32_t exclude_kernel)
{
#ifdef PERFEV_LINUX
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);  /* unused fields must be zero, or the kernel says EINVAL */
    attr.size = sizeof attr;        /* tells the kernel which version of the struct this is */
    attr.type = type;
    attr.config = config;
    attr.disabled = disabled ? 1 : 0;
    attr.inherit = inherit ? 1 : 0;
    attr.exclude_kernel = exclude_kernel ? 1 : 0;
    attr.exclude_hv = 1;
    attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    long fd = syscall(SYS_perf_event_open, &attr, (pid_t)pid, (int)cpu, (int)group_fd,
                      (unsigned long)PERF_FLAG_FD_CLOEXEC);
    return fd < 0 ? -errno : (int)fd;  /* read errno at once: the next call may change it */
#elif defined(__linux__)
    (void)type; (void)config; (void)pid; (void)cpu; (void)group_fd; (void)disabled;
    (void)inherit; (void)exclude_kernel;
    return PERFEV_ERR_NO_SYSCALL;
#else
    (void)type; (void)config; (void)pid; (void)cpu; (void)group_fd; (void)disabled;
    (void)inherit; (void)exclude_kernel;
    return PERFEV_ERR_NOT_LINUX;
#endif
}

#ifdef PERFEV_LINUX
static int each_ioctl(const int32_t *fds, int32_t n, unsigned long first, unsigned long second)
{
    int rc = 0;
    for (int32_t i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        if (ioctl(fds[i], first, 0) < 0 && rc == 0)
            rc = -errno;
        if (second && ioctl(fds[i], second, 0) < 0 && rc == 0)
            rc = -errno;
    }
    return rc;
}
#endif

int perfev_start(const int32_t *fds, int32_t n)
{
#ifdef PERFEV_LINUX
    /* All resets first, then all enables: the counters start as close together as we can. */
    int rc = each_ioctl(fds, n, PERF_EVENT_IOC_RESET, 0);
    int rc2 = each_ioctl(fds, n, PERF_EVENT_IOC_ENABLE, 0);
    return rc ? rc : rc2;
#else
    (void)fds; (void)n;
    return PERFEV_ERR_NOT_LINUX;
#endif
}

int perfev_stop(const int32_t *fds, int32_t n)
{
#ifdef PERFEV_LINUX
    return each_ioctl(fds, n, PERF_EVENT_IOC_DISABLE, 0);
#else
    (void)fds; (void)n;
    return PERFEV_ERR_NOT_LINUX;
#endif
}

int perfev_read_all(const int32_t *fds, int32_t n, uint64_t *out, int32_t *errors)
{
    int failed = 0;
    for (int32_t i = 0; i < n; i++) {
        uint64_t v[3] = {0, 0, 0};
        errors[i] = 0;
#ifdef PERFEV_LINUX
        if (fds[i] < 0) {
            errors[i] = -EBADF;
        } else {
            ssize_t got = read(fds[i], v, sizeof v);
            if (got < 0)
                errors[i] = -errno;
            else if (got != (ssize_t)sizeof v)
                errors[i] = -EIO;  /* a short read: not the format we asked for */
        }
#else
        (void)fds;
        errors[i] = PERFEV_ERR_NOT_LINUX;
#endif
        if (errors[i]) {
            failed++;
            v[0] = v[1] = v[2] = 0;
        }
        out[3 * i] = v[0];
        out[3 * i + 1] = v[1];
        out[3 * i + 2] = v[2];
    }
    return failed;
}

int perfev_close_all(const int32_t *fds, int32_t n)
{
#ifdef __linux__
    int rc = 0;
    for (int32_t i = 0; i < n; i++)
        if (fds[i] >= 0 && close(fds[i]) < 0 && rc == 0)
            rc = -errno;
    return rc;
#else
    (void)fds; (void)n;
    return PERFEV_ERR_NOT_LINUX;
#endif
}

int32_t perfev_thread_id(void)
{
#if defined(__linux__) && defined(SYS_gettid)
    return (int32_t)syscall(SYS_gettid);
#else
    return -1;
#endif
}

static volatile uint64_t regions_run;

__attribute__((noinline)) void perfev_region(void *body)
{
    void (*fn)(void);
    memcpy(&fn, &body, sizeof fn);  /* a data pointer to a function pointer, as dlsym's users do */
    fn();
    regions_run = regions_run + 1;  /* work after the call keeps it a real call, not a jump */
}

int perfev_has_client_requests(void)
{
#ifdef PERFEV_HAVE_VALGRIND
    return 1;
#else
    return 0;
#endif
}

int perfev_on_valgrind(void)
{
#ifdef PERFEV_HAVE_VALGRIND
    return RUNNING_ON_VALGRIND ? 1 : 0;
#else
    return 0;
#endif
}

int perfev_callgrind_instrument(void)
{
#ifdef PERFEV_HAVE_VALGRIND
    CALLGRIND_START_INSTRUMENTATION;
    return 1;
#else
    return 0;
#endif
}
