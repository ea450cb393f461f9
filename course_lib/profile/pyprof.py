"""Python's profilers, wrapped for a notebook: call a function, get a table back.

Three kinds of Python profiler, each answering a different question:

=========================  ===============================================================
:func:`cprofile`           *deterministic* (tracing): the interpreter reports every call and
                           return of every Python function, and cProfile counts calls and
                           time per function. Exact call counts; the tracing itself slows
                           calls down, so many small functions look more expensive than they
                           are.
:func:`pyinstrument_report`  *statistical* (sampling, every 1 ms): a call tree of where the
                           time went, with little overhead; rare short calls may be missed.
:func:`line_profile`       *deterministic, per line*: the time of every line of the functions
                           you name (line_profiler's ``@profile``). Heavy: profile one or two
                           functions, not a program.
=========================  ===============================================================

Each returns a :class:`ProfileReport` holding the function's return value, the report as text,
and (for cProfile) the rows of the table. Nothing opens a pager or a browser; a tool that is not
installed gives a report that says so and how to install it, never an exception.

None of them sees inside numba-compiled code: a call of a ``@njit`` function is one opaque
native call (cProfile and pyinstrument bill it to the caller, line_profiler to the line that
made it). :mod:`course_lib.profile.flame` samples native code too.

Rust ↔ Python: Rust has no tracing profiler in the language; ``cargo flamegraph`` / ``perf`` are
its sampling profilers. ``cProfile`` is closest to instrumenting every function by hand.

Source:
    Python's documentation of ``cProfile`` and ``pstats``; pyinstrument's and line_profiler's
    documentation (``Profiler.output_text``, ``LineProfiler.print_stats``).

Thread-safety: the profilers trace the calling thread only (cProfile and line_profiler install
a per-thread hook); do not run two at once on one thread.
"""
from __future__ import annotations

import cProfile
import io
import pstats
from dataclasses import dataclass, field
from typing import Callable, Sequence

__all__ = ["ProfileReport", "FunctionRow", "cprofile", "pyinstrument_report", "line_profile",
           "SORT_KEYS"]

#: The orders :func:`cprofile` accepts (pstats' names).
SORT_KEYS = ("cumulative", "tottime", "ncalls", "pcalls", "name", "filename", "line")


@dataclass(frozen=True)
class FunctionRow:
    """One function in cProfile's table.

    Attributes:
        function: ``file:line(name)``, as pstats writes it.
        ncalls: calls (primitive calls, not counting recursive ones, in ``primitive_calls``).
        tottime: seconds spent in the function itself.
        cumtime: seconds spent in it and everything it called.
    """

    function: str
    ncalls: int
    primitive_calls: int
    tottime: float
    cumtime: float


@dataclass(frozen=True, repr=False)
class ProfileReport:
    """What a profiler said about one call.

    Attributes:
        tool: ``"cProfile"``, ``"pyinstrument"`` or ``"line_profiler"``.
        text: the report, as the tool prints it (or why the tool is not available).
        value: what the profiled function returned (None when it did not run).
        available: False when the tool is not installed (``text`` then says how to install it).
        rows: for cProfile, the table as :class:`FunctionRow` objects.
    """

    tool: str
    text: str
    value: object = None
    available: bool = True
    rows: tuple[FunctionRow, ...] = field(default_factory=tuple)

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, p, cycle):  # IPython: print the table, not a dataclass
        p.text(self.text)


def _check(fn):
    if not callable(fn):
        raise TypeError(f"expected a function to profile, got {type(fn).__name__}: {fn!r}")


def cprofile(fn: Callable, *args, sort: str = "cumulative", top: int = 15,
             **kwargs) -> ProfileReport:
    """Run ``fn(*args, **kwargs)`` under cProfile; return the top of its table.

    Args:
        fn: the function to profile.
        *args, **kwargs: passed to it.
        sort: the column to sort by: ``"cumulative"`` (time in the function and its callees),
            ``"tottime"`` (in the function itself), ``"ncalls"``, ... (see :data:`SORT_KEYS`).
        top: how many rows to keep.

    Returns:
        A :class:`ProfileReport` with the text table and its rows.

    Raises:
        TypeError: ``fn`` is not callable.
        ValueError: an unknown ``sort`` or a negative ``top``.

    Example:
        >>> r = cprofile(sorted, list(range(1000)), top=3)
        >>> r.value[:3], r.tool
        ([0, 1, 2], 'cProfile')
    """
    _check(fn)
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {SORT_KEYS}, got {sort!r}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError(f"top must be a whole number >= 0, got {top!r}")
    profiler = cProfile.Profile()
    value = profiler.runcall(fn, *args, **kwargs)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    rows = []
    for func in stats.fcn_list[:top] if stats.fcn_list else []:
        cc, nc, tt, ct, _callers = stats.stats[func]
        rows.append(FunctionRow(pstats.func_std_string(func), int(nc), int(cc), float(tt),
                                float(ct)))
    text = out.getvalue().strip("\n")
    return ProfileReport("cProfile", text, value, True, tuple(rows))


def _missing(tool: str, package: str) -> ProfileReport:
    return ProfileReport(tool, f"{tool}: not available here, because the package is not installed: "
                               f"pip install {package}", None, False)


def pyinstrument_report(fn: Callable, *args, interval: float = 0.001, show_all: bool = False,
                        **kwargs) -> ProfileReport:
    """Run ``fn(*args, **kwargs)`` under pyinstrument's sampling profiler; return its call tree.

    Args:
        fn: the function to profile.
        interval: seconds between samples.
        show_all: keep library frames that pyinstrument hides by default.

    Returns:
        A :class:`ProfileReport` (``available`` False, and not run, when pyinstrument is missing).
    """
    _check(fn)
    try:
        from pyinstrument import Profiler
    except ImportError:
        return _missing("pyinstrument", "pyinstrument")
    profiler = Profiler(interval=interval)
    profiler.start()
    try:
        value = fn(*args, **kwargs)
    finally:
        profiler.stop()
    text = profiler.output_text(unicode=True, color=False, show_all=show_all)
    return ProfileReport("pyinstrument", text.strip("\n"), value)


def line_profile(fn: Callable, *args, functions: Sequence[Callable] | None = None,
                 **kwargs) -> ProfileReport:
    """Run ``fn(*args, **kwargs)`` and time every line of ``functions`` (default: ``fn``).

    Args:
        fn: the function to run.
        functions: the Python functions whose lines to time (numba dispatchers are replaced by
            their Python function, which is not what runs: their lines will show no hits).

    Returns:
        A :class:`ProfileReport` (``available`` False, and not run, when line_profiler is
        missing).

    Raises:
        TypeError: ``fn`` or one of ``functions`` is not a Python function.
    """
    _check(fn)
    targets = list(functions) if functions is not None else [fn]
    for f in targets:
        if not callable(f):
            raise TypeError(f"functions must be Python functions, got {type(f).__name__}: {f!r}")
    try:
        from line_profiler import LineProfiler
    except ImportError:
        return _missing("line_profiler", "line_profiler")
    profiler = LineProfiler()
    for f in targets:
        profiler.add_function(getattr(f, "py_func", f))
    value = profiler.runcall(fn, *args, **kwargs)
    out = io.StringIO()
    profiler.print_stats(stream=out, stripzeros=True)
    return ProfileReport("line_profiler", out.getvalue().strip("\n"), value)
