"""A statistical benchmark harness, in the spirit of criterion.rs and hyperfine.

``measure(fn)`` answers "how long does one call take, and how sure are we?":

1. Time the very first call on its own: for a numba function it includes JIT compilation, which
   is reported (``first_call``) but never mixed into the samples.
2. Warm up: keep calling until a short time has passed, so caches, branch predictors, the
   allocator and the CPU clock settle; estimate the cost of one call.
3. Calibrate: batch ``inner`` calls into one sample so that each sample lasts long enough for the
   clock's resolution and the loop's own cost to be negligible.
4. Sample until the time budget is spent (between ``min_samples`` and ``max_samples``), with the
   garbage collector paused so that a collection is not billed to an unlucky sample.
5. Summarise robustly (see :mod:`course_lib.measure.stats`): median, quartiles, Tukey outliers and a
   bootstrap confidence interval of the median.

``compare(a, b)`` samples A and B in alternation (A B B A A B ...) so that a slow phase of a
noisy machine hits both; the ratio of medians comes with a bootstrap interval over the pairs.
``interleave(calls)`` times any number of functions that way, in rounds (A B C, C B A ...).
``scaling(fn, threads)`` measures the same work on 1..n threads in interleaved rounds and fits
Amdahl's serial fraction to the speedups.

Source:
    criterion.rs user guide ("Analysis Process"); hyperfine's README (warm-up, outliers);
    Python's ``timeit`` (batching calls, pausing the GC).

Thread-safety: a harness call runs the function on the calling thread only; the function itself
may start threads. ``scaling(via="numba")`` changes numba's thread count for the calling thread
and restores it afterwards.
"""
from __future__ import annotations

import gc
import math
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from course_lib.measure.amdahl import fit_serial_fraction
from course_lib.measure.stats import Outliers, bootstrap_ci, format_seconds, tukey_outliers

__all__ = ["Measurement", "Comparison", "Scaling", "measure", "compare", "interleave", "scaling",
           "harness_overhead", "black_box"]

_clock = time.perf_counter


def _machine():
    """The machine description results carry; None if it cannot be read (never raises)."""
    try:
        from course_lib.measure.machine import describe

        return describe()
    except Exception:  # a result without a machine beats no result
        return None


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, repr=False)
class Measurement:
    """Timing samples of one function, in seconds per call, with their summary.

    Attributes:
        label: what was measured.
        samples: seconds per call, one value per sample (each sample averages ``inner`` calls).
        inner: calls batched into one sample.
        first_call: seconds taken by the very first call (JIT compilation shows up here).
        warmup_calls: calls made while warming up, after the first.
        machine: the :class:`course_lib.measure.machine.Machine` it ran on, or None.
    """

    label: str
    samples: np.ndarray
    inner: int
    first_call: float
    warmup_calls: int
    machine: object = field(default=None, compare=False)

    @property
    def n(self) -> int:
        return int(self.samples.size)

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def std(self) -> float:
        return float(np.std(self.samples, ddof=1)) if self.n > 1 else 0.0

    @property
    def min(self) -> float:
        return float(np.min(self.samples))

    @property
    def max(self) -> float:
        return float(np.max(self.samples))

    @property
    def q1(self) -> float:
        return float(np.percentile(self.samples, 25))

    @property
    def q3(self) -> float:
        return float(np.percentile(self.samples, 75))

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def ci(self) -> tuple[float, float]:
        """95% bootstrap confidence interval of the median."""
        return bootstrap_ci(self.samples)

    @property
    def outliers(self) -> Outliers:
        return tukey_outliers(self.samples)

    @property
    def relative_noise(self) -> float:
        """IQR divided by the median: 0.01 means the middle half of samples lie within 1%."""
        return self.iqr / self.median if self.median > 0 else float("nan")

    def __repr__(self) -> str:
        f = format_seconds
        lo, hi = self.ci
        return (
            f"{self.label}: median {f(self.median)}  [95% CI {f(lo)} .. {f(hi)}]\n"
            f"  mean {f(self.mean)} ± {f(self.std)} (std), min {f(self.min)}, IQR {f(self.iqr)}"
            f" ({self.relative_noise:.1%} of median)\n"
            f"  {self.n} samples x {self.inner} call{'s' if self.inner > 1 else ''}; {self.outliers}; "
            f"first call {f(self.first_call)}"
        )

    def plot(self, ax=None):
        """Draw the samples in time order and their distribution. Returns the matplotlib Axes."""
        from course_lib.measure.plots import samples_plot

        return samples_plot(self, ax=ax)


