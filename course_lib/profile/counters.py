"""Count what the CPU and the kernel did during one call: cycles, instructions, cache and branch
misses, page faults, context switches (c07).

``perf stat python script.py`` counts a whole program, start-up and imports included.
:func:`counters` counts around *one call* inside the running Python, the way a notebook cell
needs it::

    >>> c = counters(kernel, x)              # doctest: +SKIP
    >>> c                     # a perf-stat-like table   # doctest: +SKIP
    >>> c.ipc, c["cache-misses"], c.why_not   # doctest: +SKIP

How it works (Linux): ``perf_event_open(2)``, wrapped in ``course_lib/_c/perfev.c``, gives one
file descriptor per event and thread. The counters are created stopped, reset and started right
before the call, stopped right after it, and read: three numbers each, the count and the times
the counter was *enabled* and really *running*. A core has only a few hardware counters (often
4 to 8); ask for more events and the kernel time-shares them ("multiplexing"), so each one counts
part of the time. The value reported is then scaled, ``raw * enabled / running``, an estimate,
and :class:`EventCount` says what fraction of the time it really counted.

Hardware events (``cycles``, ``instructions``, cache and branch events) come from the CPU's
performance-monitoring unit (PMU). Software events (``task-clock``, ``page-faults``,
``context-switches``, ``cpu-migrations``) are counted by the kernel and work even where there is
no PMU (most cloud VMs). Three things can stop hardware counting, and :func:`counters` then says
which in :attr:`Counts.why_not` instead of raising:

1. ``/proc/sys/kernel/perf_event_paranoid``: at 2 (the kernel's default) an unprivileged program
   may count its own user-space code only: fine for us, we count user space by default
   (``kernel=False``); 3 and 4 (Debian and Ubuntu patches) forbid everything.
2. No PMU: a VM whose hypervisor gives the guest none (``ENOENT`` for every hardware event).
3. Not Linux: macOS has no ``perf_event_open``; its counters are in Instruments (Xcode).

Where perf cannot count a software event (not Linux, a paranoid level of 3 or more, a container
that blocks the system call), ``page-faults``, ``minor-faults``, ``major-faults``,
``context-switches`` and ``task-clock`` fall back to ``getrusage(2)`` and the CPU-time clocks
(``source="getrusage"``), and ``cpu-migrations`` to the scheduler's statistics in
``/proc/self/task/<tid>/sched`` (``source="sched"``), and say so. Without privileges at
``perf_event_paranoid`` 2, perf counts context switches and migrations only in kernel mode (seen
from user space they always read 0), so those two are taken from the fallbacks too.

Threads. ``threads="this"`` counts the calling thread (``pid = 0``). ``threads="all"`` (the
default) counts every thread of the process: a parallel kernel (numba's ``prange``, a thread
pool) runs on worker threads that *already exist* when the counters are opened, so the kernel's
``inherit`` flag (count the threads a counted thread creates later) is not enough on its own.
So one counter per event is opened on every thread listed in ``/proc/self/task`` (``pid = tid``,
``cpu = -1``: wherever it runs), each with ``inherit = 1`` so that threads created during the
call are counted into the thread that created them, and the values are summed;
:attr:`EventCount.per_thread` keeps each thread's share. Idle threads cost nothing: a counter
only counts while its thread runs.

Sources: Linux man-pages perf_event_open(2) (read_format, multiplexing, inherit, the paranoid
levels), getrusage(2); the kernel's Documentation/admin-guide/perf-security.rst; Brendan Gregg,
*Systems Performance* (2nd ed.), chapter 6 (PMCs, IPC).

Thread-safety: each call opens and closes its own counters; nothing is shared between calls.
"""
from __future__ import annotations

import errno
import math
import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from course_lib.measure.stats import format_seconds
from course_lib.memory.affinity import _migrations, _rusage

__all__ = ["EventSpec", "EVENTS", "DEFAULT_EVENTS", "EventCount", "Counts", "counters",
           "perf_available", "paranoid_level", "explain_error"]

# perfev.h's codes for "cannot be made at all" (kept in step with the header; read from the built
# module when there is one).
_NOT_LINUX = -100001
_NO_SYSCALL = -100002

_HARDWARE, _SOFTWARE, _HW_CACHE = 0, 1, 3


