"""The one builder for course_lib's C parts: a table of modules, each compiled at install time.

Every row of :data:`MODULES` names a C source in this folder and the extension module it becomes
(``course_lib._c._<name>``). setup.py reads the table; a new C concept needs its ``.c``/``.h``
pair and one row here, nothing else.

Two kinds of module:

1. ``cffi`` (the usual one): the declarations that cffi needs (its ``cdef``) are **generated from
   the header**, so the two cannot drift apart. :func:`cdef_from_header` does what a C
   preprocessor would do to a small, plain header: drops comments, include guards and
   ``#include`` lines, keeps integer ``#define`` constants, and expands function-like macros that
   stamp out one prototype per type (``CA_DECLARE(int64_t, i64)`` in ``atomics.h``). A row may
   leave some of the header's functions out of the cdef (``hide``).
2. ``cpython``: a hand-written CPython extension (``ringpy.c``), for calls that must keep the GIL,
   which cffi always releases.

Run ``python course_lib/_c/build.py`` to print every generated cdef (handy after editing a
header); ``pip install -e .`` (or ``python setup.py build_ext --inplace``) rebuilds everything.

Source: the cffi documentation, "Preparing and Distributing modules" (``cffi_modules``, and the
rule that a cdef may hold integer ``#define`` constants but no other preprocessor directive).
"""

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
# setuptools runs the build from the project root; the paths it is given must be relative to it.
REL = "course_lib/_c"
CFLAGS = ["-std=c11", "-O2"]


@dataclass(frozen=True)
class Module:
    """One row of the table.

    Attributes:
        name: the C file's stem; the extension is ``course_lib._c._<name>``.
        kind: ``"cffi"`` or ``"cpython"``.
        sources: C files compiled into it (default ``<name>.c``).
        header: the header whose declarations cffi sees (cffi only; default ``<name>.h``).
        hide: functions declared in the header but kept out of the cdef.
        libraries / link_args: for the linker.
    """

    name: str
    kind: str = "cffi"
    sources: tuple[str, ...] = ()
    header: str = ""
    hide: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()
    link_args: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)

    @property
    def module(self) -> str:
        return f"course_lib._c._{self.name}"

    @property
    def source_files(self) -> tuple[str, ...]:
        return self.sources or (f"{self.name}.c",)

    @property
    def header_file(self) -> str:
        return self.header or f"{self.name}.h"


MODULES: tuple[Module, ...] = (
    Module("work", notes="calibrated GIL-free CPU work (c00)"),
    Module("atomics", notes="C11 <stdatomic.h> on NumPy cells (c03)"),
    Module("litmus", libraries=("pthread",), notes="two pinned threads running litmus tests (c03)"),
    Module("ring", hide=("cr_try_send_spin", "cr_try_recv_spin"),
           notes="Vyukov's lock-free MPMC ring with blocking and disconnection (c02)"),
    Module("ringpy", kind="cpython", sources=("ringpy.c", "ring.c"),
           notes="the ring's non-blocking calls with the GIL held (c02)"),
    Module("lockq", link_args=("-pthread",), notes="a mutex + condvar queue to race the ring (c02)"),
    Module("simd", sources=("simd.c", "simd_x86.c", "simd_arm.c"),
           notes="SIMD kernels written three ways, feature detection, FMA peak (c05)"),
    Module("memory", link_args=("-pthread",),
           notes="pointer chasing, STREAM kernels with threads, non-temporal stores, software prefetch (c06)"),
    Module("numa", notes="page placement (move_pages), the CPU a thread runs on (c06)"),
    Module("perfev", notes="perf_event_open: hardware and software counters around a call (c07)"),
    Module("gemm", sources=("gemm.c", "gemm_x86.c", "gemm_arm.c", "simd.c", "simd_x86.c", "simd_arm.c"),
           link_args=("-pthread",),
           notes="packed GEMM: BLIS-style loops, a micro-kernel per ISA, threads (c08)"),
)

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_MACRO = re.compile(r"^#define\s+(\w+)\(([^)]*)\)\s*(.*)$")
_CONSTANT = re.compile(r"^#define\s+(\w+)\s+(-?(?:0x[0-9A-Fa-f]+|\d+))[uUlL]*$")


