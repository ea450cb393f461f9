"""Chapter 10 on a machine without MPI (an Intel Mac has no MPI wheel): ``COURSE_MPIEXEC=none``
makes this one behave so. The chapter must say why, run its Dask half, and lose only the points
of the exercises that need MPI ranks."""
import pytest

from conftest import ROOT
from course_lib.dist import launch, mpienv
from notebook_support import execute, problems


@pytest.fixture
def fresh_status(monkeypatch):
    monkeypatch.setattr(mpienv, "_STATUS", None)
    yield
    mpienv._STATUS = None   # the next caller probes the real machine again


def test_none_means_no_mpi_and_says_why(monkeypatch, fresh_status):
    monkeypatch.setenv(mpienv.MPIEXEC_ENV, "none")
    status = launch.mpi_available()
    assert not status and "COURSE_MPIEXEC=none" in status.reason
    with pytest.raises(launch.MPIUnavailable, match="COURSE_MPIEXEC"):
        launch.mpirun(print, 2)


def test_a_path_that_is_no_program_is_named(monkeypatch, fresh_status, tmp_path):
    monkeypatch.setenv(mpienv.MPIEXEC_ENV, str(tmp_path / "mpiexec"))
    with pytest.raises(ValueError, match="COURSE_MPIEXEC=.*not an executable"):
        mpienv.find_mpiexec()
    status = launch.mpi_available()
    assert not status and "not an executable" in status.reason


def test_a_chosen_mpiexec_is_used(monkeypatch, fresh_status):
    real = mpienv.find_mpiexec()
    if real is None:
        pytest.skip("no mpiexec here")
    monkeypatch.setenv(mpienv.MPIEXEC_ENV, real)
    assert mpienv.find_mpiexec() == real


@pytest.mark.notebooks
def test_the_chapter_runs_without_mpi_and_only_the_mpi_exercises_fail(monkeypatch):
    monkeypatch.setenv(mpienv.MPIEXEC_ENV, "none")
    nb = execute(ROOT / "solutions" / "c10_beyond" / "c10_beyond.ipynb")
    failed = {cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells
              if cell.cell_type == "code" and any(o.output_type == "error" for o in cell.outputs)}
    assert failed == {"test_pi_allreduce", "test_halo"}, problems(nb)
    text = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for o in cell.outputs)
    assert "MPI not available: COURSE_MPIEXEC=none" in text
    errors = [o.evalue for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
              if o.output_type == "error"]
    assert all("cannot be graded here" in e for e in errors), errors
