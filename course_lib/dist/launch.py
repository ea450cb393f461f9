"""Run a function or a script on ``n`` MPI ranks from a notebook cell, and always get control back.

``mpirun(fn, n)`` is ``mpiexec -n n python ...`` with three promises a notebook needs: the
function may be defined in the notebook itself, each rank's return value comes back as a Python
object, and a job that deadlocks is killed, every process of it, after ``timeout`` seconds.

The algorithm:

1. Find a launcher (:func:`find_mpiexec`): ``mpiexec`` next to ``sys.executable`` first (the
   one installed with the ``mpich`` wheel in this environment), then on ``PATH``.
2. Write a job folder: ``payload.pkl`` holds the function, pickled with ``cloudpickle`` (a
   function from ``__main__`` travels by value, its code and the globals it uses; a function
   from an importable module travels by name), the arguments, ``sys.path`` and the working
   folder.
3. Start ``mpiexec -n n python _rank.py <folder>`` in a session of its own. On one host, Hydra
   (MPICH's launcher) is told ``-launcher fork``: no ssh, and it works as root. Each rank writes
   its process id, its stdout and stderr, and finally its result, into the folder
   (``course_lib/dist/_rank.py``).
4. Wait at most ``timeout`` seconds. If the job is still running, kill it: every rank (by the
   ids they wrote, and by walking mpiexec's descendants: Hydra puts each rank in a session of its
   own, so killing mpiexec's process group alone would leave them running), then the proxy, then
   mpiexec. Raise :class:`MPITimeout` naming the ranks that had not finished.
5. Otherwise read the results back. A rank that raised aborts the job (``MPI_Abort``), and
   :class:`RankError` carries its traceback.

Source: the MPI 4.1 standard, chapter 11 (process creation, ``mpiexec``); the MPICH Hydra
process manager's user guide (``-launcher``, ``-f hostfile``, ``-iface``); mpi4py's
documentation (``mpi4py.MPI``, pickle-based and buffer-based communication).

Thread-safety: each call uses its own folder and processes; calls may run from several threads.
"""
from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["mpirun", "MPIResult", "MPIError", "MPITimeout", "RankError", "MPIUnavailable",
           "MPIStatus", "mpi_available", "find_mpiexec"]

from course_lib.dist.mpienv import (MPIStatus, _command, _environment, find_mpiexec,  # noqa: E402
                                    mpi_available)

_RANK_PROGRAM = str(Path(__file__).with_name("_rank.py"))


class MPIError(RuntimeError):
    """An MPI job failed: the launcher could not start it, or it exited with an error."""


class MPIUnavailable(MPIError):
    """mpi4py or an ``mpiexec`` is missing here; the message says which and how to install it."""


class MPITimeout(MPIError):
    """The job did not finish in time (a deadlock, most often) and was killed.

    Attributes:
        unfinished: the ranks that had not returned.
        timeout: the limit, in seconds.
    """

    def __init__(self, message: str, unfinished: tuple[int, ...], timeout: float):
        super().__init__(message)
        self.unfinished = unfinished
        self.timeout = timeout


class RankError(MPIError):
    """A rank raised an exception; ``rank``, ``name`` (the exception's type) and ``text`` (its
    traceback, as the rank printed it) say which and why; ``original`` is the exception itself
    when it could be pickled."""

    def __init__(self, rank: int, name: str, text: str, original: BaseException | None):
        super().__init__(f"rank {rank} raised {name}:\n{text.rstrip()}")
        self.rank, self.name, self.text, self.original = rank, name, text, original


@dataclass(frozen=True)
class MPIResult:
    """What an MPI job returned.

    Attributes:
        results: each rank's return value, indexed by rank (``None`` for a script).
        stdouts, stderrs: what each rank printed.
        seconds: each rank's time inside the function (launch and MPI start-up excluded).
        wall: seconds from starting mpiexec to its exit (launch included).
    """

    results: tuple[Any, ...]
    stdouts: tuple[str, ...]
    stderrs: tuple[str, ...]
    seconds: tuple[float, ...]
    wall: float

    @property
    def n(self) -> int:
        return len(self.results)

    def output(self) -> str:
        """Every rank's output, rank by rank, each line prefixed with ``[rank r]``."""
        lines = []
        for r, (out, err) in enumerate(zip(self.stdouts, self.stderrs)):
            lines += [f"[rank {r}] {line}" for line in out.splitlines()]
            lines += [f"[rank {r} stderr] {line}" for line in err.splitlines()]
        return "\n".join(lines)


def _ship(target: Callable | str | os.PathLike, args: Sequence, kwargs: dict | None) -> dict:
    import cloudpickle

    payload = {"sys_path": [p for p in sys.path if p], "cwd": os.getcwd(), "function": None,
               "script": None}
    try:   # cloudpickle: an argument may itself be a notebook's function
        payload["arguments"] = cloudpickle.dumps((tuple(args), dict(kwargs or {})))
    except Exception as exc:
        raise TypeError(f"mpirun: cannot send the arguments to the ranks ({type(exc).__name__}: "
                        f"{exc})") from None
    if isinstance(target, (str, os.PathLike)):
        path = Path(target).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"mpirun: no script at {path}")
        payload["script"] = str(path)
    elif callable(target):
        try:
            payload["function"] = cloudpickle.dumps(target)
        except Exception as exc:
            raise TypeError(f"mpirun: cannot send {getattr(target, '__name__', target)!r} to the "
                            f"ranks ({type(exc).__name__}: {exc}); a function sent to other "
                            "processes may use only picklable globals: no open files, locks, "
                            "clients or threads") from None
    else:
        raise TypeError(f"mpirun: the target must be a function fn(comm, *args) or a script "
                        f"path, not {type(target).__name__}")
    return payload


