"""Pinning a thread to CPUs, and what the scheduler did to a run (chapter c06).

1. :func:`can_pin` / :func:`pin_unavailable_reason`: whether this OS lets Python pin a thread.
   Linux does (``os.sched_setaffinity``); macOS has no API that binds a thread to a CPU (its
   affinity "tags" are only hints, ignored on Apple silicon) and Python's ``os`` module offers
   none on Windows.
2. :func:`pinned`: a context manager that pins **the calling thread** and restores its mask on
   exit. ``os.sched_setaffinity(0, cpus)`` calls Linux's ``sched_setaffinity(2)`` with pid 0,
   which means "the calling thread", not the whole process: affinity is per thread on Linux
   (tests/test_memory_affinity_alloc.py checks that another thread's mask is left alone).
   Threads *started inside* the block inherit the pinned mask (a thread copies its creator's
   mask), so a thread pool created there is squeezed onto the same CPUs.
3. :func:`current_cpu`: the CPU the calling thread is on now (``sched_getcpu``).
4. :func:`run_stats`: wall time, CPU time, context switches (voluntary: the thread waited;
   involuntary: the scheduler took the CPU away), CPU migrations and page faults of one call.
5. :func:`pinning_spread`: the same function timed unpinned and pinned, in interleaved rounds,
   and the spread (IQR / median) of each: does pinning make measurements steadier here?

Sources: Linux man-pages sched_setaffinity(2), sched_getcpu(3), getrusage(2) (``RUSAGE_THREAD``
since Linux 2.6.26), proc(5) and the kernel's ``kernel/sched/debug.c`` (``se.nr_migrations`` in
``/proc/<pid>/task/<tid>/sched``).

Thread-safety: every function acts on, and measures, the calling thread only; two threads may
use them at the same time.
"""
from __future__ import annotations

import contextlib
import os
import platform
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from course_lib.config import pick
from course_lib.measure.machine import format_cpulist
from course_lib.measure.stats import format_seconds

__all__ = ["PinningUnavailable", "can_pin", "pin_unavailable_reason", "allowed_cpus", "pinned",
           "current_cpu", "RunStats", "run_stats", "PinningSpread", "pinning_spread"]


class PinningUnavailable(RuntimeError):
    """This OS (or this sandbox) does not let Python pin a thread; the message says why."""


# ----------------------------------------------------------------------------- pinning
def pin_unavailable_reason() -> str | None:
    """Say why threads cannot be pinned here, or None when they can.

    The test is real: the calling thread's own mask is set again (a no-op for the scheduler),
    because a sandbox may forbid the call even where the function exists.
    """
    if not hasattr(os, "sched_setaffinity") or not hasattr(os, "sched_getaffinity"):
        system = platform.system() or "this OS"
        why = {"Darwin": "macOS has no call that binds a thread to a CPU (its thread affinity "
                         "tags are only hints, and Apple silicon ignores them)",
               "Windows": "Python's os module has no sched_setaffinity on Windows (the OS "
                          "has SetThreadAffinityMask, but Python does not expose it)"}
        return why.get(system, f"os.sched_setaffinity does not exist on {system}")
    try:
        os.sched_setaffinity(0, os.sched_getaffinity(0))
    except OSError as exc:
        return f"the OS refused sched_setaffinity ({exc.strerror or exc}); a sandbox may forbid it"
    return None


def can_pin() -> bool:
    """True when :func:`pinned` can really pin the calling thread here."""
    return pin_unavailable_reason() is None


def allowed_cpus() -> tuple[int, ...]:
    """The CPUs the calling thread may run on now (its affinity mask), sorted.

    Where the OS does not say (macOS, Windows), every CPU ``os.cpu_count()`` reports.
    """
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


def _as_cpus(cpus: int | Iterable[int]) -> tuple[int, ...]:
    items = [cpus] if isinstance(cpus, (int, np.integer)) else list(cpus)
    if not items:
        raise ValueError("pinned() needs at least one CPU")
    for c in items:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"CPU numbers are integers, got {c!r}")
    return tuple(sorted({int(c) for c in items}))


