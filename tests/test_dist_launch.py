"""course_lib.dist.launch: mpirun returns each rank's result, ships notebook functions, and kills
the whole job at its timeout, leaving no process behind."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from course_lib.dist import launch, mpienv
from course_lib.dist.launch import MPITimeout, RankError, mpi_available, mpirun

needs_mpi = pytest.mark.skipif(not mpi_available(), reason=mpi_available().reason)


def rank_and_size(comm, scale=1):
    print(f"hello from {comm.rank}")
    return comm.rank * scale, comm.size


def wait_forever(comm):
    comm.recv(source=(comm.rank + 1) % comm.size)     # everyone receives, no one sends


def raise_on_one(comm):
    if comm.rank == 1:
        raise KeyError("rank one")
    comm.Barrier()


def _job_processes() -> list[psutil.Process]:
    """Live (not zombie) descendants of this process that belong to an MPI job."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and ("_rank.py" in " ".join(p.cmdline())
                                                       or "hydra" in p.name() or "mpiexec" in p.name()):
                out.append(p)
        except psutil.Error:
            pass
    return out


@needs_mpi
@pytest.mark.parametrize("n", [1, 3])
def test_results_output_and_times_per_rank(n):
    res = mpirun(rank_and_size, n, kwargs={"scale": 10})
    assert res.results == tuple((10 * r, n) for r in range(n))
    assert res.stdouts == tuple(f"hello from {r}\n" for r in range(n))
    assert len(res.seconds) == n and res.wall > 0
    assert "[rank 0] hello from 0" in res.output()


@needs_mpi
def test_echo_prints_each_rank_to_stdout(capsys):
    mpirun(rank_and_size, 2, echo=True)
    out, err = capsys.readouterr()
    assert "[rank 1] hello from 1" in out and err == ""


@needs_mpi
def test_a_function_defined_in_main_is_shipped_by_value(tmp_path):
    code = textwrap.dedent("""
        import numpy as np
        from course_lib.dist import mpirun
        OFFSET = 7
        def f(comm):
            return int(np.sum(np.arange(comm.rank + 1))) + OFFSET
        print(mpirun(f, 3).results)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(7, 8, 10)" and out.stderr == ""


@needs_mpi
def test_a_script_runs_with_its_arguments(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text("import sys\nfrom mpi4py import MPI\nprint(MPI.COMM_WORLD.rank, sys.argv[1:])\n")
    res = mpirun(script, 2, args=["--steps", 3])
    assert res.results == (None, None)
    assert res.stdouts[1].strip() == "1 ['--steps', '3']"


@needs_mpi
def test_a_timeout_kills_every_rank_and_names_them():
    before = {p.pid for p in _job_processes()}
    start = time.monotonic()
    with pytest.raises(MPITimeout, match=r"rank\(s\) 0, 1, 2 had not returned") as info:
        mpirun(wait_forever, 3, timeout=1.5)
    assert time.monotonic() - start < 10
    assert info.value.unfinished == (0, 1, 2)
    left = [p for p in _job_processes() if p.pid not in before]
    assert left == [], f"processes left behind: {[(p.pid, p.name()) for p in left]}"


@needs_mpi
def test_a_rank_that_raises_aborts_the_job_with_its_traceback():
    start = time.monotonic()
    with pytest.raises(RankError, match="KeyError") as info:
        mpirun(raise_on_one, 3, timeout=20)
    assert info.value.rank == 1 and isinstance(info.value.original, KeyError)
    assert "rank one" in info.value.text
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("n, exc, match", [(0, ValueError, "at least 1"), (-2, ValueError, "at least 1"),
                                           (1.5, TypeError, "whole number"), (True, TypeError, "whole number")])
def test_bad_rank_counts_are_refused(n, exc, match):
    with pytest.raises(exc, match=match):
        mpirun(rank_and_size, n)


def test_bad_targets_and_timeouts_are_refused(tmp_path):
    with pytest.raises(TypeError, match="function fn"):
        mpirun(42, 2)
    with pytest.raises(FileNotFoundError):
        mpirun(tmp_path / "missing.py", 2)
    with pytest.raises(ValueError, match="timeout"):
        mpirun(rank_and_size, 2, timeout=0)
    import threading

    lock = threading.Lock()
    with pytest.raises(TypeError, match="cannot send"):
        mpirun(rank_and_size, 1, args=(lock,))


def test_missing_mpi_is_reported_with_a_reason(monkeypatch):
    monkeypatch.setattr(mpienv, "_STATUS", None)
    monkeypatch.setattr(mpienv, "find_mpiexec", lambda: None)
    status = launch.mpi_available()
    assert not status and "mpiexec" in status.reason and "not available" in str(status)
    with pytest.raises(launch.MPIUnavailable, match="mpiexec"):
        mpirun(rank_and_size, 2)
    monkeypatch.setattr(mpienv, "_STATUS", None)   # the next caller probes again


@needs_mpi
def test_status_names_the_library():
    status = mpi_available()
    assert status and status.library and os.path.exists(status.mpiexec)
