"""cffi builder for ``course_lib._litmus`` (see ``litmus.c``)."""
from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef(
    """
    int cl_run(int test, int mode, int fenced, uint64_t iterations, uint32_t batch,
               double max_seconds, int cpu0, int cpu1, int spin_before_yield,
               uint64_t *histogram, uint64_t *done, int *pinned);
    """
)
ffibuilder.set_source(
    "course_lib._litmus",
    '#include "litmus.h"',
    # Paths are relative to the project root, where setuptools runs the build.
    sources=["course_lib/_c/litmus.c"],
    include_dirs=["course_lib/_c"],
    extra_compile_args=["-std=c11", "-O2"],
    libraries=["pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
