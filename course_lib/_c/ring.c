/*
 * ring.c: a lock-free bounded multi-producer multi-consumer channel of 64-bit messages.
 *
 * What it implements
 *   Dmitry Vyukov's bounded MPMC queue, the algorithm behind crossbeam-channel's `array` flavour,
 *   with crossbeam's channel semantics on top (blocking with timeouts, disconnection):
 *   1. A ring of `cap` slots; slot i holds a 64-bit payload and a sequence number `seq`,
 *      initially 2i. Positions `tail` (next to write) and `head` (next to read) only grow; a
 *      position p lives in slot p % cap, and the lap is p / cap.
 *   2. Send at position p: if slot.seq == 2p the slot is free for this lap: claim p by CAS on
 *      tail (p -> p+1), write the payload, publish it with slot.seq = 2p+1. If slot.seq < 2p, the
 *      slot still holds last lap's message: the ring is full (if head confirms it) or a receiver
 *      is mid-read (spin). If slot.seq > 2p, another producer won p: reload tail.
 *   3. Receive at position p: if slot.seq == 2p+1 a message is published: claim p by CAS on head,
 *      read the payload, free the slot for the next lap with slot.seq = 2(p+cap). If
 *      slot.seq < 2p+1, the ring is empty (if tail == p) or a producer is mid-write (spin).
 *      Vyukov's original uses p / p+1 / p+cap, which cannot tell "free for p" from "holds p-1"
 *      when cap == 1 (both are p); doubling keeps the two states apart for every cap >= 1
 *      (crossbeam does the same job with a lap field above the index bits).
 *   4. Blocking is spin, then sched_yield, then park: a thread parks on a 32-bit "epoch" word (a
 *      futex on Linux; short sleeps elsewhere) after announcing itself in a sleeper count; the
 *      other side bumps the epoch and wakes sleepers after each operation that sees the count > 0.
 *   5. Disconnection: `senders` / `receivers` count the open ends. A send fails once receivers ==
 *      0; a receive fails once senders == 0 and, checked after that, the ring is empty. Dropping
 *      the last end bumps the other side's epoch and wakes everyone parked there.
 *
 * Source
 *   D. Vyukov, "Bounded MPMC queue", 1024cores.net (2010); crossbeam-channel src/flavors/array.rs
 *   (the full/empty confirmation by head/tail, the backoff); U. Drepper, "Futexes Are Tricky"
 *   (2011) (the epoch-word protocol); M. Bos, "Rust Atomics and Locks", ch. 8-9 (futex wait/wake).
 *
 * Threads and memory ordering
 *   - slot.seq is the only synchronisation of the payload: the producer's release store of
 *     seq = 2p+1 pairs with the consumer's acquire load, so the payload write happens-before the
 *     read; the consumer's release store of seq = 2(p+cap) pairs with the next producer's acquire
 *     load, so the read happens-before the next lap's overwrite. The payload itself is a plain
 *     (non-atomic) field: at any moment exactly one thread owns the slot.
 *   - The CAS on tail/head only hands out positions; it is seq_cst (free on x86, where every
 *     locked instruction is a full barrier) because the parking protocol needs a total order:
 *     a parker does [sleepers += 1 (seq_cst); read epoch; re-check tail/head (seq_cst)] and the
 *     other side does [CAS tail/head (seq_cst); read sleepers (seq_cst)]. In the single total order
 *     of seq_cst operations either the waker sees the sleeper (and bumps the epoch, so the futex
 *     wait returns at once or is woken) or the sleeper's re-check sees the new position (and does
 *     not sleep): no lost wake-up.
 *   - senders/receivers are decremented with seq_cst (release half: every message sent before
 *     close is visible to whoever sees the count reach 0, through the acquire half of its load).
 *   - head and tail sit on separate 64-byte cache lines, and apart from the rest, so producers
 *     and consumers do not false-share (on Apple M-series lines are 128 bytes; 64 still helps).
 */
#define _GNU_SOURCE
#include "ring.h"

#include <limits.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define CR_LINE 64

typedef struct cr_slot {
    _Atomic uint64_t seq; /* 2p: free for position p; 2p+1: holds position p's message */
    uint64_t value;       /* the payload, owned by whoever the seq protocol says */
} cr_slot;