@dataclass(frozen=True)
class EventSpec:
    """One event, by its ``perf list`` name.

    Attributes:
        name: the friendly name (``"cycles"``, ``"page-faults"``...).
        type: the perf event type (0 hardware, 1 software, 3 hardware cache).
        config: the event number within the type.
        description: what it counts, in a few words.
        unit: ``"ns"`` for task-clock, else ``""`` (a count).
    """

    name: str
    type: int
    config: int
    description: str
    unit: str = ""

    @property
    def hardware(self) -> bool:
        """True for events counted by the CPU's PMU (types hardware and hardware cache)."""
        return self.type in (_HARDWARE, _HW_CACHE)


def _cache(cache: int, miss: bool) -> int:
    # A HW_CACHE config: which cache | (operation: read = 0) << 8 | (access 0 / miss 1) << 16.
    return cache | (0 << 8) | (int(miss) << 16)


#: Every event :func:`counters` knows, by name.
EVENTS: dict[str, EventSpec] = {e.name: e for e in (
    EventSpec("cycles", _HARDWARE, 0, "core clock cycles while the thread ran"),
    EventSpec("instructions", _HARDWARE, 1, "instructions retired (completed)"),
    EventSpec("cache-references", _HARDWARE, 2, "accesses to the last-level cache (CPU-defined)"),
    EventSpec("cache-misses", _HARDWARE, 3, "of those, misses that went to memory"),
    EventSpec("branches", _HARDWARE, 4, "branch instructions retired"),
    EventSpec("branch-misses", _HARDWARE, 5, "branches the predictor got wrong"),
    EventSpec("L1-dcache-loads", _HW_CACHE, _cache(0, False), "loads from the L1 data cache"),
    EventSpec("L1-dcache-load-misses", _HW_CACHE, _cache(0, True), "of those, L1 misses"),
    EventSpec("LLC-loads", _HW_CACHE, _cache(2, False), "loads that reached the last-level cache"),
    EventSpec("LLC-load-misses", _HW_CACHE, _cache(2, True), "of those, misses to memory"),
    EventSpec("dTLB-load-misses", _HW_CACHE, _cache(3, True), "loads that missed the data TLB"),
    EventSpec("task-clock", _SOFTWARE, 1, "time the threads were on a CPU", "ns"),
    EventSpec("page-faults", _SOFTWARE, 2, "page faults (minor + major)"),
    EventSpec("minor-faults", _SOFTWARE, 5, "page faults served from memory"),
    EventSpec("major-faults", _SOFTWARE, 6, "page faults that waited for the disk"),
    EventSpec("context-switches", _SOFTWARE, 3, "times a thread left its CPU"),
    EventSpec("cpu-migrations", _SOFTWARE, 4, "times a thread moved to another CPU"),
)}

#: What ``perf stat`` shows by default, and what :func:`counters` counts unless told otherwise.
DEFAULT_EVENTS: tuple[str, ...] = (
    "cycles", "instructions", "cache-references", "cache-misses", "branches", "branch-misses",
    "task-clock", "page-faults", "context-switches", "cpu-migrations")

_RUSAGE_EVENTS = ("task-clock", "page-faults", "minor-faults", "major-faults", "context-switches",
                  "cpu-migrations")
# Events that perf counts only in kernel mode: from user space alone they would always read 0.
_KERNEL_ONLY = ("context-switches", "cpu-migrations")


