"""course_lib's C: the sources (``<name>.c`` / ``<name>.h``) and, once built, their extensions.

``build.py`` holds the one table of extensions (see it for how cffi's declarations are generated
from the headers). After ``pip install -e .`` this package holds the compiled modules:

========================  =================================================================
``course_lib._c._work``     calibrated CPU work without the GIL, used by ``measure.work``
``course_lib._c._atomics``  C11 atomics on NumPy cells, used by ``atomics.c_backend``
``course_lib._c._litmus``   two pinned threads running litmus tests, used by ``atomics.litmus``
``course_lib._c._ring``     Vyukov's lock-free MPMC ring, used by ``channel.ring``
``course_lib._c._ringpy``   the ring's non-blocking calls with the GIL held (a CPython module)
``course_lib._c._lockq``    a mutex + condition-variable queue that the ring is raced against
``course_lib._c._simd``     SIMD kernels (scalar C to AVX-512 / NEON), CPU features, FMA peak,
                            used by ``simd.features``, ``simd.kernels``, ``simd.peak``
``course_lib._c._memory``   pointer chase, STREAM with threads, non-temporal stores, software
                            prefetch, used by ``memory.latency``, ``memory.stream``,
                            ``memory.prefetch``
``course_lib._c._numa``     the NUMA node of each page (``move_pages``), the CPU a thread runs
                            on, used by ``memory.numa`` and ``memory.affinity``
``course_lib._c._perfev``   perf_event_open counters around a call, and the region marker
                            callgrind counts in, used by ``profile.counters`` and
                            ``profile.instructions``
========================  =================================================================

Every C file starts with what it implements, its sources, and its threads-and-ordering argument.
The Python modules reach a cffi extension through :func:`load`, which says how to build it when
it is missing.
"""
from __future__ import annotations

import functools
import importlib
from typing import Any

__all__ = ["load"]


@functools.lru_cache(maxsize=None)
def load(name: str) -> tuple[Any, Any]:
    """The ``(ffi, lib)`` of the compiled cffi extension ``course_lib._c.<name>``, imported once.

    Args:
        name: the extension's module name, as in ``build.py`` (``"_memory"``, ``"_gemm"``...).

    Raises:
        ImportError: it is not built; the message says how to build it. (Not cached: a build in
            between is seen at the next call.)

    Example:
        >>> ffi, lib = load("_atomics")
        >>> ffi.sizeof("int64_t")
        8
    """
    module = f"course_lib._c.{name}"
    try:
        ext = importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module} is not built: run `make setup` (or `python setup.py "
                          "build_ext --inplace`) in the course folder") from exc
    return ext.ffi, ext.lib
