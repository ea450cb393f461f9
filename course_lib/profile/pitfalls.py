"""A gallery of benchmarking pitfalls: each one measured wrong, then measured right.

Every function here runs a small experiment twice, the naive way and the fixed way, and returns
a :class:`Pitfall` with both figures and what went wrong. The figures are measured on this
machine, now; the explanations say what to expect and why.

=======================  ======================================================================
:func:`deleted_loop`     a loop whose result nobody uses: LLVM deletes it, and the "benchmark"
                         takes the same time for any n. Fixed by returning the result or
                         passing it to :data:`course_lib.measure.bench.black_box`.
:func:`constant_folded`  an input the compiler can see (a global constant): it computes the
                         answer while compiling, and the loop adds a constant n times, which it
                         also turns into one multiplication. Fixed by passing the value at run
                         time (or through ``black_box``).
:func:`first_call`       the first call of a numba function compiles it: timing one call
                         measures the compiler. Fixed by a warm-up call (``bench.measure``
                         reports the first call apart).
:func:`cold_start`       after an idle moment the core runs at a low clock and its caches and
                         predictors are cold: the first samples are slower than the rest. Fixed
                         by warming up and using many samples.
:func:`busy_neighbour`   another program starts between measuring A and measuring B: B looks
                         slower although A and B are the same code. Fixed by interleaving A
                         and B (``bench.compare``), so that both see the same machine.
=======================  ======================================================================

``gallery()`` runs them all. Under ``COURSE_QUICK`` each takes under a second (once compiled:
the kernels are cached on disk by numba).

Rust ↔ Python: criterion.rs warns about the same things: ``black_box`` for dead code and
constant folding, a warm-up phase, outlier detection, and it runs benchmarks one after the
other (which is what pitfall 5 shows to be fragile on a shared machine).

Source:
    criterion.rs user guide ("Analysis Process", ``black_box``); Chandler Carruth, "Tuning C++:
    Benchmarks, and CPUs, and Compilers! Oh My!" (CppCon 2015); LLVM's loop deletion and
    scalar evolution passes (``-loop-deletion``, ``-indvars``).

Thread-safety: each function uses the calling thread (and, for :func:`busy_neighbour`, helper
processes it stops before returning).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from course_lib.config import pick
from course_lib.measure import bench
from course_lib.measure.bench import black_box
from course_lib.measure.stats import format_seconds

__all__ = ["Pitfall", "deleted_loop", "constant_folded", "first_call", "cold_start",
           "busy_neighbour", "gallery"]


@dataclass(frozen=True, repr=False)
class Pitfall:
    """One pitfall, measured both ways.

    Attributes:
        name: short title.
        what_went_wrong: one sentence: what the naive measurement did.
        wrong: the naive figure.
        right: the fixed figure.
        unit: what the two figures are (``"x time for 16x the work"``, ``"s per call"``...).
        explanation: why, and how the fix works.
        details: the raw measurements behind the figures.
    """

    name: str
    what_went_wrong: str
    wrong: float
    right: float
    unit: str
    explanation: str
    details: dict = field(default_factory=dict)

    def _fmt(self, v: float) -> str:
        return format_seconds(v) if self.unit.startswith("s ") else f"{v:.3g}"

    def __repr__(self) -> str:
        return (f"{self.name}\n  wrong: {self._fmt(self.wrong)}   right: {self._fmt(self.right)}"
                f"   ({self.unit})\n  what went wrong: {self.what_went_wrong}\n"
                f"  why: {self.explanation}")

    def plot(self, ax=None):
        """Two bars, wrong and right (or the sample series, for :func:`cold_start`)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        series = self.details.get("series")
        if series is not None:
            ax.plot(np.arange(len(series)), np.asarray(series) * 1e6, ".-", lw=0.8)
            ax.set_xlabel("sample, in the order taken")
            ax.set_ylabel("µs per sample")
        else:
            ax.bar(["wrong", "right"], [self.wrong, self.right], color=["tab:red", "tab:green"])
            ax.set_ylabel(self.unit)
            if self.unit.startswith("s "):
                ax.set_yscale("log")
        ax.set_title(self.name)
        return ax


def _best(fn, *args, repeats: int = 5) -> float:
    fn(*args)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def _growth(fn_small, fn_big, rounds: int = 7) -> tuple[float, float, float]:
    """(best small, best big, big/small), the two timed in alternation."""
    fn_small()
    fn_big()
    small = big = math.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn_small()
        small = min(small, time.perf_counter() - t0)
        t0 = time.perf_counter()
        fn_big()
        big = min(big, time.perf_counter() - t0)
    return small, big, big / small


