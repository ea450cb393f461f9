"""Compile a few lines of C from a notebook cell, call them from Python, and read their assembly.

``compile_c(source)`` turns C text into a loaded module, through cffi's *API mode*: cffi writes a
small CPython extension around the source, and the C compiler that built Python compiles it with
the flags you pass. Then:

* ``snip.lib.saxpy(...)`` calls a C function (cffi releases the GIL around the call);
* ``snip.ptr(array)`` hands a NumPy array to C as a pointer of the matching type
  (``float *`` for float32, ``double *`` for float64, ``int64_t *`` ...), without a copy;
* ``snip.asm("saxpy")`` shows the instructions the compiler chose for that function, with the
  assembler's bookkeeping (directives) removed, so that ``-O2`` and ``-O3 -march=native`` can be
  read side by side.

Caching: the module is built in a folder named after a hash of everything that shapes it (the
source, the cdef, the flags, the compiler and its version, Python, cffi). Compiling the same
source with the same flags again, even in a new kernel, only loads the finished module; changing
one flag builds another one. The folder is ``$COURSE_CACHE/snippets`` when ``COURSE_CACHE`` is
set, else ``$XDG_CACHE_HOME/course_lib/snippets`` (``~/.cache/course_lib/snippets``); if it is
not writable, a folder under the system's temporary directory. Delete it at any time.

Which compiler: the one Python's own build names (``sysconfig``'s ``CC``, usually ``gcc`` on
Linux and ``clang`` on macOS), or the ``CC`` environment variable when set, exactly as
setuptools would choose. Python's own compile flags come first (``-O3 -Wall -fwrapv -fPIC`` on
a typical Linux build) and yours after them; for GCC and clang the *last* ``-O`` wins, so
``flags=("-O0",)`` really means ``-O0``. With ``flags=()`` you get Python's ``-O3``.

Declarations: cffi needs the C prototypes of what Python may call (its *cdef*). When ``cdef`` is
left out, they are read from the source: every top-level function definition that is not
``static`` and whose return and parameter types are plain C scalars or pointers to them
(``void``, ``char``/``short``/``int``/``long`` and their ``unsigned`` forms, ``float``,
``double``, ``size_t``, ``ptrdiff_t``, ``int8_t`` ... ``uint64_t``, ``bool``/``_Bool``, with
``const``/``restrict``/``volatile``, ``*`` and ``[]``). Structs, typedefs, function pointers,
macros that expand to types, and definitions hidden behind ``#if`` are not understood: pass
``cdef="..."`` (the prototypes, one per line) for those.

Errors: the source is first compiled on its own, so a mistake is reported by the compiler with
the line numbers of *your* text (``snippet.c:3:12: error: 'y' undeclared``), as a
:class:`CompileError`, without cffi's and setuptools' traceback around it.

Source: the cffi documentation, "Main mode of usage" (API mode, ``set_source``, ``compile``) and
"Using the ffi/lib objects" (``ffi.from_buffer``); the GCC manual, "Options Controlling the Kind
of Output" (``-S``) and "Options for Code Generation Conventions"
(``-fasynchronous-unwind-tables``).

Thread-safety: builds are serialised by a lock (cffi changes the working directory while it
compiles); a finished :class:`Snippet` may be used from any thread.

Layout: this module builds, caches and loads; the compiler itself (finding it, running it,
probing flags, reading its errors) is in ``_compiler``, the cdef reader in ``_cdef``, and the
handling of assembly text in ``_asmtext``. Their public names are re-exported here.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import re
import shlex
import shutil
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from course_lib.simd._asmtext import _asm_functions, _disassemble, strip_asm_comment, trim_asm
from course_lib.simd._cdef import derive_cdef
from course_lib.simd._compiler import (PROBED_FLAGS, CompileError, CompilerNotFound, Diagnostic,
                                       _asm_flags, _commands, _compile_cmd, _error_from_output,
                                       _identify, _quiet_fds, _run, accepts, compiler,
                                       parse_diagnostics)

__all__ = ["compile_c", "Snippet", "CompileError", "CompilerNotFound", "Diagnostic",
           "compiler", "accepts", "cache_dir", "derive_cdef", "trim_asm", "parse_diagnostics",
           "build_info", "strip_asm_comment", "PROBED_FLAGS"]

# The classes are defined in _compiler, but learners meet them here: name them after this module
# in tracebacks and reprs, as before the split.
for _cls in (Diagnostic, CompileError, CompilerNotFound):
    _cls.__module__ = __name__
del _cls

#: Bump when the layout of a cached build changes, so that old folders are not reused.
_FORMAT = 1
# Added to the prelude of every snippet: the fixed-width types are too common to forget.
_PRELUDE = "#include <stddef.h>\n#include <stdint.h>\n#include <stdbool.h>\n"

_BUILD_LOCK = threading.Lock()
# Compile flags that the link step needs too (the GCC manual: "-flto and optimization options
# should be specified at compile time and during the final link"; profiling needs its run-time).
_LINK_TOO = ("-flto", "-fprofile-generate", "-fprofile-instr-generate", "-fprofile-arcs",
             "--coverage", "-fsanitize")


# ----------------------------------------------------------------------------- the cache
def cache_dir() -> Path:
    """The folder holding compiled snippets (created if needed; see the module's docstring)."""
    from course_lib import config

    chosen = config.cache_dir()  # COURSE_CACHE
    if chosen and chosen.strip():
        candidates = [Path(chosen.strip()).expanduser() / "snippets"]
    else:
        base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
        candidates = [Path(base).expanduser() / "course_lib" / "snippets"]
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    candidates.append(Path(tempfile.gettempdir()) / f"course_lib-snippets-{uid}")
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=d, prefix=".probe-"):
                pass
            return d
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix="course_lib-snippets-"))