# ----------------------------------------------------------------------------- why not
def paranoid_level(root: str = "/") -> int | None:
    """The kernel's ``perf_event_paranoid`` setting, or None where there is none (not Linux).

    -1: no restriction; 0: no raw tracepoints for users; 1: users may not count the kernel
    for the whole CPU; 2 (the default): users may count only their own user-space code;
    3 and 4 (Debian and Ubuntu): users may not use perf events at all.
    """
    try:
        with open(os.path.join(root, "proc/sys/kernel/perf_event_paranoid"), encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _os_reason() -> str:
    system = platform.system()
    if system == "Darwin":
        return ("macOS: use Instruments (Xcode > Open Developer Tool > Instruments, template "
                "'CPU Counters'); macOS has no perf_event_open, so counters() can only time the "
                "call and read getrusage here")
    if system == "Windows":
        return ("Windows has no perf_event_open: use Intel VTune, AMD uProf or Windows "
                "Performance Recorder for hardware counters")
    return f"{system or 'this OS'} has no perf_event_open (it is a Linux system call)"


def _is_vm(root: str = "/") -> bool:
    try:
        with open(os.path.join(root, "proc/cpuinfo"), encoding="utf-8", errors="replace") as f:
            for line in f:  # the first CPU's flags say it for all of them
                if line.startswith(("flags", "Features")):
                    if " hypervisor" in line:
                        return True
                    break
    except OSError:
        pass
    try:
        with open(os.path.join(root, "sys/hypervisor/type"), encoding="ascii") as f:
            return bool(f.read().strip())
    except OSError:
        return False


def _has_pmu(root: str = "/") -> bool | None:
    """True when the kernel registered a CPU PMU, False when not, None when we cannot tell."""
    base = os.path.join(root, "sys/bus/event_source/devices")
    try:
        names = os.listdir(base)
    except OSError:
        return None
    # x86: "cpu" (hybrid Intel: "cpu_core", "cpu_atom"); ARM: "armv8_pmuv3_0", "armv8_cortex_a72"...
    return any(n == "cpu" or n.startswith(("cpu_", "armv", "arm_")) for n in names)


def explain_error(code: int, event: str = "cycles", kernel: bool = False,
                  root: str = "/") -> str:
    """Why ``perf_event_open`` answered ``code`` (a negative errno or perfev's own code).

    Args:
        code: what :func:`perfev_open` returned (``-errno.EACCES``...).
        event: the event's name, for the message.
        kernel: whether kernel-mode counting was asked for (it needs a paranoid level <= 1).
        root: the file-system root to read ``/proc`` and ``/sys`` under (tests use a fake one).

    Returns:
        One sentence that starts with the cause and ends with what to do.
    """
    if code == _NOT_LINUX:
        return _os_reason()
    if code == _NO_SYSCALL:
        return "the C library here does not define perf_event_open's system call number"
    err = -code
    name = errno.errorcode.get(err, str(err))
    level = paranoid_level(root)
    spec = EVENTS.get(event)
    if err in (errno.EACCES, errno.EPERM):
        if level is not None and level >= 3:
            return (f"perf_event_paranoid is {level}: this kernel lets unprivileged programs "
                    "open no perf events at all (a Debian/Ubuntu setting); allow counting your "
                    "own user-space code with `sudo sysctl kernel.perf_event_paranoid=2`, or "
                    "give Python CAP_PERFMON")
        if kernel and level is not None and level >= 2:
            return (f"perf_event_paranoid is {level}: only user-space counting is allowed and "
                    "kernel=True asked for kernel mode too; pass kernel=False, or run `sudo "
                    "sysctl kernel.perf_event_paranoid=1`")
        return (f"perf_event_open was refused ({name}) although perf_event_paranoid is {level}: "
                "a container's seccomp profile probably blocks the system call (Docker's "
                "default one does; run the container with --cap-add PERFMON or a profile that "
                "allows perf_event_open)")
    if err in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV) and (spec is None or spec.hardware):
        if not _has_pmu(root):
            if _is_vm(root):
                return ("this VM exposes no hardware counters: the hypervisor gives the guest "
                        "no PMU (no /sys/bus/event_source/devices/cpu), so cycles, instructions "
                        "and cache events cannot be counted here; software events (task-clock, "
                        "page-faults, context-switches) still work. A laptop, a bare-metal "
                        "machine or a cloud instance with a virtual PMU counts them")
            return ("the kernel found no performance-monitoring unit (PMU) for this CPU (no "
                    "/sys/bus/event_source/devices/cpu): hardware events cannot be counted; "
                    "software events still work")
        return (f"this CPU has no '{event}' event ({name}): `perf list` shows the events it "
                "has; ask for fewer or other ones")
    if err in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
        return f"this kernel cannot count the software event '{event}' ({name})"
    if err == errno.ENOSYS:
        return ("this kernel was built without perf events (CONFIG_PERF_EVENTS is off) or a "
                "sandbox hides the system call (ENOSYS)")
    if err in (errno.EMFILE, errno.ENFILE):
        return ("out of file descriptors (one counter = one fd per event and thread): ask for "
                "fewer events, use threads='this', or raise `ulimit -n`")
    if err == errno.ESRCH:
        return "the thread to count has exited (ESRCH)"
    return f"perf_event_open failed for '{event}': {os.strerror(err)} ({name})"


