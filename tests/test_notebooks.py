"""Every chapter's notebooks: committed clean, released faithfully, runnable headless."""
import filecmp
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT
from notebook_support import CHAPTERS, load, notebooks, problems


def test_there_are_chapters():
    assert "c00_measure" in CHAPTERS


@pytest.mark.parametrize("path", notebooks("solutions") + notebooks("notebooks"), ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_committed_without_outputs(path):
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, f"cell {i} of {path} has outputs"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_is_released(chapter):
    sources = sorted(p.name for p in (ROOT / "solutions" / chapter).glob("*.ipynb"))
    released = sorted(p.name for p in (ROOT / "notebooks" / chapter).glob("*.ipynb"))
    assert released == sources, "run `make release` and commit notebooks/"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_released_notebooks_hold_no_solutions_or_hidden_tests(chapter):
    for path in (ROOT / "notebooks" / chapter).glob("*.ipynb"):
        text = path.read_text()
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{path.name} contains {marker}"
        released = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
                    for c in load(path)["cells"] if "nbgrader" in c["metadata"]}
        for cell in load(ROOT / "solutions" / chapter / path.name)["cells"]:
            src, meta = "".join(cell["source"]), cell["metadata"].get("nbgrader")
            for begin, end in (("### BEGIN SOLUTION", "### END SOLUTION"),
                               ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")):
                if begin not in src:
                    continue
                assert meta, f"a cell with {begin} has no nbgrader metadata"
                out = released[meta["grade_id"]]
                for line in src.split(begin, 1)[1].split(end, 1)[0].splitlines():
                    if line.strip() and line.strip() not in ("pass", "return"):
                        assert line not in out, f"{path.name}, cell {meta['grade_id']} leaks {line.strip()!r}"


def test_notebooks_folder_equals_a_fresh_release(tmp_path):
    """`make release` run now would reproduce notebooks/ exactly."""
    for name in ("solutions", "nbgrader_config.py"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    proc = subprocess.run([sys.executable, "-m", "course_lib.course.grading", "--root", str(tmp_path), "release"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cmp = filecmp.dircmp(ROOT / "notebooks", tmp_path / "notebooks", ignore=[".ipynb_checkpoints", "__pycache__"])

    def differences(c, prefix=""):
        diffs = [f"{prefix}{n}" for n in c.left_only + c.right_only + c.diff_files + c.funny_files]
        for name, sub in c.subdirs.items():
            diffs += differences(sub, f"{prefix}{name}/")
        return diffs

    assert differences(cmp) == [], "notebooks/ is stale: run `make release` and commit it"


@pytest.mark.notebooks
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_runs_headless_without_errors_or_stderr(graded_course, chapter):
    # The notebooks nbgrader ran for the grading test (conftest.graded_course), read back rather
    # than run a second time: the same quick, headless run, and a few minutes of the suite saved.
    course, scores = graded_course
    assert scores[("solution-student", chapter)].status == "graded", scores[("solution-student", chapter)].detail
    sources = sorted(p.name for p in (ROOT / "solutions" / chapter).glob("*.ipynb"))
    ran = sorted(p.name for p in (course / "autograded" / "solution-student" / chapter).glob("*.ipynb"))
    assert ran == sources, f"nbgrader left no executed copy of {sorted(set(sources) - set(ran))}"
    for name in ran:
        nb = nbformat.read(course / "autograded" / "solution-student" / chapter / name, as_version=4)
        assert problems(nb) == []
        # nbgrader reads a number displayed by a test cell as partial credit (and fails the whole
        # notebook when it exceeds the cell's points): a graded cell must not end in a value.
        shown = [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells
                 if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
                 and any(o.output_type == "execute_result" for o in cell.get("outputs", []))]
        assert shown == [], f"graded cells that display a value (assign it to _): {shown}"
