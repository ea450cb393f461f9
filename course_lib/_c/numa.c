/*
 * numa.c: which NUMA node holds each page of a buffer, and which CPU the caller runs on.
 *
 * What it implements
 *   numa_page_nodes(pages, count, status): the move_pages(2) system call in its query mode.
 *   Called with nodes == NULL it moves nothing: the kernel writes, for every address in
 *   `pages`, the node of the physical page behind it into `status`, or a negative errno for
 *   that one page: -ENOENT when no page is there yet (anonymous memory that was never touched:
 *   the kernel allocates a page at the first write, on the node of the CPU that writes, the
 *   "first-touch" policy), -EFAULT for the shared zero page (read but never written) or an
 *   address outside every mapping. It works on a one-node machine too: every present page then
 *   shows node 0. pid 0 means "this process"; flags 0 since nothing moves.
 *   We call the system call directly (syscall(SYS_move_pages, ...)) instead of libnuma's
 *   wrapper, so the course needs no libnuma headers or library to build.
 *   numa_current_cpu(): sched_getcpu(3), the CPU the calling thread was on when it asked (it
 *   may move right after, unless it is pinned).
 *   numa_probe_move_pages(): one query on a page of the caller's stack (always present), so
 *   Python can tell "works here" from "blocked" (EPERM under a seccomp filter) or "absent".
 *   Off Linux every call compiles to a stub that says so (macOS has no NUMA interface).
 *
 * Source
 *   Linux man-pages: move_pages(2), sched_getcpu(3); kernel mm/migrate.c (do_pages_stat).
 *
 * Threads and memory ordering
 *   No shared state: each call reads only its arguments. cffi releases the GIL around the
 *   call, which is harmless; the answer is a snapshot (another thread may touch a page, or
 *   the kernel migrate one, right after).
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "numa.h"

#include <errno.h>

#ifdef __linux__
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

int numa_page_nodes(void **pages, int64_t count, int *status)
{
#if defined(__linux__) && defined(SYS_move_pages)
    if (count <= 0)
        return 0;
    /* move_pages(pid = 0: this process, count, pages, nodes = NULL: query, status, flags 0) */
    long rc = syscall(SYS_move_pages, 0, (unsigned long)count, pages, (const int *)0, status, 0);
    return rc < 0 ? errno : 0;  /* read errno at once: the next library call may change it */
#elif defined(__linux__)
    (void)pages; (void)count; (void)status;
    return NUMA_ERR_NO_SYSCALL;
#else
    (void)pages; (void)count; (void)status;
    return NUMA_ERR_NOT_LINUX;
#endif
}

int numa_current_cpu(void)
{
#ifdef __linux__
    return sched_getcpu();  /* -1 (errno ENOSYS) when the kernel cannot say */
#else
    return -1;
#endif
}

int numa_probe_move_pages(void)
{
    volatile int here = 1;  /* on this thread's stack: mapped and present */
    void *page = (void *)&here;
    int status = 0;
    int rc = numa_page_nodes(&page, 1, &status);
    if (rc == 0 && status < 0)
        rc = -status;  /* a per-page error for a page that must be there: report it */
    return rc;
}