def _lib() -> tuple[Any, Any] | None:
    try:
        from course_lib._c._perfev import ffi, lib
    except ImportError:  # pragma: no cover - only without a build
        return None
    return ffi, lib


_NOT_BUILT = ("course_lib._c._perfev is not built: run `make setup` (or `python setup.py "
              "build_ext --inplace`) in the course folder")


def perf_available(kernel: bool = False) -> tuple[bool, str]:
    """Can this process count hardware events (one real try: the instructions counter)?

    Args:
        kernel: also count kernel mode (needs ``perf_event_paranoid`` <= 1 or CAP_PERFMON).

    Returns:
        ``(True, what works)`` or ``(False, why not)``; never raises.

    Example:
        >>> perf_available()            # doctest: +SKIP
        (False, 'this VM exposes no hardware counters: ...')
    """
    if platform.system() != "Linux":
        return False, _os_reason()
    loaded = _lib()
    if loaded is None:
        return False, _NOT_BUILT
    ffi, lib = loaded
    fd = lib.perfev_open(_HARDWARE, 1, 0, -1, -1, 1, 0, 0 if kernel else 1)
    if fd < 0:
        return False, explain_error(fd, "instructions", kernel)
    lib.perfev_close_all(ffi.new("int32_t[]", [fd]), 1)
    level = paranoid_level()
    scope = "user and kernel mode" if kernel else "user space"
    return True, f"hardware counters work here ({scope}; perf_event_paranoid is {level})"


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class EventCount:
    """One event's count for one call.

    Attributes:
        name: the event.
        value: the count per call (task-clock: nanoseconds), scaled for multiplexing; None when
            it could not be counted.
        reason: why it was not counted (None when it was), or a remark (user space only).
        source: ``"perf_event"``, ``"getrusage"`` (the fallback) or ``""`` (not counted).
        running: the fraction of the enabled time the counter really ran (1.0: no
            multiplexing; 0.3: counted 30 % of the time and scaled up); None when not counted.
        per_thread: thread id -> that thread's share (perf only; threads created during the
            call are inside their creator's share).
    """

    name: str
    value: int | None
    reason: str | None = None
    source: str = ""
    running: float | None = None
    per_thread: dict[int, int] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        """True when there is a value."""
        return self.value is not None


