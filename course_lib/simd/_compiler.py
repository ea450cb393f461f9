"""The C compiler behind :mod:`course_lib.simd.snippet`: finding it, asking it, reading its errors.

Here are the compile errors (:class:`CompileError`, :class:`CompilerNotFound`, and the parsed
:class:`Diagnostic` messages), the compile and link commands setuptools would use, running the
compiler with a time limit, identifying it (name, version, target), and probing which flags it
accepts. The public names are re-exported by :mod:`course_lib.simd.snippet`; import them from
there.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = ["Diagnostic", "CompileError", "CompilerNotFound", "parse_diagnostics", "accepts",
           "compiler", "PROBED_FLAGS"]

#: Every compiler call stops after this many seconds (a wedged compiler must not hang a kernel).
_TIMEOUT = 300
#: The flags :func:`compiler` reports on (those the chapter's experiments use).
PROBED_FLAGS = ("-O0", "-O1", "-O2", "-O3", "-march=native", "-mcpu=native", "-flto",
                "-fno-semantic-interposition", "-fprofile-generate", "-fprofile-use",
                "-fprofile-update=atomic", "-fprofile-instr-generate", "-masm=intel",
                "-fno-asynchronous-unwind-tables", "-ffast-math", "-fopt-info-vec")


# ----------------------------------------------------------------------------- errors
@dataclass(frozen=True)
class Diagnostic:
    """One message of the compiler, as it wrote it.

    Attributes:
        file: the file it names (``snippet.c``, or the name given to :func:`compile_c`).
        line, column: where, in that file (column 0 when the compiler gave none).
        kind: ``error``, ``fatal error``, ``warning`` or ``note``.
        message: the text after ``error:``.
        text: the full message with the compiler's excerpt of the source and its caret.
    """

    file: str
    line: int
    column: int
    kind: str
    message: str
    text: str


class CompileError(RuntimeError):
    """The C compiler refused the source (or cffi could not build the module around it).

    ``str(error)`` is the compiler's own error lines; ``diagnostics`` holds them parsed (file,
    line, column, message), ``stderr`` everything the compiler wrote, ``command`` what ran.
    """

    def __init__(self, message: str, diagnostics: Iterable[Diagnostic] = (), stderr: str = "",
                 command: Iterable[str] = ()):
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)
        self.stderr = stderr
        self.command = tuple(command)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Only the errors (no warnings or notes)."""
        return tuple(d for d in self.diagnostics if "error" in d.kind)


class CompilerNotFound(CompileError):
    """There is no C compiler where Python's configuration (or ``CC``) says it is."""


_DIAG = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)?\s*"
                   r"(?P<kind>fatal error|error|warning|note):\s*(?P<msg>.*)$")
_HEADER = re.compile(r"^[^\s:][^:]*: (In function|At top level|In file included)|^In file included")


def parse_diagnostics(stderr: str) -> list[Diagnostic]:
    """Split compiler output (GCC or clang style) into :class:`Diagnostic` records.

    A diagnostic is a ``file:line[:col]: kind: message`` line plus the lines under it that are
    not another diagnostic (the source excerpt and caret). ``In function 'f':`` headers are kept
    with the next diagnostic.
    """
    out: list[Diagnostic] = []
    header: list[str] = []
    current: dict | None = None

    def close() -> None:
        if current is not None:
            out.append(Diagnostic(current["file"], current["line"], current["col"],
                                  current["kind"], current["msg"], "\n".join(current["lines"])))

    for raw in stderr.splitlines():
        m = _DIAG.match(raw)
        if m:
            close()
            current = {"file": m["file"], "line": int(m["line"]), "col": int(m["col"] or 0),
                       "kind": m["kind"], "msg": m["msg"].strip(), "lines": header + [raw]}
            header = []
        elif _HEADER.match(raw):
            close()
            current, header = None, [raw]
        elif (current is not None and raw.strip()
              and not re.match(r"compilation terminated|\d+ (errors?|warnings?)( and| generated)", raw)):
            current["lines"].append(raw)
    close()
    return out


def _error_from_output(stderr: str, command: list[str], what: str) -> CompileError:
    diags = parse_diagnostics(stderr)
    wanted = [d for d in diags if "error" in d.kind or d.kind == "note"]
    if any("error" in d.kind for d in wanted):
        body = "\n".join(d.text for d in wanted)
    else:  # a linker error or something else without file:line: show the end of what it said
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        body = "\n".join(lines[-25:]) or "(the compiler said nothing)"
    return CompileError(f"{what}\n{body}", diags, stderr, command)


# ----------------------------------------------------------------------------- the compiler
def _distutils() -> tuple[Any, Any]:
    importlib.import_module("setuptools")  # installs setuptools' copy of distutils

    try:
        from setuptools._distutils.ccompiler import new_compiler
        from setuptools._distutils.sysconfig import customize_compiler
    except ImportError:  # pragma: no cover - older setuptools
        from distutils.ccompiler import new_compiler  # type: ignore
        from distutils.sysconfig import customize_compiler  # type: ignore
    return new_compiler, customize_compiler


def _commands() -> tuple[list[str], list[str]]:
    """The compile command (argv prefix) and link command setuptools would use right now."""
    new_compiler, customize_compiler = _distutils()
    cc = new_compiler()
    customize_compiler(cc)
    compile_cmd = list(getattr(cc, "compiler_so", None) or ["cc"])
    link_cmd = list(getattr(cc, "linker_so", None) or compile_cmd[:1] + ["-shared"])
    return compile_cmd, link_cmd


