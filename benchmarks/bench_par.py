"""Benchmarks for course_lib.par: the pool against prange, its cost per task, par_sort vs np.sort.

1. Speedup of a compute-bound kernel that releases the GIL (``cw_spin`` in C through cffi, and
   its numba twin ``spin``) on 1 and 2 threads: through ``par`` (``ThreadPool`` + ``par_range``)
   and through numba's ``prange``. Target: >= 1.8x on 2 cores. Bare ``threading.Thread``s with a
   fixed split show the ceiling the machine allows at the moment (a shared machine may not
   give you two free cores).
2. The pool's efficiency against ``prange`` (:func:`pool_vs_prange`): 256 GIL-free tasks of about
   0.5 ms each, on 1, 2, ... threads up to the usable cores, and on twice as many workers as
   cores (oversubscribed). Efficiency is the speedup over the same work run sequentially (a
   Python loop over ``cw_spin`` for the pool; ``spin_prange`` on one numba thread for prange),
   divided by the cores that can run at once (``min(threads, cores)``). Target: the pool within
   10 points of prange at every thread count. All variants are sampled in interleaved rounds.
3. Per-task cost of the pool's dispatch, as a function of the number of workers
   (:func:`dispatch_cost`): empty tasks (only the pool's Python: the GIL is the bottleneck), and
   short GIL-free tasks (~50 µs), where the cost is the core time lost per task,
   ``(min(workers, cores) * T(workers) - T_sequential) / tasks``: GIL hand-overs, wake-ups,
   steals. The pool's own counters (:class:`~course_lib.par.PoolStatistics`: steals, parks,
   wake-ups, futile searches, per task) show where the contention on its locks is.
4. Per-task overhead against ``concurrent.futures.ThreadPoolExecutor``, 2 workers each.
5. ``par_sort`` against ``np.sort`` (:func:`sort_ratios`): float64, float32 and int64, 10 million
   items (1 million under COURSE_QUICK), random and nearly sorted (sorted, then 1% of the items
   swapped in random pairs), on pools of 1 and 2 threads, all interleaved in one run. Both sides
   sort a fresh copy (``np.sort`` returns one; ``par_sort`` sorts ``data.copy()`` in place), so the
   copy is in both times. Which sequential sort the leaves use (``leaf_sort_for``) is printed too.

Run with ``python -m benchmarks par``.
"""
from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import numba
import numpy as np

from benchmarks import print_groups
from course_lib import par
from course_lib._c._work import lib
from course_lib.config import pick
from course_lib.measure import bench
from course_lib.measure.machine import usable_cores
from course_lib.par.sort import leaf_sort_for


def _noop(_=None):
    return None


def _spin_iterations(seconds: float) -> int:
    """``cw_spin`` iterations that take about ``seconds`` here (best of a few tries)."""
    probe = 200_000
    best = min(_timed(lambda: lib.cw_spin(probe, 1)) for _ in range(5))
    return max(1, int(probe * seconds / best))


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


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


