"""Sample a running program and draw where its time goes: collapsed stacks and flame graphs.

A *sampling profiler* interrupts a program many times a second and writes down its call stack:
``main;solve;kernel``. Counting identical stacks gives the *collapsed stacks* of Brendan
Gregg's flame graphs, one line per distinct stack::

    main;solve;kernel 812
    main;solve;setup 40

A function's **self** time is the samples in which it is the last frame (it was running);
its **total** time is the samples in which it appears anywhere (it, or something it called,
was running). A flame graph draws every stack as a tower of boxes, callers below callees, each
box as wide as its share of the samples: wide plateaus at the top are where the time goes.

Three samplers, from the most to the least informative:

==========  ======================================================================================
``py-spy``  reads the Python stacks of a child process from outside (``py-spy record --format
            raw``), with ``--native`` the C frames too. It needs permission to read another
            process's memory (ptrace). Its symboliser reads the ELF files mapped from disk only,
            so numba's JIT code shows up as bare addresses: this module names them from the perf
            map the child writes (:mod:`course_lib.profile.perfmap`). With ``--native`` it
            stops the process for every sample and unwinds its stack (slower: measured here, a
            numba-heavy loop ran 1.7x slower), and a sample it cannot unwind through JIT code
            is dropped without a word; :func:`sample_pyspy` checks for that.
``perf``    Linux's own profiler, ``perf record -e cpu-clock -g``: every native frame the kernel
            sees, numba's functions by name from the child's perf map, no Python frames
            (CPython 3.12's ``-X perf`` adds them; this is for 3.11 too). Its stacks are
            *unwound with frame pointers*, and neither python3.11 nor numba's code keeps them:
            the leaf frame is exact, the callers below it are often ``[unknown]``.
            ``--call-graph dwarf`` would repair some, at ~40 ms of ``perf script`` per sample.
``python``  a thread in this process that looks at ``sys._current_frames()`` of the thread
            running the work every millisecond: Python frames only, always available. While
            the work holds the GIL (numba without ``nogil``, a long NumPy call) the sampler
            cannot run; each sample is therefore weighted by the time since the previous one,
            so a long call is billed to the Python line that made it.
==========  ======================================================================================

``flame(target)`` picks the first that works here and says in ``Profile.why`` why the others
did not run. The target is a function (sampled in this process by ``python``, in a child
process by the others if it can be imported there), ``"module:function"``, a path to a script,
or a snippet of Python code. It is called repeatedly for ``seconds`` (after one warm-up call,
so numba's compilation is not what you see), and only the stacks of those calls are kept.

Rust ↔ Python: ``cargo flamegraph`` is ``perf record -g`` plus ``inferno`` (the folding and the
SVG); here the folding (:func:`fold_perf_script`) and the drawing (:meth:`Profile.plot`) are
written out in Python. ``py-spy`` is itself written in Rust.

Source:
    Brendan Gregg, "The Flame Graph" (CACM 59(6), 2016) and ``stackcollapse-perf.pl``;
    ``perf-record(1)``, ``perf-script(1)``; py-spy's README (``record``, ``--native``) and its
    ``native_stack_trace.rs`` (how native frames are symbolised).

Thread-safety: ``flame`` and the samplers run one workload at a time on the calling thread;
``Profile`` objects are plain data once built.
"""
from __future__ import annotations

import bisect
import collections
import hashlib
import json
import math
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from course_lib.config import pick

__all__ = ["Profile", "FunctionTime", "TopTable", "flame", "sample_python", "sample_pyspy",
           "sample_perf", "available_samplers", "fold_perf_script", "parse_collapsed",
           "sampler_overhead", "SAMPLERS", "demo_workload", "demo_python_part", "demo_numba_part"]

SAMPLERS = ("py-spy", "perf", "python")
_MARKER = "__course_measured__"


# =========================================================================== the result
class FunctionTime(collections.namedtuple("FunctionTime", "name self_samples total_samples "
                                                          "self_fraction total_fraction")):
    """One function in :meth:`Profile.top`: samples where it ran (self) or was on the stack
    (total), and their fractions of all samples."""


class TopTable(list):
    """A list of :class:`FunctionTime` that prints as a table."""

    def __repr__(self) -> str:
        if not self:
            return "(no samples)"
        width = min(70, max(len(r.name) for r in self))
        rows = [f"{'function':<{width}}  {'self':>6} {'self%':>6}  {'total':>6} {'total%':>6}"]
        for r in self:
            name = r.name if len(r.name) <= width else r.name[:width - 1] + "…"
            rows.append(f"{name:<{width}}  {r.self_samples:>6} {r.self_fraction:>6.1%}  "
                        f"{r.total_samples:>6} {r.total_fraction:>6.1%}")
        return "\n".join(rows)