@dataclass(frozen=True)
class Counts:
    """What :func:`counters` measured around one call.

    Attributes:
        events: event name -> :class:`EventCount`, in the order asked for.
        wall_seconds: the call's elapsed time (median over ``repeat`` calls).
        threads: ``"all"`` or ``"this"``.
        thread_names: thread id -> name (``/proc/self/task/<tid>/comm``) of the threads counted.
        repeat: how many calls were measured; each value is the median over them.
        runs: each call's values, event name -> value (None when not counted).
        kernel: whether kernel mode was counted for hardware events.
        result: what the last call returned.
    """

    events: dict[str, EventCount]
    wall_seconds: float
    threads: str = "this"
    thread_names: dict[int, str] = field(default_factory=dict)
    repeat: int = 1
    runs: tuple[dict[str, int | None], ...] = ()
    kernel: bool = False
    result: Any = field(default=None, repr=False, compare=False)

    def __getitem__(self, name: str) -> int | None:
        """The value of event ``name`` (None when not counted); KeyError when not asked for."""
        return self.events[name].value

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, or ``default`` when it was not asked for or not counted."""
        ev = self.events.get(name)
        return default if ev is None or ev.value is None else ev.value

    @property
    def available(self) -> bool:
        """True when every event asked for was counted."""
        return all(e.counted for e in self.events.values())

    @property
    def hardware_available(self) -> bool | None:
        """True when the hardware events asked for were counted; None when none was asked for."""
        hw = [e for e in self.events.values() if EVENTS[e.name].hardware]
        return None if not hw else all(e.counted for e in hw)

    @property
    def why_not(self) -> str | None:
        """Why some events are missing: the hardware reason first; None when all were counted."""
        missing = [e for e in self.events.values() if not e.counted]
        if not missing:
            return None
        hw = [e for e in missing if EVENTS[e.name].hardware]
        return (hw or missing)[0].reason

    @property
    def missing(self) -> dict[str, str]:
        """Event name -> reason, for every event that was not counted."""
        return {e.name: e.reason or "not counted" for e in self.events.values() if not e.counted}

    def _ratio(self, top: str, bottom: str) -> float | None:
        a, b = self.get(top), self.get(bottom)
        return a / b if a is not None and b else None

    @property
    def ipc(self) -> float | None:
        """Instructions per cycle (None without both counts). A modern core retires up to 4-6
        per cycle; well below 1 usually means waiting for memory."""
        return self._ratio("instructions", "cycles")

    @property
    def cache_miss_rate(self) -> float | None:
        """cache-misses / cache-references (what the CPU calls these varies: see perf list)."""
        return self._ratio("cache-misses", "cache-references")

    @property
    def branch_miss_rate(self) -> float | None:
        """branch-misses / branches: a few percent is typical; 50 % is a coin toss."""
        return self._ratio("branch-misses", "branches")

    @property
    def l1_miss_rate(self) -> float | None:
        """L1-dcache-load-misses / L1-dcache-loads."""
        return self._ratio("L1-dcache-load-misses", "L1-dcache-loads")

    @property
    def cpus_utilized(self) -> float | None:
        """task-clock / wall time: about 1 for one busy thread, N for N busy threads."""
        tc = self.get("task-clock")
        return tc / 1e9 / self.wall_seconds if tc is not None and self.wall_seconds > 0 else None

    def table(self) -> str:
        """A ``perf stat``-like table of the counts, the ratios and the reasons."""
        n = len(self.thread_names)
        who = (f"{n} thread{'s' * (n != 1)}" if n else "the calling thread")
        calls = f"median of {self.repeat} calls" if self.repeat > 1 else "1 call"
        lines = [f"counters: {calls}, threads={self.threads!r} ({who}), "
                 f"wall {format_seconds(self.wall_seconds)}"]
        reasons: list[str] = []
        width = max([16] + [len(name) for name in self.events])
        for ev in self.events.values():
            if ev.value is None:
                if ev.reason not in reasons:
                    reasons.append(ev.reason or "not counted")
                cell, note = "-", f"not counted [{reasons.index(ev.reason or 'not counted') + 1}]"
            else:
                cell = (format_seconds(ev.value / 1e9) if EVENTS[ev.name].unit == "ns"
                        else f"{ev.value:,}")
                notes = []
                if ev.name == "task-clock" and self.cpus_utilized is not None:
                    notes.append(f"{self.cpus_utilized:.2f} CPUs utilized")
                if ev.running is not None and ev.running < 0.999:
                    notes.append(f"scaled: counted {ev.running:.0%} of the time")
                if ev.source == "getrusage":
                    notes.append("from getrusage")
                elif ev.source == "sched":
                    notes.append("from /proc/.../sched")
                if ev.reason:
                    notes.append(ev.reason)
                note = "; ".join(notes)
            lines.append(f"  {ev.name:>{width}} {cell:>16}   {note}".rstrip())
        ratios = [(label, value) for label, value in (
            ("IPC (instructions per cycle)", self.ipc),
            ("cache-misses / cache-references", self.cache_miss_rate),
            ("branch-misses / branches", self.branch_miss_rate),
            ("L1 load miss rate", self.l1_miss_rate)) if value is not None]
        for label, value in ratios:
            shown = f"{value:.2f}" if label.startswith("IPC") else f"{value:.2%}"
            lines.append(f"  {label}: {shown}")
        if self.hardware_available is False:
            lines.append("  IPC and miss rates: not available (no hardware counts)")
        for i, text in enumerate(reasons, 1):
            lines.append(f"  [{i}] {text}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    __repr__ = __str__


# ----------------------------------------------------------------------------- counting
def _thread_ids() -> dict[int, str]:
    """Thread id -> name of every thread of this process (Linux's /proc/self/task)."""
    found: dict[int, str] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return found
    for tid in sorted(tids, key=int):
        try:
            with open(f"/proc/self/task/{tid}/comm", encoding="utf-8", errors="replace") as f:
                found[int(tid)] = f.read().strip()
        except OSError:  # it exited meanwhile
            continue
    return found


@dataclass
class _Open:
    """The counters of one counters() call: one fd per (event, thread)."""

    slots: list[tuple[str, int, int]] = field(default_factory=list)  # (event, tid, fd)
    errors: dict[str, int] = field(default_factory=dict)              # event -> first error
    user_only: set[str] = field(default_factory=set)                  # software, exclude_kernel


def _open(ffi: Any, lib: Any, names: list[str], tids: list[int], kernel: bool,
          group: bool) -> _Open:
    opened = _Open()
    for tid in tids:
        leader = -1
        mine: list[tuple[str, int, int]] = []
        gone = False
        for name in names:
            if name in opened.errors:  # refused on another thread: it would be refused here too
                continue
            spec = EVENTS[name]
            grouped = group and spec.hardware and leader >= 0
            group_fd, disabled = (leader, 0) if grouped else (-1, 1)
            # Software events are kernel events: a page fault or a context switch happens in the
            # kernel, so ask for kernel mode first, and settle for user space when refused.
            exclude = 0 if (kernel or not spec.hardware) else 1
            fd = lib.perfev_open(spec.type, spec.config, tid, -1, group_fd, disabled, 1, exclude)
            if fd in (-errno.EACCES, -errno.EPERM) and exclude == 0 and not spec.hardware:
                fd = lib.perfev_open(spec.type, spec.config, tid, -1, group_fd, disabled, 1, 1)
                if fd >= 0:
                    opened.user_only.add(name)
            if fd == -errno.ESRCH:  # the thread exited: nothing to count on it
                gone = True
                break
            if fd < 0:
                opened.errors.setdefault(name, fd)
                continue
            if group and spec.hardware and leader < 0:
                leader = fd
            mine.append((name, tid, fd))
        if gone:
            _close(ffi, lib, [fd for _, _, fd in mine])
            continue
        opened.slots.extend(mine)
    return opened


def _close(ffi: Any, lib: Any, fds: list[int]) -> None:
    if fds:
        lib.perfev_close_all(ffi.new("int32_t[]", fds), len(fds))


def _rusage_snapshot(threads: str, tids: Iterable[int]) -> dict[str, int | None] | None:
    usage, _, _ = _rusage("thread" if threads == "this" else "process")
    if usage is None:
        return None
    cpu = time.thread_time_ns() if threads == "this" else time.process_time_ns()
    # CPU migrations: the scheduler's own statistics (/proc/.../sched, se.nr_migrations).
    moved = [_migrations(f"/proc/self/task/{tid}/sched") for tid in tids]
    return {"page-faults": usage.ru_minflt + usage.ru_majflt, "minor-faults": usage.ru_minflt,
            "major-faults": usage.ru_majflt, "context-switches": usage.ru_nvcsw + usage.ru_nivcsw,
            "task-clock": cpu,
            "cpu-migrations": None if not moved or None in moved else sum(moved)}


def _rusage_note(threads: str) -> str | None:
    _, scope, note = _rusage("thread" if threads == "this" else "process")
    return note if scope != ("thread" if threads == "this" else "process") else None


def _check(fn: Any, events: Any, threads: Any, repeat: Any) -> list[str]:
    if not callable(fn):
        raise TypeError(f"counters(fn, ...): fn must be callable, got {type(fn).__name__} {fn!r}")
    if isinstance(events, str):
        events = (events,)
    try:
        names = list(events)
    except TypeError:
        raise TypeError(f"counters(events=...): events must be event names, got "
                        f"{events!r}") from None
    for name in names:
        if not isinstance(name, str) or name not in EVENTS:
            raise ValueError(f"counters(events=...): unknown event {name!r}; known events: "
                             f"{', '.join(EVENTS)}")
    if not names:
        raise ValueError("counters(events=...): no event asked for")
    if len(set(names)) != len(names):
        raise ValueError(f"counters(events=...): an event is named twice in {names}")
    if threads not in ("all", "this"):
        raise ValueError(f"counters(threads=...): threads must be 'all' or 'this', got {threads!r}")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"counters(repeat=...): repeat must be an int >= 1, got {repeat!r}")
    return names