def pool_vs_prange(budget: float = 4.0, tasks: int = 256, task_seconds: float = 0.5e-3,
                   threads=None, oversubscribe: int = 2) -> list[dict]:
    """Efficiency of the pool and of numba ``prange`` on the same GIL-free work, interleaved.

    Args:
        budget: seconds of sampling, shared by all variants.
        tasks: number of tasks; each is ``spin`` of the same length (``cw_spin`` via cffi for the
            pool, numba's ``spin`` for prange).
        task_seconds: the length of one task, calibrated here.
        threads: thread counts to compare; default 1, 2, 4, ... up to the usable cores (and
            numba's thread limit).
        oversubscribe: also run the pool with this many workers per core (0: do not).

    Returns:
        One dict per row: ``threads`` (pool workers), ``cores`` (``min(threads, cores)``),
        ``pool_ms``, ``pool_eff``, ``prange_ms`` and ``prange_eff`` (None where prange cannot
        have that many threads), and ``stats``: the pool's counters per task.

    Example:
        >>> rows = pool_vs_prange(budget=0.2, tasks=8, task_seconds=1e-4, threads=[1])
        >>> rows[0]["threads"], 0 < rows[0]["pool_eff"] <= 1.5
        (1, True)
    """
    cores = usable_cores()
    numba_max = int(numba.config.NUMBA_NUM_THREADS)
    if threads is None:
        threads = sorted({1, cores} | {2 ** k for k in range(1, 8) if 2 ** k <= cores})
    counts = list(dict.fromkeys(int(t) for t in threads))
    if oversubscribe and oversubscribe * cores not in counts:
        counts.append(oversubscribe * cores)
    iters = _spin_iterations(task_seconds)
    par.spin_prange(10, 2)  # compile outside the timing
    pools = {w: par.ThreadPool(w) for w in counts}

    def sequential():
        for i in range(tasks):
            lib.cw_spin(iters, i)

    def on_pool(w):
        body = lambda i: lib.cw_spin(iters, i)  # noqa: E731
        return lambda: pools[w].install(lambda: par.par_range(tasks).with_max_len(1).for_each(body))

    def on_prange(t):
        def run():
            numba.set_num_threads(t)
            par.spin_prange(iters, tasks)
        return run

    calls = [("sequential", sequential), ("prange 1", on_prange(1))]
    calls += [(f"prange {t}", on_prange(t)) for t in counts if 1 < t <= min(cores, numba_max)]
    calls += [(f"pool {w}", on_pool(w)) for w in counts]
    previous = numba.get_num_threads()
    try:
        for p in pools.values():
            p.install(_noop)
            p.reset_statistics()
        ms = {m.label: m.median for m in bench.interleave(calls, budget=budget)}
        stats = {w: p.statistics() for w, p in pools.items()}
    finally:
        numba.set_num_threads(previous)
        for p in pools.values():
            p.close()
    rows = []
    for w in counts:
        c = min(w, cores)
        pr = ms.get(f"prange {w}")
        st = stats[w]
        runs = max(1, st.total_tasks)  # tasks the pool ran, splits included: per-task counters
        rows.append({
            "threads": w, "cores": c,
            "pool_ms": ms[f"pool {w}"] * 1e3, "pool_eff": ms["sequential"] / (c * ms[f"pool {w}"]),
            "prange_ms": None if pr is None else pr * 1e3,
            "prange_eff": None if pr is None else ms["prange 1"] / (c * pr),
            "stats": {"stolen": st.total_stolen / runs, "parks": sum(st.parks) / runs,
                      "wakeups": sum(st.wakeups) / runs, "futile": sum(st.futile_searches) / runs},
        })
    return rows