struct cr_ring {
    alignas(CR_LINE) _Atomic uint64_t tail; /* next position to write (producers CAS it) */
    alignas(CR_LINE) _Atomic uint64_t head; /* next position to read (consumers CAS it) */
    alignas(CR_LINE) _Atomic uint32_t recv_epoch; /* futex word parked receivers wait on */
    _Atomic uint32_t recv_sleepers;               /* receivers parked (or about to park) */
    alignas(CR_LINE) _Atomic uint32_t send_epoch; /* futex word parked senders wait on */
    _Atomic uint32_t send_sleepers;               /* senders parked (or about to park) */
    alignas(CR_LINE) _Atomic uint32_t senders;    /* open Sender ends */
    _Atomic uint32_t receivers;                   /* open Receiver ends */
    uint64_t cap;  /* number of slots (any value >= 1) */
    uint64_t mask; /* cap - 1 when cap is a power of two (index = p & mask), else 0 */
    cr_slot *slots;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

static inline cr_slot *slot_at(const cr_ring *r, uint64_t pos)
{
    return &r->slots[r->mask ? (pos & r->mask) : (pos % r->cap)];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Longest single futex wait: a bigger timeout is waited out in several parks (the callers loop). */
#define CR_MAX_PARK_S 1e6

/* Block until *word != expected, a wake-up, or `seconds` (< 0: no limit; pass 0, not a negative
 * number, for "time is up"). Spurious returns are fine: every caller re-checks its condition. */
static void park_on(_Atomic uint32_t *word, uint32_t expected, double seconds)
{
#ifdef __linux__
    struct timespec rel, *prel = NULL;
    if (seconds > CR_MAX_PARK_S)
        seconds = CR_MAX_PARK_S; /* (time_t)1e300 is undefined; callers loop and re-park */
    if (seconds >= 0) {
        rel.tv_sec = (time_t)seconds;
        rel.tv_nsec = (long)((seconds - (double)rel.tv_sec) * 1e9);
        prel = &rel;
    }
    /* An _Atomic uint32_t has the representation of a uint32_t (it is lock-free). */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, prel, NULL, 0);
#else
    /* Portable fallback: no futex, so sleep briefly and let the caller re-check. */
    double s = (seconds >= 0 && seconds < 200e-6) ? seconds : 200e-6;
    struct timespec ts = {0, (long)(s * 1e9)};
    if (atomic_load_explicit(word, memory_order_relaxed) == expected)
        nanosleep(&ts, NULL);
#endif
}

static void unpark_all(_Atomic uint32_t *word)
{
    /* seq_cst RMW: ordered after the caller's position update in the total order (see header). */
    atomic_fetch_add_explicit(word, 1, memory_order_seq_cst);
#ifdef __linux__
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#endif
}

/* Wake the other side if anyone is parked there. seq_cst load: see the header. */
static inline void wake_if_sleeping(_Atomic uint32_t *sleepers, _Atomic uint32_t *epoch)
{
    if (atomic_load_explicit(sleepers, memory_order_seq_cst) != 0)
        unpark_all(epoch);
}

/* ---- construction and ends ---------------------------------------------------------------- */

cr_ring *cr_new(uint64_t capacity)
{
    if (capacity == 0 || capacity > ((uint64_t)1 << 40))
        return NULL;
    void *mem = NULL;
    if (posix_memalign(&mem, CR_LINE, sizeof(cr_ring)) != 0)
        return NULL;
    cr_ring *r = mem;
    memset(r, 0, sizeof *r);
    void *slots = NULL;
    if (posix_memalign(&slots, CR_LINE, capacity * sizeof(cr_slot)) != 0) {
        free(r);
        return NULL;
    }
    r->slots = slots;
    r->cap = capacity;
    r->mask = (capacity & (capacity - 1)) == 0 ? capacity - 1 : 0; /* cap 1: mask 0, p % 1 */
    for (uint64_t i = 0; i < capacity; ++i) {
        atomic_init(&r->slots[i].seq, 2 * i);
        r->slots[i].value = 0;
    }
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    atomic_init(&r->recv_epoch, 0);
    atomic_init(&r->recv_sleepers, 0);
    atomic_init(&r->send_epoch, 0);
    atomic_init(&r->send_sleepers, 0);
    atomic_init(&r->senders, 1);
    atomic_init(&r->receivers, 1);
    return r;
}

void cr_free(cr_ring *r)
{
    if (r) {
        free(r->slots);
        free(r);
    }
}

uint64_t cr_capacity(const cr_ring *r) { return r->cap; }

uint64_t cr_len(cr_ring *r)
{
    for (;;) {
        /* Read tail, head, tail again: if tail did not move, the pair is a consistent snapshot. */
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_seq_cst);
        uint64_t head = atomic_load_explicit(&r->head, memory_order_seq_cst);
        if (atomic_load_explicit(&r->tail, memory_order_seq_cst) == tail)
            return tail >= head ? tail - head : 0;
    }
}

