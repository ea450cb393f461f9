"""Parallel iterators and work stealing: Rayon's programming model, in Python.

What is here (the implementation lives in private modules, one concept each):

- ``ThreadPool``, ``join``, ``join_context``, ``global_pool``, ``current_num_threads``
  (``course_lib.par.pool``): a work-stealing pool. Each worker owns a deque; ``join(fa, fb)``
  pushes ``fb``, runs ``fa``, then pops ``fb`` back or, if an idle worker stole it, helps with
  other work until it is done.
- ``par_iter``, ``par_range``, ``par_chunks`` (``course_lib.par.iterators``): lazy parallel
  iterators (``map``, ``filter``, ``fold``, ``sum``, ``reduce``, ``collect``, ...), split
  adaptively over ``join`` like Rayon's ``bridge_producer_consumer``.
- ``par_sort`` (``course_lib.par.sort``): in-place parallel merge sort.
- numba ``prange`` kernels the chapter compares with (``course_lib.par.kernels``): maps, sums,
  a racy histogram and two correct ones.

Rust <-> Python:

================================================  =====================================
Rayon                                             course_lib.par
================================================  =====================================
``rayon::join(a, b)``                             ``join(fa, fb)``
``ThreadPoolBuilder::new().num_threads(n)``       ``ThreadPool(num_threads=n)``
``pool.install(|| ...)``                          ``pool.install(fn)``
``v.par_iter().map(f).sum()``                     ``par_iter(v).map(f).sum()``
``(0..n).into_par_iter()``                        ``par_range(n)``
``v.par_chunks(k)``                               ``par_chunks(v, k)``
``.fold(|| 0, op).reduce(|| 0, op)``              ``.fold(int, op).reduce(int, op)``
``v.par_sort()``                                  ``par_sort(v)``
``rayon::current_num_threads()``                  ``current_num_threads()``
================================================  =====================================

Python threads run Python bytecode one at a time (the GIL). The pool gives real speedups only
for work that releases the GIL: numba ``nogil=True`` functions, most NumPy calls on large arrays,
C called through cffi (``course_lib._c._work.lib.cw_spin``). Pure-Python work is correct but not
faster.

Source:
    Rayon (``rayon-core`` and ``rayon::iter::plumbing``) and its FAQ; Blumofe and Leiserson,
    "Scheduling Multithreaded Computations by Work Stealing", JACM 1999.

Thread-safety: everything here may be called from any thread; see each module for the details.
"""
from __future__ import annotations

from course_lib.par.iterators import ParallelIterator, par_chunks, par_iter, par_range
from course_lib.par.kernels import (histogram_chunk_partials, histogram_racy, histogram_sequential,
                                    histogram_thread_partials, map_prange, map_sequential, spin,
                                    spin_prange, sum_prange, sum_sequential)
from course_lib.par.pool import (PoolStatistics, ThreadPool, TimelineEvent, current_num_threads,
                                 current_worker_index, global_pool, join, join_context)
from course_lib.par.sort import par_sort

__all__ = [
    # the pool
    "ThreadPool", "PoolStatistics", "TimelineEvent", "join", "join_context", "global_pool",
    "current_num_threads", "current_worker_index",
    # parallel iterators and sorting
    "ParallelIterator", "par_iter", "par_range", "par_chunks", "par_sort",
    # numba prange kernels
    "map_sequential", "map_prange", "sum_sequential", "sum_prange", "histogram_sequential",
    "histogram_racy", "histogram_thread_partials", "histogram_chunk_partials", "spin",
    "spin_prange",
]
