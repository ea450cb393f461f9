"""A busy machine on demand: keep CPU cores busy from other processes while something runs.

Learners' laptops, teachers' machines and CI runners are rarely idle, and a check that passes only
on a quiet machine is a broken check. This module makes the busy machine reproducible:

- :func:`busy_cores` is a context manager that starts ``cores`` processes, each spinning on one
  core (a plain Python loop, so nothing here needs a compiler), and stops them on exit;
- ``python -m course_lib.testing.load --cores 1 -- COMMAND ...`` runs a command under that load
  and returns its exit status; ``make test-load`` runs the whole test suite so.

The spinners are separate processes (not threads), so they compete for cores, not for this
process's GIL: that is what another program on the machine does. Each one checks every few
milliseconds that its parent is still alive and exits when it is not, so a crashed or killed
parent never leaves a core spinning.

Example:
    >>> from course_lib.testing.load import busy_cores
    >>> with busy_cores(1) as pids:
    ...     len(pids)
    1
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from typing import Iterator, Sequence

__all__ = ["busy_cores", "main"]

# The spinner: busy work in slices of a few milliseconds, checking its parent between slices.
# The parent's pid comes as an argument: read with getppid() at start-up, it would already be 1
# if the parent died while the spinner's interpreter was still starting.
_SPIN = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    x = 0
    for i in range(200_000):
        x += i
"""


@contextlib.contextmanager
def busy_cores(cores: int = 1) -> Iterator[list[int]]:
    """Keep ``cores`` cores busy while the ``with`` block runs.

    Args:
        cores: how many spinning processes to start (0 starts none).

    Yields:
        The spinners' process ids.

    Raises:
        ValueError: ``cores`` is negative or not an int.
    """
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 0:
        raise ValueError(f"busy_cores(cores): cores must be an int >= 0, got {cores!r}")
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN, str(os.getpid())],
                              stdin=subprocess.DEVNULL)
             for _ in range(cores)]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_lib.testing.load [--cores N] -- COMMAND ...``: run under load."""
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.testing.load",
        description="Run a command while other processes keep CPU cores busy.")
    parser.add_argument("--cores", type=int, default=1, help="cores to keep busy (default 1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given: put it after --, e.g. -- python -m pytest")
    with busy_cores(args.cores) as pids:
        print(f"[load] {len(pids)} busy core(s), spinner pids {pids}: {' '.join(command)}",
              file=sys.stderr, flush=True)
        return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