# ------------------------------------------------------------------------------ 1. deleted loop
@njit(cache=True)
def _sum_unused(a):
    s = 0.0
    for x in a:
        s += x
    # s is never used: LLVM proves the loop has no effect and deletes it.


@njit(cache=True)
def _sum_black_box(a):
    s = 0.0
    for x in a:
        s += x
    black_box(s)


@njit(cache=True)
def _sum_returned(a):
    s = 0.0
    for x in a:
        s += x
    return s


def deleted_loop(n: int | None = None, factor: int = 16) -> Pitfall:
    """Time a summing loop whose result is unused at n and ``factor * n`` elements.

    Returns:
        A :class:`Pitfall` whose figures are growth ratios: time at ``factor * n`` over time at
        ``n``, for the deleted loop (wrong, about 1) and for the fixed one (right, about
        ``factor``).
    """
    n = _size(n, pick(1_000_000, 100_000))
    factor = _factor(factor)
    a, b = np.ones(n), np.ones(n * factor)
    w_small, w_big, wrong = _growth(lambda: _sum_unused(a), lambda: _sum_unused(b))
    r_small, r_big, right = _growth(lambda: _sum_black_box(a), lambda: _sum_black_box(b))
    _, _, returned = _growth(lambda: _sum_returned(a), lambda: _sum_returned(b), rounds=3)
    return Pitfall(
        "a loop the compiler deleted",
        f"the sum of {n:,} floats took {format_seconds(w_small)} and the sum of {n * factor:,} "
        f"took {format_seconds(w_big)}: the time did not grow with the work",
        wrong, right, f"x time for {factor}x the work",
        "the function computed a sum and threw it away; LLVM saw that the loop changes nothing "
        "anyone can observe and removed it, so only the call was timed. Passing the sum to "
        "black_box (or returning it) makes it observable: the loop stays, and its time grows "
        f"with n ({format_seconds(r_small)} -> {format_seconds(r_big)}). Returning it grows "
        f"{returned:.3g}x as well.",
        {"n": n, "factor": factor, "deleted_s": (w_small, w_big), "black_box_s": (r_small, r_big),
         "returned_growth": returned})


# ------------------------------------------------------------------------------ 2. constant folded
SECRET = 123_456_789  # a global constant: numba freezes its value into the compiled code


@njit(cache=True)
def _digits(x):
    c = 0
    while x != 0:
        x //= 10
        c += 1
    return c


@njit(cache=True)
def _digits_of_constant(n):
    s = 0
    for _ in range(n):
        s += _digits(SECRET)
    return s


@njit(cache=True)
def _digits_of_value(n, x):
    s = 0
    for _ in range(n):
        s += _digits(x)
    return s


@njit(cache=True)
def _digits_black_box(n):
    s = 0
    for _ in range(n):
        s += _digits(black_box(SECRET))
    return s


def constant_folded(n: int | None = None, factor: int = 16) -> Pitfall:
    """Time "count the digits of 123456789, n times" with the number as a compile-time
    constant and as a run-time value, at n and ``factor * n`` repetitions.

    Returns:
        A :class:`Pitfall` of growth ratios (time at ``factor * n`` over time at ``n``):
        the constant version does not grow (wrong), the run-time one does (right).
    """
    n = _size(n, pick(200_000, 20_000))
    factor = _factor(factor)
    w_small, w_big, wrong = _growth(lambda: _digits_of_constant(n),
                                    lambda: _digits_of_constant(n * factor))
    r_small, r_big, right = _growth(lambda: _digits_of_value(n, SECRET),
                                    lambda: _digits_of_value(n * factor, SECRET))
    b_small, b_big, boxed = _growth(lambda: _digits_black_box(n),
                                    lambda: _digits_black_box(n * factor), rounds=3)
    per_call = r_big / (n * factor)
    return Pitfall(
        "a constant folded at compile time",
        f"counting digits {n * factor:,} times took {format_seconds(w_big)}, "
        f"{format_seconds(w_big / (n * factor))} per count: the compiler counted them once",
        wrong, right, f"x time for {factor}x the work",
        "SECRET is a global, and numba compiles a global's value into the code as a constant. "
        "LLVM then ran the digit-counting loop itself, while compiling (9 iterations), and turned "
        "'add 9, n times' into 9 * n: no loop is left. Given the number as an argument, the "
        f"count is done every time ({format_seconds(per_call)} per count). black_box(SECRET) "
        f"hides the constant in the same way (growth {boxed:.3g}x).",
        {"n": n, "factor": factor, "constant_s": (w_small, w_big), "value_s": (r_small, r_big),
         "black_box_s": (b_small, b_big), "seconds_per_count": per_call})


