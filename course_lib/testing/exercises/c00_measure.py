"""Checkers for chapter c00_measure: Amdahl's law, fitting a serial fraction, a robust timer,
and splitting GIL-free work over threads."""
from __future__ import annotations

import random
import threading
import time

import numpy as np

from course_lib.measure import bench
from course_lib.measure.amdahl import amdahl_speedup, fit_serial_fraction, gustafson_speedup
from course_lib.testing import call_with_timeout, check_close, check_raises
from course_lib.testing.delegation import answers, learner_scopes, replaced
from course_lib.testing.exercises import seal

__all__ = ["check_amdahl", "check_serial_fraction", "TrapWork", "check_robust_time", "spin_chunks",
           "check_parallel_spin"]


@answers("amdahl", amdahl_speedup, gustafson_speedup)
def check_amdahl(amdahl) -> None:
    """The learner's ``amdahl(serial_fraction, cores)`` matches Amdahl's law and rejects bad input."""
    for s in (0.0, 0.01, 0.1, 0.5, 1.0):
        for n in (1, 2, 3, 8, 64, 1000):
            check_close(amdahl(s, n), amdahl_speedup(s, n), rtol=1e-9, what=f"amdahl({s}, {n})")
    check_raises(ValueError, amdahl, -0.1, 4, why="A fraction of the run time is between 0 and 1.")
    check_raises(ValueError, amdahl, 1.5, 4, why="A fraction of the run time is between 0 and 1.")
    check_raises(ValueError, amdahl, 0.1, 0, why="A run needs at least one core.")


@answers("estimate_serial_fraction", fit_serial_fraction, bench.scaling)
def check_serial_fraction(estimate) -> None:
    """The learner's ``estimate_serial_fraction(threads, speedups)`` is the least-squares fit."""
    for s in (0.0, 0.05, 0.2, 0.6):
        n = [1, 2, 4, 8, 16]
        check_close(estimate(n, list(amdahl_speedup(s, n))), s, atol=1e-9,
                    what=f"the estimate from exact speedups of a run with serial fraction {s}")
    rng = np.random.default_rng(7)
    for _ in range(5):
        n = [1, 2, 3, 4, 6, 8]
        sp = amdahl_speedup(rng.uniform(0.02, 0.4), n) * rng.uniform(0.93, 1.07, size=len(n))
        sp[0] = 1.0
        check_close(estimate(n, list(sp)), fit_serial_fraction(n, sp), rtol=1e-6, atol=1e-9,
                    what=f"the estimate from noisy speedups {np.round(sp, 3).tolist()}")
    check_close(estimate([1, 2, 4], [1.0, 2.1, 4.3]), 0.0, atol=1e-12,
                what="the estimate from better-than-linear speedups (clip to 0)")
    check_raises(ValueError, estimate, [1, 2], [1.0], why="Each thread count needs its speedup.")


class TrapWork:
    """A function that lies to naive benchmarks, as real code does.

    The first call is slow (like a JIT compilation), and every ``spike_every``-th call is slowed
    down (like an interrupt or another process). Every other call takes ``typical`` seconds. The
    waits are busy loops, so they cost CPU time like real work.
    """

    def __init__(self, typical: float = 2e-4, first: float = 0.08, spike: float = 5e-3, spike_every: int = 8):
        self.typical, self.first, self.spike, self.spike_every = typical, first, spike, spike_every
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        cost = self.typical
        if self.calls == 1:
            cost = self.first
        elif self.calls % self.spike_every == 0:
            cost += self.spike
        end = time.perf_counter() + cost
        while time.perf_counter() < end:
            pass
        return self.calls


@answers("robust_time", bench.measure, bench.compare, bench.scaling)
def check_robust_time(robust_time, repeats: int = 40) -> None:
    """The learner's ``robust_time(fn, repeats)`` warms up and returns a robust per-call time.

    It is run on two trap functions whose typical calls differ about eightfold (drawn at random
    each time), so no constant can be right for both.
    """
    rng = random.Random()
    fast = rng.uniform(1e-4, 2e-4)
    for typical in (fast, fast * rng.uniform(7.0, 9.0)):
        _check_one_trap(robust_time, TrapWork(typical=typical), repeats)


