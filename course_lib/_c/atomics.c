/*
 * atomics.c: C11 atomic operations on cells of ordinary memory (NumPy arrays), for Python.
 *
 * What it implements
 *   For each cell type (int32, uint32, int64, uint64, and uint8 for AtomicBool): load, store,
 *   swap, fetch_add/sub/and/or/xor, fetch_max/min and compare_exchange, each taking an ordering
 *   chosen at run time. course_lib.atomics wraps them in AtomicI64, AtomicU64, AtomicBool and
 *   AtomicArray. Also a fence and two benchmark loops (fetch_add, and a CAS loop doing the same
 *   increment) so that the course can time "plain C" next to numba and Python.
 *
 * Source
 *   ISO/IEC 9899:2011 (C11) section 7.17, <stdatomic.h>; the orderings are those of C11/C++11,
 *   which Rust's std::sync::atomic::Ordering names (Relaxed, Acquire, Release, AcqRel, SeqCst).
 *   fetch_max/fetch_min are the usual compare-and-swap loop (C11 has no atomic max), as in
 *   M. Herlihy and N. Shavit, "The Art of Multiprocessor Programming", ch. 5.
 *
 * Threads and memory ordering
 *   The cells are plain integers owned by NumPy, not objects declared _Atomic. We access them
 *   through a pointer cast to _Atomic T *, which every mainstream compiler (GCC, Clang) supports
 *   when _Atomic T has the size and alignment of T (checked below with static asserts; C++20
 *   blessed the same idea as std::atomic_ref). The Python side checks the alignment.
 *   Each operation uses exactly the ordering the caller passes: a switch turns the run-time
 *   number into a compile-time memory_order, because compilers treat a non-constant order as
 *   seq_cst (correct but it would hide the difference the course wants to show). The checks that
 *   an ordering makes sense for an operation (no Release load, no Acquire store, no Release or
 *   AcqRel failure ordering) are done in Python, where they raise ValueError; here an invalid
 *   combination falls back to seq_cst, which is always correct.
 *   fetch_max/fetch_min: the CAS loop's failed attempts only need the failure ordering relaxed,
 *   because a failed compare_exchange publishes nothing and the loop then retries with the value
 *   it saw; the successful one uses the caller's ordering, which is what the operation promises.
 *   cffi releases the GIL around every call, so Python threads really race on the cells.
 */
#include "atomics.h"

#include <stdatomic.h>
#include <stdbool.h>

_Static_assert(sizeof(_Atomic int32_t) == sizeof(int32_t), "_Atomic int32_t must be plain");
_Static_assert(sizeof(_Atomic int64_t) == sizeof(int64_t), "_Atomic int64_t must be plain");
_Static_assert(sizeof(_Atomic uint8_t) == sizeof(uint8_t), "_Atomic uint8_t must be plain");
_Static_assert(_Alignof(_Atomic int64_t) == _Alignof(int64_t) || _Alignof(int64_t) == 8,
               "_Atomic int64_t must not need more alignment than 8 bytes");

/* Run STMT with MO bound to the memory_order that `order` names (as a constant). */
#define CA_WITH_ORDER(order, STMT)                                                             \
    switch (order) {                                                                           \
    case CA_RELAXED: { const memory_order MO = memory_order_relaxed; STMT; } break;            \
    case CA_ACQUIRE: { const memory_order MO = memory_order_acquire; STMT; } break;            \
    case CA_RELEASE: { const memory_order MO = memory_order_release; STMT; } break;            \
    case CA_ACQ_REL: { const memory_order MO = memory_order_acq_rel; STMT; } break;            \
    default:         { const memory_order MO = memory_order_seq_cst; STMT; } break;            \
    }

/* Loads may be relaxed, acquire or seq_cst; stores relaxed, release or seq_cst. */
#define CA_LOAD_ORDER(order, STMT)                                                             \
    switch (order) {                                                                           \
    case CA_RELAXED: { const memory_order MO = memory_order_relaxed; STMT; } break;            \
    case CA_ACQUIRE: { const memory_order MO = memory_order_acquire; STMT; } break;            \
    default:         { const memory_order MO = memory_order_seq_cst; STMT; } break;            \
    }