def counters(fn: Callable[..., Any], *args: Any, events: Iterable[str] = DEFAULT_EVENTS,
             threads: str = "all", repeat: int = 1, kernel: bool = False, group: bool = False,
             **kwargs: Any) -> Counts:
    """Count hardware and software events around ``fn(*args, **kwargs)``.

    Args:
        fn: what to call. Warm it up first if it compiles on its first call (numba): the
            compilation would be counted too.
        *args, **kwargs: its arguments.
        events: event names (see :data:`EVENTS`); default :data:`DEFAULT_EVENTS`.
        threads: ``"all"``: every thread of the process, summed (a parallel kernel's workers
            included; see the module's docstring); ``"this"``: the calling thread (and threads
            it starts during the call).
        repeat: measure that many calls, each on its own; every value is the median.
        kernel: count hardware events in kernel mode too (a page fault's handling, a system
            call). Needs ``perf_event_paranoid`` <= 1 or privileges; default user space only.
        group: open the hardware events of each thread as one group: counted together, all
            the time or not at all (exact ratios, but more events than counters never count).
            Default False: each on its own, multiplexed and scaled when there are too many.

    Returns:
        A :class:`Counts`. An event that cannot be counted here has value None and a reason;
        this function never raises for that.

    Raises:
        TypeError: ``fn`` is not callable, or ``events`` is not a list of names.
        ValueError: an unknown event name, a bad ``threads`` or ``repeat``.

    Example:
        >>> c = counters(sum, range(1_000_000), events=("task-clock", "page-faults"))
        >>> c["task-clock"] > 0
        True
    """
    names = _check(fn, events, threads, repeat)
    loaded = _lib() if platform.system() == "Linux" else None
    if platform.system() != "Linux":
        perf_reason = _os_reason()
    elif loaded is None:
        perf_reason = _NOT_BUILT
    else:
        perf_reason = None
    me = threading.get_native_id()
    linux = platform.system() == "Linux"
    tids = _thread_ids() if threads == "all" and linux else {}
    if not tids:  # threads="this", or no /proc: count the calling thread
        tids = {me: _thread_ids().get(me, threading.current_thread().name)} if linux else {}
    opened = _Open()
    ffi = lib = None
    if loaded is not None:
        ffi, lib = loaded
        opened = _open(ffi, lib, names, list(tids), kernel, group)
    fds = [fd for _, _, fd in opened.slots]
    perf_events = {name for name, _, _ in opened.slots}
    # getrusage stands in where perf cannot count (and for context switches seen from user space)
    fallback = [n for n in names if n in _RUSAGE_EVENTS
                and (n not in perf_events or (n in _KERNEL_ONLY and n in opened.user_only))]
    fallback_tids = list(tids)
    runs: list[dict[str, tuple[int | None, float | None, dict[int, int]]]] = []
    walls: list[float] = []
    result = None
    c_fds = out = errs = None
    try:
        if fds:
            c_fds = ffi.new("int32_t[]", fds)
            out = ffi.new("uint64_t[]", 3 * len(fds))
            errs = ffi.new("int32_t[]", len(fds))
        for _ in range(repeat):
            r0 = _rusage_snapshot(threads, fallback_tids) if fallback else None
            if fds:
                lib.perfev_start(c_fds, len(fds))
            t0 = time.perf_counter()
            result = fn(*args, **kwargs)
            t1 = time.perf_counter()
            if fds:
                lib.perfev_stop(c_fds, len(fds))
                lib.perfev_read_all(c_fds, len(fds), out, errs)
            r1 = _rusage_snapshot(threads, fallback_tids) if fallback else None
            walls.append(t1 - t0)
            runs.append(_one_run(names, opened, out, errs, fallback, r0, r1))
    finally:
        if fds:
            _close(ffi, lib, fds)
    return _summarise(names, runs, walls, opened, fallback, perf_reason, threads, tids, repeat,
                      kernel, result)


