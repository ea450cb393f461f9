"""The student kit carries the course and none of its answers."""
from __future__ import annotations

import shutil
import subprocess
import tarfile

import nbformat
import pytest

from conftest import ROOT
from course_lib.course import kit
from notebook_support import CHAPTERS


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return kit.build(ROOT, tmp_path_factory.mktemp("kit"))


def test_the_kit_has_what_make_lab_needs_and_no_solutions_or_tests(archive):
    with tarfile.open(archive) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames()]
    tops = {n.split("/", 1)[0] for n in names}
    assert not tops & {"solutions", "tests", ".ci"}, tops
    for needed in ("Makefile", "README.md", "pyproject.toml", "setup.py", "environment.yml",
                   "nbgrader_config.py", "course_lib/__init__.py", "course_lib/_c/build.py"):
        assert needed in names, f"the kit lacks {needed}"
    for chapter in CHAPTERS:
        assert f"notebooks/{chapter}/{chapter}.ipynb" in names


def test_no_file_in_the_kit_holds_a_solution_or_a_hidden_test(archive):
    secrets = kit.secret_blocks(ROOT)
    assert len(secrets) >= 20, "every chapter's solutions and hidden tests are looked for"
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()
            if b"\0" in data:
                continue
            text = data.decode("utf-8", errors="replace")
            assert not kit.leaks(member.name, text, secrets)
            assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text, member.name


def test_a_kit_that_would_leak_is_refused(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    for name in ("solutions", "notebooks", "nbgrader_config.py"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, course / name)
    chapter = CHAPTERS[0]
    leaked = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    nbformat.write(leaked, course / "notebooks" / chapter / f"{chapter}.ipynb")  # the answers!
    subprocess.run(["git", "init", "-q"], cwd=course, check=True)
    subprocess.run(["git", "add", "-A"], cwd=course, check=True)
    with pytest.raises(RuntimeError, match="would leak answers"):
        kit.build(course, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_grading_commands_say_why_they_cannot_run_in_a_kit(tmp_path, capsys):
    from course_lib.course import grading

    assert grading.main(["--root", str(tmp_path), "release"]) == 2
    assert "no solutions/ folder" in capsys.readouterr().err