#define CA_STORE_ORDER(order, STMT)                                                            \
    switch (order) {                                                                           \
    case CA_RELAXED: { const memory_order MO = memory_order_relaxed; STMT; } break;            \
    case CA_RELEASE: { const memory_order MO = memory_order_release; STMT; } break;            \
    default:         { const memory_order MO = memory_order_seq_cst; STMT; } break;            \
    }

/* One strong compare_exchange; sets ok. C11 (7.17.7.4) and GCC want the failure ordering to be
 * relaxed, acquire or seq_cst and no stronger than the success ordering. Rust (since 1.64) and
 * LLVM (since 13) dropped the second rule; we accept any pair and strengthen the success ordering
 * just enough (strengthening is always correct): Relaxed+Acquire -> Acquire, Release+Acquire ->
 * AcqRel, anything+SeqCst -> SeqCst. Then only the nine pairs below can occur. */
#define CA_CAS1(A, EXP, DES, S, F) atomic_compare_exchange_strong_explicit(A, EXP, DES, S, F)
#define CA_CAS(A, EXP, DES, success, failure, ok)                                              \
    do {                                                                                       \
        int s_ = (success), f_ = (failure);                                                    \
        if (f_ != CA_RELAXED && f_ != CA_ACQUIRE) /* SeqCst, or invalid: be safe */            \
            f_ = CA_SEQ_CST;                                                                   \
        if (f_ == CA_SEQ_CST)                                                                  \
            s_ = CA_SEQ_CST;                                                                   \
        else if (f_ == CA_ACQUIRE && s_ == CA_RELAXED)                                         \
            s_ = CA_ACQUIRE;                                                                   \
        else if (f_ == CA_ACQUIRE && s_ == CA_RELEASE)                                         \
            s_ = CA_ACQ_REL;                                                                   \
        if (f_ == CA_SEQ_CST)                                                                  \
            ok = CA_CAS1(A, EXP, DES, memory_order_seq_cst, memory_order_seq_cst);             \
        else if (f_ == CA_ACQUIRE && s_ == CA_ACQUIRE)                                         \
            ok = CA_CAS1(A, EXP, DES, memory_order_acquire, memory_order_acquire);             \
        else if (f_ == CA_ACQUIRE && s_ == CA_ACQ_REL)                                         \
            ok = CA_CAS1(A, EXP, DES, memory_order_acq_rel, memory_order_acquire);             \
        else if (f_ == CA_ACQUIRE)                                                             \
            ok = CA_CAS1(A, EXP, DES, memory_order_seq_cst, memory_order_acquire);             \
        else if (s_ == CA_RELAXED)                                                             \
            ok = CA_CAS1(A, EXP, DES, memory_order_relaxed, memory_order_relaxed);             \
        else if (s_ == CA_ACQUIRE)                                                             \
            ok = CA_CAS1(A, EXP, DES, memory_order_acquire, memory_order_relaxed);             \
        else if (s_ == CA_RELEASE)                                                             \
            ok = CA_CAS1(A, EXP, DES, memory_order_release, memory_order_relaxed);             \
        else if (s_ == CA_ACQ_REL)                                                             \
            ok = CA_CAS1(A, EXP, DES, memory_order_acq_rel, memory_order_relaxed);             \
        else                                                                                   \
            ok = CA_CAS1(A, EXP, DES, memory_order_seq_cst, memory_order_relaxed);             \
    } while (0)

#define CA_RMW(T, S, NAME, FN)                                                                 \
    T ca_##NAME##_##S(T *p, T v, int order)                                                    \
    {                                                                                          \
        T old = 0;                                                                             \
        CA_WITH_ORDER(order, old = FN((_Atomic T *)p, v, MO))                                  \
        return old;                                                                            \
    }

/* max/min by CAS loop, always ending in a successful read-modify-write (as LLVM's atomicrmw
 * max does), so that the operation is a true RMW with the caller's ordering even when the cell
 * already holds the larger value: install BETTER(v, old) ? v : old, retry if the cell moved. */
