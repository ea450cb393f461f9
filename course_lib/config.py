"""Course-wide settings read from the environment.

``COURSE_QUICK=1`` shrinks every problem size and time budget so that the whole course runs
headless in CI in minutes; the notebooks call :func:`pick` to choose their sizes.
``COURSE_NUM_THREADS`` caps the thread count of course_lib's own pools (see the chapters on them).
"""
from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["quick", "pick"]

T = TypeVar("T")

_FALSE = {"", "0", "false", "no", "off"}


def quick() -> bool:
    """Return True when ``COURSE_QUICK`` asks for small, fast runs.

    Returns:
        True unless the variable is unset or one of ``0, false, no, off`` (any case).

    Example:
        >>> import os; os.environ["COURSE_QUICK"] = "1"; quick()
        True
    """
    return os.environ.get("COURSE_QUICK", "").strip().lower() not in _FALSE


def pick(full: T, small: T) -> T:
    """Choose a size: ``full`` normally, ``small`` under ``COURSE_QUICK``.

    Args:
        full: the value a learner's run uses, sized to show the effect clearly.
        small: the value used in CI and quick demos.

    Returns:
        ``small`` if :func:`quick` is true, else ``full``.

    Example:
        >>> n = pick(10_000_000, 100_000)
    """
    return small if quick() else full
