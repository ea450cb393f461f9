"""Where MPI is, whether it works here, and how to call its launcher.

1. :func:`find_mpiexec`: ``COURSE_MPIEXEC`` when set (a path, or ``none`` to run as if there
   were no MPI: how a teacher or a test sees the chapter on a machine without it), else the
   ``mpiexec`` beside ``sys.executable`` (a virtual environment's, from the ``mpich`` wheel),
   else the first on ``PATH``.
2. :func:`mpi_available`: imports nothing in this process; runs ``mpiexec -n 1 python -c "from
   mpi4py import MPI; ..."`` once and keeps the answer (:class:`MPIStatus`: available or not, and
   why not, in words a learner can act on).
3. ``_command``: the launcher's command line. Hydra (MPICH, Intel MPI) gets ``-launcher fork`` on
   one host (no ssh needed, fine as root) or ``-f hostfile`` across hosts; Open MPI gets
   ``--oversubscribe`` and, as root, the two variables that allow it.

Source: the MPICH Hydra user guide; Open MPI's ``mpirun(1)`` manual page.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MPIStatus", "mpi_available", "find_mpiexec", "MPIEXEC_ENV"]

#: Which ``mpiexec`` to use: a path, or ``none`` for none (see :func:`find_mpiexec`).
MPIEXEC_ENV = "COURSE_MPIEXEC"


@dataclass(frozen=True)
class MPIStatus:
    """Whether MPI can run here: ``available`` (also the truth value), ``reason`` when it
    cannot, the ``mpiexec`` found, and the MPI ``library`` version's first line."""

    available: bool
    reason: str
    mpiexec: str | None
    library: str | None

    def __bool__(self) -> bool:
        return self.available

    def __str__(self) -> str:
        if self.available:
            return f"MPI available: {self.library} (launcher {self.mpiexec})"
        return f"MPI not available: {self.reason}"


def find_mpiexec() -> str | None:
    """The ``mpiexec`` to use: ``COURSE_MPIEXEC`` when set (``none``: no MPI), else the one
    beside ``sys.executable`` (a virtual environment's, from the ``mpich`` wheel), else the first
    on ``PATH``; None when there is none.

    Raises:
        ValueError: ``COURSE_MPIEXEC`` names no executable file.
    """
    chosen = os.environ.get(MPIEXEC_ENV, "").strip()
    if chosen.lower() == "none":
        return None
    if chosen:
        path = shutil.which(chosen)
        if path is None:
            raise ValueError(f"{MPIEXEC_ENV}={chosen!r} is not an executable mpiexec; give its "
                             "path, or 'none' to run the chapter as if there were no MPI")
        return path
    here = Path(sys.executable).with_name("mpiexec")
    if here.exists() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("mpiexec")


_STATUS: MPIStatus | None = None


def mpi_available(refresh: bool = False) -> MPIStatus:
    """Check, once per process, that mpi4py imports and ``mpiexec -n 1`` starts a rank.

    Returns:
        An :class:`MPIStatus`: true when MPI works; otherwise ``reason`` says what is missing.

    Example:
        >>> status = mpi_available()
        >>> print(status)                                   # doctest: +SKIP
        MPI available: MPICH Version: 5.0.2 (launcher .../.venv/bin/mpiexec)
    """
    global _STATUS
    if _STATUS is not None and not refresh:
        return _STATUS
    try:
        exe = find_mpiexec()
    except ValueError as exc:
        _STATUS = MPIStatus(False, str(exc), None, None)
        return _STATUS
    if os.environ.get(MPIEXEC_ENV, "").strip().lower() == "none":
        _STATUS = MPIStatus(False, f"{MPIEXEC_ENV}=none: running as if this machine had no MPI",
                            None, None)
    elif importlib.util.find_spec("mpi4py") is None:
        _STATUS = MPIStatus(False, "mpi4py is not installed (pip install mpi4py mpich, or conda "
                            "install mpi4py mpich)", exe, None)
    elif exe is None:
        _STATUS = MPIStatus(False, "no mpiexec beside this Python or on PATH (pip install mpich, "
                            "or your system's MPICH or Open MPI package)", None, None)
    else:
        code = "from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0].strip())"
        try:
            proc = subprocess.run(_command(exe, 1, [sys.executable, "-c", code], None),
                                  capture_output=True, text=True, timeout=60, env=_environment(),
                                  start_new_session=True)
            ok, text = proc.returncode == 0, (proc.stdout if proc.returncode == 0 else proc.stderr)
        except (OSError, subprocess.TimeoutExpired) as exc:
            ok, text = False, str(exc)
        library = " ".join(text.split()) if ok and text.strip() else None
        reason = "" if ok else f"`{exe} -n 1 python` failed: {text.strip()[-400:]}"
        _STATUS = MPIStatus(ok, reason, exe, library)
    return _STATUS


def _flavour(exe: str) -> str:
    """``"hydra"`` (MPICH, Intel MPI), ``"openmpi"``, or ``"other"``, from ``mpiexec --version``."""
    try:
        text = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "other"
    return "hydra" if "HYDRA" in text.upper() else "openmpi" if "Open MPI" in text or "OpenRTE" in text else "other"


_FLAVOURS: dict[str, str] = {}


def _command(exe: str, n: int, program: list[str], hostfile: str | None) -> list[str]:
    flavour = _FLAVOURS.setdefault(exe, _flavour(exe))
    cmd = [exe]
    if flavour == "hydra":
        cmd += ["-f", hostfile] if hostfile else ["-launcher", "fork"]
    elif flavour == "openmpi":
        cmd += ["--oversubscribe"] + (["--hostfile", hostfile] if hostfile else [])
    elif hostfile:
        cmd += ["-f", hostfile]
    return cmd + ["-n", str(n)] + program


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")           # Open MPI refuses root otherwise
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env
