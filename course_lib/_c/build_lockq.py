"""cffi builder for ``course_lib._lockq`` (see ``lockq.c``)."""
from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef(
    """
    typedef struct lq_queue lq_queue;
    lq_queue *lq_new(uint64_t capacity);
    void lq_free(lq_queue *q);
    int lq_send(lq_queue *q, uint64_t value);
    int lq_recv(lq_queue *q, uint64_t *out);
    """
)
ffibuilder.set_source(
    "course_lib._lockq",
    '#include "lockq.h"',
    # Paths are relative to the project root, where setuptools runs the build.
    sources=["course_lib/_c/lockq.c"],
    include_dirs=["course_lib/_c"],
    extra_compile_args=["-std=c11", "-O2"],
    extra_link_args=["-pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