def _compile_cmd() -> list[str]:
    """Python's compile command, without flags that break ``-S`` (several ``-arch`` on macOS).

    Raises:
        CompilerNotFound: the program it names is not installed.
    """
    cmd, _ = _commands()
    program = cmd[0]
    if shutil.which(program) is None:
        origin = ("the CC environment variable" if os.environ.get("CC")
                  else "Python's build configuration (sysconfig CC)")
        raise CompilerNotFound(
            f"no C compiler: {origin} names {program!r}, which is not installed or not on PATH.\n"
            "Install one (Debian/Ubuntu: `sudo apt install gcc`; Fedora: `sudo dnf install gcc`; "
            "macOS: `xcode-select --install`; conda: `conda install c-compiler`), or set CC to a "
            "compiler that is, e.g. `%env CC=gcc` in a notebook.", command=cmd)
    out, skip = [], False
    for word in cmd:
        if skip:
            skip = False
        elif word == "-arch":
            skip = True
        else:
            out.append(word)
    return out


def _run(cmd: list[str], cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
         stdin: str | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, LC_ALL="C", **(env or {}))
    try:
        return subprocess.run(cmd, cwd=cwd, env=full_env, input=stdin, capture_output=True,
                              text=True, errors="replace", timeout=_TIMEOUT)
    except FileNotFoundError as exc:
        raise CompilerNotFound(f"cannot run {cmd[0]!r}: {exc}", command=cmd) from None
    except subprocess.TimeoutExpired:
        raise CompileError(f"the compiler ran for more than {_TIMEOUT} s and was stopped",
                           command=cmd) from None


@functools.lru_cache(maxsize=8)
def _identify(cmd: tuple[str, ...]) -> dict:
    macros = _run(list(cmd) + ["-dM", "-E", "-x", "c", "-"], stdin="").stdout
    defined = dict(re.findall(r"^#define (\w+) ?(.*)$", macros, re.M))
    if "__clang__" in defined:
        name = "apple clang" if "__apple_build_version__" in defined else "clang"
        version = ".".join(defined.get(k, "?") for k in
                           ("__clang_major__", "__clang_minor__", "__clang_patchlevel__"))
    elif "__GNUC__" in defined:
        name = "gcc"
        version = ".".join(defined.get(k, "?") for k in
                           ("__GNUC__", "__GNUC_MINOR__", "__GNUC_PATCHLEVEL__"))
    else:
        name, version = "unknown", "?"
    target = _run(list(cmd[:1]) + ["-dumpmachine"]).stdout.strip()
    machine = (target.split("-")[0] or platform.machine()).lower()
    arch = ("x86" if machine in ("x86_64", "amd64", "i386", "i686") else
            "arm" if machine.startswith(("aarch64", "arm")) else machine)
    return {"name": name, "version": version, "full_version": defined.get("__VERSION__", "").strip('"'),
            "target": target, "arch": arch}


# ----------------------------------------------------------------------------- flags
@functools.lru_cache(maxsize=256)
def _accepts(cmd: tuple[str, ...], flag: str) -> bool:
    with tempfile.TemporaryDirectory(prefix="course-probe-") as d:
        src = Path(d, "probe.c")
        src.write_text("int course_probe(int x) { return x + 1; }\n")
        # clang only *warns* about many flags it does not support: make that an error there
        # (not for GCC, which rejects unknown flags, and warns about -fprofile-use without data).
        strict = ["-Werror"] if _identify(cmd)["name"] != "gcc" else []
        r = _run(list(cmd) + [flag] + strict + ["-c", str(src), "-o", str(Path(d, "probe.o"))])
        return r.returncode == 0


def accepts(flag: str) -> bool:
    """Whether the compiler accepts ``flag`` (it compiles a tiny file with it; cached).

    Returns False, never raises, when there is no compiler at all.

    Example:
        >>> accepts("-O2")
        True
    """
    try:
        return _accepts(tuple(_compile_cmd()), flag)
    except CompileError:
        return False


def compiler() -> dict:
    """Which C compiler :func:`compile_c` uses, and which of the chapter's flags it accepts.

    Returns:
        ``{"name": "gcc" | "clang" | "apple clang" | "unknown" | None, "version": "12.2.0",
        "command": "gcc -Wsign-compare ... -fPIC", "target": "x86_64-linux-gnu",
        "arch": "x86" | "arm" | ..., "flags": {"-O3": True, "-march=native": True, ...},
        "error": None}``. Without a compiler, ``name`` is None and ``error`` says why; it never
        raises. The answers are cached for the session.
    """
    try:
        cmd = tuple(_compile_cmd())
        info = dict(_identify(cmd))
    except CompileError as exc:
        return {"name": None, "version": None, "command": None, "target": None,
                "arch": platform.machine(), "flags": {}, "error": str(exc)}
    info["command"] = shlex.join(cmd)
    info["flags"] = {flag: _accepts(cmd, flag) for flag in PROBED_FLAGS}
    info["error"] = None
    return info


def _asm_flags(cmd: tuple[str, ...], arch: str) -> list[str]:
    """The flags added for ``-S``: they change the bookkeeping around the code, not the code."""
    extra = ["-g0"]
    for flag in ("-fno-asynchronous-unwind-tables",) + (("-masm=intel",) if arch == "x86" else ()):
        if _accepts(cmd, flag):
            extra.append(flag)
    return extra


# ----------------------------------------------------------------------------- capturing output
@contextlib.contextmanager
def _quiet_fds():
    """Send what the compiler prints on file descriptors 1 and 2 to a buffer we can read."""
    captured: list[str] = []
    with tempfile.TemporaryFile() as sink:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        py_out = io.StringIO()
        try:
            with contextlib.redirect_stdout(py_out), contextlib.redirect_stderr(py_out):
                yield captured
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace") + py_out.getvalue())