_STARVED = ("the PMU never had a free counter for it during the call (enabled but never "
            "running): too many hardware events at once, or a group larger than the core's "
            "counters (the NMI watchdog may hold one); ask for fewer events, or group=False")


def _one_run(names, opened, out, errs, fallback, r0, r1):
    """event -> (value, running fraction, per-thread values, problem) for one call."""
    per: dict[str, dict[int, int]] = {n: {} for n in names}
    enabled: dict[str, int] = dict.fromkeys(names, 0)
    running: dict[str, int] = dict.fromkeys(names, 0)
    starved: dict[str, int] = dict.fromkeys(names, 0)
    for i, (name, tid, _) in enumerate(opened.slots):
        if errs[i] != 0:
            opened.errors.setdefault(name, errs[i])
            continue
        raw, en, ru = out[3 * i], out[3 * i + 1], out[3 * i + 2]
        if en == 0:
            # A task's counter is enabled only while its thread runs: this one slept throughout
            # (an idle pool worker). It did nothing, so it counts zero.
            per[name][tid] = per[name].get(tid, 0)
            continue
        if ru == 0:  # the thread ran, but its counter never got onto the PMU
            starved[name] += 1
            continue
        enabled[name] += en
        running[name] += ru
        value = int(round(raw * en / ru)) if ru < en else int(raw)
        per[name][tid] = per[name].get(tid, 0) + value
    row = {}
    for name in names:
        if name in fallback:
            ok = r0 is not None and r1 is not None and None not in (r0[name], r1[name])
            value = max(0, r1[name] - r0[name]) if ok else None
            row[name] = (value, None, {}, None)
        elif starved[name] and not running[name]:
            row[name] = (None, None, {}, "starved")
        elif per[name]:
            frac = running[name] / enabled[name] if enabled[name] else 1.0
            row[name] = (sum(per[name].values()), frac, per[name],
                         "partial" if starved[name] else None)
        else:
            row[name] = (None, None, {}, None)
    return row