@dataclass(frozen=True, repr=False)
class Comparison:
    """Two functions measured in alternation.

    Attributes:
        a, b: their :class:`Measurement` (sample ``i`` of A and of B were taken side by side).
        ratio: median time of A over median time of B; above 1 means B is faster.
        ci: 95% bootstrap interval of the ratio, resampling the pairs.
    """

    a: Measurement
    b: Measurement
    ratio: float
    ci: tuple[float, float]

    def __repr__(self) -> str:
        lo, hi = self.ci
        if self.ratio >= 1:
            verdict = f"{self.b.label} is {self.ratio:.3g}x faster than {self.a.label}"
            band = f"[95% CI {lo:.3g}x .. {hi:.3g}x]"
        else:
            verdict = f"{self.b.label} is {1 / self.ratio:.3g}x slower than {self.a.label}"
            band = f"[95% CI {1 / hi:.3g}x .. {1 / lo:.3g}x]"
        sure = "" if lo > 1 or hi < 1 else "  (the interval contains 1: no clear difference)"
        return f"{verdict}  {band}{sure}\n" + textwrap.indent(f"{self.a!r}\n{self.b!r}", "  ")

    def plot(self, ax=None):
        """Both sample series side by side. Returns the matplotlib Axes."""
        from course_lib.measure.plots import comparison_plot

        return comparison_plot(self, ax=ax)


@dataclass(frozen=True, repr=False)
class Scaling:
    """The same work measured on several thread counts.

    Attributes:
        threads: thread counts actually used, ascending, starting at 1.
        measurements: one :class:`Measurement` per thread count.
        serial_fraction: Amdahl's serial fraction fitted to the speedups (nan with one count).
        notes: what the harness changed in the request (clamped thread counts and so on).
    """

    threads: tuple[int, ...]
    measurements: tuple[Measurement, ...]
    serial_fraction: float
    notes: tuple[str, ...] = ()
    machine: object = field(default=None, compare=False)

    @property
    def times(self) -> np.ndarray:
        return np.array([m.median for m in self.measurements])

    @property
    def speedup(self) -> np.ndarray:
        return self.times[0] / self.times

    @property
    def efficiency(self) -> np.ndarray:
        return self.speedup / np.asarray(self.threads, dtype=float)

    def __repr__(self) -> str:
        rows = [f"{'threads':>7}  {'median time':>12}  {'speedup':>7}  {'efficiency':>10}"]
        for n, t, s, e in zip(self.threads, self.times, self.speedup, self.efficiency):
            rows.append(f"{n:>7}  {format_seconds(t):>12}  {s:>7.2f}  {e:>10.0%}")
        sf = self.serial_fraction
        if math.isnan(sf):
            rows.append("Amdahl fit: needs at least two thread counts")
        else:
            cap = "unbounded" if sf == 0 else f"{1 / sf:.3g}x"
            rows.append(f"Amdahl fit: serial fraction {sf:.3f} (speedup limit {cap})")
        rows.extend(f"note: {n}" for n in self.notes)
        return "\n".join(rows)

    def plot(self, ax=None):
        """Measured speedup, the ideal line and the fitted Amdahl curve. Returns the Axes."""
        from course_lib.measure.plots import speedup_plot

        return speedup_plot(self, ax=ax)


# --------------------------------------------------------------------------------------------
# Sampling


class _Sampler:
    """Times batches of calls of one function; the shared engine of measure/compare/scaling."""

    def __init__(self, fn: Callable, args: tuple, label: str | None):
        if not callable(fn):
            raise TypeError(f"expected a callable to measure, got {type(fn).__name__}: {fn!r}")
        self.fn, self.args = fn, args
        self.label = label or getattr(fn, "__name__", None) or repr(fn)
        self.samples: list[float] = []
        self.inner = 1
        self.first_call = 0.0
        self.warmup_calls = 0
        self.per_call = 0.0

    def warm_up(self, seconds: float, sample_target: float) -> None:
        fn, args = self.fn, self.args
        t0 = _clock()
        fn(*args)
        self.first_call = _clock() - t0
        # Warm up in growing batches; the cheapest batch estimates the cost of one call.
        best, batch, start = math.inf, 1, _clock()
        while True:
            t0 = _clock()
            for _ in range(batch):
                fn(*args)
            dt = _clock() - t0
            self.warmup_calls += batch
            best = min(best, dt / batch)
            if _clock() - start >= seconds:
                break
            if dt < sample_target / 4:
                batch *= 2
        self.per_call = max(best, 1e-9)
        self.inner = max(1, int(round(sample_target / self.per_call)))

    def take(self, count: int) -> None:
        fn, args, inner, clock, out = self.fn, self.args, self.inner, _clock, self.samples
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            for _ in range(count):
                t0 = clock()
                for _ in range(inner):
                    fn(*args)
                out.append((clock() - t0) / inner)
        finally:
            if gc_was_on:
                gc.enable()

    def result(self, machine) -> Measurement:
        return Measurement(self.label, np.array(self.samples), self.inner, self.first_call,
                           self.warmup_calls, machine)