@dataclass(repr=False)
class Profile:
    """Collapsed stacks of one sampled run.

    Attributes:
        stacks: ``{(outermost, ..., innermost): samples}``.
        sampler: ``"py-spy"``, ``"perf"`` or ``"python"`` (or ``"collapsed"`` when parsed).
        rate: samples per second asked for.
        seconds: wall time of the sampled calls.
        calls: how many times the target was called while sampled (None if unknown).
        why: notes: which sampler ran, and why the others did not.
    """

    stacks: dict[tuple[str, ...], int]
    sampler: str = "collapsed"
    rate: float = 0.0
    seconds: float = 0.0
    calls: int | None = None
    why: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        """All samples (the sum of the counts)."""
        return int(sum(self.stacks.values()))

    def top(self, n: int = 10, by: str = "self") -> TopTable:
        """The ``n`` functions with the most ``"self"`` (or ``"total"``) samples.

        A function that appears twice in one stack (recursion) counts once in its total.
        """
        if by not in ("self", "total"):
            raise ValueError(f"by must be 'self' or 'total', got {by!r}")
        own: collections.Counter = collections.Counter()
        total: collections.Counter = collections.Counter()
        for stack, count in self.stacks.items():
            if not stack:
                continue
            own[stack[-1]] += count
            for name in set(stack):
                total[name] += count
        every = max(1, self.samples)
        key = (lambda f: (own[f], total[f])) if by == "self" else (lambda f: (total[f], own[f]))
        names = sorted(total, key=key, reverse=True)[:max(0, int(n))]
        return TopTable(FunctionTime(f, own[f], total[f], own[f] / every, total[f] / every)
                        for f in names)

    def collapsed(self) -> str:
        """The stacks in the collapsed text format (``a;b;c 12`` per line), most samples first."""
        lines = [f"{';'.join(s)} {c}" for s, c in sorted(self.stacks.items(), key=lambda kv: -kv[1])
                 if s]
        return "\n".join(lines) + ("\n" if lines else "")

    def __repr__(self) -> str:
        head = (f"Profile by {self.sampler}: {self.samples} samples"
                + (f" in {self.seconds:.2f} s" if self.seconds else "")
                + (f" at {self.rate:g} Hz" if self.rate else "")
                + (f", {self.calls} calls of the target" if self.calls is not None else ""))
        notes = "".join(f"\n  {w}" for w in self.why)
        return f"{head}{notes}\n{self.top(8)!r}"

    # ----------------------------------------------------------------------- layout and drawing
    def _boxes(self) -> tuple[list[tuple[int, int, int, str]], int]:
        """``(depth, start, width, name)`` of every box, in samples; depth 0 is the 'all' box."""
        tree: dict = {}
        for stack, count in self.stacks.items():
            node = tree
            for name in stack:
                entry = node.setdefault(name, [0, {}])
                entry[0] += count
                node = entry[1]
        total = self.samples
        boxes = [(0, 0, total, f"all ({total} samples)")]

        def walk(node, depth, start):
            for name, (count, children) in sorted(node.items(), key=lambda kv: (-kv[1][0], kv[0])):
                boxes.append((depth, start, count, name))
                walk(children, depth + 1, start)
                start += count

        walk(tree, 1, 0)
        return boxes, total

    def plot(self, ax=None, *, icicle: bool = False, min_fraction: float = 0.002,
             title: str | None = None):
        """Draw the flame graph (``icicle=True``: the roots at the top). Returns the Axes.

        Each box is one frame; its width is the share of samples in which this path of calls was
        on the stack; boxes narrower than ``min_fraction`` of the total are left out. Colours:
        blue for numba's compiled functions, green for Python, orange for native code.
        """
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle

        boxes, total = self._boxes()
        depth = max((b[0] for b in boxes), default=0) + 1
        if ax is None:
            _, ax = plt.subplots(figsize=(10, min(12, 0.9 + 0.28 * depth)))
        if total == 0:
            ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return ax
        fig = ax.figure
        width_px = max(1.0, ax.get_position().width * fig.get_figwidth() * fig.dpi)
        char_px = 7 * 0.62 * fig.dpi / 72  # width of one character at 7 pt, roughly
        for d, start, count, name in boxes:
            frac = count / total
            if frac < min_fraction:
                continue
            y = (depth - 1 - d) if icicle else d
            ax.add_patch(Rectangle((start / total, y), frac, 0.92, facecolor=_colour(name),
                                   edgecolor="white", linewidth=0.4))
            fits = int(frac * width_px / char_px) - 1
            if fits >= 3:
                label = name if len(name) <= fits else name[:fits - 1] + "…"
                ax.text(start / total + 0.002, y + 0.46, label, va="center", ha="left",
                        fontsize=7, clip_on=True)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, depth)
        ax.set_yticks([])
        ax.set_xlabel("share of samples")
        ax.set_title(title or f"{self.sampler}: {total} samples"
                     + (f", {self.seconds:.2f} s" if self.seconds else ""))
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        return ax

    def svg(self, width: int = 1200, row: int = 17, min_fraction: float = 0.001) -> str:
        """The flame graph as a standalone SVG document (hover a box for its name and share)."""
        from xml.sax.saxutils import escape

        boxes, total = self._boxes()
        depth = max((b[0] for b in boxes), default=0) + 1
        height = depth * row + 24
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               f'font-family="monospace" font-size="11">',
               f'<text x="4" y="14">{escape(self.sampler)}: {total} samples</text>']
        for d, start, count, name in boxes:
            if total == 0 or count / total < min_fraction:
                continue
            x, w = width * start / total, width * count / total
            y = height - (d + 1) * row
            rgb = "#%02x%02x%02x" % tuple(int(255 * c) for c in _colour(name)[:3])
            fits = int((w - 4) / 7)
            label = escape(name if len(name) <= fits else name[:max(0, fits - 1)] + "…")
            text = f'<text x="{x + 3:.2f}" y="{y + row - 5}">{label}</text>' if w > 30 else ""
            out.append(f'<g><title>{escape(name)} ({count} samples, {count / total:.1%})</title>'
                       f'<rect x="{x:.2f}" y="{y}" width="{max(w - 0.5, 0.1):.2f}" '
                       f'height="{row - 1}" fill="{rgb}"/>{text}</g>')
        out.append("</svg>")
        return "\n".join(out)