def _summarise(names, runs, walls, opened, fallback, perf_reason, threads, tids, repeat, kernel,
               result) -> Counts:
    events: dict[str, EventCount] = {}
    explained: dict[tuple[int, str], str] = {}

    def explain(code: int, name: str) -> str:  # each cause looked up once per call
        key = (code, name if code not in (-errno.ENOENT, -errno.EOPNOTSUPP, -errno.ENODEV)
               or _has_pmu() else "")
        if key not in explained:
            explained[key] = explain_error(code, name, kernel)
        return explained[key]

    for name in names:
        values = [run[name][0] for run in runs]
        if any(v is None for v in values):
            if perf_reason is not None:
                reason = perf_reason
            elif any(run[name][3] == "starved" for run in runs):
                reason = _STARVED
            elif name in opened.errors:
                reason = explain(opened.errors[name], name)
            else:
                reason = "not counted (no counter could be opened or read)"
            if name in fallback and perf_reason is None and name in opened.errors:
                reason += "; getrusage could not stand in either"
            events[name] = EventCount(name, None, reason)
            continue
        value = int(statistics.median_low(values))
        pick = runs[values.index(value)][name]
        if name in fallback:
            why = None
            if name in opened.user_only:
                why = (f"perf counts {name} only in kernel mode, and perf_event_paranoid is "
                       f"{paranoid_level()}")
            elif perf_reason is None and name in opened.errors:
                why = explain(opened.errors[name], name)
            note = _rusage_note(threads)
            text = "; ".join(t for t in (f"perf could not: {why}" if why else None, note) if t)
            source = "sched" if name == "cpu-migrations" else "getrusage"
            events[name] = EventCount(name, value, text or None, source)
        else:
            note = None
            if name in opened.user_only and name != "task-clock":  # a clock: all time counts
                note = (f"user space only (perf_event_paranoid is {paranoid_level()}): what "
                        "happens while the kernel works for the thread is not counted")
            if pick[3] == "partial":
                note = ("; ".join(filter(None, (note, "missing on some threads: " + _STARVED))))
            frac = pick[1]
            events[name] = EventCount(name, value, note, "perf_event",
                                      None if frac is None or math.isnan(frac) else min(1.0, frac),
                                      dict(pick[2]))
    return Counts(events=events, wall_seconds=statistics.median(walls), threads=threads,
                  thread_names=dict(tids), repeat=repeat, runs=tuple(
                      {n: run[n][0] for n in names} for run in runs), kernel=kernel, result=result)
