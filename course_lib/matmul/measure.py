"""Measuring the ladder: GFLOP/s of every rung next to NumPy's BLAS, in one interleaved run.

A matrix product of n x n matrices does ``2 n^3`` floating-point operations, so its speed is
best told in GFLOP/s (``2 n^3 / seconds / 1e9``), a figure you can hold against two others:

- **NumPy's BLAS** (``a @ b`` calls ``dgemm``/``sgemm`` of OpenBLAS, MKL, BLIS or Accelerate):
  what decades of hand-tuned assembly reach. :func:`blas_info` says which library it is and
  how it is threaded.
- **The core's peak** (:func:`course_lib.simd.peak.peak`, chapter 5): FMA units x lanes x 2 x
  clock, times the number of threads. No kernel can beat it; BLAS gets to 80-95% of it.

Three rules make the comparison fair:

1. **Same threads.** A BLAS library starts one thread per core by itself. A one-thread rung
   against an all-cores BLAS says nothing about either, so NumPy's BLAS is limited to the same
   thread count with ``threadpoolctl`` (which calls ``openblas_set_num_threads`` and its
   equivalents). Without threadpoolctl the limit cannot be set after NumPy is imported: the
   table says so in its notes and warns.
2. **Same run, interleaved.** All calls are timed in rounds (A B C .., .. C B A), so that a
   noisy neighbour or a clock change hits every rung alike (:func:`course_lib.measure.bench.
   interleave`). A rung whose single call takes longer than ``max_call`` seconds would make the
   rounds far too long: it is timed on its own (3 calls) and its row says "not interleaved".
3. **No compilation in the timings.** Every numba rung is called once on a tiny problem first.

The naive rung does about 1 GFLOP/s or less (a cache miss for most of its loads): at n = 1024
one call takes seconds. It is measured only when ``n <= naive_max_n`` (default
:data:`NAIVE_MAX_N` = 256); above, its row is kept with a note and no figure.

Thread-safety: the functions measure on the calling thread (the parallel rungs start their own
threads); do not run two measurements at once, they would slow each other down.
"""
from __future__ import annotations

import inspect
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from course_lib import config
from course_lib.matmul.common import FLOAT_DTYPES, flops
from course_lib.matmul.ladder import RUNGS
from course_lib.matmul.parallel import PARALLEL

__all__ = ["NAIVE_MAX_N", "BlasInfo", "blas_info", "blas_threads", "gflops", "LadderRow",
           "LadderTable", "ladder_table", "ScalingRow", "ScalingTable", "scaling_table"]

#: Largest n at which :func:`ladder_table` measures the naive rung by default.
NAIVE_MAX_N = 256

_NO_THREADPOOLCTL = ("threadpoolctl is not installed (pip install threadpoolctl), so NumPy's "
                     "BLAS cannot be limited to {threads} thread(s): it uses the thread count it "
                     "chose at import (OPENBLAS_NUM_THREADS, MKL_NUM_THREADS or "
                     "OMP_NUM_THREADS, else all cores), and its row may use more threads than "
                     "the rungs it is compared with")


# ----------------------------------------------------------------------------- BLAS
@dataclass(frozen=True)
class BlasInfo:
    """Which BLAS NumPy calls for ``@``, and how it is threaded.

    Attributes:
        library: ``"openblas"``, ``"mkl"``, ``"blis"``, ``"accelerate"``... or ``"unknown"``.
        version: the library's version, if known.
        threading: its threading layer (``"pthreads"``, ``"openmp"``, ``"tbb"``...), if known.
        num_threads: the threads it uses now, if known (needs threadpoolctl).
        architecture: the kernel set it picked for this CPU (OpenBLAS: ``"Haswell"``,
            ``"SkylakeX"``, ``"Zen"``...), if known.
        filepath: the shared library, if known.
        source: ``"threadpoolctl"`` or ``"numpy.show_config"`` (the fallback: build
            information only, nothing about threads).
    """

    library: str
    version: str | None = None
    threading: str | None = None
    num_threads: int | None = None
    architecture: str | None = None
    filepath: str | None = None
    source: str = "threadpoolctl"

    def __str__(self) -> str:
        parts = [self.library + (f" {self.version}" if self.version else "")]
        if self.architecture:
            parts.append(f"kernels for {self.architecture}")
        if self.threading:
            parts.append(f"{self.threading} threading")
        if self.num_threads is not None:
            parts.append(f"{self.num_threads} thread{'s' if self.num_threads != 1 else ''}")
        return ", ".join(parts)