def _colour(name: str):
    """A warm colour per name, stable from run to run; hue by kind of frame."""
    h = int(hashlib.md5(name.encode()).hexdigest()[:6], 16) / 0xFFFFFF
    if name.startswith("numba:"):
        return (0.35 + 0.2 * h, 0.55 + 0.2 * h, 0.95, 1.0)
    if name.startswith("all ("):
        return (0.85, 0.85, 0.85, 1.0)
    if re.search(r"\(.*\.py\w?\)$|\(<.*>\)$", name):
        return (0.45 + 0.25 * h, 0.85, 0.45 + 0.2 * h, 1.0)
    return (0.95, 0.45 + 0.4 * h, 0.25 + 0.2 * h, 1.0)


# =========================================================================== text formats
def parse_collapsed(text: str) -> dict[tuple[str, ...], int]:
    """Read collapsed stacks (``a;b;c 12`` per line) into ``{(a, b, c): 12}``.

    Frames may contain spaces; the count is the last word. Blank lines are skipped.

    Raises:
        ValueError: a line does not end with a whole number.

    Example:
        >>> parse_collapsed("main;f 3\\nmain;f 2\\nmain;g 1\\n")
        {('main', 'f'): 5, ('main', 'g'): 1}
    """
    out: dict[tuple[str, ...], int] = {}
    for k, line in enumerate(text.splitlines(), 1):
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            raise ValueError(f"collapsed stacks: line {k} does not end with a sample count: "
                             f"{line!r}")
        key = tuple(f for f in stack.split(";") if f) if stack else ()
        out[key] = out.get(key, 0) + int(count)
    return out


_HEADER = re.compile(r"^(?P<comm>\S.*?)\s+(?P<pid>\d+)(?:/(?P<tid>\d+))?\s+"
                     r"(?:\[\d+\]\s+)?(?P<time>\d+\.\d+):")
_FRAME = re.compile(r"^\s+(?P<ip>[0-9a-fA-F]+)\s+(?P<sym>.*?)(?:\+0x[0-9a-fA-F]+)?"
                    r"\s+\((?P<dso>.*)\)\s*$")


def fold_perf_script(text: str, *, pid: int | None = None, start: float | None = None,
                     end: float | None = None,
                     kernel: str = "collapse") -> dict[tuple[str, ...], int]:
    """Fold the output of ``perf script`` into collapsed stacks.

    ``perf script`` prints one block per sample: a header line (command, pid/tid, time, event)
    and then one line per frame, innermost first (``address symbol+offset (library)``), and a
    blank line. Folding reverses each block into ``outer;...;inner`` and counts equal stacks.

    Args:
        text: what ``perf script`` printed (with or without ``-F ...,sym,dso``).
        pid: keep only samples of this process.
        start, end: keep only samples whose time lies in ``[start, end]`` (perf's clock, which is
            ``CLOCK_MONOTONIC`` when recorded with ``-k CLOCK_MONOTONIC``).
        kernel: ``"collapse"``: a run of kernel frames becomes one ``[kernel]`` frame;
            ``"keep"``: keep them, suffixed ``_[k]``; ``"drop"``: leave them out.

    Returns:
        ``{(outer, ..., inner): samples}``. An unnamed frame is ``[unknown]``, or
        ``[library.so]`` when perf knows the library but not the function.

    Raises:
        ValueError: ``kernel`` is not one of the three choices.
    """
    if kernel not in ("collapse", "keep", "drop"):
        raise ValueError(f"kernel must be 'collapse', 'keep' or 'drop', got {kernel!r}")
    out: dict[tuple[str, ...], int] = {}
    header = None
    frames: list[str] = []

    def flush():
        if header is None:
            return
        if pid is not None and int(header.group("pid")) != pid:
            return
        t = float(header.group("time"))
        if (start is not None and t < start) or (end is not None and t > end):
            return
        stack = tuple(reversed(frames))
        out[stack] = out.get(stack, 0) + 1

    for line in text.splitlines():
        if not line.strip():
            flush()
            header, frames = None, []
            continue
        if not line[0].isspace():
            flush()
            header, frames = _HEADER.match(line), []
            continue
        m = _FRAME.match(line)
        if m is None or header is None:
            continue
        sym, dso = m.group("sym").strip(), m.group("dso").strip()
        is_kernel = dso.startswith("[kernel") or dso.endswith(".ko") or dso == "[bpf_prog]"
        if is_kernel:
            if kernel == "drop":
                continue
            if kernel == "collapse":
                if not frames or frames[-1] != "[kernel]":
                    frames.append("[kernel]")
                continue
            sym = (sym if sym and sym != "[unknown]" else "[unknown]") + "_[k]"
        elif not sym or sym == "[unknown]":
            base = os.path.basename(dso) if dso and dso != "[unknown]" else ""
            sym = f"[{base}]" if base else "[unknown]"
        frames.append(sym)
    flush()
    return out


# =========================================================================== which samplers
def _pyspy_path() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")  # a venv not on PATH
    return beside if os.access(beside, os.X_OK) else None


def _cap_effective() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _perf_status() -> tuple[bool, str, str]:
    """(usable, reason if not, the event to ask for)."""
    if not sys.platform.startswith("linux"):
        return False, ("perf: not available here, because perf is Linux's profiler and this is "
                       f"{sys.platform}"), ""
    if shutil.which("perf") is None:
        return False, ("perf: not available here, because the `perf` command is not installed "
                       "(Debian/Ubuntu: apt install linux-perf or linux-tools-$(uname -r))"), ""
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            paranoid = int(f.read().strip())
    except (OSError, ValueError):
        paranoid = 2
    caps = _cap_effective()
    privileged = os.geteuid() == 0 or bool(caps & (1 << 38)) or bool(caps & (1 << 21))
    if privileged:
        return True, "", "cpu-clock"
    if paranoid >= 3:
        return False, (f"perf: perf_event_paranoid is {paranoid}: this kernel lets only privileged "
                       "users use perf (run `sudo sysctl kernel.perf_event_paranoid=2` to allow "
                       "profiling your own processes)"), ""
    # 2: user-space samples of one's own processes only; <= 1: kernel frames too.
    return True, "", ("cpu-clock:u" if paranoid >= 2 else "cpu-clock")


