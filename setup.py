"""Build hook for the C parts of course_lib.

Every ``course_lib/_c/build_<name>.py`` defines a cffi ``ffibuilder`` that compiles
``course_lib/_c/<name>.c`` into the extension module ``course_lib._<name>``. setuptools
builds them all at install time (``pip install .`` and ``pip install -e .``); a new C
concept only needs its two files, no edit here.
"""
from pathlib import Path

from setuptools import setup

_HERE = Path(__file__).parent
_BUILDERS = sorted((_HERE / "course_lib" / "_c").glob("build_*.py"))

setup(cffi_modules=[f"{p.relative_to(_HERE).as_posix()}:ffibuilder" for p in _BUILDERS])