def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def blas_info() -> BlasInfo:
    """Name NumPy's BLAS library, its version, kernels and threading.

    With threadpoolctl (the normal case) the answer comes from the loaded library itself; without
    it, from NumPy's build information (``np.show_config``), which knows the name and version but
    not the threads.

    Returns:
        A :class:`BlasInfo`; ``library == "unknown"`` when neither source says. Never raises.

    Example:
        >>> print(blas_info())                  # doctest: +SKIP
        openblas 0.3.31, kernels for SkylakeX, pthreads threading, 2 threads
    """
    tpc = _threadpoolctl()
    if tpc is not None:
        try:
            pools = [p for p in tpc.threadpool_info() if p.get("user_api") == "blas"]
        except Exception:  # a library threadpoolctl cannot introspect: use the fallback
            pools = []
        if pools:
            p = pools[0]
            return BlasInfo(str(p.get("internal_api", "unknown")), p.get("version"),
                            p.get("threading_layer"), p.get("num_threads"),
                            p.get("architecture"), p.get("filepath"), "threadpoolctl")
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return BlasInfo(str(blas.get("name", "unknown")), blas.get("version"),
                        source="numpy.show_config")
    except Exception:  # very old NumPy: no dict form
        return BlasInfo("unknown", source="numpy.show_config")


@contextmanager
def blas_threads(threads: int) -> Iterator[bool]:
    """Limit NumPy's BLAS to ``threads`` threads inside the ``with`` block.

    Yields:
        True if the limit is in force; False (after a ``UserWarning`` that says why and what to
        install) when threadpoolctl is missing.

    Example:
        >>> with blas_threads(1):
        ...     _ = np.ones((64, 64)) @ np.ones((64, 64))
    """
    tpc = _threadpoolctl()
    if tpc is None:
        warnings.warn(_NO_THREADPOOLCTL.format(threads=threads), stacklevel=3)
        yield False
        return
    with tpc.threadpool_limits(limits=int(threads), user_api="blas"):
        yield True


# ----------------------------------------------------------------------------- one rung
def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    return int(n)


def _check_threads(threads) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")
    return int(threads)


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _operands(n: int, dt: np.dtype, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, n)).astype(dt), rng.standard_normal((n, n)).astype(dt))


def _takes_threads(fn: Callable) -> bool:
    try:
        return "threads" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def _bind(fn: Callable, a: np.ndarray, b: np.ndarray, out: np.ndarray,
          threads: int) -> Callable[[], Any]:
    """A no-argument call of ``fn`` on ``a, b, out`` with ``threads`` (np.matmul: BLAS)."""
    if fn is np.matmul or fn == "numpy":
        return lambda: np.matmul(a, b, out=out)
    if _takes_threads(fn):
        return lambda: fn(a, b, out, threads=threads)
    if threads != 1:
        name = getattr(fn, "__name__", repr(fn))
        raise ValueError(f"{name} takes no threads argument (it runs on one thread); measure "
                         f"it with threads=1, or use a parallel rung")
    return lambda: fn(a, b, out)


def gflops(fn: Callable | str, n: int, dtype=np.float64, *, threads: int = 1,
           budget: float | None = None) -> float:
    """GFLOP/s of ``fn`` multiplying two random n x n matrices: ``2 n^3 / median time / 1e9``.

    Args:
        fn: a rung (``f(a, b, out)``, e.g. ``ladder.microkernel``), a parallel rung (it gets
            ``threads=``), or ``np.matmul`` / ``"numpy"`` for NumPy's BLAS (limited to
            ``threads`` threads, see :func:`blas_threads`).
        n: the matrices' size.
        dtype: float32 or float64.
        threads: threads for a parallel rung or BLAS.
        budget: seconds of sampling (:func:`course_lib.measure.bench.measure`); default 1 s,
            0.2 s under ``COURSE_QUICK``. The first call (JIT compilation) is not counted.

    Returns:
        GFLOP/s at the median time.

    Raises:
        ValueError: ``n`` or ``threads`` not a whole number >= 1; ``threads > 1`` for a rung
            that runs on one thread. TypeError: a dtype other than float32/float64.

    Example:
        >>> from course_lib.matmul.ladder import microkernel
        >>> gflops(microkernel, 128, budget=0.05) > 0
        True
    """
    from course_lib.measure.bench import measure

    n, threads, dt = _check_n(n), _check_threads(threads), _check_dtype(dtype)
    a, b = _operands(n, dt)
    out = np.empty((n, n), dt)
    call = _bind(fn, a, b, out, threads)
    with blas_threads(threads):
        m = measure(call, budget=config.pick(1.0, 0.2) if budget is None else budget)
    return flops(n, n, n) / m.median / 1e9


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class LadderRow:
    """One row of a :class:`LadderTable`.

    Attributes:
        name: the rung (``"microkernel"``, ``"prange"``, ``"c"``, ``"numpy"``...).
        kind: ``"numba"`` (one thread), ``"parallel"``, ``"c"`` or ``"blas"``.
        threads: threads it ran on.
        seconds: median seconds per call (NaN when skipped).
        gflops: ``2 n^3 / seconds / 1e9``.
        of_blas: gflops divided by the BLAS row's.
        of_peak: gflops divided by (one core's peak x threads).
        interleaved: whether it was timed in the interleaved rounds.
        note: why it was skipped or timed apart, or "".
    """

    name: str
    kind: str
    threads: int
    seconds: float
    gflops: float
    of_blas: float
    of_peak: float
    interleaved: bool
    note: str = ""


