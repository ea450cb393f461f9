"""Build hook for the C parts of course_lib.

Every ``course_lib/_c/build_<name>.py`` defines a cffi ``ffibuilder`` that compiles
``course_lib/_c/<name>.c`` into the extension module ``course_lib._<name>``. setuptools
builds them all at install time (``pip install .`` and ``pip install -e .``); a new C
concept only needs its two files, no edit here.

One module is a plain CPython extension instead: ``course_lib._ringpy``, the ring's
non-blocking calls for Python callers, which must keep the GIL (cffi always releases it;
see ``course_lib/_c/ringpy.c`` for why that matters).
"""
from pathlib import Path

from setuptools import Extension, setup

_HERE = Path(__file__).parent
_BUILDERS = sorted((_HERE / "course_lib" / "_c").glob("build_*.py"))
if not _BUILDERS:  # e.g. an sdist made without them: fail now, not at import time
    raise RuntimeError("no course_lib/_c/build_*.py found: the C extensions cannot be built")

_RINGPY = Extension(
    "course_lib._ringpy",
    sources=["course_lib/_c/ringpy.c", "course_lib/_c/ring.c"],
    include_dirs=["course_lib/_c"],
    extra_compile_args=["-std=c11", "-O2"],
)

setup(
    cffi_modules=[f"{p.relative_to(_HERE).as_posix()}:ffibuilder" for p in _BUILDERS],
    ext_modules=[_RINGPY],
)
