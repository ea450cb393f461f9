/* work.h: calibrated CPU-bound work, callable from Python (cffi) without the GIL. */
#ifndef COURSE_WORK_H
#define COURSE_WORK_H
#include <stdint.h>

uint64_t cw_spin(uint64_t iterations, uint64_t seed);
uint64_t cw_spin4(uint64_t iterations, uint64_t seed);
double cw_sum_f64(const double *x, int64_t n);

#endif
