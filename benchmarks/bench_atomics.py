"""Benchmarks for course_lib.atomics: what one atomic read-modify-write costs, and where from.

1. Uncontended ``fetch_add`` (SeqCst) on one cell, one thread, in a loop: from numba (LLVM
   ``atomicrmw`` -> ``lock xadd``), from plain C (``atomic_fetch_add_explicit`` in atomics.c)
   and from Python (``AtomicI64.fetch_add``, one cffi call each). An uncontended ``lock xadd``
   loop is latency-bound (each waits for the one before: ~20 cycles on recent x86), so numba
   and C should agree: target numba within 1.5x of C.
2. Contended: 2 threads hammering the same cell (numba ``nogil`` and C, each called from two
   Python threads; the GIL is released) -- the cache line ping-pongs between the cores.
3. A compare_exchange loop doing the same increments, against fetch_add, under the same 2-thread
   contention: a failed CAS is wasted work, so CAS loops degrade more.

Run with ``python -m benchmarks atomics``.
"""
from __future__ import annotations

import threading

import numpy as np
from numba import njit

from course_lib.atomics import (AtomicI64, Ordering, c_loop_cas_add, c_loop_fetch_add,
                                compare_exchange_weak, fetch_add, load)
from course_lib.config import pick
from course_lib.measure import bench
from course_lib.measure.machine import usable_cores


@njit(nogil=True, cache=True)
def _numba_fetch_add(cell, n):
    total = 0
    for _ in range(n):
        total += fetch_add(cell, 0, 1, Ordering.SeqCst)  # SeqCst as the C loop; same on x86
    return total


@njit(nogil=True, cache=True)
def _numba_cas_add(cell, n):
    for _ in range(n):
        seen = load(cell, 0, Ordering.Relaxed)
        while True:
            # Relaxed failure: a failed attempt publishes nothing; we retry with what we saw.
            ok, seen = compare_exchange_weak(cell, 0, seen, seen + 1, Ordering.SeqCst,
                                             Ordering.Relaxed)
            if ok:
                break
    return 0


def _python_fetch_add(cell: AtomicI64, n: int) -> None:
    add, order = cell.fetch_add, Ordering.SeqCst
    for _ in range(n):
        add(1, order)


