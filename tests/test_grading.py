"""The nbgrader round trip, read from the gradebook: every solution notebook earns full marks and
every released notebook earns zero; a hanging or crashing submission costs only its own points."""
import shutil
import textwrap

import nbformat
import pytest

from conftest import ROOT
from course_lib.course import grading
from notebook_support import CHAPTERS


@pytest.fixture(scope="module")
def graded(graded_course):
    return graded_course[1]


@pytest.mark.notebooks
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_earns_full_marks(graded, chapter):
    s = graded[("solution-student", chapter)]
    assert s.status == "graded", s.detail
    assert s.max_score >= 9, f"{chapter} should have at least three graded exercises worth points"
    assert s.score == s.max_score, f"lost points: {s.detail}"
    assert s.flags == (), f"a solution was flagged for tampering: {s.flags}"


@pytest.mark.notebooks
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_released_notebook_earns_zero(graded, chapter):
    s = graded[("untouched-student", chapter)]
    assert s.status == "graded", s.detail
    assert s.max_score > 0 and s.score == 0, f"an untouched notebook scored {s.score}: {s.detail}"


def _cell(kind, source, grade_id, points=1):
    meta = {"grade": kind == "tests", "grade_id": grade_id, "locked": kind != "solution",
            "schema_version": 3, "solution": kind == "solution", "task": False}
    if kind == "tests":
        meta["points"] = points
    return nbformat.v4.new_code_cell(textwrap.dedent(source), metadata={"nbgrader": meta})


@pytest.mark.notebooks
def test_hang_and_crash_cost_only_that_student(tmp_path):
    """A per-cell timeout stops an infinite loop, a segfault loses one submission, the grader goes
    on; an answer that reads solutions/ finds it closed."""
    (tmp_path / "nbgrader_config.py").write_text(
        (ROOT / "nbgrader_config.py").read_text() + "\nc.Execute.timeout = 10\n")
    nb = nbformat.v4.new_notebook(cells=[
        _cell("solution", "def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n", "answer"),
        _cell("tests", "assert answer() == 42\n", "test_answer", points=2),
        _cell("tests", "assert answer() + 1 == 43\n", "test_again", points=1),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "solutions" / "t_safety").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "solutions" / "t_safety" / "t.ipynb")
    bodies = {
        "good": "def answer():\n    return 42\n",
        "loops": "def answer():\n    while True:\n        pass\n",
        "crashes": "import ctypes\ndef answer():\n    return ctypes.string_at(0)\n",
        # reads the answer key (cwd is autograded/<student>/<id>): the kernel's guard refuses
        "peeks": "key = open('../../../solutions/t_safety/t.ipynb').read()\n"
                 "def answer():\n    return 42 if 'return 42' in key else 0\n",
        # swaps a builtin the tests rely on: every assert now passes
        "tampers": "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\n"
                   "def answer():\n    return 0\n",
    }
    for student, body in bodies.items():
        sub = nbformat.read(tmp_path / "solutions" / "t_safety" / "t.ipynb", as_version=4)
        sub.cells[0].source = body
        (tmp_path / "submitted" / student / "t_safety").mkdir(parents=True)
        nbformat.write(sub, tmp_path / "submitted" / student / "t_safety" / "t.ipynb")
    scores = {s.student: s for s in grading.grade(tmp_path, timeout=120)}
    assert scores["good"].status == "graded" and scores["good"].score == 3
    assert scores["loops"].status == "graded" and scores["loops"].score == 0
    assert scores["crashes"].score == 0 and scores["crashes"].status in ("graded", "failed")
    assert scores["peeks"].status == "graded" and scores["peeks"].score == 0, "read solutions/"
    assert scores["good"].flags == () and scores["loops"].flags == ()
    assert any("replaces a builtin" in f for f in scores["tampers"].flags), scores["tampers"]
    assert any("solutions/" in f for f in scores["peeks"].flags), scores["peeks"]
    table = grading._table(list(scores.values()))
    assert "FLAGGED" in table and "replaces a builtin" in table


