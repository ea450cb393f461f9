"""Give numba's machine code names that ``perf`` can print: the ``/tmp/perf-<pid>.map`` file.

A sampling profiler such as ``perf`` records instruction addresses, then turns each address into
a function name by looking it up in the file that is mapped at that address (``python3.11``,
``libc.so.6``...), using the file's symbol table. Code that numba compiles lives in anonymous
memory that LLVM's JIT allocated at run time: no file, no symbol table, and perf prints
``[unknown]``. For such just-in-time code perf reads a plain text file, one line per function::

    /tmp/perf-<pid>.map:   START SIZE name        (START and SIZE in hexadecimal, no 0x)

This module writes that file for numba's compiled functions. For every compiled signature of a
dispatcher it needs two numbers:

1. **Where the function starts.** numba keeps the compiled code in a code library
   (``dispatcher.overloads[sig].library``); the library asks LLVM's execution engine for the
   address of a symbol (``library.get_pointer_to_function(name)``), where ``name`` is numba's
   mangled name of the function (``overload.fndesc.llvm_func_name``).
2. **How long it is.** The execution engine does not say. But the code was produced as an ELF
   object file before the JIT loaded it, and an ELF symbol table records each function's size
   (and its offset in its section). numba keeps that object (``library._compiled_object``)
   for freshly compiled code; for code loaded from numba's on-disk cache (``cache=True``) the
   same object is read back from the cache file. A small ELF reader below pulls the symbol
   table out of it. The JIT copies each section whole, so every function in the same section as
   a known one starts at ``known address + (its offset - known offset)``: that also names the
   Python-facing wrapper numba generates for each function, the C-callable ``cfunc`` wrapper,
   numba's runtime helpers, and the copies of other numba functions that were linked in.

Names look like ``numba:module.qualname[float64[::1],int64]`` (numba's array notation:
``[::1]`` is C-contiguous, ``[:]`` any layout), ``...#wrapper`` for the wrapper that unboxes
Python objects and ``...#cfunc`` for the C entry point.

The file is append-only (perf takes the last entry for an address); one process writes its own
file, and a lock keeps the lines of concurrent threads whole. After ``os.fork`` the child
starts a file of its own on its next call.

Rust ↔ Python: Rust code is compiled ahead of time, its symbols are in the binary and perf
names them at once; a JIT (the JVM with ``-XX:+DumpPerfMapAtExit``, V8 with ``--perf-basic-prof``,
CPython 3.12's ``-X perf``) has to write this map, and so does numba.

Source:
    ``tools/perf/Documentation/jit-interface.txt`` in the Linux sources (the map format); the
    ELF-64 object file format (System V ABI, "Symbol Table"); numba's ``numba/core/codegen.py``
    (``JITCodeLibrary``, the object cache hooks) and ``numba/core/caching.py``.

Thread-safety: every public function takes the module's lock while it writes or reads the list
of entries; compiling new signatures concurrently is numba's business (it has its own lock).
"""
from __future__ import annotations

import gc
import os
import re
import struct
import sys
import threading
from dataclasses import dataclass

__all__ = ["Entry", "register", "register_all", "entries", "path", "supported", "elf_functions",
           "pretty_signature", "demangle"]

_lock = threading.Lock()
_state = {"pid": None, "entries": {}, "rank": {}}  # start address -> Entry, this process only


@dataclass(frozen=True)
class Entry:
    """One line of the perf map: a function of compiled code.

    Attributes:
        start: the address of its first instruction.
        size: its length in bytes.
        name: the name perf prints.
        symbol: LLVM's (mangled) symbol name of the function.
        exact: True when the size comes from the object file's symbol table; False when it had
            to be estimated (the distance to the next known function).
    """

    start: int
    size: int
    name: str
    symbol: str
    exact: bool = True

    @property
    def end(self) -> int:
        return self.start + self.size

    def line(self) -> str:
        """The map line: ``START SIZE name`` in hexadecimal, without ``0x``."""
        return f"{self.start:x} {self.size:x} {self.name}\n"

    def __repr__(self) -> str:
        approx = "" if self.exact else " (size estimated)"
        return f"{self.start:#x} +{self.size:<6d} {self.name}{approx}"


def supported() -> tuple[bool, str]:
    """Whether anything reads a perf map here: ``(True, "")`` on Linux, else a reason."""
    if sys.platform.startswith("linux"):
        return True, ""
    return False, (f"perf maps are read by Linux perf only, and this is {sys.platform}: the "
                   "entries are still computed, no file is written")


