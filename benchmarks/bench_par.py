"""Benchmarks for course_lib.par: speedup, per-task overhead, and par_sort against np.sort.

1. Speedup of a compute-bound kernel that releases the GIL (``cw_spin`` in C through cffi, and
   its numba twin ``spin``) on 1 and 2 threads: through ``par`` (``ThreadPool`` + ``par_range``)
   and through numba's ``prange``. Target: >= 1.8x on 2 cores. Bare ``threading.Thread``s with a
   fixed split show the ceiling the machine allows at the moment (a shared machine may not
   give you two free cores).
2. Per-task overhead: N empty tasks through ``ThreadPool`` (``par_range(N).with_max_len(1)
   .for_each``, one task per item) against ``concurrent.futures.ThreadPoolExecutor`` (N
   ``submit`` then N ``result``), both with 2 workers. Target: ours costs at most a third.
3. ``par_sort`` against ``np.sort`` on 10 million float64 (1 million under COURSE_QUICK); both
   sides sort a fresh copy, so the copy is in both times. ``par_sort`` on a 1-thread pool
   separates the algorithm's gain (radix-sorted leaves) from the second core's.

Run with ``python -m benchmarks par``.
"""
from __future__ import annotations

import concurrent.futures as cf
import threading

import numpy as np

from course_lib import par
from course_lib._c._work import lib
from course_lib.config import pick
from course_lib.measure import bench
from course_lib.measure.machine import usable_cores


def _noop(_=None):
    return None


def _speedups(budget: float) -> list[tuple[str, str]]:
    tasks = 64
    iters = pick(1_000_000, 300_000)  # ~0.3-1 ms of xorshift per task
    rounds = pick(5, 3)
    pools = {n: par.ThreadPool(n) for n in (1, 2)}

    def via_par(n):
        return pools[n].install(lambda: par.par_range(tasks).with_max_len(1)
                                .map(lambda i: int(lib.cw_spin(iters, i))).reduce(int, int.__xor__))

    def bare_threads(n):  # the ceiling on this machine right now: n bare threads, fixed split
        threads = [threading.Thread(target=lambda k=k: [lib.cw_spin(iters, i) for i in range(k, tasks, n)])
                   for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    par.spin_prange(10, 2)  # compile outside the timing
    kinds = {"bare threading.Threads (the machine's ceiling now)": (bare_threads, "call"),
             "par (ThreadPool + par_range, cw_spin via cffi)": (via_par, "call"),
             "numba prange (spin)": (lambda: par.spin_prange(iters, tasks), "numba")}
    speedups: dict[str, list[float]] = {k: [] for k in kinds}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    try:
        for _ in range(rounds):  # rounds interleave the three, so a busy spell hits all of them
            for name, (fn, via) in kinds.items():
                s = bench.scaling(fn, threads=(1, 2), via=via, budget=budget / rounds / len(kinds),
                                  rounds=1, label=name)
                speedups[name].append(float(s.speedup[-1]))
                times[name].append((float(s.times[0]), float(s.times[-1])))
    finally:
        for p in pools.values():
            p.close()
    rows = []
    ceiling = speedups["bare threading.Threads (the machine's ceiling now)"]
    for name in kinds:
        sp = np.array(speedups[name])
        t1, t2 = np.median(np.array(times[name]), axis=0)
        target = "" if "ceiling" in name else " (target >= 1.8x)"
        rel = "" if "ceiling" in name else \
            f", {np.median(sp / np.array(ceiling)):.0%} of the ceiling"
        rows.append((name, f"1 thread {t1 * 1e3:7.2f} ms  2 threads {t2 * 1e3:7.2f} ms  speedup "
                           f"{np.median(sp):.2f}x (best {sp.max():.2f}x){target}{rel}"))
    return rows


def _overhead(budget: float) -> list[tuple[str, str]]:
    n = pick(20_000, 5_000)
    with par.ThreadPool(2) as pool, cf.ThreadPoolExecutor(2) as executor:
        def ours():
            pool.install(lambda: par.par_range(n).with_max_len(1).for_each(_noop))

        def theirs():
            futures = [executor.submit(_noop) for _ in range(n)]
            for f in futures:
                f.result()

        def joins():  # a binary tree of n - 1 joins: the raw cost of join itself
            def tree(k):
                if k == 1:
                    return None
                return par.join(lambda: tree(k // 2), lambda: tree(k - k // 2))
            pool.install(lambda: tree(n))

        c = bench.compare(theirs, ours, budget=budget, labels=("ThreadPoolExecutor", "par.ThreadPool"))
        m_join = bench.measure(joins, budget=budget / 2, label="join tree")
        # one task handed over from outside and waited for: a cross-thread round trip either way
        rt = bench.compare(lambda: executor.submit(_noop).result(), lambda: pool.install(_noop),
                           budget=budget / 2, labels=("submit().result()", "install()"))
    per_theirs, per_ours = c.a.median / n, c.b.median / n
    lo, hi = c.ci
    return [
        ("per task: ThreadPoolExecutor submit+result", f"{per_theirs * 1e6:8.2f} µs"),
        ("per task: par.ThreadPool (par_range, 1 item/task)", f"{per_ours * 1e6:8.2f} µs"),
        ("per join (tree of joins)", f"{m_join.median / (n - 1) * 1e6:8.2f} µs"),
        ("ratio executor / ours", f"{c.ratio:8.2f}x  (95% CI {lo:.2f}-{hi:.2f}; target >= 3x)"),
        ("one round trip from outside: submit().result()", f"{rt.a.median * 1e6:8.2f} µs"),
        ("one round trip from outside: pool.install()", f"{rt.b.median * 1e6:8.2f} µs"),
    ]


def _sort(budget: float) -> list[tuple[str, str]]:
    n = pick(10_000_000, 1_000_000)
    data = np.random.default_rng(0).random(n)
    par.par_sort(data.copy())  # compile the numba kernels outside the timing

    def with_np():
        a = data.copy()
        a.sort()

    def with_par():
        a = data.copy()
        par.par_sort(a)

    c = bench.compare(with_np, with_par, budget=budget, min_samples=3, labels=("np.sort", "par_sort"))
    with par.ThreadPool(1) as one:  # the algorithm alone (radix leaves), without the second core
        m1 = bench.measure(lambda: one.install(with_par), budget=budget / 2, min_samples=3,
                           label="par_sort, 1 thread")
    lo, hi = c.ci
    return [
        (f"np.sort, {n:,} float64 (+ copy)", f"{c.a.median * 1e3:8.1f} ms"),
        ("par_sort on 1 thread (+ copy)", f"{m1.median * 1e3:8.1f} ms"),
        (f"par_sort on {par.current_num_threads()} threads (+ copy)", f"{c.b.median * 1e3:8.1f} ms"),
        ("ratio np.sort / par_sort", f"{c.ratio:8.2f}x  (95% CI {lo:.2f}-{hi:.2f})"),
        ("par_sort speedup, 1 -> all threads", f"{m1.median / c.b.median:8.2f}x"),
    ]


def run() -> None:
    """Measure and print the three groups of figures and their ratios."""
    budget = pick(2.0, 0.4)
    print(f"course_lib.par benchmarks on {usable_cores()} usable cores "
          f"(global pool: {par.current_num_threads()} threads)")
    for title, rows in (("speedup of GIL-free compute, 1 -> 2 threads", _speedups(budget)),
                        ("per-task overhead, 2 workers", _overhead(budget)),
                        ("sorting", _sort(budget * 2))):
        print(f"\n{title}")
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    run()