def dispatch_cost(budget: float = 2.0, workers=(1, 2, 4, 8), tasks: int = 2_000,
                  task_seconds: float = 50e-6) -> list[dict]:
    """Per-task cost of the pool as a function of the number of workers (oversubscribed too).

    Two kinds of task, one per item of ``par_range(tasks).with_max_len(1)``: empty ones (all
    Python, so all under the GIL) and GIL-free ``cw_spin`` of ``task_seconds``. For the latter the
    cost is the core time lost per task, ``(min(w, cores) * T(w) - T_sequential) / tasks``.

    Returns:
        One dict per worker count: ``workers``, ``empty_us`` (µs per empty task),
        ``lost_us`` (µs of core time lost per GIL-free task), and ``stats`` (the pool's
        counters per task during the GIL-free runs).

    Example:
        >>> rows = dispatch_cost(budget=0.2, workers=(1, 2), tasks=50)
        >>> [r["workers"] for r in rows]
        [1, 2]
    """
    cores = usable_cores()
    iters = _spin_iterations(task_seconds)
    empties = {w: par.ThreadPool(w) for w in workers}
    spinners = {w: par.ThreadPool(w) for w in workers}

    def empty(w):
        it = par.par_range(tasks).with_max_len(1)
        return lambda: empties[w].install(lambda: it.for_each(_noop))

    def spinning(w):
        body = lambda i: lib.cw_spin(iters, i)  # noqa: E731
        it = par.par_range(tasks).with_max_len(1)
        return lambda: spinners[w].install(lambda: it.for_each(body))

    def sequential():
        for i in range(tasks):
            lib.cw_spin(iters, i)

    calls = [("sequential", sequential)]
    calls += [(f"empty {w}", empty(w)) for w in workers]
    calls += [(f"spin {w}", spinning(w)) for w in workers]
    try:
        for p in spinners.values():
            p.install(_noop)
            p.reset_statistics()
        ms = {m.label: m.median for m in bench.interleave(calls, budget=budget)}
        stats = {w: p.statistics() for w, p in spinners.items()}
    finally:
        for p in (*empties.values(), *spinners.values()):
            p.close()
    rows = []
    for w in workers:
        st = stats[w]
        runs = max(1, st.total_tasks)
        rows.append({
            "workers": w,
            "empty_us": ms[f"empty {w}"] / tasks * 1e6,
            "lost_us": (min(w, cores) * ms[f"spin {w}"] - ms["sequential"]) / tasks * 1e6,
            "stats": {"stolen": st.total_stolen / runs, "parks": sum(st.parks) / runs,
                      "wakeups": sum(st.wakeups) / runs, "futile": sum(st.futile_searches) / runs},
        })
    return rows


def _stats_text(s: dict) -> str:
    return (f"per task: {s['stolen']:.3f} steals, {s['parks']:.3f} parks, "
            f"{s['wakeups']:.3f} wake-ups, {s['futile']:.3f} futile searches")


def _efficiency(budget: float) -> list[tuple[str, str]]:
    rows = pool_vs_prange(budget=budget, tasks=pick(256, 64))
    out = []
    for r in rows:
        over = " (oversubscribed)" if r["threads"] > r["cores"] else ""
        if r["prange_eff"] is None:
            cmp = "prange: n/a (numba has at most NUMBA_NUM_THREADS threads)"
        else:
            gap = 100 * (r["prange_eff"] - r["pool_eff"])
            cmp = (f"prange {r['prange_ms']:7.2f} ms eff {r['prange_eff']:5.0%}  gap "
                   f"{gap:+5.1f} points (target <= 10)")
        out.append((f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}{over}",
                    f"pool {r['pool_ms']:7.2f} ms eff {r['pool_eff']:5.0%}   {cmp}"))
        out.append(("", _stats_text(r["stats"])))
    return out


def _dispatch(budget: float) -> list[tuple[str, str]]:
    cores = usable_cores()
    workers = sorted({1, 2, cores, 2 * cores, 4 * cores})
    rows = dispatch_cost(budget=budget, workers=workers, tasks=pick(2_000, 400))
    out = []
    for r in rows:
        out.append((f"{r['workers']} workers", f"empty task {r['empty_us']:6.2f} µs   GIL-free "
                    f"50 µs task: {r['lost_us']:6.2f} µs of core time lost per task"))
        out.append(("", _stats_text(r["stats"])))
    return out


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


def _nearly_sorted(a: np.ndarray, fraction: float, rng) -> np.ndarray:
    """``a`` sorted, then ``fraction`` of its items swapped in random pairs (distinct positions)."""
    out = np.sort(a)
    k = int(len(a) * fraction) // 2 * 2
    pos = rng.choice(len(a), k, replace=False)
    out[pos[0::2]], out[pos[1::2]] = out[pos[1::2]], out[pos[0::2]].copy()
    return out


