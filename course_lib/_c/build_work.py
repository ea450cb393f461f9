"""cffi builder for ``course_lib._work`` (see ``work.c``)."""
from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef(
    """
    uint64_t cw_spin(uint64_t iterations, uint64_t seed);
    uint64_t cw_spin4(uint64_t iterations, uint64_t seed);
    double cw_sum_f64(const double *x, int64_t n);
    """
)
ffibuilder.set_source(
    "course_lib._work",
    '#include "work.h"',
    # Paths are relative to the project root, where setuptools runs the build.
    sources=["course_lib/_c/work.c"],
    include_dirs=["course_lib/_c"],
    extra_compile_args=["-std=c11", "-O2"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