def _check_one_trap(robust_time, trap: TrapWork, repeats: int) -> None:
    got = call_with_timeout(robust_time, trap, repeats, timeout=30, what="robust_time")
    if trap.calls < repeats + 1:
        raise AssertionError(f"robust_time called the function {trap.calls} times; it should make at least one "
                             f"warm-up call and then {repeats} timed calls")
    try:
        got = float(got)
    except (TypeError, ValueError):
        raise AssertionError(f"robust_time should return seconds as a float, got {got!r}") from None
    ratio = got / trap.typical
    if ratio > 3:
        raise AssertionError(
            f"robust_time returned {got * 1e3:.3f} ms but a typical call takes {trap.typical * 1e3:.3f} ms "
            f"({ratio:.1f}x too slow). Was the slow first call (compilation) timed, or did a few slow "
            "calls pull up a mean? Warm up first, and take the median.")
    if ratio < 0.5:
        raise AssertionError(f"robust_time returned {got * 1e3:.4f} ms, less than half of the "
                             f"{trap.typical * 1e3:.3f} ms a call takes: is it the time per call, "
                             "in seconds (measured, not a constant)?")


def spin_chunks(threads: int, total: int) -> list[int]:
    """Split ``total`` rounds into ``threads`` chunks whose sizes differ by at most one."""
    base, extra = divmod(total, threads)
    return [base + (i < extra) for i in range(threads)]


class _SpinRecorder:
    """Stands in for ``work.spin`` during a check: each call first waits (at most ``patience``
    seconds) at a barrier for the other chunks' calls to arrive, then does the real work.

    Chunks that were all submitted before any result was awaited meet at the barrier however
    busy the machine is; chunks run one after the other never do, so the barrier times out.
    """

    def __init__(self, real, parties: int, patience: float):
        self.real, self.patience = real, patience
        self.barrier = threading.Barrier(parties)
        self.threads: set[int] = set()
        self.calls = 0
        self.met = True
        self._lock = threading.Lock()

    def __call__(self, rounds, seed=1):
        with self._lock:
            self.calls += 1
            self.threads.add(threading.get_ident())
        try:
            self.barrier.wait(self.patience)
        except threading.BrokenBarrierError:
            self.met = False
        return self.real(rounds, seed)


def check_parallel_spin(parallel_spin, total: int = 40_000_000, patience: float = 10.0) -> None:
    """The learner's ``parallel_spin(threads, total, seed)`` is correct and really runs in parallel.

    "In parallel" is checked by structure, not by a stopwatch, so the grade does not depend on how
    busy the machine is: during one call ``work.spin`` is replaced by a recorder whose calls wait
    for each other at a barrier. Both chunks must reach it, on different threads, at the same
    time. Whether that turns into speed is the cores' business: the speedup is printed, not graded.
    """
    from course_lib.measure import work

    for threads, n in ((1, 1000), (2, 1001), (3, 10), (4, 3)):
        want = [work.spin(k, 5 + i) for i, k in enumerate(spin_chunks(threads, n))]
        got = call_with_timeout(parallel_spin, threads, n, 5, timeout=20, what="parallel_spin")
        if not isinstance(got, (list, tuple)) or list(map(int, got)) != want:
            raise AssertionError(f"parallel_spin({threads}, {n}, 5) returned {got!r}, expected {want!r}: "
                                 "chunk i has the sizes of spin_chunks and seed + i, results in chunk order")
    real = work.spin
    recorder = _SpinRecorder(real, parties=2, patience=patience)
    # The recorder stands in for work.spin under every name: work.spin, and a `spin` (or any
    # alias) that the notebook imported from course_lib.measure.work.
    with replaced({id(real): (real, recorder)}, [vars(work), *learner_scopes(parallel_spin)]):
        start = time.perf_counter()
        call_with_timeout(parallel_spin, 2, total, 1, timeout=60 + 2 * patience, what="parallel_spin")
        wall = time.perf_counter() - start
    if recorder.calls != 2:
        raise AssertionError(f"parallel_spin(2, ...) made {recorder.calls} calls of work.spin, expected 2 (one "
                             "per chunk, each of spin_chunks' sizes).")
    if not recorder.met or len(recorder.threads) < 2:
        raise AssertionError("the chunks ran one after the other: run them on a pool of `threads` workers and "
                             "submit every chunk before waiting for any result (calling .result() right after "
                             "each submit serialises them)")
    one = time.perf_counter()
    real(total, 1)
    one = time.perf_counter() - one
    print(f"the 2 chunks ran at the same time: {wall:.3f} s for work that takes {one:.3f} s on one thread "
          f"({one / wall:.2f}x).")


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_amdahl", "check_serial_fraction", "check_robust_time", "check_parallel_spin",)
seal(__name__)