def path(pid: int | None = None) -> str:
    """The map file of process ``pid`` (default: this process): ``/tmp/perf-<pid>.map``.

    perf looks there and nowhere else (not under ``$TMPDIR``).
    """
    return f"/tmp/perf-{os.getpid() if pid is None else int(pid)}.map"


# ------------------------------------------------------------------------------- ELF reading
_ELF_MAGIC = b"\x7fELF"
_SHT_SYMTAB = 2
_STT_FUNC = 2


def elf_functions(obj: bytes) -> dict[str, tuple[int, int, int]]:
    """The function symbols of an ELF-64 object file: ``{name: (section, offset, size)}``.

    Only defined functions (type ``STT_FUNC``, a real section index) are returned. In a
    relocatable object ``offset`` is the function's position inside its section.

    Raises:
        TypeError: ``obj`` is not bytes.
        ValueError: it is not a little- or big-endian 64-bit ELF file.

    Example:
        >>> elf_functions(b"not elf")
        Traceback (most recent call last):
        ...
        ValueError: not an ELF file (the first bytes are b'not ', expected b'\\x7fELF')
    """
    if not isinstance(obj, (bytes, bytearray, memoryview)):
        raise TypeError(f"elf_functions needs the object file's bytes, got {type(obj).__name__}")
    obj = bytes(obj)
    if obj[:4] != _ELF_MAGIC:
        raise ValueError(f"not an ELF file (the first bytes are {obj[:4]!r}, "
                         f"expected {_ELF_MAGIC!r})")
    if obj[4] != 2:
        raise ValueError("only 64-bit ELF files are read here (EI_CLASS is not ELFCLASS64)")
    end = "<" if obj[5] == 1 else ">"
    # ELF-64 header: section header table offset at 0x28, entry size / count / names index at 0x3A.
    (shoff,) = struct.unpack_from(end + "Q", obj, 0x28)
    shentsize, shnum, _shstrndx = struct.unpack_from(end + "HHH", obj, 0x3A)
    sections = []
    for i in range(shnum):
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info,
        # sh_addralign, sh_entsize
        sections.append(struct.unpack_from(end + "IIQQQQIIQQ", obj, shoff + i * shentsize))
    out: dict[str, tuple[int, int, int]] = {}
    for sh in sections:
        if sh[1] != _SHT_SYMTAB:
            continue
        sym_off, sym_size, link, entsize = sh[4], sh[5], sh[6], sh[9] or 24
        str_off = sections[link][4]
        for k in range(sym_size // entsize):
            # st_name, st_info, st_other, st_shndx, st_value, st_size
            name_at, info, _other, shndx, value, size = struct.unpack_from(
                end + "IBBHQQ", obj, sym_off + k * entsize)
            if info & 0xF != _STT_FUNC or shndx == 0 or shndx >= 0xFF00:
                continue
            stop = obj.index(b"\0", str_off + name_at)
            out[obj[str_off + name_at:stop].decode("utf-8", "replace")] = (shndx, value, size)
    return out


# ------------------------------------------------------------------------------- names
def pretty_signature(args) -> str:
    """A compact signature without spaces or ``;``: ``float64[::1],int64``.

    Arrays use numba's own notation: ``float64[::1]`` is C-contiguous, ``float64[::1,:]`` is
    Fortran-ordered, ``float64[:]`` any layout; other types print as numba prints them.
    """
    parts = []
    for t in args:
        dtype, ndim = getattr(t, "dtype", None), getattr(t, "ndim", None)
        layout = getattr(t, "layout", None)
        if dtype is not None and isinstance(ndim, int) and layout in ("C", "F", "A") and ndim > 0:
            dims = [":"] * ndim
            if layout == "C":
                dims[-1] = "::1"
            elif layout == "F":
                dims[0] = "::1"
            text = f"{dtype}[{','.join(dims)}]"
            if getattr(t, "mutable", True) is False:
                text = "readonly " + text
        else:
            text = str(t)
        parts.append(text)
    return re.sub(r"\s+", "", ",".join(parts)).replace(";", ",")


def _unescape(text: str) -> str:
    # numba writes characters outside [A-Za-z0-9_] as _xx (hex); decode the printable ones.
    def repl(m):
        ch = chr(int(m.group(1), 16))
        return ch if (ch.isprintable() and not ch.isalnum() and ch != "_") else m.group(0)

    return re.sub(r"_([0-9a-f]{2})", repl, text)


def demangle(symbol: str) -> str:
    """Undo numba's Itanium-style mangling, enough to read: ``_ZN2m14ksumB2v1B..E5Array..``
    becomes ``m1.ksum``. Names that are not mangled come back unchanged.

    Example:
        >>> demangle("_ZN8__main__3addB2v1B38c8tJTIeFIjxB2IKSgI4CrvQClQZ6FczSBAA_3dExx")
        '__main__.add'
        >>> demangle("NRT_decref")
        'NRT_decref'
        >>> demangle("__gufunc__._ZN13_3cdynamic_3e36__numba_parfor_gufunc_0x7f148a6f3c50B2v5Ex")
        '__gufunc__.<dynamic>.__numba_parfor_gufunc_0x7f148a6f3c50'
    """
    prefix = ""
    m = re.match(r"^([A-Za-z_$][\w$]*\.)(_Z.*)$", symbol)  # cfunc._Z..., __gufunc__._Z...
    if m:
        prefix, symbol = m.groups()
    if not symbol.startswith("_Z"):
        return prefix + symbol
    s = symbol[2:]
    nested = s.startswith("N")
    if nested:
        s = s[1:]
    parts, i = [], 0
    while i < len(s) and s[i].isdigit():
        j = i
        while j < len(s) and s[j].isdigit():
            j += 1
        n = int(s[i:j])
        parts.append(s[j:j + n])
        i = j + n
        while i < len(s) and s[i] == "B":  # ABI tags (numba's uid, target flags): skip
            j = i + 1
            k = j
            while k < len(s) and s[k].isdigit():
                k += 1
            if k == j:
                break
            i = k + int(s[j:k])
        if not nested:
            break
    if not parts:
        return prefix + symbol
    if parts[0] == "cpython":
        parts = parts[1:] + ["<cpython wrapper>"]
    return prefix + ".".join(_unescape(p) for p in parts)


def _readable(dispatcher, args, suffix: str = "") -> str:
    py = getattr(dispatcher, "py_func", None)
    mod = getattr(py, "__module__", None) or "?"
    qual = getattr(py, "__qualname__", None) or getattr(py, "__name__", "?")
    return f"numba:{mod}.{qual}[{pretty_signature(args)}]{suffix}".replace(" ", "")


# ------------------------------------------------------------------------------- the object code
def _object_code(dispatcher, args, cres) -> tuple[bytes | None, str]:
    """The ELF object that the JIT loaded for one overload, and where it was found."""
    lib = cres.library
    obj = getattr(lib, "_compiled_object", None)
    if obj:
        return bytes(obj), "numba's compiled object"
    cache = getattr(dispatcher, "_cache", None)
    cache_file = getattr(cache, "_cache_file", None)
    if cache_file is not None:
        try:
            from numba.core import sigutils

            for key, data_name in cache_file._load_index().items():
                sig = key[0]
                try:
                    key_args = tuple(sig) if isinstance(sig, tuple) else tuple(
                        sigutils.normalize_signature(sig)[0])
                except Exception:
                    continue
                if key_args != tuple(args):
                    continue
                payload = cache_file._load_data(data_name)
                _name, kind, data = payload[0]
                if kind == "object":
                    return bytes(data[0]), "numba's cache file"
        except Exception:  # a stale or foreign cache: fall through to the estimates
            pass
    try:
        defined = [f for f in lib._final_module.functions if not f.is_declaration]
        if defined:  # same module, same target machine: the same code again
            return bytes(lib._codegen._tm.emit_object(lib._final_module)), "re-emitted object"
    except Exception:
        pass
    return None, "no object code found"


def _overload_entries(dispatcher, args, cres, names: dict[str, str]) -> list[tuple[Entry, int]]:
    lib, fndesc = cres.library, cres.fndesc
    base = _readable(dispatcher, args)
    known = {fndesc.llvm_func_name: base,
             fndesc.llvm_cpython_wrapper_name: base + "#wrapper",
             "cfunc." + fndesc.llvm_func_name: base + "#cfunc"}
    addresses = {}
    for sym in known:
        try:
            a = lib.get_pointer_to_function(sym)
        except Exception:
            a = 0
        if a:
            addresses[sym] = int(a)
    if not addresses:
        return []

    def name_of(sym):  # the name, and how sure we are of it (2: this overload, 1: another one)
        if sym in known:
            return known[sym], 2
        if sym in names:
            return names[sym], 1
        return "numba:" + demangle(sym).replace(" ", ""), 0

    obj, _how = _object_code(dispatcher, args, cres)
    out: list[tuple[Entry, int]] = []
    if obj is not None:
        try:
            funcs = elf_functions(obj)
        except ValueError:
            funcs = {}
        anchors = {}  # section -> (address, offset) of a function whose address LLVM told us
        for sym, addr in addresses.items():
            if sym in funcs:
                sec, off, _ = funcs[sym]
                if sec in anchors:
                    a0, o0 = anchors[sec]
                    if a0 - o0 != addr - off:  # the layout is not what the object says: give up
                        anchors = {}
                        break
                else:
                    anchors[sec] = (addr, off)
        for sym, (sec, off, size) in funcs.items():
            if sec in anchors and size > 0:
                a0, o0 = anchors[sec]
                name, rank = name_of(sym)
                out.append((Entry(a0 - o0 + off, size, name, sym, True), rank))
        if out:
            return out
    # No object: the entry points only, each up to the next one (or 4 KiB for the last).
    starts = sorted((a, s) for s, a in addresses.items())
    for k, (a, sym) in enumerate(starts):
        size = starts[k + 1][0] - a if k + 1 < len(starts) else 4096
        name, rank = name_of(sym)
        out.append((Entry(a, max(size, 1), name, sym, False), rank))
    return out


def _is_dispatcher(obj) -> bool:
    try:
        from numba.core.dispatcher import Dispatcher
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    try:
        return isinstance(obj, Dispatcher)
    except ReferenceError:  # a weak proxy whose object is gone (the gc lists those too)
        return False


def _reset_after_fork() -> None:
    if _state["pid"] != os.getpid():
        _state["pid"] = os.getpid()
        _state["entries"], _state["rank"] = {}, {}


def _write(dispatchers) -> list[Entry]:
    names: dict[str, str] = {}
    todo = []
    for d in dispatchers:
        for args, cres in list(d.overloads.items()):
            if getattr(cres, "objectmode", False) or getattr(cres, "library", None) is None:
                continue
            names[cres.fndesc.llvm_func_name] = _readable(d, args)
            todo.append((d, args, cres))
    new: list[Entry] = []
    with _lock:
        _reset_after_fork()
        seen, ranks = _state["entries"], _state["rank"]
        for d, args, cres in todo:
            for e, rank in _overload_entries(d, args, cres, names):
                old = seen.get(e.start)
                # A later line for the same address wins in perf: write one only if it is better
                # (an exact size where it was estimated, a dispatcher's name where it was guessed).
                if old is None or (e.exact, rank) > (old.exact, ranks[e.start]):
                    seen[e.start], ranks[e.start] = e, rank
                    new.append(e)
        ok, _ = supported()
        if ok and new:
            with open(path(), "a", encoding="utf-8") as f:
                f.writelines(e.line() for e in new)
    return new


def register(*dispatchers) -> list[Entry]:
    """Write perf map entries for every compiled signature of these numba functions.

    Call it after the functions have been compiled (after a first call): a signature compiled
    later needs another call. Entries already written are not written again.

    Args:
        *dispatchers: functions made by ``numba.njit`` (or ``jit``/``vectorize`` dispatchers).

    Returns:
        The entries written now (empty if there was nothing new).

    Raises:
        TypeError: an argument is not a numba dispatcher.

    Example:
        >>> import numpy as np
        >>> from numba import njit
        >>> @njit
        ... def total(a):
        ...     return a.sum()
        >>> _ = total(np.ones(3))
        >>> [e.name for e in register(total) if "wrapper" not in e.name][0]  # doctest: +ELLIPSIS
        'numba:...perfmap.total[float64[::1]]'
        >>> import os; os.remove(path())  # tidy up: the map of this process
    """
    for d in dispatchers:
        if not _is_dispatcher(d):
            raise TypeError(f"register() takes numba dispatchers (functions made by @njit), "
                            f"got {type(d).__name__}: {d!r}")
    return _write(dispatchers)


def register_all() -> list[Entry]:
    """Write entries for every numba dispatcher in this process that has compiled something.

    The dispatchers are found among the objects the garbage collector tracks (dispatchers are
    ordinary Python objects there), so a function is found wherever it is defined.

    Returns:
        The entries written now.
    """
    found = []
    for o in gc.get_objects():
        try:
            if _is_dispatcher(o) and getattr(o, "overloads", None):
                found.append(o)
        except ReferenceError:
            continue
    return _write(found)


def entries() -> list[Entry]:
    """Every entry this process has written, by address."""
    with _lock:
        _reset_after_fork()
        return sorted(_state["entries"].values(), key=lambda e: e.start)