def available_samplers() -> dict[str, tuple[bool, str]]:
    """Which samplers could run here, as far as can be told without running them.

    Returns:
        ``{name: (available, reason)}`` for ``py-spy``, ``perf`` and ``python``; the reason says
        why a sampler is not available. (Permissions are only really known by trying:
        :func:`flame` tries, and reports what happened in ``Profile.why``.)
    """
    out = {}
    spy = _pyspy_path()
    out["py-spy"] = ((True, "") if spy else
                     (False, "py-spy: not available here, because it is not installed "
                             "(pip install py-spy)"))
    ok, reason, _ = _perf_status()
    out["perf"] = (ok, reason)
    out["python"] = (True, "")
    return out


# =========================================================================== the target
@dataclass
class _Target:
    kind: str  # "function", "callable", "snippet", "script"
    text: str  # module:qualname, code, or path
    fn: Callable | None = None
    args: tuple = ()

    def describe(self) -> str:
        return {"function": self.text, "callable": getattr(self.fn, "__qualname__", repr(self.fn)),
                "snippet": "a snippet of code", "script": self.text}[self.kind]

    def importable(self) -> tuple[bool, str]:
        if self.kind != "callable":
            return True, ""
        return False, (f"the target {self.describe()} lives in this process only (a notebook "
                       "cell, a lambda or a nested function), which a child process cannot "
                       "import: pass it as 'module:function', a script or a snippet of code")


_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _target(target, args) -> _Target:
    if callable(target):
        base = getattr(target, "py_func", target)  # a numba dispatcher: its Python function
        mod, qual = getattr(base, "__module__", None), getattr(base, "__qualname__", "")
        if mod and mod != "__main__" and "<" not in qual and qual:
            try:  # only if a child importing mod:qual would find this very function
                found = _resolve(f"{mod}:{qual}") if mod in sys.modules else None
            except Exception:
                found = None
            if found is target:
                return _Target("function", f"{mod}:{qual}", target, tuple(args))
        return _Target("callable", "", target, tuple(args))
    if not isinstance(target, str):
        raise TypeError(f"the target must be a function, 'module:function', a script path or "
                        f"Python code, got {type(target).__name__}: {target!r}")
    if not target.strip():
        raise ValueError("the target is empty: give a function, 'module:function', a script "
                         "or code")
    if _SPEC.match(target.strip()):
        return _Target("function", target.strip(), None, tuple(args))
    if target.strip().endswith(".py") and "\n" not in target and os.path.isfile(target.strip()):
        if args:
            raise ValueError("args are for functions; a script takes none")
        return _Target("script", os.path.abspath(target.strip()))
    if args:
        raise ValueError("args are for functions; a snippet of code takes none")
    compile(target, "<snippet>", "exec")  # a SyntaxError now beats one in a child process
    return _Target("snippet", target)


def _resolve(spec: str):
    import importlib

    mod, _, qual = spec.partition(":")
    obj = importlib.import_module(mod)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def _in_process_call(t: _Target) -> Callable[[], object]:
    if t.kind in ("function", "callable"):
        fn = t.fn if t.fn is not None else _resolve(t.text)
        args = t.args
        return lambda: fn(*args)
    if t.kind == "snippet":
        code = compile(t.text, "<snippet>", "exec")
        return lambda: exec(code, {"__name__": "__main__"})
    import runpy

    return lambda: runpy.run_path(t.text, run_name="__main__")


# =========================================================================== python sampler
def _short(filename: str) -> str:
    if filename.startswith("<"):
        return filename
    best = None
    for p in sys.path:
        if p and filename.startswith(p.rstrip(os.sep) + os.sep):
            rel = filename[len(p.rstrip(os.sep)) + 1:]
            if best is None or len(rel) < len(best):
                best = rel
    return best or os.path.basename(filename)


_PLUMBING = re.compile(r"\((course_runner\.py|runpy\.py|<frozen runpy>)\)$")


def _trim(stack: tuple[str, ...]) -> tuple[str, ...]:
    """Drop the frames of the machinery that calls the target (the runner, runpy)."""
    k = 0
    while k < len(stack) and _PLUMBING.search(stack[k]):
        k += 1
    return stack[k:]


def _frame_name(code) -> str:
    return f"{getattr(code, 'co_qualname', code.co_name)} ({_short(code.co_filename)})"