#define CA_MINMAX(T, S, NAME, BETTER)                                                          \
    T ca_##NAME##_##S(T *p, T v, int order)                                                    \
    {                                                                                          \
        _Atomic T *a = (_Atomic T *)p;                                                         \
        T old = atomic_load_explicit(a, memory_order_relaxed);                                 \
        for (;;) {                                                                             \
            bool ok = false;                                                                   \
            T desired = BETTER(v, old) ? v : old;                                              \
            CA_WITH_ORDER(order, ok = atomic_compare_exchange_weak_explicit(                   \
                                      a, &old, desired, MO, memory_order_relaxed))             \
            if (ok)                                                                            \
                return old;                                                                    \
        }                                                                                      \
    }

#define CA_GT(a, b) ((a) > (b))
#define CA_LT(a, b) ((a) < (b))

#define CA_DEFINE(T, S)                                                                        \
    T ca_load_##S(const T *p, int order)                                                       \
    {                                                                                          \
        T v = 0;                                                                               \
        CA_LOAD_ORDER(order, v = atomic_load_explicit((_Atomic T *)p, MO))                     \
        return v;                                                                              \
    }                                                                                          \
    void ca_store_##S(T *p, T v, int order)                                                    \
    {                                                                                          \
        CA_STORE_ORDER(order, atomic_store_explicit((_Atomic T *)p, v, MO))                    \
    }                                                                                          \
    CA_RMW(T, S, swap, atomic_exchange_explicit)                                               \
    CA_RMW(T, S, fetch_add, atomic_fetch_add_explicit)                                         \
    CA_RMW(T, S, fetch_sub, atomic_fetch_sub_explicit)                                         \
    CA_RMW(T, S, fetch_and, atomic_fetch_and_explicit)                                         \
    CA_RMW(T, S, fetch_or, atomic_fetch_or_explicit)                                           \
    CA_RMW(T, S, fetch_xor, atomic_fetch_xor_explicit)                                         \
    CA_MINMAX(T, S, fetch_max, CA_GT)                                                          \
    CA_MINMAX(T, S, fetch_min, CA_LT)                                                          \
    int ca_compare_exchange_##S(T *p, T *expected, T desired, int success, int failure)        \
    {                                                                                          \
        bool ok = false;                                                                       \
        CA_CAS((_Atomic T *)p, expected, desired, success, failure, ok);                      \
        return ok;                                                                             \
    }

CA_DEFINE(int32_t, i32)
CA_DEFINE(uint32_t, u32)
CA_DEFINE(int64_t, i64)
CA_DEFINE(uint64_t, u64)
CA_DEFINE(uint8_t, u8)

void ca_fence(int order)
{
    CA_WITH_ORDER(order, atomic_thread_fence(MO))
}

int ca_is_lock_free_64(void)
{
    _Atomic int64_t probe = 0;
    return atomic_is_lock_free(&probe);
}

void ca_loop_fetch_add_i64(int64_t *p, uint64_t n, int order)
{
    _Atomic int64_t *a = (_Atomic int64_t *)p;
    /* The switch sits outside the loop so that each loop is one instruction per iteration
     * (lock xadd on x86, ldadd or an ldxr/stxr pair on ARM). */
    CA_WITH_ORDER(order, for (uint64_t i = 0; i < n; ++i) atomic_fetch_add_explicit(a, 1, MO))
}

void ca_loop_cas_add_i64(int64_t *p, uint64_t n, int order)
{
    _Atomic int64_t *a = (_Atomic int64_t *)p;
    /* The same increments as a compare-and-swap loop: read, compute, try to install; a failed
     * try reloads (into old) and retries. Failure ordering relaxed: a failed CAS writes nothing. */
    CA_WITH_ORDER(order, for (uint64_t i = 0; i < n; ++i) {
        int64_t old = atomic_load_explicit(a, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(a, &old, old + 1, MO, memory_order_relaxed))
            ;
    })
}