def cdef_from_header(text: str, hide: tuple[str, ...] = ()) -> str:
    """Turn a plain C header into the declarations cffi's ``cdef`` accepts.

    Args:
        text: the header's text.
        hide: names of functions whose prototypes are left out.

    Returns:
        The cdef text: integer constants, enums, typedefs and prototypes, one per line.

    Raises:
        ValueError: the header uses a directive this reader does not handle (``#if`` with a
            condition, a non-integer object-like ``#define``), so the builder fails loudly
            instead of handing cffi something it would misread.

    Example:
        >>> cdef_from_header('#define N 4\\n#define D(T) T f_##T(T x);\\nD(int)')
        '#define N 4\\nint f_int(int x);'
    """
    text = _COMMENT.sub(" ", text).replace("\\\n", " ")
    macros: dict[str, tuple[list[str], str]] = {}
    guard = None
    constants: list[str] = []
    code: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("#"):
            code.append(_expand(line, macros))
            continue
        word = line[1:].split()[0]
        if word == "ifndef" and guard is None:
            guard = line.split()[1]
        elif word == "define" and guard and line.split()[1:] == [guard]:
            pass
        elif word in ("endif", "include"):
            pass
        elif _MACRO.match(line):
            name, params, body = _MACRO.match(line).groups()
            macros[name] = ([p.strip() for p in params.split(",")], body)
        elif _CONSTANT.match(line):
            constants.append("#define {} {}".format(*_CONSTANT.match(line).groups()))
        else:
            raise ValueError(f"cdef_from_header: cannot read {line!r}")
    decls = (" ".join(d.split()) for d in re.split(r"(?<=;)", " ".join(code)))
    keep = [d for d in decls if d and not any(re.search(rf"\b{h}\s*\(", d) for h in hide)]
    return "\n".join(constants + keep)


def _expand(line: str, macros: dict[str, tuple[list[str], str]]) -> str:
    for name, (params, body) in macros.items():
        def one(m: re.Match, params=params, body=body) -> str:
            args = [a.strip() for a in m.group(1).split(",")]
            if len(args) != len(params):
                raise ValueError(f"cdef_from_header: {name} takes {len(params)} arguments: {m.group(0)}")
            result = body
            for p, a in zip(params, args):
                result = re.sub(rf"\b{p}\b", a, result)
            return re.sub(r"\s*##\s*", "", result)
        line = re.sub(rf"\b{name}\(([^)]*)\)", one, line)
    return line


def cdef(module: Module) -> str:
    """The cdef of one cffi row, read from its header now."""
    return cdef_from_header((HERE / module.header_file).read_text(), module.hide)


def ffibuilder(name: str):
    """The cffi ``FFI`` builder for the row called ``name`` (setup.py's ``cffi_modules``)."""
    from cffi import FFI

    module = next(m for m in MODULES if m.name == name and m.kind == "cffi")
    ffi = FFI()
    ffi.cdef(cdef(module))
    ffi.set_source(module.module, f'#include "{module.header_file}"',
                   sources=[f"{REL}/{s}" for s in module.source_files], include_dirs=[REL],
                   extra_compile_args=CFLAGS, libraries=list(module.libraries),
                   extra_link_args=list(module.link_args))
    return ffi


# cffi's setuptools hook names a builder as "file:variable" and calls it when it is not an FFI
# yet: one ``ffi_<name>`` per cffi row, built only when setuptools asks for it.
for _m in MODULES:
    if _m.kind == "cffi":
        globals()[f"ffi_{_m.name}"] = functools.partial(ffibuilder, _m.name)


def cffi_modules() -> list[str]:
    """The ``cffi_modules`` list for setup.py."""
    return [f"{REL}/build.py:ffi_{m.name}" for m in MODULES if m.kind == "cffi"]


def cpython_extensions() -> list:
    """The ``ext_modules`` list for setup.py (the hand-written CPython extensions)."""
    from setuptools import Extension

    return [Extension(m.module, sources=[f"{REL}/{s}" for s in m.source_files], include_dirs=[REL],
                      extra_compile_args=CFLAGS, libraries=list(m.libraries),
                      extra_link_args=list(m.link_args))
            for m in MODULES if m.kind == "cpython"]


if __name__ == "__main__":
    for _m in MODULES:
        if _m.kind == "cffi":
            print(f"/* {_m.module}: {_m.notes} */\n{cdef(_m)}\n")