@contextlib.contextmanager
def pinned(cpus: int | Iterable[int], strict: bool = True) -> Iterator[tuple[int, ...] | None]:
    """Pin the calling thread to ``cpus`` for the ``with`` block, then restore its mask.

    Args:
        cpus: one CPU number or several (the thread may run on any of them).
        strict: where pinning is impossible (macOS, Windows, a sandbox), True raises
            :class:`PinningUnavailable`; False warns (RuntimeWarning, with the reason) and runs
            the block unpinned, so a notebook still runs everywhere.

    Yields:
        The CPUs the thread is pinned to, or None when it runs unpinned (``strict=False``).

    Raises:
        ValueError: a CPU is not in the set this thread may use now (:func:`allowed_cpus`). The
            set shrinks inside a ``pinned`` block, so nested blocks can only narrow it.
        TypeError: a CPU is not an integer.
        PinningUnavailable: pinning is impossible here and ``strict`` is True.

    Only the calling thread is pinned (Linux affinity is per thread); threads it starts inside
    the block inherit the mask.

    Example:
        >>> with pinned(0):                       # doctest: +SKIP
        ...     print(current_cpu())
        0
    """
    wanted = _as_cpus(cpus)
    reason = pin_unavailable_reason()
    if reason is not None:
        if strict:
            raise PinningUnavailable(f"cannot pin threads here: {reason}")
        warnings.warn(f"running unpinned: {reason}", RuntimeWarning, stacklevel=3)
        yield None
        return
    before = os.sched_getaffinity(0)
    outside = [c for c in wanted if c not in before]
    if outside:
        raise ValueError(f"CPU {format_cpulist(outside)} is not in the set this thread may use "
                         f"({format_cpulist(before)}); pick from allowed_cpus()")
    os.sched_setaffinity(0, wanted)
    try:
        yield wanted
    finally:
        os.sched_setaffinity(0, before)


def _proc_stat_cpu() -> int | None:
    """Field 39 ("processor") of /proc/thread-self/stat: the fallback without the C module."""
    try:
        with open("/proc/thread-self/stat", encoding="ascii") as f:
            text = f.read()
        return int(text.rsplit(")", 1)[1].split()[36])  # fields after "comm" start at field 3
    except (OSError, ValueError, IndexError):
        return None


def current_cpu() -> int | None:
    """The CPU the calling thread is running on now, or None where the OS does not say.

    Unless the thread is pinned, the answer may be stale the moment it is returned.
    """
    try:
        from course_lib._c._numa import lib
    except ImportError:  # pragma: no cover - only without a build
        return _proc_stat_cpu()
    cpu = lib.numa_current_cpu()
    return cpu if cpu >= 0 else _proc_stat_cpu()


# ----------------------------------------------------------------------------- run statistics
def _sched_file(tid: int | None = None) -> str:
    return f"/proc/self/task/{tid or threading.get_native_id()}/sched"