def sample_python(target, *args, seconds: float | None = None, interval: float = 0.001,
                  repeat: bool = True, warmup: bool = True) -> Profile:
    """Sample ``target`` in this process with a thread that reads its Python stack.

    The target runs on the calling thread, repeatedly until ``seconds`` have passed (once if
    ``repeat`` is False), after one untimed warm-up call. A second thread wakes every
    ``interval`` seconds and records the calling thread's stack from ``sys._current_frames()``,
    cut at the frame that calls the target.

    The sampler needs the GIL to look. A thread that asks for it waits one *switch interval*
    (5 ms by default) before the interpreter forces the running thread to let go; any code that
    lets go by itself sooner (a NumPy call that releases the GIL, I/O) wins the race every time,
    so the samples lock onto those moments and the pure-Python work between them goes unseen
    (measured here: 1% of the samples in a loop that took 75% of the time). The switch
    interval is therefore lowered to a tenth of ``interval`` while sampling, and restored.

    Args:
        target: a function (called with ``*args``), ``"module:function"``, a script path or code.
        seconds: how long to keep calling (default 2 s, 0.5 s under ``COURSE_QUICK``).
        interval: seconds between samples.

    Returns:
        A :class:`Profile` of Python frames (``qualname (file)``), the target's outermost.
    """
    seconds = _check_seconds(seconds)
    if not (isinstance(interval, (int, float)) and 0 < interval <= 1):
        raise ValueError(f"interval must be in (0, 1] seconds, got {interval!r}")
    t = _target(target, args)
    call = _in_process_call(t)
    if warmup:
        call()
    main_id = threading.get_ident()
    stacks: collections.Counter = collections.Counter()
    stop = threading.Event()
    runner_code = []

    def sampler():
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(interval)
            frame = sys._current_frames().get(main_id)
            now = time.perf_counter()
            weight = max(1, int(round((now - last) / interval)))
            last = now
            names = []
            while frame is not None and frame.f_code not in runner_code:
                names.append(_frame_name(frame.f_code))
                frame = frame.f_back
            kept = _trim(tuple(reversed(names)))
            if frame is not None and kept:  # inside the target (not between calls)
                stacks[kept] += weight
            del frame

    def __course_measured__():
        n, t0 = 0, time.perf_counter()
        while True:
            call()
            n += 1
            if not repeat or time.perf_counter() - t0 >= seconds:
                return n, time.perf_counter() - t0

    runner_code.extend([__course_measured__.__code__, getattr(call, "__code__", None)])
    old_switch = sys.getswitchinterval()
    thread = threading.Thread(target=sampler, name="course-python-sampler", daemon=True)
    sys.setswitchinterval(min(old_switch, interval / 10))
    thread.start()
    try:
        calls, elapsed = __course_measured__()
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(old_switch)
    return Profile(dict(stacks), "python", 1 / interval, elapsed, calls,
                   [f"python: sampled {t.describe()} in this process every {interval * 1e3:g} ms "
                    "(Python frames only; numba and C code are billed to the Python line "
                    "that called them)"])


def _check_seconds(seconds):
    if seconds is None:
        return pick(2.0, 0.5)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds > 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    return float(seconds)


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1 <= rate <= 10_000:
        raise ValueError(f"rate must be between 1 and 10000 samples per second, got {rate!r}")
    return int(rate)


# =========================================================================== the child process
_RUNNER = r'''
import json, os, pickle, sys, time
spec = json.load(open(sys.argv[1]))
for p in reversed(spec["path"]):
    if p not in sys.path:
        sys.path.insert(0, p)

def load():
    kind, text = spec["kind"], spec["text"]
    if kind == "function":
        import importlib
        mod, _, qual = text.partition(":")
        obj = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
        args = ()
        if spec["args"]:
            with open(spec["args"], "rb") as f:
                args = pickle.load(f)
        return lambda: obj(*args)
    if kind == "snippet":
        code = compile(text, "<snippet>", "exec")
        return lambda: exec(code, {"__name__": "__main__"})
    import runpy
    return lambda: runpy.run_path(text, run_name="__main__")

call = load()
if spec["warmup"]:
    call()

def __course_measured__(call, seconds, repeat):
    n, t0 = 0, time.perf_counter()
    while True:
        call()
        n += 1
        if not repeat or time.perf_counter() - t0 >= seconds:
            return n

start = time.clock_gettime(time.CLOCK_MONOTONIC)
t0 = time.perf_counter()
calls = __course_measured__(call, spec["seconds"], spec["repeat"])
elapsed = time.perf_counter() - t0
end = time.clock_gettime(time.CLOCK_MONOTONIC)
entries = 0
if spec["perfmap"]:
    try:
        from course_lib.profile import perfmap
        entries = len(perfmap.register_all())
    except Exception as e:
        entries = -1
with open(spec["result"], "w") as f:
    json.dump({"pid": os.getpid(), "calls": calls, "elapsed": elapsed, "start": start,
               "end": end, "map_entries": entries}, f)
'''


class _SamplerFailed(Exception):
    """A sampler could not produce a profile; the message is the reason."""


def _run_child(t: _Target, tmp: str, prefix: list[str], seconds: float, repeat: bool,
               warmup: bool, perfmap: bool,
               timeout: float) -> tuple[dict, subprocess.CompletedProcess]:
    ok, reason = t.importable()
    if not ok:
        raise _SamplerFailed(reason)
    runner = os.path.join(tmp, "course_runner.py")
    with open(runner, "w") as f:
        f.write(_RUNNER)
    args_file = ""
    if t.args:
        args_file = os.path.join(tmp, "args.pickle")
        try:
            with open(args_file, "wb") as f:
                pickle.dump(t.args, f)
        except Exception as e:
            raise _SamplerFailed(f"the arguments cannot be sent to a child process ({e})") from None
    spec = {"kind": t.kind, "text": t.text, "args": args_file, "seconds": seconds,
            "repeat": repeat, "warmup": warmup, "perfmap": perfmap,
            "result": os.path.join(tmp, "result.json"),
            "path": [os.getcwd()] + [p for p in sys.path if p]}
    spec_file = os.path.join(tmp, "spec.json")
    with open(spec_file, "w") as f:
        json.dump(spec, f)
    env = dict(os.environ, MPLBACKEND="Agg", COURSE_HEADLESS="1", PYTHONUNBUFFERED="1")
    cmd = prefix + [sys.executable, runner, spec_file]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=os.getcwd(),
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        raise _SamplerFailed(f"timed out after {timeout:.0f} s and was stopped "
                             f"(last words: {_last_line(err)})") from None
    result_file = spec["result"]
    result = {}
    if os.path.exists(result_file):
        with open(result_file) as f:
            result = json.load(f)
    return result, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "nothing"


