"""Shared test set-up: no windows, no waiting widgets, and the repository root."""
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_HEADLESS", "1")

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ the graders' contract
# See contract.py. The tally of answer marks is taken before -k/-m deselect anything, so
# test_contract.py can see the whole matrix whenever the files that hold it were collected.
import pytest  # noqa: E402

from course_lib.config import soak  # noqa: E402

ANSWERS = pytest.StashKey[dict]()
SOAK = soak()


def pytest_generate_tests(metafunc):
    """With COURSE_SOAK=N, every test that grades a contract answer runs N times."""
    if SOAK > 1 and _has_answer_mark(metafunc.definition):
        metafunc.fixturenames.append("soak_round")
        metafunc.parametrize("soak_round", range(SOAK), ids=lambda i: f"soak{i}")


def _has_answer_mark(definition) -> bool:
    if definition.get_closest_marker("answer"):
        return True
    return any(m.name == "parametrize" and any(
        getattr(v, "marks", None) and any(k.name == "answer" for k in v.marks) for v in m.args[1])
        for m in definition.iter_markers() if len(m.args) > 1)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    tally: dict = {}
    files = set()
    for item in items:
        mark = item.get_closest_marker("answer")
        if mark is None:
            continue
        files.add(Path(str(item.path)).name)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("soak_round", 0) != 0:
            continue
        exercise, verdict, kind = mark.args
        tally.setdefault(exercise, []).append((verdict, kind, item.nodeid))
    config.stash[ANSWERS] = {"tally": tally, "files": files}


# ------------------------------------------------------------------ one grading run, shared
@pytest.fixture(scope="session")
def graded_course(tmp_path_factory):
    """Every chapter's solution and released notebook, autograded once by nbgrader (the longest
    step of the suite). Returns ``(course folder, {(student, chapter): Score})``: test_grading
    reads the scores, test_notebooks reads the executed solution notebooks under
    ``autograded/solution-student/`` (nbgrader runs them as the headless test would: with
    ``COURSE_QUICK=1`` and ``COURSE_HEADLESS=1``, see course_lib.course.grading)."""
    import shutil

    from course_lib.course import grading
    from notebook_support import CHAPTERS

    course = tmp_path_factory.mktemp("course")
    for name in ("solutions", "notebooks", "nbgrader_config.py"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, course / name)
    for chapter in CHAPTERS:
        for who, folder in (("solution-student", "solutions"), ("untouched-student", "notebooks")):
            dest = course / "submitted" / who / chapter
            dest.mkdir(parents=True)
            for nb in (ROOT / folder / chapter).glob("*.ipynb"):
                shutil.copy(nb, dest / nb.name)
    scores = {(s.student, s.chapter): s for s in grading.grade(course, timeout=900)}
    return course, scores
