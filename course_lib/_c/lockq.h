/* lockq.h: a bounded queue of 64-bit messages on a mutex and two condition variables (see lockq.c). */
#ifndef COURSE_LOCKQ_H
#define COURSE_LOCKQ_H

#include <stdint.h>

typedef struct lq_queue lq_queue;

lq_queue *lq_new(uint64_t capacity);
void lq_free(lq_queue *q);
int lq_send(lq_queue *q, uint64_t value);
int lq_recv(lq_queue *q, uint64_t *out);

#endif