# ----------------------------------------------------------------------------- results
_NP_CTYPES = {"float32": "float", "float64": "double", "int8": "int8_t", "int16": "int16_t",
              "int32": "int32_t", "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t",
              "uint32": "uint32_t", "uint64": "uint64_t", "bool": "_Bool"}


@dataclass(eq=False)
class Snippet:
    """A compiled piece of C, loaded.

    Attributes:
        lib: the C functions (``snip.lib.total(snip.ptr(x), x.size)``).
        ffi: cffi's ``FFI`` of the module (``ffi.new``, ``ffi.cast``, ``ffi.from_buffer``...).
        flags: the compile flags passed to :func:`compile_c` (after Python's own).
        link_flags: the extra link flags.
        name: the file name the source was given (``snippet.c`` by default).
        cdef: the prototypes cffi knows.
        directory: the build folder (sources, ``.s`` files, the module).
        path: the compiled module file.
        warnings: what the compiler printed besides errors: warnings (Python's build turns
            ``-Wall`` on) and the remarks of flags such as ``-fopt-info-vec`` (GCC) or
            ``-Rpass=loop-vectorize`` (clang).
        cached: True when this build was found ready in the cache.
        build_seconds: how long the build took (0 when cached).
    """

    module_name: str
    name: str
    flags: tuple[str, ...]
    link_flags: tuple[str, ...]
    cdef: str
    directory: Path
    path: Path
    sources: tuple[str, ...]
    warnings: str = ""
    cached: bool = False
    build_seconds: float = 0.0
    _module: Any = field(default=None, repr=False)

    # -- loading ---------------------------------------------------------------------------
    def _load(self) -> Any:
        if self._module is None:
            spec = importlib.util.spec_from_file_location(self.module_name, self.path)
            if spec is None or spec.loader is None:
                raise CompileError(f"cannot load the compiled module {self.path}")
            try:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except ImportError as exc:
                missing = re.search(r"undefined symbol: (\w+)", str(exc))
                hint = (f": {missing.group(1)!r} is declared or used but defined nowhere (not in "
                        "the source, not in extra_sources)" if missing else "")
                raise CompileError(f"the module was built but does not load{hint}\n{exc}") from None
            self._module = module
        return self._module

    @property
    def lib(self) -> Any:
        return self._load().lib

    @property
    def ffi(self) -> Any:
        return self._load().ffi

    @property
    def functions(self) -> list[str]:
        """The names of the functions Python can call."""
        return re.findall(r"(\w+)\s*\([^()]*\)\s*;", self.cdef)

    # -- arrays ----------------------------------------------------------------------------
    def ptr(self, array: Any, ctype: str | None = None) -> Any:
        """A C pointer to the first element of a NumPy array (no copy; it keeps the array alive).

        Args:
            array: a C-contiguous NumPy array of float32/64, (u)int8..64 or bool, in the
                machine's byte order.
            ctype: the C element type to use instead of the one the dtype gives (for
                ``long *`` parameters on int64 data, say: cffi treats ``long`` and ``int64_t``
                as different types).
        Returns:
            A cffi ``T[]`` object, accepted wherever the function takes ``T *``.
        Raises:
            TypeError: not an array, or a dtype with no C type here.
            ValueError: the array is not C-contiguous (a slice with a step, a transpose):
                C walks memory element after element; pass ``np.ascontiguousarray(a)``.
        Note:
            C may write through the pointer even when the array is read-only: only pass
            read-only arrays to ``const`` parameters.
        """
        import numpy as np

        if not isinstance(array, np.ndarray):
            raise TypeError(f"ptr() takes a NumPy array, got {type(array).__name__}")
        if ctype is None:
            if array.dtype.byteorder not in "=|" and array.dtype.itemsize > 1:
                raise TypeError(f"the array's byte order is not the machine's ({array.dtype}); "
                                "convert it with a.astype(a.dtype.newbyteorder('='))")
            ctype = _NP_CTYPES.get(array.dtype.name)
            if ctype is None:
                raise TypeError(f"no C type for dtype {array.dtype}; pass ctype='...' or use one "
                                f"of {', '.join(_NP_CTYPES)}")
        if not array.flags.c_contiguous:
            raise ValueError("the array is not C-contiguous (a strided slice or a transpose?): "
                             "C reads elements one after the other in memory; pass "
                             "np.ascontiguousarray(array) (a contiguous copy)")
        return self.ffi.from_buffer(f"{ctype}[]", array, require_writable=False)

    # -- assembly --------------------------------------------------------------------------
    @property
    def lto(self) -> bool:
        return any(f.startswith("-flto") for f in self.flags + self.link_flags)

    def asm(self, function_name: str | None = None) -> str:
        """The assembly the compiler wrote for ``function_name`` (all functions when None).

        It is the output of ``cc -S`` on the source with the same flags as the module
        (Python's first, then yours), plus ``-fno-asynchronous-unwind-tables -g0`` (and
        ``-masm=intel`` on x86, where accepted): those change only the bookkeeping around the
        code, not the code. Directives (lines starting with ``.``) and unused labels are
        removed. With ``-flto`` the machine code is only made at link time, so this returns
        :meth:`disassemble` of the built module instead.

        Raises:
            KeyError: no function of that name in the source (the message lists those there).
        """
        if self.lto:
            return self.disassemble(function_name)
        texts = [p.read_text(errors="replace") for p in self._asm_files()]
        if function_name is None:
            return "\n\n".join(trim_asm(t) for t in texts)
        for t in texts:
            found = trim_asm(t, function_name)
            if found:
                return found
        names = sorted({n for t in texts for n in _asm_functions(t)})
        raise KeyError(f"no function {function_name!r} in the assembly; it has: {', '.join(names)}")

    def _asm_files(self) -> list[Path]:
        return [self.directory / (Path(s).stem + ".s") for s in self.sources
                if (self.directory / (Path(s).stem + ".s")).exists()]

    def disassemble(self, function_name: str | None = None) -> str:
        """The machine code of the built module, as ``objdump -d`` reads it back.

        This is what really runs, after the linker (and, with ``-flto``, after link-time
        optimisation). Addresses and raw bytes are removed.

        Raises:
            CompileError: ``objdump`` is not installed.
            KeyError: no such function in the module.
        """
        return _disassemble(str(self.path), function_name)

    def __repr__(self) -> str:
        where = "cached" if self.cached else f"built in {self.build_seconds:.2f} s"
        fns = ", ".join(self.functions) or "no functions"
        return f"Snippet({self.name}: {fns}; flags {' '.join(self.flags) or '(none)'}; {where})"


