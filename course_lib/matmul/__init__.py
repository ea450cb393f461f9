"""Chapter 8, the capstone: matrix multiplication from three loops to within reach of BLAS.

``C = A @ B`` does ``2 m n k`` floating-point operations on ``m k + k n + m n`` numbers: for
n = 1024, two thousand million operations on 24 MiB. Every operation is cheap; what decides the
speed is how often each number is brought from memory to a register and how many operations
each brings with it. The chapter climbs a ladder of rungs that compute the same thing, each
removing the bottleneck of the one before, and measures every step against NumPy's BLAS:

==========================  ============================================================
module                      what is in it
==========================  ============================================================
``common``                  operand checking shared by every rung (:func:`check_operands`:
                            2-D, one float dtype, matching inner dimensions, a valid ``out``),
                            :func:`flops`, and the rounding-error bound results are tested
                            against (:func:`error_bound`, :func:`max_error_ratio`)
``ladder``                  the numba rungs, :data:`RUNGS`: ``naive`` (i, j, k), ``reordered``
                            (i, k, j), ``blocked`` (cache tiles), ``packed`` (contiguous
                            copies of the tiles), ``microkernel`` (Goto/BLIS: packed
                            micro-panels and an ``MR x NR`` register-blocked micro-kernel);
                            the block sizes from the cache sizes (:func:`blocking`,
                            :func:`block_sizes`); :func:`gemm_block`, the kernel of one tile
``parallel``                the micro-kernel on several threads, three ways: numba ``prange``
                            over row blocks, chapter 1's work-stealing pool, a lock-free tile
                            queue on an atomic counter (:data:`PARALLEL`)
``measure``                 GFLOP/s (:func:`gflops`), the whole ladder against NumPy's BLAS on
                            the same thread count in one interleaved run
                            (:func:`ladder_table`), each parallel rung's speedup over its own
                            one-thread time (:func:`scaling_table`), and which BLAS NumPy
                            uses (:func:`blas_info`)
``explore``                 sliders for the micro-kernel rung's block sizes, timed live
                            against the defaults (:func:`explore.tile_explorer`)
``cgemm``                   the same Goto/BLIS algorithm in C with SIMD intrinsics, dispatched
                            at run time (``matmul_c(a, b, out=None, *, variant=None,
                            threads=1, tiles=None)``, ``tile_sizes(dtype, ...)``); imported on
                            first use (``from course_lib.matmul.cgemm import matmul_c``), as
                            it needs the C extension built by ``make``
==========================  ============================================================

Every rung takes ``(a, b, out=None)``, float32 or float64, any shapes and memory orders, and
returns ``out`` (or a new array) holding ``a @ b``.

Rust <-> Python:

=====================================================  =====================================
Rust                                                   course_lib.matmul
=====================================================  =====================================
``matrixmultiply::dgemm`` (a pure-Rust Goto/BLIS GEMM)  ``ladder.microkernel``
``ndarray``'s ``a.dot(&b)`` with the ``blas`` feature  ``a @ b`` (NumPy's BLAS)
``c.par_chunks_mut(rows).for_each(...)`` (Rayon)       ``parallel.parallel_pool``
``AtomicUsize::fetch_add`` as a work counter           ``parallel.parallel_queue``
``std::arch`` / ``portable-simd`` micro-kernel          ``cgemm.matmul_c``
``criterion`` benchmark group                          ``measure.ladder_table``
=====================================================  =====================================

Source: K. Goto and R. van de Geijn, "Anatomy of High-Performance Matrix Multiplication", ACM
TOMS 34(3), 2008; F. Van Zee and R. van de Geijn, "BLIS", ACM TOMS 41(3), 2015.
"""
from __future__ import annotations

from course_lib.matmul.common import (FLOAT_DTYPES, check_operands, error_bound, flops,
                                      max_error_ratio, reference)
from course_lib.matmul.ladder import (MR, NR, PAD, RUNGS, Blocking, BlockSizes, block_sizes,
                                      blocked, blocking, gemm_block, microkernel, naive, packed,
                                      panel_sizes, reordered)
from course_lib.matmul.measure import (NAIVE_MAX_N, BlasInfo, LadderRow, LadderTable, ScalingRow,
                                       ScalingTable, blas_info, blas_threads, gflops,
                                       ladder_table, scaling_table)
from course_lib.matmul.parallel import (PARALLEL, parallel_pool, parallel_prange, parallel_queue,
                                        row_blocks, tile_grid)

__all__ = [
    # common
    "FLOAT_DTYPES", "check_operands", "flops", "reference", "error_bound", "max_error_ratio",
    # ladder
    "naive", "reordered", "blocked", "packed", "microkernel", "RUNGS", "MR", "NR", "PAD",
    "Blocking", "blocking", "BlockSizes", "block_sizes", "gemm_block", "panel_sizes",
    # parallel
    "parallel_prange", "parallel_pool", "parallel_queue", "PARALLEL", "tile_grid", "row_blocks",
    # measure
    "gflops", "ladder_table", "LadderTable", "LadderRow", "scaling_table", "ScalingTable",
    "ScalingRow", "blas_info", "BlasInfo", "blas_threads", "NAIVE_MAX_N",
]


def __getattr__(name: str):
    """``course_lib.matmul.cgemm`` on first use, so that importing the package never needs the
    C extension."""
    if name == "cgemm":
        import importlib

        return importlib.import_module("course_lib.matmul.cgemm")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