def _migrations(path: str) -> int | None:
    """``se.nr_migrations`` from a sched file: how often the scheduler moved the thread."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("se.nr_migrations"):
                    return int(line.split(":")[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rusage(scope: str) -> tuple[Any, str, str | None]:
    """(getrusage snapshot, scope really used, note) or (None, scope, reason)."""
    try:
        import resource
    except ImportError:
        return None, scope, "no resource module on this OS: no counts of switches or faults"
    if scope == "thread":
        if hasattr(resource, "RUSAGE_THREAD"):
            return resource.getrusage(resource.RUSAGE_THREAD), "thread", None
        return (resource.getrusage(resource.RUSAGE_SELF), "process",
                "no RUSAGE_THREAD on this OS: counts are for the whole process")
    return resource.getrusage(resource.RUSAGE_SELF), "process", None


@dataclass(frozen=True)
class RunStats:
    """What one call cost and what the scheduler and memory system did during it.

    Attributes:
        wall_s: elapsed time (``time.perf_counter``).
        cpu_s: user + system CPU time of the scope, or None.
        voluntary_switches: the thread gave up the CPU (waited for I/O, a lock, a sleep).
        involuntary_switches: the scheduler took the CPU away (time slice over, or a
            higher-priority task): the noise in a measurement.
        migrations: times the thread was moved to another CPU (None with a note when the
            kernel does not say; always None for scope "process").
        minor_faults: page faults served without I/O (a fresh zero page mapped, copy-on-write).
        major_faults: page faults that read from disk (swap, a file not in the page cache).
        scope: ``"thread"`` (the calling thread only) or ``"process"`` (all threads).
        notes: why a field is None or the scope wider than asked.
        result: what the function returned (not shown).
    """

    wall_s: float
    cpu_s: float | None
    voluntary_switches: int | None
    involuntary_switches: int | None
    migrations: int | None
    minor_faults: int | None
    major_faults: int | None
    scope: str
    notes: tuple[str, ...] = ()
    result: Any = field(default=None, repr=False, compare=False)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs, the table that ``str()`` prints."""
        def show(v: int | None) -> str:
            return "unknown" if v is None else f"{v:,}"

        return [("wall time", format_seconds(self.wall_s)),
                ("CPU time", "unknown" if self.cpu_s is None else format_seconds(self.cpu_s)),
                ("voluntary context switches", show(self.voluntary_switches)),
                ("involuntary context switches", show(self.involuntary_switches)),
                ("CPU migrations", show(self.migrations)),
                ("minor page faults", show(self.minor_faults)),
                ("major page faults", show(self.major_faults))]

    def __str__(self) -> str:
        rows = self.rows()
        width = max(len(k) for k, _ in rows) + 1
        lines = [f"run statistics ({self.scope})"]
        lines += [f"  {k + ':':<{width}} {v}" for k, v in rows]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def run_stats(fn: Callable[..., Any], *args: Any, scope: str = "thread",
              **kwargs: Any) -> RunStats:
    """Call ``fn(*args, **kwargs)`` once in this thread and report what it cost.

    Args:
        fn: the function to run.
        scope: ``"thread"`` counts the calling thread only (``RUSAGE_THREAD``, its sched file):
            right for code that runs here; ``"process"`` counts every thread (``RUSAGE_SELF``):
            needed when ``fn`` hands work to other threads (numba's pool, a thread pool).

    Returns:
        A :class:`RunStats`; ``.result`` holds fn's return value. Counts the OS cannot give
        are None, with the reason in ``.notes``. Never raises for a missing feature.

    Example:
        >>> import numpy as np
        >>> s = run_stats(lambda: np.ones(1 << 24))  # doctest: +SKIP
        >>> s.minor_faults                              # doctest: +SKIP
        32769
    """
    if scope not in ("thread", "process"):
        raise ValueError(f"scope is 'thread' or 'process', not {scope!r}")
    notes: list[str] = []
    sched = _sched_file()
    m0 = _migrations(sched) if scope == "thread" else None
    r0, used, note = _rusage(scope)
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    wall = time.perf_counter() - t0
    r1 = _rusage(scope)[0]
    m1 = _migrations(sched) if scope == "thread" else None
    if note:
        notes.append(note)
    if scope == "process":
        notes.append("CPU migrations are counted per thread only; use scope='thread'")
    elif m0 is None or m1 is None:
        notes.append(f"no se.nr_migrations in {sched} (the kernel's scheduler statistics "
                     "are not available here), so migrations are unknown")

    def delta(name: str) -> int | None:
        return None if r0 is None else int(getattr(r1, name) - getattr(r0, name))

    cpu = None if r0 is None else ((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime))
    return RunStats(wall_s=wall, cpu_s=cpu, voluntary_switches=delta("ru_nvcsw"),
                    involuntary_switches=delta("ru_nivcsw"),
                    migrations=None if m0 is None or m1 is None else m1 - m0,
                    minor_faults=delta("ru_minflt"), major_faults=delta("ru_majflt"),
                    scope=used, notes=tuple(notes), result=result)


# ----------------------------------------------------------------------------- pinning spread
def _spread(times: np.ndarray) -> float | None:
    if len(times) < 2:
        return None
    q1, med, q3 = np.quantile(times, [0.25, 0.5, 0.75])
    return float((q3 - q1) / med) if med > 0 else None


