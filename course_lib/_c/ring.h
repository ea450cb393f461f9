/* ring.h: a lock-free bounded MPMC ring of 64-bit messages (see ring.c). */
#ifndef COURSE_RING_H
#define COURSE_RING_H

#include <stdint.h>

/* Status codes returned by every operation. */
#define CR_OK 0
#define CR_FULL 1          /* try_send: no free slot now */
#define CR_EMPTY 1         /* try_recv: nothing to receive now */
#define CR_TIMEOUT 2       /* a blocking call ran out of time */
#define CR_DISCONNECTED 3  /* send: every receiver gone; recv: every sender gone and drained */

typedef struct cr_ring cr_ring;

cr_ring *cr_new(uint64_t capacity);
void cr_free(cr_ring *r);
uint64_t cr_capacity(const cr_ring *r);
uint64_t cr_len(cr_ring *r);

void cr_sender_add(cr_ring *r);
void cr_sender_drop(cr_ring *r);
void cr_receiver_add(cr_ring *r);
void cr_receiver_drop(cr_ring *r);
uint32_t cr_senders(cr_ring *r);
uint32_t cr_receivers(cr_ring *r);
uint32_t cr_parked_senders(cr_ring *r);
uint32_t cr_parked_receivers(cr_ring *r);

int cr_try_send(cr_ring *r, uint64_t value);
int cr_try_recv(cr_ring *r, uint64_t *out);
/* Like try_send/try_recv, but give up (FULL/EMPTY) after max_waits spins on a slot another
 * thread has claimed and not yet published (0: wait as long as it takes). Used by ringpy.c,
 * which holds the GIL; not declared to cffi. */
int cr_try_send_spin(cr_ring *r, uint64_t value, unsigned max_waits);
int cr_try_recv_spin(cr_ring *r, uint64_t *out, unsigned max_waits);
int cr_send(cr_ring *r, uint64_t value, double timeout);
int cr_recv(cr_ring *r, uint64_t *out, double timeout);
int64_t cr_send_many(cr_ring *r, const uint64_t *src, int64_t n, double timeout, int32_t *status);
int64_t cr_recv_many(cr_ring *r, uint64_t *dst, int64_t n, double timeout, int32_t *status);

/* Typed entry points for numba (same ring, payload reinterpreted). */
uint64_t cr_sent(cr_ring *r);
uint64_t cr_received(cr_ring *r);
uint64_t cr_slot_seq(cr_ring *r, uint64_t i);
uint64_t cr_slot_value(cr_ring *r, uint64_t i);
int cr_try_send_i64(cr_ring *r, int64_t value);
int cr_try_recv_i64(cr_ring *r, int64_t *out);
int cr_try_send_f64(cr_ring *r, double value);
int cr_try_recv_f64(cr_ring *r, double *out);
int cr_send_i64(cr_ring *r, int64_t value, double timeout);
int cr_recv_i64(cr_ring *r, int64_t *out, double timeout);
int cr_send_f64(cr_ring *r, double value, double timeout);
int cr_recv_f64(cr_ring *r, double *out, double timeout);

#endif