@dataclass(frozen=True)
class LadderTable:
    """GFLOP/s of the rungs and NumPy's BLAS, measured in one run (see :func:`ladder_table`).

    Attributes:
        n: the matrices' size. dtype: ``"float32"`` or ``"float64"``. threads: the thread count
            of the parallel rungs and of BLAS.
        rows: the :class:`LadderRow` s, in the order measured, BLAS last.
        blas: :class:`BlasInfo`. peak_gflops: one core's measured peak (NaN if unknown).
        notes: what the reader must know (skipped rungs, missing threadpoolctl...).
    """

    n: int
    dtype: str
    threads: int
    rows: tuple[LadderRow, ...]
    blas: BlasInfo
    peak_gflops: float
    notes: tuple[str, ...] = field(default=())

    def row(self, name: str) -> LadderRow:
        """The row of rung ``name``. Raises KeyError naming the rows there are."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r}; rows: {[r.name for r in self.rows]}")

    def __str__(self) -> str:
        head = (f"C = A @ B, n = {self.n}, {self.dtype}; BLAS: {self.blas}; one core's peak "
                f"{self.peak_gflops:.1f} GFLOP/s")
        lines = [head, f"{'rung':<13}{'threads':>8}{'time':>11}{'GFLOP/s':>9}{'of BLAS':>9}"
                       f"{'of peak':>9}  note"]
        for r in self.rows:
            t = "-" if math.isnan(r.seconds) else f"{r.seconds * 1e3:8.1f} ms"
            g = "-" if math.isnan(r.gflops) else f"{r.gflops:.1f}"
            fb = "-" if math.isnan(r.of_blas) else f"{r.of_blas:.2f}"
            fp = "-" if math.isnan(r.of_peak) else f"{r.of_peak:.2f}"
            note = r.note if r.interleaved or r.note else "not interleaved"
            lines.append(f"{r.name:<13}{r.threads:>8}{t:>11}{g:>9}{fb:>9}{fp:>9}  {note}")
        lines += [f"note: {x}" for x in self.notes]
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:  # IPython shows the text table
        p.text(str(self))

    def plot(self, ax=None):
        """A horizontal bar per rung (GFLOP/s), BLAS in another colour, and a dashed line at
        the peak of the threads used. Returns the matplotlib Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6.5, 0.45 * len(self.rows) + 1.4),
                                 layout="constrained")
        rows = [r for r in self.rows if not math.isnan(r.gflops)]
        names = [f"{r.name} ({r.threads}t)" if r.threads > 1 else r.name for r in rows]
        values = [r.gflops for r in rows]
        colours = ["tab:gray" if r.kind == "blas" else
                   "tab:orange" if r.kind == "c" else
                   "tab:green" if r.kind == "parallel" else "tab:blue" for r in rows]
        y = np.arange(len(rows))[::-1]
        ax.barh(y, values, color=colours)
        ax.set_yticks(y, names)
        for yi, r in zip(y, rows):
            if not math.isnan(r.of_blas):
                ax.annotate(f" {r.of_blas:.2f}x BLAS", (r.gflops, yi), va="center", fontsize=8)
        if not math.isnan(self.peak_gflops):
            top = self.peak_gflops * self.threads
            ax.axvline(top, ls="--", color="k", lw=1)
            label = "one core's peak" if self.threads == 1 else f"peak x {self.threads} cores"
            ax.text(top, 0.99, label + " ", transform=ax.get_xaxis_transform(), ha="right",
                    va="top", fontsize=8)
        ax.set_xlabel("GFLOP/s (higher is better)")
        ax.set_title(f"C = A @ B, n = {self.n}, {self.dtype}")
        return ax


