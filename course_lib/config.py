"""Every course-wide setting, read from one ``COURSE_*`` environment variable each, in one place.

===========================  ==================================================================
``COURSE_QUICK``             small sizes and short time budgets everywhere (CI, grading, quick
                             demos): :func:`quick`, and :func:`pick` to choose a size
``COURSE_HEADLESS``          nobody is looking: widgets draw one still figure and show no
                             controls (set by grading and the tests): :func:`headless`
``COURSE_NUM_THREADS``       threads in course_lib's own pools (chapter 1); unset: the usable
                             cores: :func:`num_threads`
``COURSE_STRESS``            a multiplier for the rounds of stress tests and batteries (``1``:
                             the default; ``10`` for a long soak): :func:`stress`
``COURSE_SOAK``              how many times ``make soak`` grades each answer of the graders'
                             contract (tests/contract.py): :func:`soak`
``COURSE_SIMD_MAX``          a ceiling on the SIMD variants chapter 5's dispatcher may pick
                             (``avx2``, ``sse``, ``scalar``...; unset: the best):
                             :func:`simd_max`, read by
                             :func:`course_lib.simd.features.current_ceiling`
``COURSE_CACHE``             where compiled C snippets are kept (default
                             ``~/.cache/course_lib``): :func:`cache_dir`
``COURSE_GPU``               chapter 9's CUDA target: ``auto`` (a GPU if a driver and a device
                             are found, else numba-cuda's simulator), ``sim`` or ``cuda``; read
                             once, at import, by :mod:`course_lib.gpu.target`
``COURSE_DASK_SCHEDULER``    chapter 10's Dask scheduler (``tcp://host:8786``); unset: a local
                             cluster on this machine's usable cores; read by
                             :func:`course_lib.dist.tasks.scheduler_address`
``COURSE_MPIEXEC``           chapter 10's ``mpiexec``: a path, or ``none`` to run the chapter
                             as if there were no MPI; unset: the one beside Python, else on
                             ``PATH``; read by :func:`course_lib.dist.mpienv.find_mpiexec`
===========================  ==================================================================

Each function reads its variable when called, so ``%env COURSE_QUICK=1`` in a notebook, or
``monkeypatch.setenv`` in a test, takes effect at once. A malformed value is an error that names
the variable, never a silent default.
"""
from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["quick", "pick", "headless", "num_threads", "stress", "soak", "simd_max", "cache_dir",
           "flag", "positive_int"]

T = TypeVar("T")

_FALSE = {"", "0", "false", "no", "off"}


def flag(name: str) -> bool:
    """Read a yes/no variable: false when unset or one of ``0, false, no, off`` (any case).

    Example:
        >>> import os; os.environ["COURSE_QUICK"] = "yes"; flag("COURSE_QUICK")
        True
    """
    return os.environ.get(name, "").strip().lower() not in _FALSE


def positive_int(name: str) -> int | None:
    """Read a variable holding a whole number >= 1; ``None`` when it is unset or blank.

    Raises:
        ValueError: the value is not a whole number >= 1 (the message names the variable).

    Example:
        >>> import os; os.environ["COURSE_STRESS"] = "3"; positive_int("COURSE_STRESS")
        3
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {text!r}")
    return n


def quick() -> bool:
    """Return True when ``COURSE_QUICK`` asks for small, fast runs.

    Example:
        >>> import os; os.environ["COURSE_QUICK"] = "1"; quick()
        True
    """
    return flag("COURSE_QUICK")


def pick(full: T, small: T) -> T:
    """Choose a size: ``full`` normally, ``small`` under ``COURSE_QUICK``.

    Args:
        full: the value a learner's run uses, sized to show the effect clearly.
        small: the value used in CI and quick demos.

    Example:
        >>> n = pick(10_000_000, 100_000)
    """
    return small if quick() else full


def headless() -> bool:
    """True when no person is looking: ``COURSE_HEADLESS`` is set to a true value."""
    return flag("COURSE_HEADLESS")


def num_threads() -> int:
    """Threads for course_lib's pools: ``COURSE_NUM_THREADS``, else the usable cores.

    Raises:
        ValueError: ``COURSE_NUM_THREADS`` is set but is not a whole number >= 1.
    """
    n = positive_int("COURSE_NUM_THREADS")
    if n is not None:
        return n
    from course_lib.measure.machine import usable_cores  # never raises; at least 1

    return usable_cores()


def stress() -> int:
    """The stress multiplier ``COURSE_STRESS`` (default 1): batteries run that many times more
    rounds. Raises ValueError when it is set but is not a whole number >= 1."""
    return positive_int("COURSE_STRESS") or 1


def soak() -> int:
    """``COURSE_SOAK`` (default 1): how many times each contract answer is graded."""
    return positive_int("COURSE_SOAK") or 1


def simd_max() -> str:
    """``COURSE_SIMD_MAX`` as written, lower-case and stripped (``""`` when unset); the SIMD
    module checks that it names an ISA and says so when it does not."""
    return os.environ.get("COURSE_SIMD_MAX", "").strip().lower()


def cache_dir() -> str | None:
    """``COURSE_CACHE``, or None when unset (then the platform's cache folder is used)."""
    return os.environ.get("COURSE_CACHE") or None