def _on_two_threads(fn, *args, second=None):
    """Run fn(*args) on two Python threads at once (fn must release the GIL); the second
    thread gets ``second`` as its first argument instead, if given."""
    def both():
        threads = [threading.Thread(target=fn, args=args),
                   threading.Thread(target=fn, args=args if second is None
                                    else (second,) + args[1:])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return both


def _ns(m: bench.Measurement, ops: int) -> float:
    return m.median / ops * 1e9


def run() -> None:
    """Measure and print ns per operation and the ratios the chapter discusses."""
    budget = pick(1.0, 0.2)
    n = pick(2_000_000, 200_000)
    n_py = pick(200_000, 20_000)
    cell = AtomicI64(0)
    _numba_fetch_add(cell.array, 10)  # compile outside the timing
    _numba_cas_add(cell.array, 10)

    print(f"course_lib.atomics benchmarks on {usable_cores()} usable cores; ns per operation")
    c_un = bench.measure(c_loop_fetch_add, cell, n, Ordering.SeqCst, budget=budget,
                         label="C fetch_add")
    nb_un = bench.measure(_numba_fetch_add, cell.array, n, budget=budget, label="numba fetch_add")
    py_un = bench.measure(_python_fetch_add, cell, n_py, budget=budget, label="Python fetch_add")
    nb_cas_un = bench.measure(_numba_cas_add, cell.array, n, budget=budget, label="numba CAS")
    rows = [("uncontended fetch_add, C loop", _ns(c_un, n)),
            ("uncontended fetch_add, numba", _ns(nb_un, n)),
            ("uncontended fetch_add, Python (AtomicI64)", _ns(py_un, n_py)),
            ("uncontended CAS-loop add, numba", _ns(nb_cas_un, n))]
    overlap = None
    if usable_cores() >= 2:
        both = 2 * n
        lines = np.zeros(16, np.int64)  # two cells 64 bytes apart: no sharing, no contention
        c_sep = bench.measure(_on_two_threads(c_loop_fetch_add, AtomicI64.at(lines, 0), n,
                                              Ordering.SeqCst, second=AtomicI64.at(lines, 8)),
                              budget=budget, label="C fetch_add x2, separate lines")
        overlap = 2 * c_un.median / c_sep.median
        c_co = bench.measure(_on_two_threads(c_loop_fetch_add, cell, n, Ordering.SeqCst),
                             budget=budget, label="C fetch_add x2")
        nb_co = bench.measure(_on_two_threads(_numba_fetch_add, cell.array, n), budget=budget,
                              label="numba fetch_add x2")
        c_cas = bench.measure(_on_two_threads(c_loop_cas_add, cell, n, Ordering.SeqCst),
                              budget=budget, label="C CAS x2")
        nb_cas = bench.measure(_on_two_threads(_numba_cas_add, cell.array, n), budget=budget,
                               label="numba CAS x2")
        py_co = bench.measure(_on_two_threads(_python_fetch_add, cell, n_py), budget=budget,
                              label="Python fetch_add x2")
        rows += [("2 threads, separate cache lines, C", _ns(c_sep, both)),
                 ("contended (2 threads) fetch_add, C", _ns(c_co, both)),
                 ("contended (2 threads) fetch_add, numba", _ns(nb_co, both)),
                 ("contended (2 threads) fetch_add, Python", _ns(py_co, 2 * n_py)),
                 ("contended (2 threads) CAS-loop add, C", _ns(c_cas, both)),
                 ("contended (2 threads) CAS-loop add, numba", _ns(nb_cas, both))]
    width = max(len(name) for name, _ in rows)
    for name, ns in rows:
        print(f"  {name:<{width}}  {ns:8.2f} ns")
    fig = dict(rows)
    print("\nratios")
    ratio = fig["uncontended fetch_add, numba"] / fig["uncontended fetch_add, C loop"]
    print(f"  numba / C, uncontended fetch_add      {ratio:6.2f}x  (target <= 1.5x)")
    print(f"  Python / C, uncontended fetch_add     "
          f"{fig['uncontended fetch_add, Python (AtomicI64)'] / fig['uncontended fetch_add, C loop']:6.1f}x"
          "  (the cost of one Python call)")
    if overlap is not None:
        print(f"  parallel overlap (separate lines)     {overlap:6.2f}x  (2.0 = both cores "
              "busy with our threads)")
        print(f"  same cell / separate lines, C         "
              f"{fig['contended (2 threads) fetch_add, C'] / fig['2 threads, separate cache lines, C']:6.2f}x"
              "  (the price of contention)")
        if overlap < 1.5:
            print("  warning: the two threads did not run in parallel (is something else using "
                  "the cores?); the contended figures are then mostly serial time")
        print(f"  numba / C, contended fetch_add        "
              f"{fig['contended (2 threads) fetch_add, numba'] / fig['contended (2 threads) fetch_add, C']:6.2f}x")
        print(f"  contended / uncontended, numba        "
              f"{fig['contended (2 threads) fetch_add, numba'] / fig['uncontended fetch_add, numba']:6.2f}x"
              "  (cache-line ping-pong)")
        print(f"  CAS loop / fetch_add, contended, C    "
              f"{fig['contended (2 threads) CAS-loop add, C'] / fig['contended (2 threads) fetch_add, C']:6.2f}x")
        print(f"  CAS loop / fetch_add, contended, numba "
              f"{fig['contended (2 threads) CAS-loop add, numba'] / fig['contended (2 threads) fetch_add, numba']:5.2f}x")
    else:
        print("  (one usable core: contended figures skipped; two threads would only take turns)")
    assert np.int64(cell.load(Ordering.SeqCst)) > 0  # the work really happened