def _c_rung():
    """``cgemm.matmul_c`` if the C extension is built, else None and why."""
    try:
        from course_lib.matmul.cgemm import matmul_c
    except Exception as e:  # not built, or no compiler: the numba table still stands
        return None, f"C rung unavailable ({type(e).__name__}: {e})"
    return matmul_c, ""


def _resolve(rungs, threads: int) -> tuple[list[tuple[str, str, Callable]], list[str]]:
    notes: list[str] = []
    known = dict(RUNGS) | dict(PARALLEL)
    if rungs is None:
        names = list(RUNGS) + (list(PARALLEL) if threads > 1 else []) + ["c"]
    else:
        names = list(rungs)
    chosen = []
    for name in names:
        if name == "c":
            fn, why = _c_rung()
            if fn is None:
                if rungs is not None:
                    raise ValueError(why)
                notes.append(why)
                continue
            chosen.append(("c", "c", fn))
        elif name in known:
            chosen.append((name, "parallel" if name in PARALLEL else "numba", known[name]))
        else:
            raise ValueError(f"unknown rung {name!r}; choose from {list(known) + ['c']}")
    return chosen, notes


def ladder_table(n: int | None = None, dtype=np.float64, threads: int = 1, rungs=None, *,
                 budget: float | None = None, naive_max_n: int = NAIVE_MAX_N,
                 max_call: float | None = None, peak: float | None = None) -> LadderTable:
    """Measure every rung and NumPy's ``@`` on n x n matrices, in one interleaved run.

    Args:
        n: matrix size; default 1024 (256 under ``COURSE_QUICK``).
        dtype: float32 or float64.
        threads: threads for the parallel rungs, the C rung and BLAS (the numba rungs of
            :data:`~course_lib.matmul.ladder.RUNGS` always run on one).
        rungs: names to measure, from ``ladder.RUNGS``, ``parallel.PARALLEL`` and ``"c"``
            (``cgemm.matmul_c``); default: all of ``RUNGS``, the parallel ones when
            ``threads > 1``, and ``"c"`` when it is built.
        budget: seconds of interleaved sampling in all; default 6 s (1 s under
            ``COURSE_QUICK``).
        naive_max_n: measure the naive rung only up to this n (see the module docstring).
        max_call: a rung whose one call takes longer is timed apart, not interleaved; default
            ``budget / 3``.
        peak: one core's peak GFLOP/s, if you measured it already; default: measured now with
            :func:`course_lib.simd.peak.peak` (0.2 s).

    Returns:
        A :class:`LadderTable`; ``print`` it, or ``.plot()`` it.

    Raises:
        ValueError: bad ``n``/``threads``, or an unknown rung name (or ``"c"`` asked for when
            the C rung is not built). TypeError: a dtype other than float32/float64.

    Example:
        >>> t = ladder_table(64, rungs=["reordered", "microkernel"], budget=0.1)  # doctest: +SKIP
        >>> t.row("microkernel").gflops > t.row("reordered").gflops              # doctest: +SKIP
        True
    """
    n = _check_n(config.pick(1024, 256) if n is None else n)
    threads, dt = _check_threads(threads), _check_dtype(dtype)
    budget = float(config.pick(6.0, 1.0) if budget is None else budget)
    if not budget > 0:
        raise ValueError(f"budget must be a positive number of seconds, got {budget!r}")
    max_call = budget / 3 if max_call is None else float(max_call)
    chosen, notes = _resolve(rungs, threads)
    a, b = _operands(n, dt)
    work = flops(n, n, n)

    # 1. compile every numba rung on a tiny problem, so that no timing includes the JIT
    ta, tb = _operands(8, dt, seed=1)
    for name, kind, fn in list(chosen):
        try:
            _bind(fn, ta, tb, np.empty((8, 8), dt), 1 if kind == "numba" else threads)()
        except Exception as e:
            if kind != "c" or rungs is not None:
                raise
            chosen.remove((name, kind, fn))  # the C rung is a guest: the table stands without
            notes.append(f"C rung unavailable ({type(e).__name__}: {e})")

    results: dict[str, tuple[float, bool, str]] = {}
    calls: list[tuple[str, Callable[[], Any]]] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with blas_threads(threads) as limited:
            if not limited:
                notes.append(_NO_THREADPOOLCTL.format(threads=threads))
            # 2. one timed call each (it also touches the output's pages first); the slow
            #    ones are timed apart
            for name, kind, fn in chosen:
                if name == "naive" and n > naive_max_n:
                    results[name] = (math.nan, False,
                                     f"skipped: measured only for n <= {naive_max_n} (at this n "
                                     f"one call takes seconds)")
                    continue
                out = np.empty((n, n), dt)
                call = _bind(fn, a, b, out, 1 if kind == "numba" else threads)
                t0 = time.perf_counter()
                call()
                first = time.perf_counter() - t0
                if first > max_call:
                    times = [first]
                    for _ in range(2):
                        t0 = time.perf_counter()
                        call()
                        times.append(time.perf_counter() - t0)
                    results[name] = (float(np.median(times)), False,
                                     f"not interleaved: {first:.1f} s per call, median of 3")
                else:
                    calls.append((name, call))
            blas_out = np.empty((n, n), dt)
            calls.append(("numpy", lambda: np.matmul(a, b, out=blas_out)))
            # 3. the interleaved rounds
            from course_lib.measure.bench import interleave

            for m in interleave(calls, budget=budget):
                results[m.label] = (m.median, True, "")
            blas = blas_info()  # inside the limit: its thread count is the one measured
    notes += [str(w.message) for w in caught if not str(w.message).startswith("threadpoolctl")]

    peak_note = ""
    if peak is None:
        try:
            from course_lib.simd.peak import peak as measure_peak

            peak = measure_peak("f64" if dt == np.float64 else "f32").gflops
        except Exception as e:  # no C compiler, SIMD unavailable...: the table stands without
            peak, peak_note = math.nan, f"peak unknown ({type(e).__name__}: {e})"
    if peak_note:
        notes.append(peak_note)
    blas_seconds = results["numpy"][0]
    blas_gflops = work / blas_seconds / 1e9
    rows = []
    for name, kind, _ in chosen + [("numpy", "blas", None)]:
        seconds, interleaved, note = results[name]
        t = 1 if kind == "numba" else threads
        g = work / seconds / 1e9 if seconds > 0 else math.nan
        rows.append(LadderRow(name, kind, t, seconds, g, g / blas_gflops,
                              g / (float(peak) * t) if peak else math.nan, interleaved, note))
    return LadderTable(n, dt.name, threads, tuple(rows), blas, float(peak), tuple(notes))