# ----------------------------------------------------------------------------- building
_MEMORY: dict[str, Snippet] = {}


def _normalise_flags(flags: Any) -> tuple[str, ...]:
    if flags is None:
        return ()
    if isinstance(flags, str):
        return tuple(shlex.split(flags))
    return tuple(str(f) for f in flags)


def _prelude_flags() -> list[str]:
    return [w for h in re.findall(r"<([^>]+)>", _PRELUDE) for w in ("-include", h)]


def _safe_name(name: str | None) -> str:
    stem = Path(name).stem if name else "snippet"
    stem = re.sub(r"\W", "_", stem) or "snippet"
    return stem if not stem[0].isdigit() else "_" + stem


def compile_c(source: str, cdef: str | None = None, flags: Any = ("-O2",), name: str | None = None,
              extra_sources: Mapping[str, str] | None = None, link_flags: Any = ()) -> Snippet:
    """Compile C source into a module you can call from Python (cached by content).

    Args:
        source: the C text. It may use ``size_t``, ``int64_t`` and ``bool`` without includes.
        cdef: the prototypes of the functions to call from Python, one per line; by default
            read from the source (see the module's docstring for what that reader handles).
        flags: compile flags, as a sequence or one string (``"-O3 -march=native"``). They come
            after Python's own flags, so they win.
        name: the source's file name in messages and assembly (``"kernel"`` -> ``kernel.c``);
            default ``snippet``.
        extra_sources: more files for the same module, ``{"helper.c": text, "helper.h": text}``:
            ``.c`` files are compiled and linked in (a separate translation unit each: what
            the compiler sees of one while compiling another is only what is declared);
            headers can be included with ``#include "helper.h"``.
        link_flags: extra flags for the link step. When ``flags`` hold ``-flto``,
            ``-fprofile-generate`` (or another flag the link needs too) and ``link_flags`` do
            not, the compile flags are passed to the link as well.
    Returns:
        A :class:`Snippet`.
    Raises:
        CompileError: the compiler rejected the source; the message is its error lines, with
            your line numbers. :class:`CompilerNotFound` when there is no compiler.
        ValueError: no ``cdef`` was given and none could be read from the source.

    Example:
        >>> s = compile_c("double twice(double x) { return 2 * x; }")
        >>> s.lib.twice(21.0)
        42.0
    """
    return _build(source, cdef, flags, name, extra_sources, link_flags)


