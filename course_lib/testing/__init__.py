"""Checkers that graded notebook cells call, so that grading logic is tested library code.

A checker raises ``AssertionError`` with a message that teaches (what was expected, what came
back, and the likely reason), and bounds every wait, so that a learner's deadlock or infinite loop
fails the check in seconds instead of hanging the grader.

Where things are:

- here: the harness every check shares (``call_with_timeout``, ``join_all``, ``check_close``,
  ``check_raises``, ``CheckTimeout``);
- ``testing.batteries``: whole-primitive checks (channel, lock, queue), used by the library's
  own tests and by the exercises alike;
- ``testing.exercises.<chapter>``: every checker that one chapter's hidden tests call.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CheckTimeout", "call_with_timeout", "join_all", "check_close", "check_raises"]


class CheckTimeout(AssertionError):
    """A learner's code did not finish in time (an infinite loop, a deadlock, a lost wake-up)."""


#: What :func:`call_with_timeout` suggests when a call does not return.
STUCK_HINT = ("look for a loop that never ends, a lock that is never released, or a thread waiting "
              "for a message that never comes.")


def call_with_timeout(fn: Callable, *args, timeout: float = 10.0, what: str | None = None,
                      hint: str = STUCK_HINT, **kwargs) -> Any:
    """Run ``fn(*args, **kwargs)`` on a helper thread and wait at most ``timeout`` seconds.

    The call cannot be killed from Python, so a call that never returns is left running on a
    daemon thread; the check fails at once with :class:`CheckTimeout` and the rest of the
    notebook (and the grader) goes on.

    Args:
        fn: the learner's function.
        *args, **kwargs: passed to it.
        timeout: seconds to wait.
        what: how to name the call in the message; default its ``__name__``.
        hint: what the learner should look for when the call does not return.

    Returns:
        What ``fn`` returned. An exception it raised is re-raised here.

    Raises:
        CheckTimeout: if it did not return in time.

    Example:
        >>> call_with_timeout(sum, [1, 2, 3], timeout=1.0)
        6
    """
    box: dict[str, Any] = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised on the caller's thread below
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True, name="course-check")
    t.start()
    t.join(timeout)
    if t.is_alive():
        name = what or getattr(fn, "__name__", "your function")
        raise CheckTimeout(f"{name} did not return within {timeout:g} s: {hint}")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def join_all(threads: list[threading.Thread], timeout: float, what: str, hint: str) -> None:
    """Wait for threads until one shared deadline; fail with :class:`CheckTimeout` if any is stuck.

    Args:
        threads: started threads (make them daemons, so that a stuck one cannot keep the
            process alive).
        timeout: seconds for all of them together.
        what: names the experiment in the message.
        hint: what the learner should look for, appended to the message.

    Raises:
        CheckTimeout: saying how many threads were still running.
    """
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        raise CheckTimeout(f"{what}: {stuck} of {len(threads)} threads were still waiting after {timeout:g} s. {hint}")


def check_close(actual, expected, *, rtol: float = 1e-9, atol: float = 0.0, what: str = "the result") -> None:
    """Assert that a number is close to the expected one, with a readable message.

    Args:
        actual: the learner's value (anything ``float()`` accepts).
        expected: the reference value.
        rtol, atol: relative and absolute tolerance, as in :func:`math.isclose`.
        what: how to name the value in the message.

    Raises:
        AssertionError: when they differ by more than the tolerance, or ``actual`` is not a number.
    """
    try:
        a = float(actual)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} should be a number, got {type(actual).__name__}: {actual!r}") from None
    if not math.isclose(a, float(expected), rel_tol=rtol, abs_tol=atol):
        raise AssertionError(f"{what} is {a!r}, expected {float(expected)!r} (tolerance {rtol:g} relative)")


def check_raises(exc_type: type[BaseException], fn: Callable, *args, why: str = "", **kwargs) -> None:
    """Assert that ``fn(*args, **kwargs)`` raises ``exc_type``.

    Raises:
        AssertionError: naming the call, what it did instead, and ``why`` it should raise.
    """
    call = f"{getattr(fn, '__name__', 'function')}({', '.join(map(repr, args))})"
    try:
        result = fn(*args, **kwargs)
    except exc_type:
        return
    except Exception as exc:
        raise AssertionError(f"{call} raised {type(exc).__name__}: {exc}; expected {exc_type.__name__}. {why}") from None
    raise AssertionError(f"{call} returned {result!r}; it should raise {exc_type.__name__}. {why}")
