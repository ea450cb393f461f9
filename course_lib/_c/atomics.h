/* atomics.h: C11 <stdatomic.h> operations on plain integer cells, for course_lib.atomics (cffi). */
#ifndef COURSE_ATOMICS_H
#define COURSE_ATOMICS_H
#include <stdint.h>

/* Orderings, numbered as course_lib.atomics.Ordering (not as C's memory_order, whose values
 * the standard leaves to the implementation). */
enum { CA_RELAXED = 0, CA_ACQUIRE = 1, CA_RELEASE = 2, CA_ACQ_REL = 3, CA_SEQ_CST = 4 };

#define CA_DECLARE(T, S)                                                                       \
    T ca_load_##S(const T *p, int order);                                                      \
    void ca_store_##S(T *p, T v, int order);                                                   \
    T ca_swap_##S(T *p, T v, int order);                                                       \
    T ca_fetch_add_##S(T *p, T v, int order);                                                  \
    T ca_fetch_sub_##S(T *p, T v, int order);                                                  \
    T ca_fetch_and_##S(T *p, T v, int order);                                                  \
    T ca_fetch_or_##S(T *p, T v, int order);                                                   \
    T ca_fetch_xor_##S(T *p, T v, int order);                                                  \
    T ca_fetch_max_##S(T *p, T v, int order);                                                  \
    T ca_fetch_min_##S(T *p, T v, int order);                                                  \
    int ca_compare_exchange_##S(T *p, T *expected, T desired, int success, int failure);

CA_DECLARE(int32_t, i32)
CA_DECLARE(uint32_t, u32)
CA_DECLARE(int64_t, i64)
CA_DECLARE(uint64_t, u64)
CA_DECLARE(uint8_t, u8)

void ca_fence(int order);
int ca_is_lock_free_64(void);

/* Benchmark loops: n operations on *p, timed by the caller. */
void ca_loop_fetch_add_i64(int64_t *p, uint64_t n, int order);
void ca_loop_cas_add_i64(int64_t *p, uint64_t n, int order);

#endif
