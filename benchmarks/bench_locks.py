"""Benchmarks for course_lib.locks, course_lib.locks.padding and course_lib.queues.

1. Lock acquire/release pairs per second, 1 and 2 threads, for every lock: numba spinlocks
   (TAS, TTAS, backoff, ticket) on ``nogil`` threads; the Python classes and ``threading.Lock``
   on Python threads. Rounds are interleaved (every lock once per round), medians reported.
2. False sharing: 2 threads incrementing counters 8 bytes apart (one line) vs 128 bytes apart,
   from numba (``fetch_add`` Relaxed = ``lock xadd``, and relaxed load+store), compared with
   ``bench.compare`` (interleaved). Target: at least 2x. The overlap figure says whether the two
   threads really ran at the same time (another busy program hides the effect).
3. Queues: moving N int64 values from one Python thread to another through ``ArrayQueue``,
   ``queue.Queue`` and a mutex-protected deque (``MutexQueue``); and ArrayQueue between two
   numba threads, for scale.

Run with ``python -m benchmarks locks`` (``COURSE_QUICK=1`` for a quick run).
"""
from __future__ import annotations

import queue
import threading

import numpy as np

from course_lib import locks as L
from course_lib import queues as Q
from course_lib.config import pick
from course_lib.locks import padding as P
from course_lib.measure import bench
from course_lib.measure.machine import usable_cores


class _Reader:
    """The read side of an RWLock as a lock object (readers do not exclude each other)."""

    def __init__(self) -> None:
        self.rw = L.RWLock()
        self.acquire, self.release = self.rw.acquire_read, self.rw.release_read


class _Writer:
    """The write side of an RWLock as a lock object."""

    def __init__(self) -> None:
        self.rw = L.RWLock()
        self.acquire, self.release = self.rw.acquire_write, self.rw.release_write


def _locks(rounds: int, seconds: float) -> None:
    print("\n-- lock acquire/release pairs per second (median of rounds; fairness = min/max "
          "per-thread count)")
    rows: dict[tuple[str, int], list] = {}
    py_locks = {"threading.Lock": threading.Lock, "TASLock (py)": L.TASLock,
                "TTASLock (py)": L.TTASLock, "BackoffLock (py)": L.BackoffLock,
                "TicketLock (py)": L.TicketLock, "RWLock read": _Reader,
                "RWLock write": _Writer}
    for _ in range(rounds):
        for threads in (1, 2):
            for kind in L.NUMBA_LOCKS:
                rows.setdefault((f"{kind} (numba)", threads), []).append(
                    L.lock_throughput(kind, threads, seconds))
            for name, make in py_locks.items():
                rows.setdefault((name, threads), []).append(
                    L.python_lock_throughput(make(), threads, seconds, label=name))
    print(f"{'lock':<18}{'1 thread':>14}{'2 threads':>14}{'2 thr fairness':>16}")
    for name in [k for k, t in rows if t == 1]:
        one = np.median([r.per_second for r in rows[(name, 1)]])
        two = np.median([r.per_second for r in rows[(name, 2)]])
        fair = np.median([r.fairness for r in rows[(name, 2)]])
        print(f"{name:<18}{one:>14,.0f}{two:>14,.0f}{fair:>16.2f}")
    base = np.median([r.per_second for r in rows[("threading.Lock", 1)]])
    ttas = np.median([r.per_second for r in rows[("ttas (numba)", 1)]])
    ttas_py = np.median([r.per_second for r in rows[("TTASLock (py)", 1)]])
    print(f"ratio numba TTAS / threading.Lock, 1 thread: {ttas / base:.1f}x; "
          f"Python-side TTASLock / threading.Lock: {ttas_py / base:.2f}x")


def _false_sharing(n: int, budget: float) -> None:
    print(f"\n-- false sharing: 2 threads x {n:,} increments, counters 8 B vs 128 B apart")
    for mode in ("rmw", "store"):
        c = bench.compare(lambda: P.false_sharing_run(8, n, 2, mode)[0],
                          lambda: P.false_sharing_run(128, n, 2, mode)[0],
                          budget=budget, min_samples=5, labels=("same line", "padded"))
        _, ov = P.false_sharing_run(8, n, 2, mode)
        print(f"{mode:>6}: same line {c.a.median * 1e3:8.1f} ms, padded {c.b.median * 1e3:8.1f} ms"
              f" -> ratio {c.ratio:.2f}x (95% CI {c.ci[0]:.2f}-{c.ci[1]:.2f}; overlap {ov:.2f};"
              f" target >= 2x)")
    curve = P.false_sharing_curve((8, 16, 32, 64, 128, 256), n=n, rounds=3)
    print("curve (rmw), M increments/s by distance: " + ", ".join(
        f"{d} B: {t / 1e6:.0f}" for d, t in zip(curve.distances, curve.throughput)))
    print(f"ratio 8 B / 128 B from the curve: {curve.ratio():.2f}x; threads ran in parallel: "
          f"{curve.parallel}")


def _queues(n: int, budget: float) -> None:
    print(f"\n-- queues: {n:,} int64 values from one Python thread to another (capacity 1024)")
    cases = {"ArrayQueue": lambda: Q.python_transfer(Q.ArrayQueue(1024), n),
             "queue.Queue": lambda: Q.python_transfer(queue.Queue(1024), n),
             "MutexQueue": lambda: Q.python_transfer(Q.MutexQueue(1024), n)}
    times = {k: bench.measure(f, budget=budget, min_samples=3, label=k).median
             for k, f in cases.items()}
    for k, t in times.items():
        print(f"{k:<12} {t * 1e3:8.1f} ms  ({n / t:,.0f} values/s)")
    print(f"ratio queue.Queue / ArrayQueue: {times['queue.Queue'] / times['ArrayQueue']:.2f}x; "
          f"MutexQueue / ArrayQueue: {times['MutexQueue'] / times['ArrayQueue']:.2f}x")
    m = n * 20
    for kind in ("array", "seg"):
        t = bench.measure(Q.numba_transfer, kind, m, budget=budget, min_samples=3).median
        print(f"{kind:>5} queue between two numba threads: {m / t:,.0f} values/s")


def run() -> None:
    """Print lock throughput, the false-sharing ratio and queue transfer rates."""
    cores = usable_cores() or 1
    print(f"usable cores: {cores}" + ("" if cores >= 2 else
                                      " (2-thread figures show time-slicing, not parallelism)"))
    _locks(rounds=pick(3, 1), seconds=pick(0.2, 0.03))
    _false_sharing(n=pick(20_000_000, 2_000_000), budget=pick(4.0, 0.5))
    _queues(n=pick(100_000, 10_000), budget=pick(2.0, 0.3))