def _build(source: str, cdef: str | None, flags: Any, name: str | None,
           extra_sources: Mapping[str, str] | None, link_flags: Any,
           files: Mapping[str, bytes] | None = None, load: bool = True) -> Snippet:
    """:func:`compile_c`, plus ``files`` copied into the build folder before compiling (profile
    data for PGO) and ``load=False`` to build without loading (an instrumented module)."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a string of C code, got {type(source).__name__}")
    flags, link_flags = _normalise_flags(flags), _normalise_flags(link_flags)
    if any(f.startswith(_LINK_TOO) for f in flags) and not any(
            f.startswith(_LINK_TOO) for f in link_flags):
        link_flags = flags + link_flags  # these must be given to the link step as well
    stem = _safe_name(name)
    main_file = f"{stem}.c"
    extras = dict(extra_sources or {})
    files = dict(files or {})
    for fname in list(extras) + list(files):
        if Path(fname).name != fname or fname == main_file:
            raise ValueError(f"extra file names must be plain file names other than {main_file!r},"
                             f" got {fname!r}")
    skipped: list[str] = []
    if cdef is None:
        cdef, skipped = derive_cdef(source)
        if not cdef.strip():
            raise ValueError("no function to call was found in the source (only non-static "
                             "functions with plain scalar/pointer types are read): pass "
                             "cdef='double f(double x);' with the prototypes")
        if skipped:
            warnings.warn(f"{', '.join(skipped)}: types beyond the automatic cdef reader, so not "
                          "callable from Python; pass cdef=... to declare them", stacklevel=3)
    cmd = tuple(_compile_cmd())
    _, link_cmd = _commands()
    ident = _identify(cmd)
    key_material = json.dumps({
        "format": _FORMAT, "source": source, "cdef": cdef, "flags": flags, "link": link_flags,
        "name": stem, "extras": sorted(extras.items()),
        "files": sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items()),
        "cmd": cmd, "link_cmd": link_cmd, "compiler": ident, "python": sys.implementation.cache_tag,
        "platform": sysconfig.get_platform(), "cffi": _cffi_version()}, sort_keys=True)
    key = hashlib.sha256(key_material.encode()).hexdigest()
    if key in _MEMORY and (not load or _MEMORY[key]._module is not None):
        return _MEMORY[key]
    module_name = f"_cs_{stem}_{key[:16]}"
    root = cache_dir()
    final = root / module_name
    with _BUILD_LOCK:
        snip = _from_cache(final, module_name)
        if snip is None:
            snip = _build_in(root, final, module_name, source, cdef, flags, link_flags, stem,
                             extras, files, cmd, ident)
    if load:
        snip._load()
        _MEMORY[key] = snip
    return snip


def _cffi_version() -> str:
    import cffi

    return cffi.__version__


def _module_file(folder: Path, module_name: str) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = folder / (module_name + suffix)
        if p.exists():
            return p
    return None


def _from_cache(final: Path, module_name: str) -> Snippet | None:
    meta_path = final / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        so = _module_file(final, module_name)
        if so is None:
            return None
        return Snippet(module_name, meta["name"], tuple(meta["flags"]), tuple(meta["link_flags"]),
                       meta["cdef"], final, so, tuple(meta["sources"]), meta.get("warnings", ""),
                       cached=True)
    except (OSError, ValueError, KeyError):
        return None


def _build_in(root: Path, final: Path, module_name: str, source: str, cdef: str,
              flags: tuple[str, ...], link_flags: tuple[str, ...], stem: str,
              extras: dict[str, str], files: dict[str, bytes], cmd: tuple[str, ...],
              ident: dict) -> Snippet:
    from cffi import FFI
    from cffi import CDefError

    t0 = time.perf_counter()
    work = root / f".{module_name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        main_file = f"{stem}.c"
        # The file compiled on its own (for errors and assembly) is exactly the user's text;
        # the prelude's headers come in through -include, so line numbers are the user's.
        (work / main_file).write_text(source)
        for fname, text in extras.items():
            (work / fname).write_text(text)
        for fname, data in files.items():
            (work / fname).write_bytes(data)
        c_sources = [main_file] + [f for f in extras if f.endswith(".c")]
        asm_flags = _asm_flags(cmd, ident["arch"])
        notes = []
        for src in c_sources:
            full = (list(cmd) + list(flags) + asm_flags + (_prelude_flags() if src == main_file else [])
                    + ["-S", src, "-o", Path(src).stem + ".s"])
            r = _run(full, cwd=work)
            if r.returncode != 0:
                raise _error_from_output(r.stderr, full, f"the C compiler rejected {src} "
                                                         f"({' '.join(flags) or 'no flags'}):")
            if r.stderr.strip():
                notes.append(r.stderr.strip())
        ffi = FFI()
        try:
            ffi.cdef(cdef)
        except CDefError as exc:
            raise CompileError(f"cffi could not read the cdef (the prototypes):\n{exc}\n{cdef}") from None
        ffi.set_source(module_name, _PRELUDE + source, sources=c_sources[1:], include_dirs=["."],
                       extra_compile_args=list(flags), extra_link_args=list(link_flags))
        with _quiet_fds() as out:
            try:
                so_path = ffi.compile(tmpdir=str(work), verbose=False)
            except Exception as exc:  # cffi wraps distutils' CompileError/LinkError, and more
                failure = exc
            else:
                failure = None
        if failure is not None:
            text = (out[0] if out else "") or str(failure)
            raise _error_from_output(
                text, [], "the source compiles, but the module around it does not: does the cdef "
                          "match the definitions? (the file below is cffi's wrapper, which "
                          "includes your source)")
        for obj in work.glob("*.o"):
            obj.unlink()
        meta = {"name": main_file, "flags": flags, "link_flags": link_flags, "cdef": cdef,
                "sources": c_sources, "warnings": "\n".join(notes), "built_in": str(work),
                "compiler": ident}
        (work / "meta.json").write_text(json.dumps(meta, indent=1))
        if final.exists() and not (final / "meta.json").exists():  # a broken earlier build
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(work, final)
        except OSError:  # another process finished the same build first: use theirs
            shutil.rmtree(work, ignore_errors=True)
            found = _from_cache(final, module_name)
            if found is None:
                raise
            return found
        so = final / Path(so_path).name
        return Snippet(module_name, main_file, flags, link_flags, cdef, final, so,
                       tuple(c_sources), "\n".join(notes), cached=False,
                       build_seconds=time.perf_counter() - t0)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def build_info(snippet: Snippet) -> dict:
    """The build's record (``meta.json``): flags, sources, the folder it was first built in."""
    return json.loads((snippet.directory / "meta.json").read_text())