def sort_inputs(n: int, seed: int = 0) -> dict[tuple[str, str], np.ndarray]:
    """The benchmark's inputs: ``(dtype, "random" | "nearly sorted") -> array`` of ``n`` items.

    Example:
        >>> sorted(sort_inputs(100))[:2]
        [('float32', 'nearly sorted'), ('float32', 'random')]
    """
    rng = np.random.default_rng(seed)
    out = {}
    for dt in ("float64", "float32", "int64"):
        if dt == "int64":
            r = rng.integers(-2**62, 2**62, n)
        else:
            r = rng.standard_normal(n).astype(dt)
        out[(dt, "random")] = r
        out[(dt, "nearly sorted")] = _nearly_sorted(r, 0.01, rng)
    return out


def sort_ratios(budget: float = 3.0, n: int | None = None, threads=(1, 2)) -> list[dict]:
    """``np.sort`` against ``par_sort`` on pools of ``threads``, per dtype and input, interleaved.

    Returns:
        One dict per (dtype, input): ``dtype``, ``input``, ``leaf`` (the leaf sort),
        ``np_ms``, and per thread count ``t``: ``par_ms[t]`` and ``ratio[t]`` (np.sort time over
        par_sort time: above 1, par_sort is faster).

    Example:
        >>> rows = sort_ratios(budget=0.1, n=50_000, threads=(1,))
        >>> rows[0]["ratio"][1] > 0
        True
    """
    n = pick(10_000_000, 1_000_000) if n is None else n
    pools = {t: par.ThreadPool(t) for t in threads}
    rows = []
    try:
        for (dt, kind), data in sort_inputs(n).items():
            got = data.copy()
            pools[threads[-1]].install(lambda: par.par_sort(got))  # compile, calibrate, check
            if not np.array_equal(got, np.sort(data)):
                raise AssertionError(f"par_sort disagrees with np.sort on {dt} {kind}")
            calls = [("np.sort", lambda d=data: np.sort(d))]
            calls += [(f"par_sort {t}",
                       lambda t=t, d=data: pools[t].install(lambda: par.par_sort(d.copy())))
                      for t in threads]
            ms = {m.label: m.median for m in bench.interleave(calls, budget=budget)}
            rows.append({"dtype": dt, "input": kind, "leaf": leaf_sort_for(dt),
                         "np_ms": ms["np.sort"] * 1e3,
                         "par_ms": {t: ms[f"par_sort {t}"] * 1e3 for t in threads},
                         "ratio": {t: ms["np.sort"] / ms[f"par_sort {t}"] for t in threads}})
    finally:
        for p in pools.values():
            p.close()
    return rows


def _sort(budget: float) -> list[tuple[str, str]]:
    threads = (1, 2)
    rows = sort_ratios(budget=budget, threads=threads)
    out = []
    for r in rows:
        times = "  ".join(f"{t} thr {r['par_ms'][t]:6.1f} ms" for t in threads)
        ratios = "  ".join(f"{t} thr {r['ratio'][t]:5.2f}x" for t in threads)
        out.append((f"{r['dtype']:7s} {r['input']:13s} ({r['leaf']} leaves)",
                    f"np.sort {r['np_ms']:6.1f} ms  par_sort {times}   np.sort/par_sort {ratios}"))
    out.append(("targets", ">= 1.3x on 2 threads, >= 0.9x on 1 thread"))
    return out


def run() -> None:
    """Measure and print the groups of figures and their ratios."""
    budget = pick(2.0, 0.4)
    print(f"course_lib.par benchmarks on {usable_cores()} usable cores "
          f"(global pool: {par.current_num_threads()} threads)")
    groups = (("speedup of GIL-free compute, 1 -> 2 threads", lambda: _speedups(budget)),
              ("pool vs prange: efficiency on 0.5 ms GIL-free tasks",
               lambda: _efficiency(2 * budget)),
              ("pool dispatch: cost per task by number of workers", lambda: _dispatch(budget)),
              ("per-task overhead, 2 workers", lambda: _overhead(budget)),
              ("sorting: np.sort / par_sort (copy included on both sides)", lambda: _sort(budget)))
    print_groups(groups)


if __name__ == "__main__":
    run()