def _plan(budget: float, min_samples: int, max_samples: int, warmup: float | None):
    if not isinstance(budget, (int, float)) or not budget > 0:
        raise ValueError(f"budget must be a positive number of seconds, got {budget!r}")
    for name, v in (("min_samples", min_samples), ("max_samples", max_samples)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer (at least one sample), got {v!r}")
    if max_samples < min_samples:
        raise ValueError(f"max_samples ({max_samples}) is below min_samples ({min_samples})")
    if warmup is not None and warmup < 0:
        raise ValueError(f"warmup must be >= 0 seconds, got {warmup!r}")
    warm = min(0.25 * budget, 0.5) if warmup is None else float(warmup)
    # Aim for ~30 samples in the budget, each long enough (>= 100 µs) to dwarf the clock's cost.
    sample_target = min(max(budget / 30, 1e-4), 0.05)
    return warm, sample_target


def _count(sampler: _Sampler, budget: float, min_samples: int, max_samples: int) -> int:
    return int(min(max(budget / (sampler.per_call * sampler.inner), min_samples), max_samples))


def measure(fn: Callable, *args, budget: float = 0.5, warmup: float | None = None,
            min_samples: int = 5, max_samples: int = 200, label: str | None = None) -> Measurement:
    """Measure how long ``fn(*args)`` takes, with warm-up, calibration and statistics.

    Args:
        fn: the function to time. Its return value is ignored (Python never drops a call whose
            result is unused, but a numba kernel may drop work whose result it never uses:
            return or store what you compute).
        *args: passed to every call.
        budget: seconds to spend sampling (warm-up not included). More gives tighter intervals.
        warmup: seconds of warm-up; default a quarter of the budget, at most 0.5 s.
        min_samples, max_samples: bounds on the number of samples, whatever the budget says.
        label: name shown in reports; defaults to the function's name.

    Returns:
        A :class:`Measurement` (seconds per call).

    Raises:
        TypeError: if ``fn`` is not callable.
        ValueError: for a non-positive budget or sample count.

    Example:
        >>> m = measure(sum, range(1000), budget=0.05)
        >>> m.median < m.first_call * 10
        True
    """
    warm, target = _plan(budget, min_samples, max_samples, warmup)
    s = _Sampler(fn, args, label)
    s.warm_up(warm, target)
    s.take(_count(s, budget, min_samples, max_samples))
    return s.result(_machine())


def compare(a: Callable, b: Callable, *, args: tuple = (), budget: float = 1.0,
            warmup: float | None = None, min_samples: int = 10, max_samples: int = 200,
            labels: Sequence[str] | None = None) -> Comparison:
    """Measure two functions in alternation and report how many times faster B is than A.

    Args:
        a: the baseline.
        b: the contender.
        args: positional arguments passed to both.
        budget: seconds of sampling, shared by the two.
        warmup, min_samples, max_samples: as in :func:`measure` (sample counts are per function).
        labels: two names for the report; default the functions' names.

    Returns:
        A :class:`Comparison`; ``ratio > 1`` means B is faster.

    Raises:
        TypeError, ValueError: as :func:`measure`.

    Example:
        >>> c = compare(lambda: sum(range(2000)), lambda: sum(range(1000)), budget=0.1)
        >>> c.ratio > 1
        True
    """
    warm, target = _plan(budget, min_samples, max_samples, warmup)
    la, lb = labels if labels is not None else (None, None)
    sa, sb = _Sampler(a, args, la), _Sampler(b, args, lb)
    if sa.label == sb.label:
        sa.label, sb.label = f"A ({sa.label})", f"B ({sb.label})"
    sa.warm_up(warm / 2, target)
    sb.warm_up(warm / 2, target)
    n = min(_count(sa, budget / 2, min_samples, max_samples), _count(sb, budget / 2, min_samples, max_samples))
    for i in range(n):  # A B B A A B B A ...: neither side always goes first
        first, second = (sa, sb) if i % 2 == 0 else (sb, sa)
        first.take(1)
        second.take(1)
    xa, xb = np.array(sa.samples), np.array(sb.samples)
    pairs = np.stack([xa, xb], axis=1)

    def ratio_of_medians(resampled):  # resampled: (resamples, n, 2) would be big; index pairs instead
        return np.median(resampled[..., 0], axis=1) / np.median(resampled[..., 1], axis=1)

    idx_ci = bootstrap_ci(np.arange(n), statistic=lambda idx: ratio_of_medians(pairs[idx.astype(int)]))
    machine = _machine()
    return Comparison(sa.result(machine), sb.result(machine), float(np.median(xa) / np.median(xb)), idx_ci)


def interleave(calls: Sequence[tuple[str, Callable[[], object]]],
               budget: float = 1.0) -> list[Measurement]:
    """Time several functions side by side, in interleaved rounds: A B C, C B A, A B C ...

    Every round takes one sample of each function, and every other round runs them in reverse
    order, so that a slow phase of a busy machine falls on all of them alike and none is always
    the first (or the last) of a round. Use it for three or more variants of the same work (the
    same kernel built with different flags, say); :func:`compare` does two, with a confidence
    interval of their ratio.

    Args:
        calls: ``(label, fn)`` pairs; each ``fn`` is called with no arguments (bind them with a
            ``lambda`` or :func:`functools.partial`).
        budget: seconds of sampling, shared by all the functions (warm-up not included).

    Returns:
        One :class:`Measurement` per pair, in the order given, each with the same number of
        samples (5 to 200).

    Raises:
        TypeError: if a ``fn`` is not callable.
        ValueError: for an empty ``calls`` or a non-positive budget.

    Example:
        >>> ms = interleave([("1k", lambda: sum(range(1000))), ("2k", lambda: sum(range(2000)))],
        ...                 budget=0.1)
        >>> [m.label for m in ms], ms[0].n == ms[1].n
        (['1k', '2k'], True)
    """
    calls = list(calls)
    if not calls:
        raise ValueError("interleave needs at least one (label, function) pair to time")
    warm, target = _plan(budget, 5, 200, None)
    samplers = [_Sampler(fn, (), label) for label, fn in calls]
    for s in samplers:
        s.warm_up(warm / len(samplers), target)
    rounds = min(_count(s, budget / len(samplers), 5, 200) for s in samplers)
    for i in range(rounds):
        for s in (samplers if i % 2 == 0 else samplers[::-1]):
            s.take(1)
    machine = _machine()
    return [s.result(machine) for s in samplers]


def _numba_threads():
    import numba

    return numba.get_num_threads, numba.set_num_threads, int(numba.config.NUMBA_NUM_THREADS)


def scaling(fn: Callable, threads: Sequence[int] | None = None, *, via: str = "numba",
            budget: float = 1.0, rounds: int = 3, label: str | None = None) -> Scaling:
    """Measure the same work on several thread counts; report speedup, efficiency and Amdahl fit.

    Args:
        fn: with ``via="numba"``, a zero-argument callable whose parallel numba code obeys
            ``numba.set_num_threads``; with ``via="call"``, a callable taking the thread count
            (use it for a thread pool of that size).
        threads: thread counts to try; default 1, 2, 4, ... up to the usable cores. 1 is always
            added. Counts above the usable cores (or numba's thread limit) are clamped to it and
            the result says so in ``notes``.
        via: ``"numba"`` or ``"call"``, as above.
        budget: total seconds of sampling, shared by all counts.
        rounds: the counts are measured in this many interleaved rounds, so that a slow phase of
            a shared machine does not fall on one count only.
        label: name for the report.

    Returns:
        A :class:`Scaling`.

    Raises:
        TypeError: if ``fn`` is not callable.
        ValueError: for an unknown ``via``, non-integer or non-positive thread counts.

    Example:
        >>> from course_lib._c._work import lib
        >>> s = scaling(lambda n: lib.cw_spin(10_000, n), threads=[1, 2], via="call", budget=0.1)
        >>> s.threads[0]
        1
    """
    if not callable(fn):
        raise TypeError(f"expected a callable to measure, got {type(fn).__name__}: {fn!r}")
    if via not in ("numba", "call"):
        raise ValueError(f"via must be 'numba' or 'call', got {via!r}")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    from course_lib.measure.machine import usable_cores

    limit = usable_cores()
    notes: list[str] = []
    if via == "numba":
        get_n, set_n, numba_max = _numba_threads()
        if numba_max < limit:
            notes.append(f"numba was started with {numba_max} threads (NUMBA_NUM_THREADS)")
        limit = min(limit, numba_max)
    if threads is None:
        threads = sorted({1, limit} | {2 ** k for k in range(1, 8) if 2 ** k <= limit})
    wanted = list(threads)
    for t in wanted:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
            raise ValueError(f"thread counts must be positive integers, got {t!r} in {wanted!r}")
    over = sorted({int(t) for t in wanted if t > limit})
    if over:
        notes.append(f"asked for {over} threads but only {limit} are usable here: clamped to {limit}")
    counts = sorted({min(int(t), limit) for t in wanted} | {1})
    if 1 not in wanted:
        notes.append("added 1 thread: speedups are relative to it")

    if via == "numba":
        previous = get_n()

        def runner(n):
            def call():
                set_n(n)
                return fn()
            return call
    else:
        def runner(n):
            return lambda: fn(n)

    base = label or getattr(fn, "__name__", "work")
    samplers = [_Sampler(runner(n), (), f"{base} on {n} thread{'s' if n > 1 else ''}") for n in counts]
    warm, target = _plan(budget, 3, 200, None)
    try:
        for s in samplers:
            s.warm_up(warm / len(samplers), target)
        per = budget / len(samplers) / rounds
        for _ in range(rounds):
            for s in samplers:
                s.take(_count(s, per, 1, 200))
    finally:
        if via == "numba":
            set_n(previous)
    machine = _machine()
    ms = tuple(s.result(machine) for s in samplers)
    times = np.array([m.median for m in ms])
    sf = fit_serial_fraction(counts, times[0] / times) if len(counts) > 1 else float("nan")
    return Scaling(tuple(counts), ms, sf, tuple(notes), machine)


def harness_overhead(budget: float = 0.2) -> Measurement:
    """Time an empty function: the floor below which :func:`measure` cannot resolve anything.

    Returns:
        The :class:`Measurement` of ``lambda: None`` (tens of nanoseconds on a modern CPU:
        the cost of a Python call plus the loop around it).
    """
    return measure(lambda: None, budget=budget, label="empty call (harness floor)")


# --------------------------------------------------------------------------------------------
# An optimisation barrier

import threading as _threading  # noqa: E402  (only the barrier below needs it)


class _BlackBox:
    """``black_box(x)`` returns ``x``, and keeps the compiler from using what it knows about it.

    Use it where a benchmark's result would otherwise be unused (the compiler may delete the
    loop that computes it: ``black_box(total)``), or where an input is known at compile time
    (the compiler may compute the answer once, while compiling: ``f(black_box(42))``).

    In Python it is a plain identity. Inside numba-compiled code it becomes an empty inline
    assembly statement that is handed the address of a stack slot holding ``x`` and declared to
    read and write any memory: LLVM must compute ``x``, store it, and load it back afterwards,
    as if unknown code had used and changed it. That costs a store and a load, nothing more.
    It is Rust's ``std::hint::black_box`` (and Google Benchmark's ``DoNotOptimize``). numba
    learns about it lazily, through the ``_numba_type_`` hook that ``numba.typeof`` consults,
    so importing this module does not import numba.

    Example:
        >>> black_box([1, 2]) == [1, 2]
        True
    """

    _numba_function_type = None
    _lock = _threading.Lock()

    def __call__(self, x):
        return x

    def __repr__(self) -> str:
        return "<black_box: identity, opaque to the optimiser>"

    @property
    def _numba_type_(self):
        with _BlackBox._lock:
            if _BlackBox._numba_function_type is None:
                _BlackBox._numba_function_type = _numba_black_box_type()
            return _BlackBox._numba_function_type


def _numba_black_box_type():
    """Build the numba function type of black_box: an intrinsic that emits the barrier."""
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.core.extending import _Intrinsic
    from numba.core.imputils import impl_ret_borrowed
    from numba.core.typing.templates import infer, make_intrinsic_template

    def black_box(typingctx, x):
        def codegen(context, builder, signature, args):
            (value,) = args
            slot = cgutils.alloca_once(builder, value.type)  # a stack slot the asm may touch
            builder.store(value, slot)
            barrier = ir.InlineAsm(ir.FunctionType(ir.VoidType(), [slot.type]), "",
                                   "r,~{memory}", side_effect=True)
            builder.call(barrier, [slot])
            out = builder.load(slot)
            return impl_ret_borrowed(context, builder, signature.return_type, out)

        return x(x), codegen

    handle = _Intrinsic("black_box", black_box)
    template = make_intrinsic_template(handle, black_box, "black_box", prefer_literal=False,
                                       kwargs={})
    infer(template)
    return types.Function(template)


#: An identity function that the optimiser cannot see through (see :class:`_BlackBox`).
black_box = _BlackBox()