# ----------------------------------------------------------------------------- scaling
@dataclass(frozen=True)
class ScalingRow:
    """One (variant, thread count) of a :class:`ScalingTable`.

    Attributes:
        name: the parallel rung (``"prange"``, ``"pool"``, ``"queue"``, ``"c"``) or
            ``"numpy"``. threads: threads it ran on. seconds: median per call.
        gflops: ``2 n^3 / seconds / 1e9``.
        speedup: its own one-thread time divided by this time.
        efficiency: speedup / threads (1.0: every thread fully useful).
    """

    name: str
    threads: int
    seconds: float
    gflops: float
    speedup: float
    efficiency: float


@dataclass(frozen=True)
class ScalingTable:
    """The parallel rungs on several thread counts, measured in one interleaved run."""

    n: int
    dtype: str
    rows: tuple[ScalingRow, ...]
    notes: tuple[str, ...] = field(default=())

    def row(self, name: str, threads: int) -> ScalingRow:
        """The row of ``name`` on ``threads``. Raises KeyError naming the rows there are."""
        for r in self.rows:
            if r.name == name and r.threads == threads:
                return r
        raise KeyError(f"no row ({name!r}, {threads}); rows: "
                       f"{[(r.name, r.threads) for r in self.rows]}")

    def __str__(self) -> str:
        lines = [f"C = A @ B, n = {self.n}, {self.dtype}: each variant against its own time on "
                 f"one thread",
                 f"{'variant':<10}{'threads':>8}{'time':>11}{'GFLOP/s':>9}{'speedup':>9}"
                 f"{'efficiency':>11}"]
        for r in self.rows:
            lines.append(f"{r.name:<10}{r.threads:>8}{r.seconds * 1e3:8.1f} ms{r.gflops:>9.1f}"
                         f"{r.speedup:>9.2f}{r.efficiency:>11.2f}")
        lines += [f"note: {x}" for x in self.notes]
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))

    def plot(self, ax=None):
        """Speedup against threads, one line per variant, and the ideal diagonal. Returns the
        matplotlib Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
        names = list(dict.fromkeys(r.name for r in self.rows))
        most = max(r.threads for r in self.rows)
        ax.plot([1, most], [1, most], ls="--", color="k", lw=1, label="ideal")
        for name in names:
            rs = sorted((r for r in self.rows if r.name == name), key=lambda r: r.threads)
            ax.plot([r.threads for r in rs], [r.speedup for r in rs], marker="o", label=name)
        ax.set_xlabel("threads")
        ax.set_ylabel("speedup over one thread")
        ax.set_title(f"C = A @ B, n = {self.n}, {self.dtype}")
        ax.legend(fontsize=8)
        return ax


def scaling_table(n: int | None = None, dtype=np.float64, threads=None, variants=None, *,
                  budget: float | None = None) -> ScalingTable:
    """Speedup of every parallel rung (and of NumPy's BLAS) over its own one-thread time.

    All (variant, thread count) pairs are timed in the same interleaved rounds, so that the
    speedups compare like with like even on a busy machine. BLAS is limited to each thread
    count in turn (threadpoolctl; without it BLAS is left out, and the notes say why).

    Args:
        n: matrix size; default 1024 (256 under ``COURSE_QUICK``).
        dtype: float32 or float64.
        threads: thread counts; default 1, 2, 4, ... up to ``COURSE_NUM_THREADS`` or the usable
            cores (1 is always added: speedups are relative to it).
        variants: names from ``parallel.PARALLEL``, ``"c"`` and ``"numpy"``; default all of
            them (``"c"`` when it is built).
        budget: seconds of interleaved sampling in all; default 8 s (1 s under
            ``COURSE_QUICK``).

    Returns:
        A :class:`ScalingTable`.

    Raises:
        ValueError: bad ``n``, thread counts, or an unknown variant. TypeError: bad dtype.

    Example:
        >>> s = scaling_table(256, threads=[1, 2], variants=["queue"])    # doctest: +SKIP
        >>> s.row("queue", 2).speedup                                     # doctest: +SKIP
        1.9
    """
    from course_lib.measure.bench import interleave

    n, dt = _check_n(config.pick(1024, 256) if n is None else n), _check_dtype(dtype)
    budget = float(config.pick(8.0, 1.0) if budget is None else budget)
    if threads is None:
        top = config.num_threads()
        threads = [1] + [2 ** i for i in range(1, 8) if 2 ** i < top] + [top]
    counts = sorted({1} | {_check_threads(t) for t in threads})
    notes: list[str] = []
    if variants is None:
        names = list(PARALLEL) + (["c"] if _c_rung()[0] is not None else []) + ["numpy"]
    else:
        names = list(variants)
    fns: dict[str, Callable] = {}
    for name in names:
        if name in PARALLEL:
            fns[name] = PARALLEL[name]
        elif name == "c":
            fn, why = _c_rung()
            if fn is None:
                raise ValueError(why)
            fns[name] = fn
        elif name != "numpy":
            raise ValueError(f"unknown variant {name!r}; choose from "
                             f"{list(PARALLEL) + ['c', 'numpy']}")
    tpc = _threadpoolctl()
    if "numpy" in names and tpc is None:
        names.remove("numpy")
        notes.append(_NO_THREADPOOLCTL.format(threads="each count of") + "; BLAS left out")
    a, b = _operands(n, dt)
    ta, tb = _operands(8, dt, seed=1)
    calls = []
    for name in names:
        for t in counts:
            out = np.empty((n, n), dt)
            if name == "numpy":
                controller = tpc.ThreadpoolController()

                def call(t=t, out=out, controller=controller):
                    with controller.limit(limits=t, user_api="blas"):
                        np.matmul(a, b, out=out)
            else:
                _bind(fns[name], ta, tb, np.empty((8, 8), dt), t)()   # compile first
                call = _bind(fns[name], a, b, out, t)
            calls.append((f"{name}|{t}", call))
    times = {m.label: m.median for m in interleave(calls, budget=budget)}
    work = flops(n, n, n)
    rows = []
    for name in names:
        one = times[f"{name}|1"]
        for t in counts:
            sec = times[f"{name}|{t}"]
            rows.append(ScalingRow(name, t, sec, work / sec / 1e9, one / sec, one / sec / t))
    return ScalingTable(n, dt.name, tuple(rows), tuple(notes))
