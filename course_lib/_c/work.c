/*
 * work.c: calibrated CPU-bound work for timing and scaling experiments.
 *
 * What it implements
 *   cw_spin(n, seed): n rounds of a xorshift64 step. Each round depends on the one before, so the
 *   compiler can neither vectorise nor shorten the chain, and the result depends on the seed, so it
 *   cannot be computed at compile time. The cost per round is a few cycles and does not touch memory:
 *   the purest "compute-bound" work there is, which makes it the reference kernel for speedup plots.
 *   cw_spin4(n, seed): the same n rounds, split over four independent chains. A superscalar core
 *   overlaps the chains (instruction-level parallelism), so it runs faster on one core with the
 *   same number of operations: the first source of parallelism in chapter c00.
 *   cw_sum_f64(x, n): a plain sum, a memory-bound contrast to cw_spin.
 *
 * Source
 *   George Marsaglia, "Xorshift RNGs", Journal of Statistical Software 8(14), 2003 (shifts 13, 7, 17).
 *
 * Threads and memory ordering
 *   Both functions touch only their arguments and locals: no shared state, no atomics needed.
 *   cffi releases the GIL around every call into this library, so Python threads calling cw_spin
 *   really run in parallel.
 */
#include "work.h"

uint64_t cw_spin(uint64_t iterations, uint64_t seed)
{
    uint64_t x = seed ? seed : 1u; /* xorshift has a fixed point at zero; keep away from it */
    for (uint64_t i = 0; i < iterations; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

#define XORSHIFT(x) ((x) ^= (x) << 13, (x) ^= (x) >> 7, (x) ^= (x) << 17)

uint64_t cw_spin4(uint64_t iterations, uint64_t seed)
{
    uint64_t a = seed ? seed : 1u, b = a * 3u, c = a * 5u, d = a * 7u;
    for (uint64_t i = 0; i < iterations / 4; ++i) {
        XORSHIFT(a);
        XORSHIFT(b);
        XORSHIFT(c);
        XORSHIFT(d);
    }
    for (uint64_t i = 0; i < iterations % 4; ++i)
        XORSHIFT(a);
    return a ^ b ^ c ^ d;
}

double cw_sum_f64(const double *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i)
        s += x[i];
    return s;
}
