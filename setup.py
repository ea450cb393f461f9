"""Build hook for the C parts of course_lib.

One table, ``MODULES`` in ``course_lib/_c/build.py``, lists every C extension; setuptools builds
them all at install time (``pip install .`` and ``pip install -e .``). The cffi modules get their
declarations from the C headers; one module (``_ringpy``) is a plain CPython extension, because
its calls must keep the GIL (see ``course_lib/_c/ringpy.c``).
"""
import runpy
from pathlib import Path

from setuptools import setup

_BUILD = Path(__file__).parent / "course_lib" / "_c" / "build.py"
if not _BUILD.exists():  # e.g. an sdist made without it: fail now, not at import time
    raise RuntimeError(f"{_BUILD} not found: the C extensions cannot be built")
_TABLE = runpy.run_path(str(_BUILD))

setup(cffi_modules=_TABLE["cffi_modules"](), ext_modules=_TABLE["cpython_extensions"]())