/* Adding an end needs no ordering beyond atomicity: it is done by a thread holding an open end. */
void cr_sender_add(cr_ring *r) { atomic_fetch_add_explicit(&r->senders, 1, memory_order_relaxed); }
void cr_receiver_add(cr_ring *r) { atomic_fetch_add_explicit(&r->receivers, 1, memory_order_relaxed); }

void cr_sender_drop(cr_ring *r)
{
    /* seq_cst (release half): our sends are visible to whoever then sees senders == 0. */
    if (atomic_fetch_sub_explicit(&r->senders, 1, memory_order_seq_cst) == 1)
        unpark_all(&r->recv_epoch);
}

void cr_receiver_drop(cr_ring *r)
{
    if (atomic_fetch_sub_explicit(&r->receivers, 1, memory_order_seq_cst) == 1)
        unpark_all(&r->send_epoch);
}

/* Statistics: relaxed, they are snapshots for humans. */
uint32_t cr_senders(cr_ring *r) { return atomic_load_explicit(&r->senders, memory_order_relaxed); }
uint32_t cr_receivers(cr_ring *r) { return atomic_load_explicit(&r->receivers, memory_order_relaxed); }
uint32_t cr_parked_senders(cr_ring *r) { return atomic_load_explicit(&r->send_sleepers, memory_order_relaxed); }
uint32_t cr_parked_receivers(cr_ring *r) { return atomic_load_explicit(&r->recv_sleepers, memory_order_relaxed); }

/* ---- the lock-free core (steps 2 and 3) --------------------------------------------------- */

/* max_waits: how many times to wait (spin) for another thread that is between its claim and its
 * publish before giving up with CR_FULL / CR_EMPTY; 0 means wait as long as it takes. Only the
 * GIL-holding fast path (ringpy.c) gives up: giving up happens before we claim anything, so no
 * message is lost or duplicated, and its caller retries through the waiting path. */
static int enqueue(cr_ring *r, uint64_t value, unsigned max_waits)
{
    unsigned waits = 0;
    /* relaxed: tail is only a hint here; the CAS below validates it. */
    uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        cr_slot *s = slot_at(r, pos);
        /* acquire: pairs with the consumer's release of this slot (its read happened before). */
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - 2 * pos);
        if (dif == 0) {
            /* seq_cst: orders the claim before our later sleeper check (parking protocol). */
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1, memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                s->value = value;
                /* release: publishes the payload to the consumer's acquire load of seq. */
                atomic_store_explicit(&s->seq, 2 * pos + 1, memory_order_release);
                return CR_OK;
            }
            /* CAS failure reloaded pos: another producer claimed it; try the next one. */
        } else if (dif < 0) {
            /* The slot holds last lap's message. Full, unless a consumer already claimed it. */
            uint64_t head = atomic_load_explicit(&r->head, memory_order_seq_cst);
            if (head + r->cap <= pos)
                return CR_FULL;
            /* A consumer is between its head CAS and its release of the slot: this spins until
             * it is done (a preempted consumer makes it spin for a whole time slice). */
            if (max_waits && ++waits > max_waits)
                return CR_FULL;
            cpu_relax();
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        } else {
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
}

static int dequeue(cr_ring *r, uint64_t *out, unsigned max_waits)
{
    unsigned waits = 0;
    uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    for (;;) {
        cr_slot *s = slot_at(r, pos);
        /* acquire: pairs with the producer's release, so the payload is visible. */
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - (2 * pos + 1));
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1, memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                *out = s->value;
                /* release: our read happens-before the producer that reuses the slot next lap. */
                atomic_store_explicit(&s->seq, 2 * (pos + r->cap), memory_order_release);
                return CR_OK;
            }
        } else if (dif < 0) {
            /* Nothing published at pos. Empty, unless a producer already claimed pos. */
            uint64_t tail = atomic_load_explicit(&r->tail, memory_order_seq_cst);
            if (tail <= pos)
                return CR_EMPTY;
            /* A producer is between its tail CAS and its publish: wait for it, so that a
             * completed send (of a later position) is always visible (linearizability). */
            if (max_waits && ++waits > max_waits)
                return CR_EMPTY;
            cpu_relax();
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        } else {
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        }
    }
}

/* ---- non-blocking operations --------------------------------------------------------------- */
/* "Non-blocking" means: never parks, never sleeps. It can still spin while another thread is
 * between its claim of a position and its publish (a few instructions, unless that thread is
 * preempted there), like every Vyukov-queue operation. */