# ------------------------------------------------------------------------------ 3. first call
def _polynomial(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += 3.0 * x[i] * x[i] - 2.0 * x[i] + 1.0
    return s


def first_call(n: int = 1000) -> Pitfall:
    """Time the very first call of a freshly made numba function, then its steady state.

    Returns:
        A :class:`Pitfall` in seconds per call: the first call (wrong) and the median of the
        calls after it (right).
    """
    n = _size(n, n)
    x = np.ones(n)
    fresh = njit(_polynomial)  # a new dispatcher: nothing compiled, nothing cached
    t0 = time.perf_counter()
    fresh(x)
    first = time.perf_counter() - t0
    m = bench.measure(fresh, x, budget=pick(0.2, 0.05), warmup=0.01, min_samples=5, max_samples=50)
    return Pitfall(
        "the first call compiles",
        f"one call took {format_seconds(first)}: that was numba compiling the function",
        first, m.median, "s per call",
        "numba compiles a function for the argument types of its first call (type inference, "
        "LLVM's optimiser, machine code): tens to hundreds of milliseconds, once per new "
        f"signature. Calls after it took {format_seconds(m.median)} ({first / m.median:,.0f}x "
        "less). Warm up before timing; bench.measure times the first call apart "
        "(Measurement.first_call) and never mixes it into the samples.",
        {"first_call_s": first, "steady": m})


# ------------------------------------------------------------------------------ 4. cold start
@njit(cache=True)
def _spin(n):
    # A chain of dependent multiply-adds: the core's clock, no memory. (Started at 1.0 the
    # chain would never move, 1.0 * 0.999999 + 1e-6 being 1.0 again, and LLVM, which notices,
    # would return 1.0 at once: black_box hides the start.)
    x = black_box(0.5)
    for _ in range(n):
        x = x * 0.999999 + 1e-6
    return x


def cold_start(idle: float | None = None, samples: int | None = None,
               work: int | None = None) -> Pitfall:
    """Sleep (so the core may clock down and caches go cold), then time the same small piece of
    work many times in a row, and compare the first samples with the settled ones.

    Args:
        idle: seconds to sleep first (default 1 s, 0.2 s quick).
        samples: how many samples to take after it (default 400, 150 quick).
        work: iterations of the spin loop per sample (default 20 000: about 50 µs at 3 GHz,
            each iteration waiting for the previous one's multiply and add).

    Returns:
        A :class:`Pitfall` in seconds per sample: the median of the first 3 samples (wrong)
        and of the second half (right); ``details["series"]`` holds them all, in order.
    """
    idle = pick(1.0, 0.2) if idle is None else float(idle)
    if not idle >= 0:
        raise ValueError(f"idle must be >= 0 seconds, got {idle!r}")
    samples = _size(samples, pick(400, 150))
    if samples < 8:
        raise ValueError(f"samples must be at least 8 (3 first, a settled half), got {samples}")
    work = _size(work, 20_000)
    _spin(10)  # compile (or load from the cache) before the experiment
    time.sleep(idle)
    series = np.empty(samples)
    for i in range(samples):
        t0 = time.perf_counter()
        _spin(work)
        series[i] = time.perf_counter() - t0
    first = float(np.median(series[:3]))
    settled = float(np.median(series[samples // 2:]))
    ramp = first / settled
    return Pitfall(
        "a cold start",
        f"the first samples after {idle:g} s idle took {format_seconds(first)}, "
        f"{ramp:.2f}x the settled {format_seconds(settled)}",
        first, settled, "s per sample",
        "an idle core drops its clock to save power and needs some milliseconds to ramp up "
        "again (and turbo may then lift it above the base clock for a while); the code, its "
        "data and the branch predictor are cold as well. Laptops show a clear ramp; a server "
        "with a fixed clock, or a virtual machine, may show none, and a long run may slow "
        "down again when the chip heats up. Warm up first, take many samples, look at them "
        "in order (Measurement.plot()).",
        {"series": series, "ramp": ramp, "idle_s": idle})


# ------------------------------------------------------------------------------ 5. busy neighbour
def _same_work(n: int = 3000) -> int:
    return sum(range(n))


class _Neighbour:
    """Busy processes that can be paused and resumed at once (SIGSTOP / SIGCONT), so that the
    load switches on without the delay of starting processes. Where there are no such signals
    (Windows) it starts and stops the processes instead."""

    def __init__(self, processes: int):
        self.processes = processes
        self._context = None
        self._pids: list[int] = []

    def __enter__(self):
        import signal

        from course_lib.testing.load import busy_cores

        self._pausable = hasattr(signal, "SIGSTOP")
        if self._pausable:
            self._context = busy_cores(self.processes)
            self._pids = self._context.__enter__()
            time.sleep(0.1)  # let them finish starting (that is load too), then pause them
            self._signal(signal.SIGSTOP)
        return self

    def _signal(self, sig):
        import os

        for pid in self._pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def on(self):
        import signal

        if self._pausable:
            self._signal(signal.SIGCONT)
        else:
            from course_lib.testing.load import busy_cores

            self._context = busy_cores(self.processes)
            self._pids = self._context.__enter__()
        time.sleep(0.02)

    def off(self):
        import signal

        if self._pausable:
            self._signal(signal.SIGSTOP)
        elif self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None

    def __exit__(self, *exc):
        import signal

        if self._context is not None:
            if self._pausable:
                self._signal(signal.SIGCONT)  # a stopped process is killed all the same; be tidy
            self._context.__exit__(None, None, None)
        return False


def busy_neighbour(budget: float | None = None, processes: int | None = None) -> Pitfall:
    """Measure two identical functions A and B, first one after the other with a neighbour
    starting in between, then interleaved (``bench.compare``) with a neighbour starting a
    quarter of the way in.

    Args:
        budget: seconds of sampling for each measurement (default 0.5 s, 0.1 s quick). The
            neighbour makes the loaded parts last several times longer.
        processes: how many busy processes the neighbour runs (default: twice the usable
            cores, so that this process gets well under a core whatever the scheduler does).

    Returns:
        A :class:`Pitfall` of time ratios B / A, for identical code (the truth is 1): measured
        one after the other (wrong), and the median of the ratios of the side-by-side samples
        of ``bench.compare`` (right).
    """
    from course_lib.measure.machine import usable_cores

    budget = pick(0.5, 0.1) if budget is None else float(budget)
    if not budget > 0:
        raise ValueError(f"budget must be a positive number of seconds, got {budget!r}")
    processes = 2 * usable_cores() if processes is None else _size(processes, 1)
    a = lambda: _same_work()  # noqa: E731  (two distinct functions, the same code)
    b = lambda: _same_work()  # noqa: E731
    with _Neighbour(processes) as neighbour:
        quiet = bench.measure(a, budget=budget, label="A (quiet)")
        neighbour.on()
        loaded = bench.measure(b, budget=budget, label="B (neighbour busy)")
        neighbour.off()
        wrong = loaded.median / quiet.median

        switch = threading.Timer(0.25 * 1.1 * 2 * budget, neighbour.on)  # a quarter of the way
        switch.start()
        try:
            c = bench.compare(a, b, budget=2 * budget, warmup=0.1 * budget, labels=("A", "B"))
        finally:
            switch.cancel()
    # Sample i of A and sample i of B were taken side by side: the median of their ratios is
    # the interleaved estimate least shaken by the neighbour (compare's ratio of medians, and
    # its confidence interval, are in the details).
    right = float(np.median(c.b.samples / c.a.samples))
    return Pitfall(
        "a busy neighbour",
        f"B ran while {processes} other process{'es' if processes != 1 else ''} kept the cores "
        f"busy and looked {wrong:.2f}x slower than A, although A and B are the same code",
        wrong, right, "B/A time ratio (identical code: the truth is 1)",
        "measured one after the other, A and B saw different machines. bench.compare samples "
        "A and B in alternation (A B B A ...), so that a neighbour who starts part-way slows "
        "both alike: the median ratio of side-by-side samples stays near 1 even though each "
        f"time changed (compare's ratio of medians: {1 / c.ratio:.3g}, 95% interval "
        f"{1 / c.ci[1]:.3g} .. {1 / c.ci[0]:.3g}). Interleave what you compare, and report "
        "ratios, not absolute times, on a shared machine.",
        {"quiet": quiet, "loaded": loaded, "comparison": c, "processes": processes,
         "ratio_of_medians": 1 / c.ratio})


# ------------------------------------------------------------------------------ all of them
def gallery() -> list[Pitfall]:
    """Run every pitfall, in the order of the table above."""
    return [deleted_loop(), constant_folded(), first_call(), cold_start(), busy_neighbour()]


def _size(value, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"expected a whole number >= 1, got {value!r}")
    return int(value)


def _factor(factor) -> int:
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 2:
        raise ValueError(f"factor must be a whole number >= 2, got {factor!r}")
    return int(factor)