def _read_map(file: str) -> tuple[list[int], list[tuple[int, str]]]:
    """A perf map file as (sorted start addresses, [(end address, name)] in the same order)."""
    rows = []
    try:
        with open(file) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3:
                    try:
                        rows.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
                    except ValueError:
                        continue
    except OSError:
        return [], []
    rows.sort()
    return [r[0] for r in rows], [(r[0] + r[1], r[2]) for r in rows]


_HEX_FRAME = re.compile(r"^0x([0-9a-fA-F]+) \((.*)\)$")


def _rename_native(frame: str, starts, rows) -> str:
    """py-spy prints frames it cannot name as ``0xADDR (library)``: name them from the perf map,
    or fold them by library so that one function is not a thousand different addresses."""
    m = _HEX_FRAME.match(frame)
    if m is None:
        return frame
    addr, lib = int(m.group(1), 16), m.group(2)
    k = bisect.bisect_right(starts, addr) - 1
    if k >= 0 and addr < rows[k][0]:
        return rows[k][1]
    return f"[{lib}]" if lib not in ("?", "") else "[unknown]"


def sample_pyspy(target, *args, seconds: float | None = None, rate: int = 250,
                 native="auto", repeat: bool = True, warmup: bool = True,
                 timeout: float | None = None) -> Profile:
    """Sample ``target`` in a child process with ``py-spy record --format raw``.

    The child (this Python, this ``sys.path``) calls the target once, then repeatedly for
    ``seconds``, then writes a perf map of its numba functions; py-spy records the whole
    child, and only the stacks under the measured loop are kept. With ``--native`` C frames and
    numba's frames appear, the latter named from the map.

    py-spy cannot always unwind a stack whose innermost frame is numba's JIT code (there are no
    unwind tables for anonymous memory), and such a sample is dropped, silently: the profile
    then under-counts exactly the compiled code. So the share of the expected samples
    (``rate x seconds``) that came back is checked, and ``native="auto"`` samples again without
    ``--native`` when more than 15% are missing.

    Args:
        target: ``"module:function"``, an importable function, a script path or code.
        *args: for a function; they are pickled to the child.
        seconds: how long to keep calling the target (default 2 s, 0.5 s quick).
        rate: samples per second.
        native: True (``--native``), False, or ``"auto"`` (as above). ``--native`` is dropped
            when py-spy refuses it on this platform.
        timeout: seconds before the child is killed (default ``60 + 3 * seconds``).

    Returns:
        A :class:`Profile`.

    Raises:
        RuntimeError: py-spy is missing or failed; the message says why.
    """
    if native not in (True, False, "auto"):
        raise ValueError(f"native must be True, False or 'auto', got {native!r}")
    try:
        return _pyspy(target, args, seconds, rate, native, repeat, warmup, timeout)
    except _SamplerFailed as e:
        raise RuntimeError(f"py-spy: {e}") from None


def _pyspy(target, args, seconds, rate, native, repeat, warmup, timeout) -> Profile:
    seconds, rate = _check_seconds(seconds), _check_rate(rate)
    t = _target(target, args)
    exe = _pyspy_path()
    if exe is None:
        raise _SamplerFailed("not available here, because it is not installed (pip install py-spy)")
    timeout = 60 + 3 * seconds if timeout is None else float(timeout)
    notes: list[str] = []
    p = None
    if native in (True, "auto"):
        p = _pyspy_once(t, exe, seconds, rate, True, repeat, warmup, timeout, notes)
        if p is not None and native == "auto" and repeat and _coverage(p) < 0.85:
            notes.append(f"py-spy: --native kept only {_coverage(p):.0%} of the expected samples "
                         "(mostly samples inside numba's JIT code, which it could not unwind; "
                         "a busy machine loses some too): sampled again without --native, "
                         "where compiled code is billed to the Python function that called it")
            p = None
    if p is None:
        p = _pyspy_once(t, exe, seconds, rate, False, repeat, warmup, timeout, notes)
    p.why = notes + p.why
    return p


def _coverage(p: Profile) -> float:
    expected = p.rate * p.seconds
    return p.samples / expected if expected > 0 else 1.0