int cr_try_send(cr_ring *r, uint64_t value)
{
    /* acquire: pairs with the seq_cst decrement in cr_receiver_drop. */
    if (atomic_load_explicit(&r->receivers, memory_order_acquire) == 0)
        return CR_DISCONNECTED;
    if (enqueue(r, value, 0) != CR_OK)
        return CR_FULL;
    wake_if_sleeping(&r->recv_sleepers, &r->recv_epoch);
    return CR_OK;
}

/* cr_try_send, but gives up with CR_FULL after max_waits spins on a half-done receive (for
 * ringpy.c, which holds the GIL: its caller then retries with the GIL released). */
int cr_try_send_spin(cr_ring *r, uint64_t value, unsigned max_waits)
{
    if (atomic_load_explicit(&r->receivers, memory_order_acquire) == 0) /* as in cr_try_send */
        return CR_DISCONNECTED;
    if (enqueue(r, value, max_waits) != CR_OK)
        return CR_FULL;
    wake_if_sleeping(&r->recv_sleepers, &r->recv_epoch);
    return CR_OK;
}

/* One dequeue, giving up with CR_EMPTY after max_waits spins on a half-done send; never reports
 * disconnection (ringpy.c's caller asks cr_try_recv for the definitive status). */
int cr_try_recv_spin(cr_ring *r, uint64_t *out, unsigned max_waits)
{
    if (dequeue(r, out, max_waits) != CR_OK)
        return CR_EMPTY;
    wake_if_sleeping(&r->send_sleepers, &r->send_epoch);
    return CR_OK;
}

int cr_try_recv(cr_ring *r, uint64_t *out)
{
    if (dequeue(r, out, 0) == CR_OK) {
        wake_if_sleeping(&r->send_sleepers, &r->send_epoch);
        return CR_OK;
    }
    /* acquire: every send made before the last sender closed is visible after this load... */
    if (atomic_load_explicit(&r->senders, memory_order_acquire) != 0)
        return CR_EMPTY;
    /* ...so one more attempt decides between "drained" and "one last message". */
    if (dequeue(r, out, 0) == CR_OK)
        return CR_OK;
    return CR_DISCONNECTED;
}

/* ---- blocking operations (step 4) ---------------------------------------------------------- */

#define CR_SPIN_ROUNDS 7   /* rounds 0..6 spin 1, 2, 4, ... 64 pauses */
#define CR_YIELD_ROUNDS 12 /* rounds 7..11 call sched_yield */

/* Returns 1 when the caller should give up with CR_TIMEOUT. */
static int backoff_or_park(cr_ring *r, int sending, unsigned round, double deadline)
{
    if (deadline >= 0 && now_s() >= deadline)
        return 1;
    if (round < CR_SPIN_ROUNDS) {
        for (unsigned i = 0; i < (1u << round); ++i)
            cpu_relax();
        return 0;
    }
    if (round < CR_YIELD_ROUNDS) {
        sched_yield();
        return 0;
    }
    _Atomic uint32_t *sleepers = sending ? &r->send_sleepers : &r->recv_sleepers;
    _Atomic uint32_t *epoch = sending ? &r->send_epoch : &r->recv_epoch;
    /* seq_cst: announce ourselves before re-checking (parking protocol, see header). */
    atomic_fetch_add_explicit(sleepers, 1, memory_order_seq_cst);
    uint32_t seen = atomic_load_explicit(epoch, memory_order_seq_cst);
    int ready;
    if (sending)
        ready = cr_len(r) < r->cap || atomic_load_explicit(&r->receivers, memory_order_seq_cst) == 0;
    else
        ready = cr_len(r) > 0 || atomic_load_explicit(&r->senders, memory_order_seq_cst) == 0;
    int timed_out = 0;
    if (!ready) {
        /* The deadline may have passed since the check above: park_on must then not be given a
         * negative time, which it would take as "no limit" (an unbounded wait past the deadline). */
        double left = deadline < 0 ? -1.0 : deadline - now_s();
        if (deadline >= 0 && left <= 0)
            timed_out = 1;
        else
            park_on(epoch, seen, left);
    }
    /* relaxed: the count is only read to decide whether to wake; an extra wake is harmless. */
    atomic_fetch_sub_explicit(sleepers, 1, memory_order_relaxed);
    return timed_out;
}

static double deadline_of(double timeout) { return timeout < 0 ? -1.0 : now_s() + timeout; }

