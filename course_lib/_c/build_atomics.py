"""cffi builder for ``course_lib._atomics`` (see ``atomics.c``)."""
from cffi import FFI

_TYPES = (("int32_t", "i32"), ("uint32_t", "u32"), ("int64_t", "i64"), ("uint64_t", "u64"),
          ("uint8_t", "u8"))
_PER_TYPE = """
    T ca_load_S(const T *p, int order);
    void ca_store_S(T *p, T v, int order);
    T ca_swap_S(T *p, T v, int order);
    T ca_fetch_add_S(T *p, T v, int order);
    T ca_fetch_sub_S(T *p, T v, int order);
    T ca_fetch_and_S(T *p, T v, int order);
    T ca_fetch_or_S(T *p, T v, int order);
    T ca_fetch_xor_S(T *p, T v, int order);
    T ca_fetch_max_S(T *p, T v, int order);
    T ca_fetch_min_S(T *p, T v, int order);
    int ca_compare_exchange_S(T *p, T *expected, T desired, int success, int failure);
"""

ffibuilder = FFI()
ffibuilder.cdef(
    "".join(_PER_TYPE.replace("T ", f"{t} ").replace("T *", f"{t} *").replace("_S(", f"_{s}(")
            for t, s in _TYPES)
    + """
    void ca_fence(int order);
    int ca_is_lock_free_64(void);
    void ca_loop_fetch_add_i64(int64_t *p, uint64_t n, int order);
    void ca_loop_cas_add_i64(int64_t *p, uint64_t n, int order);
    """
)
ffibuilder.set_source(
    "course_lib._atomics",
    '#include "atomics.h"',
    # Paths are relative to the project root, where setuptools runs the build.
    sources=["course_lib/_c/atomics.c"],
    include_dirs=["course_lib/_c"],
    extra_compile_args=["-std=c11", "-O2"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
