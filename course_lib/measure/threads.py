"""Start threads together and time them: the helper behind every "N threads at once" demo.

Python threads started one after the other begin a few hundred microseconds apart; a short
kernel on the first may finish before the last one starts, and then nothing ran in parallel.
:func:`run_on_threads` parks every thread at a barrier and releases them at once, so that what
is timed is the threads running side by side (chapters 3 and 4: contended atomics, locks, false
sharing).

Thread-safety: call it from any thread; ``fn`` must be safe to run on several threads at once
(a ``@njit(nogil=True)`` kernel really runs in parallel; Python code takes turns on the GIL).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Sequence

__all__ = ["run_on_threads"]


def run_on_threads(fn: Any, args_per_thread: Sequence[tuple], timeout: float = 60.0) -> float:
    """Run ``fn(*args)`` for each args tuple on its own Python thread, all released at once.

    For ``nogil`` numba kernels the threads run in parallel. Returns the wall time from the
    release of the barrier to the end of the last thread.

    Args:
        fn: the function (a ``@njit(nogil=True)`` kernel for real parallelism).
        args_per_thread: one tuple of arguments per thread.
        timeout: seconds to wait for the threads.
    Returns:
        Seconds.
    Raises:
        TimeoutError: a thread did not finish in time. Any exception of ``fn`` is re-raised.
    Example:
        >>> from course_lib.measure.work import spin
        >>> run_on_threads(spin, [(1_000_000, 1), (1_000_000, 2)]) > 0
        True
    """
    k = len(args_per_thread)
    barrier = threading.Barrier(k + 1)
    errors: list[BaseException] = []

    def body(args: tuple) -> None:
        try:
            barrier.wait(timeout)
            fn(*args)
        except BaseException as exc:  # reported on the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(a,), daemon=True) for a in args_per_thread]
    for t in threads:
        t.start()
    barrier.wait(timeout)
    start = time.perf_counter()
    deadline = start + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.perf_counter()))
    elapsed = time.perf_counter() - start
    if any(t.is_alive() for t in threads):
        raise TimeoutError(f"{getattr(fn, '__name__', 'fn')} did not finish on {k} threads "
                           f"within {timeout:g} s")
    if errors:
        raise errors[0]
    return elapsed