def _kill_job(proc: subprocess.Popen, job: Path, n: int) -> None:
    """Kill every process of the job, leaves first, so that each parent can reap its children."""
    import psutil

    procs: list[psutil.Process] = []
    try:
        procs = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        pass
    for r in range(n):
        try:
            pid = int((job / f"rank{r}.pid").read_text())
            p = psutil.Process(pid)
            if p not in procs and p.ppid() != 1:
                procs.append(p)
        except (OSError, ValueError, psutil.Error):
            pass
    procs.sort(key=lambda p: -len(_ancestors(p)))   # deepest (the ranks) first
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    _wait_gone(procs, 2.0)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _wait_gone(procs: list, timeout: float) -> None:
    """Wait until every process has exited (a zombie counts: it runs no code, and its parent or
    init reaps it)."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for p in procs:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.Error:
                pass
        if not alive:
            return
        time.sleep(0.01)


def _ancestors(p) -> list:
    try:
        return p.parents()
    except Exception:
        return []


def mpirun(target: Callable | str | os.PathLike, n: int, *, timeout: float = 30.0,
           args: Sequence = (), kwargs: dict | None = None, echo: bool = False,
           hostfile: str | os.PathLike | None = None) -> MPIResult:
    """Run ``target`` on ``n`` MPI ranks and return what each rank returned.

    Args:
        target: a function ``fn(comm, *args, **kwargs)`` (``comm`` is ``MPI.COMM_WORLD``),
            defined anywhere, a notebook cell included; or the path of a Python script, run as
            ``__main__`` with ``sys.argv = [path, *args]``.
        n: the number of ranks, >= 1 (more than the cores is allowed, and slow).
        timeout: seconds before the whole job is killed.
        args, kwargs: passed to the function (pickled: keep them small).
        echo: print each rank's output (``[rank r] ...``) to this process's stdout afterwards.
        hostfile: run across hosts: a Hydra hostfile (``host:slots`` per line). Hydra then
            starts the ranks over ssh, which needs password-less ssh and the same Python
            environment at the same path on every host. Without it every rank runs here.

    Returns:
        An :class:`MPIResult`: ``results[r]`` is rank r's return value.

    Raises:
        TypeError: ``n`` is not a whole number, or ``target`` is neither callable nor a path,
            or the function cannot be pickled.
        ValueError: ``n < 1`` or ``timeout <= 0``.
        FileNotFoundError: the script does not exist.
        MPIUnavailable: no mpi4py or mpiexec here (see :func:`mpi_available`).
        MPITimeout: the job ran past ``timeout``; every process of it has been killed.
        RankError: a rank raised (the job was aborted); the message holds its traceback.
        MPIError: mpiexec failed for another reason; the message holds its stderr.

    Example:
        >>> def hello(comm):
        ...     return comm.rank * 10
        >>> mpirun(hello, 3).results
        (0, 10, 20)
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"mpirun: n (the number of ranks) must be a whole number, not {n!r}")
    if n < 1:
        raise ValueError(f"mpirun: n must be at least 1, got {n}")
    if not timeout > 0:
        raise ValueError(f"mpirun: timeout must be positive, got {timeout!r}")
    payload = _ship(target, args, kwargs)
    status = mpi_available()
    if not status:
        raise MPIUnavailable(status.reason)
    job = Path(tempfile.mkdtemp(prefix="course_mpi_"))
    try:
        with open(job / "payload.pkl", "wb") as f:
            pickle.dump(payload, f)
        cmd = _command(status.mpiexec, n, [sys.executable, _RANK_PROGRAM, str(job)],
                       None if hostfile is None else str(hostfile))
        start = time.perf_counter()
        with open(job / "mpiexec.out", "wb") as out, open(job / "mpiexec.err", "wb") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    env=_environment(), start_new_session=True)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            unfinished = tuple(r for r in range(n) if not (job / f"rank{r}.done").exists())
            _kill_job(proc, job, n)
            raise MPITimeout(
                f"the MPI job on {n} ranks did not finish within {timeout:g} s and was killed; "
                f"rank(s) {', '.join(map(str, unfinished))} had not returned. Ranks that wait for "
                "each other forever (both receiving first, or both sending large messages "
                "first) deadlock: pair every send with a receive, e.g. with comm.Sendrecv",
                unfinished, timeout) from None
        wall = time.perf_counter() - start
        return _collect(job, n, code, wall, echo)
    finally:
        shutil.rmtree(job, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _collect(job: Path, n: int, code: int, wall: float, echo: bool) -> MPIResult:
    stdouts = tuple(_read(job / f"rank{r}.out") for r in range(n))
    stderrs = tuple(_read(job / f"rank{r}.err") for r in range(n))
    if echo:
        for r in range(n):
            for line in stdouts[r].splitlines():
                print(f"[rank {r}] {line}")
            for line in stderrs[r].splitlines():
                print(f"[rank {r} stderr] {line}")
    for r in range(n):
        exc = job / f"rank{r}.exc"
        if exc.exists():
            name, text, blob = pickle.loads(exc.read_bytes())
            try:
                original = pickle.loads(blob) if blob is not None else None
            except Exception:
                original = None
            raise RankError(r, name, text, original)
    missing = [r for r in range(n) if not (job / f"rank{r}.res").exists()]
    if code != 0 or missing:
        tail = _read(job / "mpiexec.err")[-1500:] or _read(job / "mpiexec.out")[-1500:]
        raise MPIError(f"mpiexec exited with status {code}; ranks without a result: {missing}. "
                       f"Its output ends with:\n{tail}")
    values = [pickle.loads((job / f"rank{r}.res").read_bytes()) for r in range(n)]
    return MPIResult(tuple(v for v, _ in values), stdouts, stderrs,
                     tuple(s for _, s in values), wall)