def _pyspy_once(t: _Target, exe: str, seconds: float, rate: int, native: bool, repeat: bool,
                warmup: bool, timeout: float, notes: list[str]) -> Profile | None:
    """One py-spy run; None when ``--native`` was refused (the reason goes to ``notes``)."""
    with tempfile.TemporaryDirectory(prefix="course-pyspy-") as tmp:
        raw = os.path.join(tmp, "stacks.txt")
        prefix = [exe, "record", "--format", "raw", "--nolineno", "-r", str(rate), "-o", raw]
        prefix += ["--native", "--"] if native else ["--"]
        result, done = _run_child(t, tmp, prefix, seconds, repeat, warmup, native, timeout)
        if result.get("pid"):
            map_file = f"/tmp/perf-{result['pid']}.map"
            starts, rows = _read_map(map_file)
            _remove(map_file)
        else:
            starts, rows = [], []
        if done.returncode != 0 or not os.path.exists(raw):
            text = (done.stderr or "") + (done.stdout or "")
            low = text.lower()
            if native and "native" in low and ("not supported" in low or "unsupported" in low):
                notes.append(f"py-spy: --native refused here ({_last_line(text)}); "
                             "Python frames only")
                return None
            if "permission" in low or "operation not permitted" in low or "ptrace" in low:
                raise _SamplerFailed(
                    "needs ptrace permission to read the child's memory, and was refused "
                    f"({_last_line(text)}). On Linux: `sudo sysctl kernel.yama.ptrace_scope=0`, or "
                    "run as root; in Docker: --cap-add SYS_PTRACE")
            raise _SamplerFailed(f"failed with exit status {done.returncode}: {_last_line(text)}")
        with open(raw) as f:
            collapsed = parse_collapsed(f.read())
    stacks: collections.Counter = collections.Counter()
    for stack, count in collapsed.items():
        cut = next((i for i, fr in enumerate(stack) if fr.startswith(_MARKER + " ")), None)
        if cut is None:
            continue
        kept = _trim(tuple(_rename_native(fr, starts, rows) for fr in stack[cut + 1:]))
        if kept:
            stacks[kept] += count
    p = Profile(dict(stacks), "py-spy", rate, float(result.get("elapsed", 0.0)),
                result.get("calls"))
    named = sum(c for s, c in stacks.items() if any(f.startswith("numba:") for f in s))
    p.why = [f"py-spy: sampled {t.describe()} in a child process at {rate} Hz"
             + (" with --native" if native else " (Python frames only)")
             + f"; {p.samples} samples, {_coverage(p):.0%} of rate x time"
             + (f"; {named} samples in numba code, named from the child's perf map ({len(starts)} "
                "entries: py-spy's own symboliser reads only ELF files mapped from disk, so JIT "
                "code would be bare addresses)" if native and starts else "")]
    return p


def _remove(file: str) -> None:
    try:
        os.remove(file)
    except OSError:
        pass


def sample_perf(target, *args, seconds: float | None = None, rate: int = 999,
                repeat: bool = True, warmup: bool = True, kernel: str = "collapse",
                timeout: float | None = None) -> Profile:
    """Sample ``target`` in a child process with ``perf record -e cpu-clock -g``.

    The child registers its numba functions in its perf map before it exits, so that
    ``perf script`` (run afterwards, when the map is complete) names them. Samples are kept
    only between the child's start and end of the measured loop (perf records with
    ``-k CLOCK_MONOTONIC``, the clock the child reads), so start-up and compilation are left
    out. Frames are native only: CPython 3.11's interpreter functions, not Python functions.

    Args:
        target, *args, seconds, repeat, warmup, timeout: as :func:`sample_pyspy`.
        rate: samples per second (``-F``); an odd number avoids beating with periodic work.
        kernel: what to do with kernel frames, see :func:`fold_perf_script`.

    Returns:
        A :class:`Profile`.

    Raises:
        RuntimeError: perf is missing, not permitted, or failed; the message says why.
    """
    try:
        return _perf(target, args, seconds, rate, repeat, warmup, kernel, timeout)
    except _SamplerFailed as e:
        raise RuntimeError(f"perf: {e}") from None


