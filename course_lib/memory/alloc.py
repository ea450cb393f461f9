"""What allocating an array really costs, counted in page faults (chapter c06).

Rust has ``MaybeUninit`` and ``Vec::with_capacity`` to skip zeroing memory that will be
overwritten anyway; NumPy has ``np.empty``. For a *large* array the saving is an illusion:

1. ``np.zeros(n)`` calls ``calloc``. A large block comes straight from the kernel (``mmap``),
   and the kernel's fresh pages are already zero, so calloc does not write them: the call takes
   microseconds, whatever ``n`` is. ``np.empty(n)`` (``malloc``) is the same call without the
   promise.
2. No physical page exists yet. The first write to each page *faults*: the kernel takes a free
   page, zeroes it and maps it (a "minor" fault: no disk involved). That is where the time goes,
   for zeros and empty alike: the cost moved from allocation to first touch.
3. Writing into a buffer that already exists (``out=``, ``buf[...] = ...``) takes no fault at
   all: reuse is the only real saving.

Page size matters. Linux can back memory with 2 MiB "transparent huge pages" (THP), and
NumPy asks for them (``madvise(MADV_HUGEPAGE)``) on arrays of 4 MiB or more: one fault then
maps 512 small pages' worth, and a 256 MiB array takes hundreds of faults instead of 65,536.
:func:`thp_mode` tells the kernel's setting, and ``allocation_costs(hugepages=False)`` turns
NumPy's request off to show the textbook count (one fault per 4 KiB page).

Small arrays behave differently: glibc serves blocks below its mmap threshold (128 KiB at
first, rising to at most 32 MiB as large blocks are freed) from a heap whose pages are already
present, so ``np.zeros`` must really zero them. The defaults here stay above 32 MiB.

Sources: Linux man-pages getrusage(2) (``ru_minflt``, ``ru_majflt``), mallopt(3)
(``M_MMAP_THRESHOLD``); kernel Documentation/admin-guide/mm/transhuge.rst; NumPy's
``numpy/_core/src/multiarray/alloc.c`` (the madvise call for arrays of 4 MiB and more).

Thread-safety: counts are taken for the calling thread (``RUSAGE_THREAD``) where the OS has
it, else for the whole process (then other threads' faults are counted too).
"""
from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from course_lib.config import pick
from course_lib.measure.machine import format_bytes
from course_lib.measure.stats import format_seconds
from course_lib.memory.affinity import _rusage

__all__ = ["page_faults", "thp_mode", "numpy_hugepages", "AllocRow", "AllocationCosts",
           "allocation_costs"]


def page_faults(fn: Callable[..., Any], *args: Any, **kwargs: Any
                ) -> tuple[Any, int | None, int | None]:
    """Call ``fn(*args, **kwargs)`` and count the page faults it took.

    Returns:
        ``(result, minor, major)``: minor faults were served from memory (a fresh zeroed page
        mapped, copy-on-write), major ones needed disk. ``None`` counts where the OS has no
        ``getrusage`` (Windows). Counted for the calling thread where possible, else for the
        process.

    Example:
        >>> _, minor, major = page_faults(np.ones, 1 << 20)   # 8 MiB  # doctest: +SKIP
    """
    r0 = _rusage("thread")[0]
    result = fn(*args, **kwargs)
    r1 = _rusage("thread")[0]
    if r0 is None:
        return result, None, None
    return result, int(r1.ru_minflt - r0.ru_minflt), int(r1.ru_majflt - r0.ru_majflt)


def thp_mode(root: str = "/") -> str | None:
    """The kernel's transparent-huge-page mode: ``"always"``, ``"madvise"`` or ``"never"``.

    None where the kernel does not say (macOS, Windows, a kernel without THP).
    """
    import os

    try:
        with open(os.path.join(root, "sys/kernel/mm/transparent_hugepage/enabled"),
                  encoding="ascii") as f:
            text = f.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def _numpy_madvise() -> tuple[Callable[[], bool], Callable[[bool], bool]] | None:
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            module = __import__(name, fromlist=["_set_madvise_hugepage"])
            return module._get_madvise_hugepage, module._set_madvise_hugepage
        except (ImportError, AttributeError):
            continue
    return None