int cr_send(cr_ring *r, uint64_t value, double timeout)
{
    int rc = cr_try_send(r, value);
    if (rc != CR_FULL)
        return rc;
    double deadline = deadline_of(timeout);
    for (unsigned round = 0;; round += round < CR_YIELD_ROUNDS) {
        if (backoff_or_park(r, 1, round, deadline))
            return CR_TIMEOUT;
        rc = cr_try_send(r, value);
        if (rc != CR_FULL)
            return rc;
    }
}

int cr_recv(cr_ring *r, uint64_t *out, double timeout)
{
    int rc = cr_try_recv(r, out);
    if (rc != CR_EMPTY)
        return rc;
    double deadline = deadline_of(timeout);
    for (unsigned round = 0;; round += round < CR_YIELD_ROUNDS) {
        if (backoff_or_park(r, 0, round, deadline))
            return CR_TIMEOUT;
        rc = cr_try_recv(r, out);
        if (rc != CR_EMPTY)
            return rc;
    }
}

int64_t cr_send_many(cr_ring *r, const uint64_t *src, int64_t n, double timeout, int32_t *status)
{
    double deadline = deadline_of(timeout);
    int64_t i = 0;
    int rc = CR_OK;
    while (i < n) {
        rc = cr_try_send(r, src[i]);
        if (rc == CR_OK) {
            ++i;
            continue;
        }
        if (rc != CR_FULL)
            break;
        rc = cr_send(r, src[i], deadline < 0 ? -1.0 : (deadline - now_s() > 0 ? deadline - now_s() : 0));
        if (rc != CR_OK)
            break;
        ++i;
    }
    *status = rc;
    return i;
}

int64_t cr_recv_many(cr_ring *r, uint64_t *dst, int64_t n, double timeout, int32_t *status)
{
    if (n <= 0) {
        *status = CR_OK;
        return 0;
    }
    int rc = cr_recv(r, &dst[0], timeout); /* block for the first message only */
    *status = rc;
    if (rc != CR_OK)
        return 0;
    int64_t i = 1;
    while (i < n && cr_try_recv(r, &dst[i]) == CR_OK)
        ++i;
    return i;
}

/* ---- typed entry points ------------------------------------------------------------------- */
/* The payload is 64 bits; these reinterpret it as int64 or float64 so that cffi and numba can
 * pass native values. Statistics: tail and head count every message ever sent and received. */

uint64_t cr_sent(cr_ring *r) { return atomic_load_explicit(&r->tail, memory_order_relaxed); }
uint64_t cr_received(cr_ring *r) { return atomic_load_explicit(&r->head, memory_order_relaxed); }

/* For teaching: one slot's sequence number and payload (relaxed: a snapshot for a drawing). */
uint64_t cr_slot_seq(cr_ring *r, uint64_t i)
{
    return i < r->cap ? atomic_load_explicit(&r->slots[i].seq, memory_order_relaxed) : 0;
}
uint64_t cr_slot_value(cr_ring *r, uint64_t i) { return i < r->cap ? r->slots[i].value : 0; }

int cr_try_send_i64(cr_ring *r, int64_t value) { return cr_try_send(r, (uint64_t)value); }

int cr_try_recv_i64(cr_ring *r, int64_t *out)
{
    uint64_t bits = 0;
    int rc = cr_try_recv(r, &bits);
    if (rc == CR_OK)
        *out = (int64_t)bits;
    return rc;
}

int cr_try_send_f64(cr_ring *r, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return cr_try_send(r, bits);
}

int cr_try_recv_f64(cr_ring *r, double *out)
{
    uint64_t bits = 0;
    int rc = cr_try_recv(r, &bits);
    if (rc == CR_OK)
        memcpy(out, &bits, sizeof bits);
    return rc;
}

int cr_send_i64(cr_ring *r, int64_t value, double timeout) { return cr_send(r, (uint64_t)value, timeout); }

int cr_recv_i64(cr_ring *r, int64_t *out, double timeout)
{
    uint64_t bits = 0;
    int rc = cr_recv(r, &bits, timeout);
    if (rc == CR_OK)
        *out = (int64_t)bits;
    return rc;
}

int cr_send_f64(cr_ring *r, double value, double timeout)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return cr_send(r, bits, timeout);
}

int cr_recv_f64(cr_ring *r, double *out, double timeout)
{
    uint64_t bits = 0;
    int rc = cr_recv(r, &bits, timeout);
    if (rc == CR_OK)
        memcpy(out, &bits, sizeof bits);
    return rc;
}
