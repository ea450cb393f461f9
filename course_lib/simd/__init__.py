"""SIMD and the compiler (chapter c05): lanes, vector instructions, and who decides to use them.

==========================  =================================================================
``features``                the CPU's SIMD ladder (asked of the CPU itself), the kernel variants
                            it can run, a ceiling to force the dispatcher down
                            (``COURSE_SIMD_MAX``, :func:`ceiling`)
``kernels``                 dot, saxpy, poly, masked_sum, argmin, argmax in C (``_c/simd.c``):
                            scalar, vector extensions, SSE / AVX2 / AVX-512 / NEON intrinsics,
                            dispatched at run time
``peak``                    one core's measured FMA peak, and the flops per cycle it implies
``ladder``                  every variant's GFLOP/s against that peak, and the plot
``autovec``                 read machine code: did the compiler vectorise, how wide, with FMA?
``blockers``                six obstacles to auto-vectorisation in numba, each with its fix
``numba_kernels``           the chapter's dot products, strict and with ``fastmath``
``targets``                 one numba kernel compiled for x86-64 v1..v4 / NEON / host; NumPy's
                            own dispatch
``snippet``                 compile a learner's C from a cell: callables, assembly, readable errors
``tuning``                  -O levels, -march=native, restrict, LTO and PGO, measured
==========================  =================================================================

The names below are the chapter's everyday ones (``cpu_features`` is ``features.features``: the
module keeps its name); the modules hold the rest.
"""
from course_lib.simd.autovec import VectorReport, asm_of, report, vector_report
from course_lib.simd.features import (SimdUnavailable, available, best_variant, ceiling, lanes,
                                      variants)
from course_lib.simd.features import features as cpu_features
from course_lib.simd.features import ladder as isa_ladder

__all__ = ["VectorReport", "asm_of", "report", "vector_report", "SimdUnavailable", "available",
           "best_variant", "ceiling", "cpu_features", "isa_ladder", "lanes", "variants"]