@pytest.mark.notebooks
def test_a_kernel_that_ignores_interrupts_is_killed_at_the_wall_limit(tmp_path):
    """A submission whose kernel cannot be interrupted (here: SIGINT blocked, as in a long C or
    numba loop that holds the GIL) is stopped by the per-submission wall limit, and its kernel is
    killed with it instead of spinning on for the rest of the grading run."""
    import psutil

    # By default nbgrader gives up on such a submission at its first IOPub timeout (0 points, and
    # nbclient shuts the kernel down). Turned off here, every cell waits out its timeout, so the
    # run reaches the wall limit: the path where course_lib.course.grading must kill the kernel itself.
    (tmp_path / "nbgrader_config.py").write_text(
        (ROOT / "nbgrader_config.py").read_text()
        + "\nc.Execute.timeout = 3\nc.Execute.raise_on_iopub_timeout = False\n")
    nb = nbformat.v4.new_notebook(cells=[
        _cell("solution", "def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n", "answer"),
        _cell("tests", "assert answer() == 42\n", "test_answer"),
    ] + [_cell("tests", "assert answer() == 42\n", f"test_more_{i}") for i in range(20)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "solutions" / "t_stuck").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "solutions" / "t_stuck" / "t.ipynb")
    sub = nbformat.read(tmp_path / "solutions" / "t_stuck" / "t.ipynb", as_version=4)
    # SIGINT blocked, and a C call that keeps the GIL (ctypes.PyDLL), like a numba loop without
    # nogil: neither the interrupt nor ipykernel's parent-watching thread can stop it.
    sub.cells[0].source = textwrap.dedent(f"""\
        import ctypes, os, signal
        open({str(tmp_path / 'kernel.pid')!r}, "w").write(str(os.getpid()))
        signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGINT}})
        def answer():
            ctypes.PyDLL(None).sleep(3600)
        """)
    (tmp_path / "submitted" / "stuck" / "t_stuck").mkdir(parents=True)
    nbformat.write(sub, tmp_path / "submitted" / "stuck" / "t_stuck" / "t.ipynb")
    [score] = grading.grade(tmp_path, timeout=25)
    assert score.status == "timeout" and score.score == 0, score
    pid = int((tmp_path / "kernel.pid").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, \
        "the stuck kernel survived the grader"


@pytest.mark.notebooks
def test_parallel_grading_merges_every_submission_into_one_gradebook(tmp_path):
    """JOBS=2: the submissions run two at a time against one gradebook; each appears in it once,
    with its own score, and progress is reported per submission."""
    from nbgrader.api import Gradebook

    (tmp_path / "nbgrader_config.py").write_text(
        (ROOT / "nbgrader_config.py").read_text() + "\nc.Execute.timeout = 10\n")
    nb = nbformat.v4.new_notebook(cells=[
        _cell("solution", "def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n", "answer"),
        _cell("tests", "assert answer() == 42\n", "test_answer", points=2),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "solutions" / "t_par").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "solutions" / "t_par" / "t.ipynb")
    bodies = {f"s{k}": "def answer():\n    return 42\n" if k % 2 else "def answer():\n    return 0\n"
              for k in range(6)}
    for student, body in bodies.items():
        sub = nbformat.read(tmp_path / "solutions" / "t_par" / "t.ipynb", as_version=4)
        sub.cells[0].source = body
        (tmp_path / "submitted" / student / "t_par").mkdir(parents=True)
        nbformat.write(sub, tmp_path / "submitted" / student / "t_par" / "t.ipynb")
    lines: list[str] = []
    scores = grading.grade(tmp_path, timeout=120, jobs=2, progress=lines.append)
    assert [(s.student, s.score) for s in scores] == [(f"s{k}", 2.0 * (k % 2)) for k in range(6)]
    assert len(lines) == 6 and lines[-1].startswith("[6/6]"), lines
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        subs = [(s.student.id, s.score) for s in gb.assignment_submissions("t_par")]
    assert sorted(subs) == [(f"s{k}", 2.0 * (k % 2)) for k in range(6)], "lost or duplicated rows"


def test_grade_refuses_a_bad_job_count(tmp_path):
    with pytest.raises(ValueError, match="jobs"):
        grading.grade(tmp_path, jobs=0)