@contextlib.contextmanager
def numpy_hugepages(enabled: bool) -> Iterator[bool | None]:
    """Turn NumPy's request for huge pages on large arrays on or off inside the block.

    Uses NumPy's private ``_set_madvise_hugepage`` (it exists since NumPy 1.20); where it is
    missing the block runs unchanged, with a RuntimeWarning.

    Yields:
        The setting in force inside the block, or None when it could not be changed.
    """
    calls = _numpy_madvise()
    if calls is None:
        warnings.warn("this NumPy cannot switch its huge-page request; running unchanged",
                      RuntimeWarning, stacklevel=3)
        yield None
        return
    set_ = calls[1]
    before = set_(bool(enabled))
    try:
        yield bool(enabled)
    finally:
        set_(before)


@dataclass(frozen=True)
class AllocRow:
    """One way of getting a filled array, measured.

    Attributes:
        name: the code measured, e.g. ``"np.empty(n) + write"``.
        seconds: median time per call.
        minor_faults, major_faults: median page faults per call (None when not counted).
        note: what the row shows.
    """

    name: str
    seconds: float
    minor_faults: int | None
    major_faults: int | None
    note: str


@dataclass(frozen=True)
class AllocationCosts:
    """The result of :func:`allocation_costs`: one :class:`AllocRow` per way.

    Attributes:
        nbytes: size of each array.
        repeats: timed calls per row (the median is shown).
        rows: the measurements.
        hugepages: NumPy's huge-page request during the run (None when unknown).
        thp: the kernel's transparent-huge-page mode (None when unknown).
        scope: ``"thread"`` or ``"process"``: whose page faults were counted.
        notes: remarks about the run.
    """

    nbytes: int
    repeats: int
    rows: tuple[AllocRow, ...]
    hugepages: bool | None
    thp: str | None
    scope: str
    notes: tuple[str, ...] = field(default=())

    def row(self, name: str) -> AllocRow:
        """The row whose name starts with ``name`` (e.g. ``"np.zeros(n)"``)."""
        for r in self.rows:
            if r.name == name:
                return r
        for r in self.rows:
            if r.name.startswith(name):
                return r
        raise KeyError(f"no row {name!r}; rows are {[r.name for r in self.rows]}")

    def __str__(self) -> str:
        pages = "huge pages requested" if self.hugepages else (
            "4 KiB pages (huge pages not requested)" if self.hugepages is False else
            "huge-page request unknown")
        head = (f"{format_bytes(self.nbytes)} arrays, median of {self.repeats} calls, "
                f"{pages}, kernel THP mode {self.thp or 'unknown'}, faults per {self.scope}")
        width = max(len(r.name) for r in self.rows) + 2
        lines = [head, f"  {'code':<{width}}{'time':>11}{'minor faults':>14}{'major':>7}  shows"]
        for r in self.rows:
            minor = "?" if r.minor_faults is None else f"{r.minor_faults:,}"
            major = "?" if r.major_faults is None else f"{r.major_faults:,}"
            lines.append(f"  {r.name:<{width}}{format_seconds(r.seconds):>11}{minor:>14}"
                         f"{major:>7}  {r.note}")
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])

    __repr__ = __str__

    def plot(self, axes: Any = None) -> Any:
        """Two bar charts side by side: time per call and minor faults per call (log scales).

        Args:
            axes: a pair of matplotlib Axes; a new figure if None.

        Returns:
            The pair of Axes.
        """
        import matplotlib.pyplot as plt

        if axes is None:
            axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")[1]
        names = [r.name for r in self.rows]
        y = np.arange(len(names))
        ax_t, ax_f = axes
        ax_t.barh(y, [max(r.seconds, 1e-9) * 1e3 for r in self.rows], color="tab:blue")
        ax_t.set_xscale("log")
        ax_t.set_xlabel("time per call (ms, log)")
        ax_t.set_yticks(y, names)
        ax_t.invert_yaxis()
        ax_f.barh(y, [max(r.minor_faults or 0, 0.8) for r in self.rows], color="tab:orange")
        ax_f.set_xscale("log")
        ax_f.set_xlabel("minor page faults per call (log)")
        ax_f.set_yticks(y, [""] * len(names))
        ax_f.invert_yaxis()
        ax_t.set_title(f"{format_bytes(self.nbytes)}: allocation is cheap, first touch is not",
                       fontsize=9)
        return axes