@dataclass(frozen=True)
class PinningSpread:
    """Timings of one function unpinned and pinned, taken in interleaved rounds.

    Attributes:
        unpinned_s, pinned_s: the run times in seconds (pinned is empty when pinning is not
            possible here).
        cpu: the CPU the pinned runs used, or None.
        migrations_unpinned, migrations_pinned: CPU migrations over all runs of each kind,
            or None when the kernel does not say.
        reason: why there are no pinned runs, or None.
    """

    unpinned_s: np.ndarray
    pinned_s: np.ndarray
    cpu: int | None
    migrations_unpinned: int | None
    migrations_pinned: int | None
    reason: str | None = None

    @property
    def spread_unpinned(self) -> float | None:
        """Interquartile range / median of the unpinned runs (0.05 means 5 %)."""
        return _spread(self.unpinned_s)

    @property
    def spread_pinned(self) -> float | None:
        """Interquartile range / median of the pinned runs, or None without them."""
        return _spread(self.pinned_s)

    def __str__(self) -> str:
        def line(name: str, t: np.ndarray, spread: float | None, mig: int | None) -> str:
            if len(t) == 0:
                return f"  {name:<9} not measured"
            mig_text = "unknown" if mig is None else f"{mig}"
            spread_text = "n/a" if spread is None else f"{spread:6.1%}"
            return (f"  {name:<9} median {format_seconds(float(np.median(t))):>10}, "
                    f"spread (IQR/median) {spread_text}, migrations {mig_text}")

        where = f"pinned to CPU {self.cpu}" if self.cpu is not None else "no pinning"
        lines = [f"{len(self.unpinned_s)} runs unpinned, {len(self.pinned_s)} {where} "
                 "(interleaved)",
                 line("unpinned", self.unpinned_s, self.spread_unpinned,
                      self.migrations_unpinned),
                 line("pinned", self.pinned_s, self.spread_pinned, self.migrations_pinned)]
        if self.reason:
            lines.append(f"  note: {self.reason}")
        return "\n".join(lines)

    __repr__ = __str__

    def plot(self, ax: Any = None) -> Any:
        """The runs of each kind as points over a box plot; returns the Axes."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(5, 3), layout="constrained")[1]
        groups = [("unpinned", self.unpinned_s), ("pinned", self.pinned_s)]
        groups = [(n, t * 1e3) for n, t in groups if len(t)]
        ax.boxplot([t for _, t in groups], showfliers=False)
        ax.set_xticks(range(1, len(groups) + 1), [n for n, _ in groups])
        for i, (_, t) in enumerate(groups, start=1):
            ax.plot(np.full(len(t), i) + np.linspace(-0.12, 0.12, len(t)), t, ".", alpha=0.6)
        ax.set_ylabel("time per run (ms)")
        ax.set_title("the same work, unpinned and pinned", fontsize=9)
        return ax


def pinning_spread(fn: Callable[..., Any], *args: Any, repeats: int | None = None,
                   cpu: int | None = None, warmup: int = 1) -> PinningSpread:
    """Time ``fn(*args)`` unpinned and pinned to one CPU, alternating, and compare the spreads.

    Each round runs it once each way, the order swapped every round, so a slow phase of the
    machine (another job, a frequency change) hits both kinds alike.

    Args:
        fn: the work; a few milliseconds per call is a good size.
        repeats: rounds (default 21, 7 under ``COURSE_QUICK``).
        cpu: the CPU for the pinned runs; default the last one this thread may use (CPU 0
            often handles more interrupts).
        warmup: untimed calls first (JIT, caches, page faults of first use).

    Returns:
        A :class:`PinningSpread`. Where pinning is impossible it holds only unpinned runs and
        the reason; it never raises for that.

    Raises:
        ValueError: ``cpu`` is not one this thread may use, or ``repeats`` < 1.
    """
    repeats = pick(21, 7) if repeats is None else repeats
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    reason = pin_unavailable_reason()
    if reason is None:
        cpus = allowed_cpus()
        cpu = cpus[-1] if cpu is None else cpu
        if cpu not in cpus:
            raise ValueError(f"CPU {cpu} is not in the set this thread may use "
                             f"({format_cpulist(cpus)})")
    else:
        cpu = None
    for _ in range(warmup):
        fn(*args)
    sched = _sched_file()
    times: dict[bool, list[float]] = {False: [], True: []}
    migs: dict[bool, int | None] = {False: 0, True: 0}
    for r in range(repeats):
        kinds = (False, True) if r % 2 == 0 else (True, False)
        for pin in kinds:
            if pin and cpu is None:
                continue
            with pinned(cpu) if pin else contextlib.nullcontext():
                m0 = _migrations(sched)
                t0 = time.perf_counter()
                fn(*args)
                times[pin].append(time.perf_counter() - t0)
                m1 = _migrations(sched)
            migs[pin] = None if m0 is None or m1 is None or migs[pin] is None \
                else migs[pin] + (m1 - m0)
    return PinningSpread(unpinned_s=np.array(times[False]), pinned_s=np.array(times[True]),
                         cpu=cpu, migrations_unpinned=migs[False],
                         migrations_pinned=migs[True] if cpu is not None else None,
                         reason=None if reason is None else f"no pinned runs: {reason}")
