"""A deterministic instruction count of one call: the same number on a busy laptop as on an idle
server, run after run (c07).

A timer answers "how long", and the answer moves with the clock speed, the other programs, the
cache's contents. An instruction count answers "how much work", and for a deterministic
program it does not move at all, which makes it the measure to compare two versions of a kernel
by (the Rust crate *iai* and the ``cachegrind``-based CI benchmarks do exactly this).

How :func:`instructions` counts
    Valgrind's ``callgrind`` tool runs a program on a simulated CPU and counts every instruction
    it executes, exactly. It cannot attach to a running Python, so the target runs in a
    **subprocess** under ``valgrind --tool=callgrind``: a small driver imports (or ``exec``\\ s)
    the target, calls it once so that numba compiles it (compilation is not counted unless
    ``include_first_call=True``), and then calls it inside :c:func:`perfev_region`, a C function
    of ``course_lib/_c/perfev.c`` that only calls back into Python. Callgrind is told
    ``--collect-atstart=no --toggle-collect=perfev_region``: it counts nothing except what runs
    between entering and leaving that function, and ``--dump-after=perfev_region`` writes one
    count per call. An *empty* region (the same callback calling a function that does nothing)
    is counted too and subtracted: what is left is the target's own instructions, numba's
    dispatch included. When the C module was built with valgrind's header, the driver also runs
    uninstrumented until the regions (``--instr-atstart=no`` and a
    ``CALLGRIND_START_INSTRUMENTATION`` request), so start-up and imports run several times
    faster.

    The subprocess gets ``PYTHONHASHSEED=0`` (string hashes, and so dict and set layouts, are
    the same each run) and one thread for OpenMP, BLAS and numba; valgrind itself loads the
    program at the same addresses each time. With those, two runs give the same count, to the
    instruction or within a few of them.

Fallbacks, in order: callgrind (valgrind on the PATH, Linux); the CPU's hardware instruction
counter in this process (:func:`course_lib.profile.counters.counters`, where it works: close, but
not exact); else an :class:`InstructionCount` that says why and how to install valgrind. Nothing
is cached between calls.

Which targets work (the subprocess must rebuild the function):
    * ``"package.module:function"`` (a qualname with dots works: ``"mod:Class.method"``);
    * a function or numba dispatcher defined at the top level of an importable module;
    * a function defined in a notebook or script (``__main__``): its source is taken with
      :func:`inspect.getsource` (a numba function's ``py_func``), and the globals it uses are
      carried over: modules are re-imported, importable objects re-imported by name, plain
      constants (numbers, strings, tuples of them) copied, other ``__main__`` functions it calls
      carried by source too. Limits: no lambdas, no closures (variables of an enclosing
      function), no globals that are other objects (arrays, class instances: pass them as
      arguments), and the source is the one in the notebook *now*: a cell edited after running
      it is read as edited. ``setup=`` adds code of your own before the function; ``source=``
      gives the whole code yourself.
    * The arguments are pickled: NumPy arrays, numbers, strings, tuples... work.
    * Only the calling thread is counted (callgrind's collection switch is per thread). That is
      why the subprocess runs numba with one thread (``NUMBA_NUM_THREADS=1``): a ``prange``
      kernel then runs all its chunks on the calling thread, and the count is its total work.
      With more threads (``env={"NUMBA_NUM_THREADS": "2"}``) only the caller's share and its
      waiting would be counted, and that is not repeatable.

Costs: Python's start-up and imports under valgrind take seconds (on a 2-core VM: about 1.5 s
for a plain Python target, about 10 s with numba's import and one small compilation, 25 s
without the late instrumentation; see ``benchmarks/bench_profile.py``), and the counted code
runs some 30 times slower than natively: count a small input, and scale.

Sources: the Valgrind user manual, chapter 6 "Callgrind" (``--toggle-collect``,
``--collect-atstart``, ``--dump-after``, ``--instr-atstart``, client requests); Python's
documentation of ``PYTHONHASHSEED``; the cffi documentation, "Extern Python and callbacks".

Thread-safety: each call uses its own temporary directory and subprocess.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pickle
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import types
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["InstructionCount", "instructions", "callgrind_available", "source_bundle"]

_INSTALL = ("install valgrind (Debian/Ubuntu: `sudo apt install valgrind`; Fedora: `sudo dnf "
            "install valgrind valgrind-devel`; conda: `conda install -c conda-forge valgrind`); "
            "on macOS valgrind does not run on current versions: use Instruments' 'CPU Counters' "
            "template, or count on a Linux machine or container")


@dataclass(frozen=True)
class InstructionCount:
    """The instructions one call executed.

    Attributes:
        count: instructions of the first measured call, the empty-call baseline removed; None
            when nothing could count them.
        branches, branch_misses: with ``branch_sim=True``, the first measured call's conditional
            branches and those callgrind's simulated predictor got wrong (baseline removed).
        counts: every measured call's count (``repeat`` of them), baseline removed.
        baseline: what an empty call through the same machinery cost (removed from the counts).
        method: ``"callgrind"`` (exact, deterministic), ``"perf_event"`` (the CPU's hardware
            counter: close, varies a little), or ``""`` (not available).
        reason: why there is no count, or a caveat about the method.
        target: what was counted (``"module:function"``, or ``"<source> name"``).
        seconds: the wall time of the measurement (for callgrind: the whole subprocess).
        include_first_call: whether the first call (numba's compilation) was counted.
        command: the valgrind command line that ran (empty for other methods).
    """

    count: int | None
    counts: tuple[int, ...] = ()
    baseline: int | None = None
    method: str = ""
    reason: str | None = None
    target: str = ""
    seconds: float = 0.0
    include_first_call: bool = False
    command: tuple[str, ...] = ()
    branches: int | None = None
    branch_misses: int | None = None

    @property
    def branch_miss_rate(self) -> float | None:
        """Mispredicted over executed conditional branches, as callgrind's simulated predictor
        saw them (``branch_sim=True``); None when not simulated or no branch ran."""
        if self.branches is None or self.branch_misses is None or self.branches <= 0:
            return None
        return self.branch_misses / self.branches

    @property
    def available(self) -> bool:
        """True when there is a count."""
        return self.count is not None

    @property
    def deterministic(self) -> bool:
        """True when the count came from callgrind (the same every run)."""
        return self.method == "callgrind" and self.count is not None

    def __str__(self) -> str:
        if self.count is None:
            return f"instruction count of {self.target}: not available here, because {self.reason}"
        how = {"callgrind": "callgrind, exact", "perf_event": "hardware counter"}.get(
            self.method, self.method)
        parts = [f"{self.count:,} instructions per call of {self.target} ({how}"]
        if self.baseline is not None:
            parts.append(f"; the empty call's {self.baseline:,} removed")
        if self.include_first_call:
            parts.append("; first call included")
        parts.append(f"; measured in {self.seconds:.1f} s)")
        text = "".join(parts)
        if len(self.counts) > 1:
            text += "\n  each call: " + ", ".join(f"{c:,}" for c in self.counts)
        if self.reason:
            text += f"\n  note: {self.reason}"
        return text

    __repr__ = __str__


# ----------------------------------------------------------------------------- the target
def _importable(obj: Any) -> tuple[str, str] | None:
    """(module, qualname) when ``obj`` can be found again by importing, else None."""
    inner = getattr(obj, "py_func", obj)
    module = getattr(inner, "__module__", None) or getattr(obj, "__module__", None)
    qualname = getattr(inner, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    if found is obj or getattr(found, "py_func", found) is inner:
        return module, qualname
    return None


def _constant(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return True
    return isinstance(value, tuple) and all(_constant(v) for v in value)


def _free_names(tree: ast.AST) -> list[str]:
    """Names a function's code (decorators included) reads but does not bind itself."""
    loads: list[str] = []
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                if node.id not in loads:
                    loads.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    # Builtins (range, len) are not in the function's __globals__, so they are never carried.
    return [n for n in loads if n not in bound]


def source_bundle(fn: Callable[..., Any]) -> str:
    """Python source that rebuilds ``fn`` (and what it uses) in a fresh interpreter.

    Args:
        fn: a plain function or a numba dispatcher, typically defined in a notebook.

    Returns:
        Module source: imports and constants for the globals the function reads, the source of
        other ``__main__`` functions it calls, then the function itself (decorators included).

    Raises:
        TypeError: ``fn`` is not a Python function or a numba dispatcher.
        ValueError: it cannot be carried (a lambda, a closure, no source, a global that is
            neither a module, an importable object, a constant nor a function); the message
            names the problem and says what to do instead.
    """
    lines: list[str] = []
    done: set[str] = set()
    _bundle(fn, lines, done, stack=())
    return "\n".join(lines) + "\n"


def _bundle(fn: Any, lines: list[str], done: set[str], stack: tuple[str, ...]) -> None:
    inner = getattr(fn, "py_func", fn)
    if not isinstance(inner, types.FunctionType):
        raise TypeError(f"instructions(): {fn!r} is not a Python function or a numba function; "
                        "pass a function, or a 'module:function' string")
    name = inner.__name__
    if name == "<lambda>":
        raise ValueError("instructions(): a lambda has no source of its own to carry to the "
                         "subprocess; define the function with def")
    if inner.__closure__:
        raise ValueError(f"instructions(): {name} uses variables of an enclosing function "
                         f"({', '.join(inner.__code__.co_freevars)}); define it at the top level "
                         "of the notebook or a module, or pass those values as arguments")
    try:
        src = textwrap.dedent(inspect.getsource(inner))
    except (OSError, TypeError) as exc:
        raise ValueError(f"instructions(): the source of {name} cannot be found ({exc}); put it "
                         "in a module, or pass it as source=") from None
    tree = ast.parse(src)
    done.add(name)
    for gname in _free_names(tree):
        if gname in done or gname == name or gname not in inner.__globals__:
            continue  # a builtin, a local, or already carried
        value = inner.__globals__[gname]
        done.add(gname)
        if isinstance(value, types.ModuleType):
            lines.append(f"import {value.__name__}" if value.__name__ == gname
                         else f"import {value.__name__} as {gname}")
            continue
        where = _importable(value)
        if where is not None:
            module, qual = where
            if "." in qual:
                lines.append(f"import {module} as _m_{gname}\n{gname} = _m_{gname}.{qual}")
            else:
                alias = f" as {gname}" if qual != gname else ""
                lines.append(f"from {module} import {qual}{alias}")
            continue
        if _constant(value):
            lines.append(f"{gname} = {value!r}")
            continue
        if isinstance(getattr(value, "py_func", value), types.FunctionType):
            _bundle(value, lines, done, stack + (name,))
            if getattr(getattr(value, "py_func", value), "__name__", gname) != gname:
                lines.append(f"{gname} = {getattr(value, 'py_func', value).__name__}")
            continue
        raise ValueError(f"instructions(): {name} reads the global {gname!r}, a "
                         f"{type(value).__name__}, which cannot be carried to the subprocess; "
                         "pass it as an argument, or recreate it with setup='...'")
    lines.append(src)


@dataclass(frozen=True)
class _Target:
    label: str
    module: str = ""
    qualname: str = ""
    source: str = ""
    name: str = ""


def _target(target: Any, source: str | None, setup: str) -> _Target:
    if source is not None:
        if not isinstance(target, str) or not target.isidentifier():
            raise ValueError("instructions(target, source=...): with source given, target is the "
                             f"name of the function it defines, got {target!r}")
        if not isinstance(source, str):
            raise TypeError("instructions(source=...): source must be text, got "
                            f"{type(source).__name__}")
        return _Target(f"<source> {target}", source=setup + "\n" + source, name=target)
    if isinstance(target, str):
        module, sep, qualname = target.partition(":")
        if not sep or not module or not qualname or not all(
                p.isidentifier() for p in module.split(".") + qualname.split(".")):
            raise ValueError(f"instructions(): a target given as text is 'module:function', got "
                             f"{target!r} (for code of your own, pass source=)")
        t = _Target(target, module=module, qualname=qualname)
        try:  # find it here first, so that a typo is a clear error and not a subprocess's
            found = _load(t)
        except ImportError as exc:
            raise ValueError(f"instructions(): cannot import {module!r} for {target!r}: "
                             f"{exc}") from None
        except AttributeError:
            raise ValueError(f"instructions(): {module!r} has no {qualname!r} "
                             f"(from {target!r})") from None
        if not callable(found):
            raise TypeError(f"instructions(): {target!r} is a {type(found).__name__}, "
                            "not a function")
        return t
    if not callable(target):
        raise TypeError(f"instructions(): target must be a function, a numba function or "
                        f"'module:function', got {type(target).__name__} {target!r}")
    where = _importable(target)
    if where is not None and not setup:
        return _Target(f"{where[0]}:{where[1]}", module=where[0], qualname=where[1])
    inner = getattr(target, "py_func", target)
    text = source_bundle(target)
    return _Target(f"<source> {getattr(inner, '__name__', '?')}", source=setup + "\n" + text,
                   name=inner.__name__)


def _load(t: _Target) -> Callable[..., Any]:
    """The target as a function in this process (for the hardware-counter fallback)."""
    if t.module:
        found: Any = importlib.import_module(t.module)
        for part in t.qualname.split("."):
            found = getattr(found, part)
        return found
    namespace: dict[str, Any] = {"__name__": "_course_instructions_target"}
    exec(compile(t.source, f"<instructions {t.name}>", "exec"), namespace)  # noqa: S102
    return namespace[t.name]


# ----------------------------------------------------------------------------- the driver
# Runs under valgrind. argv[1]: the pickled job. Writes a JSON report next to it.
_DRIVER = r'''
import gc, importlib, json, os, pickle, sys, traceback

job_path = sys.argv[1]
with open(job_path, "rb") as f:
    job = pickle.load(f)
report = {"ok": False}
try:
    sys.path[:0] = [p for p in job["path"] if p not in sys.path]
    from course_lib._c._perfev import ffi, lib
    if job["module"]:
        fn = importlib.import_module(job["module"])
        for part in job["qualname"].split("."):
            fn = getattr(fn, part)
    else:
        here = os.path.dirname(job_path)
        with open(os.path.join(here, "_course_target.py"), "w", encoding="utf-8") as f:
            f.write(job["source"])
        sys.path.insert(0, here)
        fn = getattr(importlib.import_module("_course_target"), job["name"])
    args, kwargs = pickle.loads(job["args"])

    def nothing(*a, **k):
        return None

    state = {"result": None, "error": None}

    def call(f):
        try:
            state["result"] = f(*args, **kwargs)
        except BaseException:
            state["error"] = traceback.format_exc()

    @ffi.callback("void(void)")
    def empty():
        call(nothing)

    @ffi.callback("void(void)")
    def body():
        call(fn)

    if not job["include_first_call"]:
        call(fn)                      # compile (numba), import lazily, fill caches: not counted
        if state["error"]:
            raise RuntimeError(state["error"])
    lib.perfev_region(empty)          # the callback machinery's own first call: not counted
    report["on_valgrind"] = bool(lib.perfev_on_valgrind())
    if job["instrument"]:
        lib.perfev_callgrind_instrument()
    gc.collect()
    gc.disable()                      # no collection inside a region: it would be counted
    lib.perfev_region(empty)          # region 1: warms up, once instrumented
    lib.perfev_region(empty)          # region 2: the baseline
    for _ in range(job["repeat"]):    # regions 3...: the target
        lib.perfev_region(body)
        if state["error"]:
            raise RuntimeError(state["error"])
    gc.enable()
    report["ok"] = True
    report["result"] = repr(state["result"])[:200]
except BaseException:
    report["error"] = traceback.format_exc()
with open(job_path + ".json", "w", encoding="utf-8") as f:
    json.dump(report, f)
'''

_EVENTS = re.compile(r"^events:\s*(.+)$", re.M)
_TOTAL = re.compile(r"^(?:totals|summary):\s*([\d ]+)$", re.M)
_PART = re.compile(r"^part:\s*(\d+)", re.M)


def _read_dumps(folder: str) -> list[dict[str, int]]:
    """The event totals (``Ir``, and ``Bc``/``Bcm``... when simulated) of every region, in the
    order they ran (callgrind's ``part``)."""
    parts: list[tuple[int, dict[str, int]]] = []
    for name in os.listdir(folder):
        if not name.startswith("cg.out."):
            continue  # cg.out itself is the final dump at exit: nothing is collected there
        with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        part, total, events = _PART.search(text), _TOTAL.search(text), _EVENTS.search(text)
        if part and total:
            names = events.group(1).split() if events else ["Ir"]
            values = [int(v) for v in total.group(1).split()]
            parts.append((int(part.group(1)), dict(zip(names, values + [0] * len(names)))))
    return [totals for _, totals in sorted(parts, key=lambda p: p[0])]


def callgrind_available() -> tuple[bool, str]:
    """Can :func:`instructions` use callgrind here?

    Returns:
        ``(True, valgrind's path)`` or ``(False, why not and how to install it)``.
    """
    if platform.system() != "Linux":
        return False, (f"callgrind is used on Linux only ({platform.system() or 'this OS'} here): "
                       + _INSTALL)
    path = shutil.which("valgrind")
    if path is None:
        return False, "valgrind is not on the PATH: " + _INSTALL
    try:
        importlib.import_module("course_lib._c._perfev")  # only: is it built?
    except ImportError:
        return False, ("course_lib._c._perfev is not built: run `make setup` (or `python setup.py "
                       "build_ext --inplace`)")
    return True, path


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    env.pop("PYTHONSTARTUP", None)
    env.update(extra or {})
    return env


def _callgrind(t: _Target, args: tuple, kwargs: dict, repeat: int, include_first_call: bool,
               timeout: float, valgrind: str, late: bool | None = None,
               env: dict[str, str] | None = None, branch_sim: bool = False) -> InstructionCount:
    """Run the driver under callgrind. ``late``: instrument only from the regions on (None:
    whenever the build has valgrind's header; False: from the start, slower)."""
    from course_lib._c._perfev import lib

    instrument = bool(lib.perfev_has_client_requests()) if late is None else late
    try:
        payload = pickle.dumps((args, kwargs))
    except Exception as exc:  # pickling raises many kinds
        raise TypeError(f"instructions(): the arguments must be picklable to reach the "
                        f"subprocess: {exc}") from None
    path = [os.getcwd() if p == "" else p for p in sys.path]
    with tempfile.TemporaryDirectory(prefix="course-callgrind-") as tmp:
        job = os.path.join(tmp, "job.pkl")
        with open(job, "wb") as f:
            pickle.dump({"path": path, "module": t.module, "qualname": t.qualname,
                         "source": t.source, "name": t.name, "args": payload, "repeat": repeat,
                         "include_first_call": include_first_call, "instrument": instrument}, f)
        driver = os.path.join(tmp, "driver.py")
        with open(driver, "w", encoding="utf-8") as f:
            f.write(_DRIVER)
        command = [valgrind, "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
                   "--collect-atstart=no", "--toggle-collect=perfev_region",
                   "--dump-after=perfev_region", "--dump-line=no",
                   *(["--branch-sim=yes"] if branch_sim else []),
                   *(["--instr-atstart=no"] if instrument else []),
                   f"--log-file={tmp}/valgrind.log", sys.executable, driver, job]
        start = time.perf_counter()
        try:
            proc = subprocess.run(command, env=_env(env), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"instructions(): callgrind did not finish within timeout={timeout:g} s counting "
                f"{t.label}. Under callgrind code runs 20-100 times slower than natively (and "
                "Python's start-up takes seconds): count a smaller input and scale, or pass a "
                "larger timeout") from None
        seconds = time.perf_counter() - start
        report: dict[str, Any] = {}
        if os.path.exists(job + ".json"):
            with open(job + ".json", encoding="utf-8") as f:
                report = json.load(f)
        if not report.get("ok"):
            log = ""
            if os.path.exists(f"{tmp}/valgrind.log"):
                with open(f"{tmp}/valgrind.log", encoding="utf-8", errors="replace") as f:
                    log = f.read()[-2000:]
            detail = (report.get("error") or (proc.stderr[-2000:] + log)
                      or f"exit status {proc.returncode}")
            raise RuntimeError(f"instructions(): counting {t.label} under callgrind failed:\n"
                               f"{detail}")
        totals = _read_dumps(tmp)
    # Instrumented from the start, callgrind also sees the warm-up regions; either way the last
    # repeat + 1 regions are the baseline and the target's calls.
    if len(totals) < 2 + repeat:
        raise RuntimeError(f"instructions(): callgrind wrote {len(totals)} counts for "
                           f"{2 + repeat} regions; is perfev_region inlined or renamed?")
    base = totals[-repeat - 1]
    baseline = base["Ir"]
    counts = tuple(max(0, c["Ir"] - baseline) for c in totals[-repeat:])
    first = totals[-repeat]
    branches = max(0, first["Bc"] - base["Bc"]) if branch_sim and "Bc" in first else None
    misses = max(0, first["Bcm"] - base["Bcm"]) if branch_sim and "Bcm" in first else None
    note = None
    if not report.get("on_valgrind", True) and instrument:
        note = "the driver did not see valgrind (its client requests did not answer)"
    return InstructionCount(counts[0], counts, baseline, "callgrind", note, t.label, seconds,
                            include_first_call, tuple(command), branches, misses)


def _perf(t: _Target, args: tuple, kwargs: dict, repeat: int, include_first_call: bool,
          why_not_callgrind: str) -> InstructionCount | None:
    from course_lib.profile.counters import counters, perf_available

    usable, _ = perf_available()
    if not usable:
        return None
    fn = _load(t)
    start = time.perf_counter()
    if not include_first_call:
        fn(*args, **kwargs)
    # The baseline: the same counting machinery around a call that does nothing.
    base = counters(lambda *a, **k: None, *args, events=("instructions",), threads="this",
                    repeat=3, **kwargs)["instructions"] or 0
    runs = counters(fn, *args, events=("instructions",), threads="this", repeat=repeat,
                    **kwargs).runs
    counts = tuple(max(0, (r["instructions"] or 0) - base) for r in runs)
    note = ("the CPU's hardware counter, user space only: close but not exact (it varies by a "
            "few hundred instructions run to run); callgrind would be exact, but "
            f"{why_not_callgrind}")
    return InstructionCount(counts[0], counts, base, "perf_event", note, t.label,
                            time.perf_counter() - start, include_first_call)


def instructions(target: Callable[..., Any] | str, *args: Any, repeat: int = 1,
                 include_first_call: bool = False, method: str = "auto", timeout: float = 120.0,
                 source: str | None = None, setup: str = "", env: dict[str, str] | None = None,
                 branch_sim: bool = False, **kwargs: Any) -> InstructionCount:
    """Count the instructions that one call of ``target(*args, **kwargs)`` executes.

    Args:
        target: a function or numba function (from a module, or defined in a notebook: see
            the module's docstring for what can be carried), or ``"module:function"``; with
            ``source=``, the name of the function that source defines.
        *args, **kwargs: its arguments (pickled to the subprocess).
        repeat: count that many calls, one after the other in the same process (their counts
            are in ``.counts``; ``.count`` is the first).
        include_first_call: count the very first call too: numba's compilation, lazy imports.
            Compiling under callgrind takes minutes: raise ``timeout``.
        method: ``"auto"`` (callgrind, else the hardware counter), ``"callgrind"`` or
            ``"perf"`` (only that one).
        timeout: seconds the callgrind subprocess may run.
        source: Python source that defines ``target`` (and what it needs).
        setup: Python source run before the function's own, in the same namespace (extra
            imports, constants).
        env: environment variables for the callgrind subprocess, on top of the ones set for
            repeatability (``PYTHONHASHSEED=0``, one OpenMP/BLAS/numba thread).
        branch_sim: also simulate branch prediction (callgrind's ``--branch-sim=yes``): the
            result's ``branches``, ``branch_misses`` and ``branch_miss_rate``. The predictor is
            a model (a table of 2-bit counters), not your CPU's, but deterministic, and it
            tells predictable from unpredictable branches as a real one does.

    Returns:
        An :class:`InstructionCount`; ``count`` is None, with the reason, where no method
        works here (no valgrind and no hardware counter). Never raises for that.

    Raises:
        TypeError: ``target`` is not callable or a string; arguments that cannot be pickled.
        ValueError: a malformed ``"module:function"``, a function that cannot be carried, bad
            ``repeat`` or ``method``.
        TimeoutError: callgrind ran past ``timeout``.
        RuntimeError: the target failed in the subprocess (the message holds its traceback).

    Example:
        >>> instructions("math:factorial", 200)                 # doctest: +SKIP
        12,345 instructions per call of math:factorial (callgrind, exact; ...)
    """
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"instructions(repeat=...): an int >= 1, got {repeat!r}")
    if method not in ("auto", "callgrind", "perf"):
        raise ValueError(f"instructions(method=...): 'auto', 'callgrind' or 'perf', got {method!r}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise ValueError(f"instructions(timeout=...): a number of seconds > 0, got {timeout!r}")
    if not isinstance(setup, str):
        raise TypeError(f"instructions(setup=...): setup must be text, got {type(setup).__name__}")
    if env is not None and not (isinstance(env, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
        raise TypeError(f"instructions(env=...): a dict of str to str, got {env!r}")
    t = _target(target, source, setup)
    why_not = ""
    if method in ("auto", "callgrind"):
        ok, where = callgrind_available()
        if ok:
            return _callgrind(t, args, kwargs, repeat, include_first_call, float(timeout), where,
                              env=env, branch_sim=bool(branch_sim))
        why_not = where
    perf_why = ""
    if method in ("auto", "perf"):
        counted = _perf(t, args, kwargs, repeat, include_first_call,
                        why_not or "method='perf' was asked for")
        if counted is not None:
            return counted
        from course_lib.profile.counters import perf_available
        perf_why = perf_available()[1]
    reasons = []
    if why_not:
        reasons.append(f"not available: {why_not}")
    if perf_why:
        reasons.append(f"and the hardware instruction counter is not usable either: {perf_why}")
    return InstructionCount(None, reason="; ".join(reasons), target=t.label,
                            include_first_call=include_first_call)