def _cases(n: int, x: np.ndarray, buf: np.ndarray) -> list[tuple[str, Callable[[], Any], str]]:
    def zeros_write() -> np.ndarray:
        a = np.zeros(n)
        a.fill(1.0)
        return a

    def empty_write() -> np.ndarray:
        a = np.empty(n)
        a.fill(1.0)
        return a

    return [("np.zeros(n)", lambda: np.zeros(n), "calloc: address space only, no page yet"),
            ("np.empty(n)", lambda: np.empty(n), "malloc: the same, without the promise"),
            ("np.zeros(n) + write", zeros_write, "the cost moved to the first touch"),
            ("np.empty(n) + write", empty_write, "empty saves nothing on a large array"),
            ("buf.fill(1.0) (reused)", lambda: buf.fill(1.0), "no fault: pages already there"),
            ("x + 1.0 (new result)", lambda: x + 1.0, "a fresh result: faults every call"),
            ("np.add(x, 1.0, out=buf)", lambda: np.add(x, 1.0, out=buf),
             "out= reuses the buffer: no fault")]


def allocation_costs(nbytes: int | None = None, repeats: int | None = None,
                     hugepages: bool | None = None) -> AllocationCosts:
    """Measure zeros vs empty vs first write vs reuse, with the page faults of each call.

    The rows (float64 arrays of ``nbytes``): ``np.zeros(n)``, ``np.empty(n)``, each followed by
    a write of every element, a write into a buffer allocated once (reuse), ``x + 1.0`` (a new
    result each call) and ``np.add(x, 1.0, out=buf)``. The rounds interleave the rows so a
    busy machine slows them alike; each new array is freed after its call, outside the timing.

    Args:
        nbytes: bytes per array (default 256 MiB, 64 MiB under ``COURSE_QUICK``; keep it above
            32 MiB, see the module notes). Needs about three times this much free memory.
        repeats: timed calls per row (default 7, 3 under ``COURSE_QUICK``).
        hugepages: None keeps NumPy's setting (huge pages requested for arrays >= 4 MiB);
            False asks for 4 KiB pages, one fault per page; True asks for huge pages.

    Returns:
        An :class:`AllocationCosts` (print it, or ``.plot()`` it).
    """
    nbytes = pick(256 << 20, 64 << 20) if nbytes is None else int(nbytes)
    repeats = pick(7, 3) if repeats is None else int(repeats)
    if nbytes < 8 or repeats < 1:
        raise ValueError(f"need nbytes >= 8 and repeats >= 1, got {nbytes}, {repeats}")
    n = nbytes // 8
    scope = _rusage("thread")[1]
    notes = []
    if nbytes < 32 << 20:
        notes.append("below 32 MiB glibc may reuse heap pages that are already present, so "
                     "first touches may not fault")
    calls = _numpy_madvise()
    with (numpy_hugepages(hugepages) if hugepages is not None else contextlib.nullcontext()):
        used = calls[0]() if calls else None
        x = np.ones(n)
        buf = np.ones(n)
        cases = _cases(n, x, buf)
        times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        minor: dict[str, list[int | None]] = {name: [] for name, _, _ in cases}
        major: dict[str, list[int | None]] = {name: [] for name, _, _ in cases}
        for r in range(repeats + 1):  # round 0 warms up (imports, first use of each path)
            for name, fn, _ in cases:
                r0 = _rusage("thread")[0]
                t0 = time.perf_counter()
                out = fn()
                elapsed = time.perf_counter() - t0
                r1 = _rusage("thread")[0]
                del out  # freed outside the timing
                if r:
                    times[name].append(elapsed)
                    minor[name].append(None if r0 is None else r1.ru_minflt - r0.ru_minflt)
                    major[name].append(None if r0 is None else r1.ru_majflt - r0.ru_majflt)
        del x, buf

    def median(values: list[int | None]) -> int | None:
        return None if not values or values[0] is None else int(np.median(values))

    rows = tuple(AllocRow(name, float(np.median(times[name])), median(minor[name]),
                          median(major[name]), note) for name, _, note in cases)
    if scope == "process":
        notes.append("faults are counted for the whole process (no per-thread counter here)")
    return AllocationCosts(nbytes=n * 8, repeats=repeats, rows=rows, hugepages=used,
                           thp=thp_mode(), scope=scope, notes=tuple(notes))
