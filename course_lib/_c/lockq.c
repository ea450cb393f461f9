/*
 * lockq.c: the classic bounded queue, a ring buffer guarded by one pthread mutex with two
 * condition variables ("not empty", "not full"). It is the baseline the lock-free ring (ring.c)
 * is measured against: same payload, same language, same callers (numba nogil threads), only the
 * synchronisation differs.
 *
 * What it implements
 *   1. send: lock; while count == cap wait on not_full; write buf[(head + count) % cap]; count++;
 *      signal not_empty; unlock.
 *   2. recv: lock; while count == 0 wait on not_empty; read buf[head]; head++; count--;
 *      signal not_full; unlock.
 *   Every message therefore costs a lock and an unlock on each side (two atomic RMWs that bounce
 *   the mutex's cache line between the cores) plus a signal, and a waiter sleeps in the kernel
 *   at once instead of spinning first. No timeouts and no disconnection: it is a baseline only.
 *
 * Source
 *   W. R. Stevens, S. Rago, "Advanced Programming in the UNIX Environment", 3rd ed., ch. 11;
 *   POSIX pthread_cond_wait(3p); CPython's queue.Queue has the same shape.
 *
 * Threads and memory ordering
 *   All fields are touched only with the mutex held; pthread_mutex_lock/unlock are acquire/release,
 *   which is all the ordering needed. Waits loop on their predicate (spurious wake-ups).
 */
#include "lockq.h"

#include <pthread.h>
#include <stdlib.h>

struct lq_queue {
    pthread_mutex_t mutex;
    pthread_cond_t not_empty; /* receivers wait here while count == 0 */
    pthread_cond_t not_full;  /* senders wait here while count == cap */
    uint64_t cap, head, count;
    uint64_t *buf;
};

lq_queue *lq_new(uint64_t capacity)
{
    if (capacity == 0)
        return NULL;
    lq_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->buf = calloc(capacity, sizeof *q->buf);
    if (!q->buf) {
        free(q);
        return NULL;
    }
    q->cap = capacity;
    pthread_mutex_init(&q->mutex, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return q;
}

void lq_free(lq_queue *q)
{
    if (q) {
        pthread_mutex_destroy(&q->mutex);
        pthread_cond_destroy(&q->not_empty);
        pthread_cond_destroy(&q->not_full);
        free(q->buf);
        free(q);
    }
}

int lq_send(lq_queue *q, uint64_t value)
{
    pthread_mutex_lock(&q->mutex);
    while (q->count == q->cap)
        pthread_cond_wait(&q->not_full, &q->mutex);
    q->buf[(q->head + q->count) % q->cap] = value;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mutex);
    return 0;
}

int lq_recv(lq_queue *q, uint64_t *out)
{
    pthread_mutex_lock(&q->mutex);
    while (q->count == 0)
        pthread_cond_wait(&q->not_empty, &q->mutex);
    *out = q->buf[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mutex);
    return 0;
}