def _perf(target, args, seconds, rate, repeat, warmup, kernel, timeout) -> Profile:
    seconds, rate = _check_seconds(seconds), _check_rate(rate)
    if kernel not in ("collapse", "keep", "drop"):
        raise ValueError(f"kernel must be 'collapse', 'keep' or 'drop', got {kernel!r}")
    t = _target(target, args)
    ok, reason, event = _perf_status()
    if not ok:
        raise _SamplerFailed(reason.partition("perf: ")[2] or reason)
    timeout = 60 + 3 * seconds if timeout is None else float(timeout)
    with tempfile.TemporaryDirectory(prefix="course-perf-") as tmp:
        data = os.path.join(tmp, "perf.data")
        prefix = ["perf", "record", "-e", event, "-F", str(rate), "-g", "-k", "CLOCK_MONOTONIC",
                  "-q", "-o", data, "--"]
        result, done = _run_child(t, tmp, prefix, seconds, repeat, warmup, True, timeout)
        text = (done.stderr or "") + (done.stdout or "")
        if done.returncode != 0 or not os.path.exists(data) or not result:
            low = text.lower()
            if any(w in low for w in ("paranoid", "permission", "not permitted", "access to")):
                raise _SamplerFailed("perf_event_paranoid or the container forbids sampling here "
                                     f"({_last_line(text)})")
            raise _SamplerFailed(f"perf record failed with exit status {done.returncode}: "
                                 f"{_last_line(text)}")
        try:
            script = subprocess.run(["perf", "script", "-i", data,
                                     "-F", "comm,pid,tid,time,ip,sym,dso"],
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise _SamplerFailed(f"perf script took more than {timeout:.0f} s") from None
        finally:
            _remove(f"/tmp/perf-{result.get('pid', 0)}.map")
        if script.returncode != 0:
            raise _SamplerFailed(f"perf script failed: {_last_line(script.stderr)}")
    stacks = fold_perf_script(script.stdout, pid=result["pid"], start=result["start"],
                              end=result["end"], kernel=kernel)
    named = sum(c for s, c in stacks.items() if s and s[-1].startswith("numba:"))
    notes = [f"perf: sampled {t.describe()} in a child process ({event}, {rate} Hz, frame-pointer "
             f"call chains); {result.get('map_entries', 0)} numba functions in its perf map, "
             f"{named} samples ended in numba code. Native frames only (no Python functions "
             "before CPython 3.12's -X perf); callers of interpreter and JIT frames are often "
             "[unknown], because neither keeps frame pointers"]
    return Profile(stacks, "perf", rate, float(result.get("elapsed", 0.0)), result.get("calls"),
                   notes)


# =========================================================================== flame
def flame(target, *args, sampler: str = "auto", seconds: float | None = None,
          rate: int | None = None, repeat: bool = True, warmup: bool = True,
          timeout: float | None = None) -> Profile:
    """Profile ``target`` with the best sampler that works here; draw it with ``.plot()``.

    Args:
        target: a function (``*args`` are passed to it), ``"module:function"``, the path of a
            script, or a snippet of Python code.
        sampler: ``"auto"`` (py-spy, then perf, then the Python sampler, the first that works),
            or one of ``"py-spy"``, ``"perf"``, ``"python"``.
        seconds: how long to keep calling the target (default 2 s, 0.5 s under COURSE_QUICK).
        rate: samples per second (default 250 for py-spy, 999 for perf, 1000 for python).
        repeat: call the target again and again until ``seconds`` have passed (else once).
        warmup: call it once first, unsampled (numba compiles then).
        timeout: seconds before a child process is killed.

    Returns:
        A :class:`Profile`; ``.why`` says which sampler ran and why the others did not.

    Raises:
        ValueError: an unknown sampler, or bad seconds/rate.
        RuntimeError: a sampler named explicitly could not run (the message says why).

    Example:
        >>> p = flame("sum(i * i for i in range(20_000))", sampler="python", seconds=0.1)
        >>> p.sampler, p.samples > 0
        ('python', True)
    """
    if sampler not in ("auto",) + SAMPLERS:
        raise ValueError(f"sampler must be 'auto' or one of {SAMPLERS}, got {sampler!r}")
    seconds = _check_seconds(seconds)
    if rate is not None:
        rate = _check_rate(rate)
    t = _target(target, args)  # validate once, early
    del t
    order = SAMPLERS if sampler == "auto" else (sampler,)
    status = available_samplers()
    notes: list[str] = []
    for name in order:
        ok, reason = status[name]
        if not ok:
            if sampler != "auto":
                raise RuntimeError(reason)
            notes.append(reason)
            continue
        try:
            if name == "py-spy":
                p = _pyspy(target, args, seconds, rate or 250, "auto", repeat, warmup, timeout)
            elif name == "perf":
                p = _perf(target, args, seconds, rate or 999, repeat, warmup, "collapse", timeout)
            else:
                p = sample_python(target, *args, seconds=seconds, interval=1 / (rate or 1000),
                                  repeat=repeat, warmup=warmup)
        except _SamplerFailed as e:
            if sampler != "auto":
                raise RuntimeError(f"{name}: {e}") from None
            notes.append(f"{name}: {e}")
            continue
        if sampler == "auto":
            later = [s for s in SAMPLERS[SAMPLERS.index(name) + 1:] if status[s][0]]
            if later:
                notes.append(f"not run: {', '.join(later)} ({name} came first; ask for one "
                             "with sampler=...)")
        p.why = p.why + notes
        return p
    raise RuntimeError("no sampler could run: " + "; ".join(notes))  # pragma: no cover


def sampler_overhead(target, *args, sampler: str = "python", seconds: float | None = None,
                     rate: int | None = None) -> dict:
    """How much a sampler slows the target down: calls per second without and with it.

    Both runs call the target repeatedly for ``seconds`` in the same way (in this process for
    ``python``, in a child process otherwise); the baseline has no sampler attached.

    Returns:
        ``{"sampler", "calls_per_s_alone", "calls_per_s_sampled", "slowdown"}``; a slowdown of
        1.05 means the sampled run made 5% fewer calls per second.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    seconds = _check_seconds(seconds)
    t = _target(target, args)
    if sampler == "python":
        call = _in_process_call(t)
        call()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            call()
            n += 1
        alone = n / (time.perf_counter() - t0)
    else:
        with tempfile.TemporaryDirectory(prefix="course-overhead-") as tmp:
            try:
                result, done = _run_child(t, tmp, [], seconds, True, True, False, 60 + 3 * seconds)
            except _SamplerFailed as e:
                raise RuntimeError(f"{sampler}: {e}") from None
            if done.returncode != 0 or not result:
                raise RuntimeError("the target failed in a child process: "
                                   f"{_last_line(done.stderr)}")
            alone = result["calls"] / max(result["elapsed"], 1e-9)
    p = flame(target, *args, sampler=sampler, seconds=seconds, rate=rate)
    sampled = (p.calls or 0) / max(p.seconds, 1e-9)
    return {"sampler": sampler, "calls_per_s_alone": alone, "calls_per_s_sampled": sampled,
            "slowdown": alone / sampled if sampled > 0 else math.inf}


# =========================================================================== a workload to try
def demo_python_part(n: int) -> int:
    """Pure Python work: the interpreter runs every ``+``, ``*`` and ``%`` of this loop."""
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


def demo_numba_part(a):
    """Compiled work (numba compiles this function on first use in :func:`demo_workload`)."""
    s = 0.0
    for x in a:
        s += x * x
    return s


_demo_kernel = []


def demo_workload(n: int = 30_000, m: int = 300_000) -> float:
    """A program with two hot spots for the samplers: ``demo_python_part(n)``, then the numba
    version of :func:`demo_numba_part` over ``m`` floats. Both take a few milliseconds."""
    import numpy as np

    if not _demo_kernel:
        from numba import njit

        _demo_kernel.append(njit(demo_numba_part))
    return demo_python_part(n) + _demo_kernel[0](np.arange(m, dtype=np.float64))
