"""Tamper flags: answer cells that change the grading are flagged, honest answers never are."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from course_lib.course.tamper import scan_notebook, scan_source


@pytest.mark.parametrize("source, reason", [
    ("import course_lib.testing.exercises.c00_measure as m\nm.check_amdahl = lambda f: None",
     "changes a course module"),
    ("from course_lib.testing.exercises import c00_measure\nc00_measure.check_amdahl = print",
     "changes a course module"),
    ("import course_lib\nsetattr(course_lib.testing, 'call_with_timeout', None)", "changes a module"),
    ("import course_lib.testing\ndel course_lib.testing.check_close", "changes a course module"),
    ("import course_lib.testing as t\nt.__dict__['check_close'] = None", "changes a course module"),
    ("import builtins\nbuiltins.AssertionError = Exception", "replaces a builtin"),
    ("__builtins__.print = lambda *a: None", "replaces a builtin"),
    ("AssertionError = Exception", "shadows the builtin"),
    ("import sys\nsys.modules['course_lib.testing'] = None", "edits sys.modules"),
    ("import sys as s\ns.modules.pop('numpy')", "edits sys.modules"),
    ("import sys\nsys.settrace(lambda *a: None)", "hooks into the interpreter"),
    ("src = open('c00_measure.ipynb').read()", "notebook file"),
    ("import nbformat\nnb = nbformat.read(__session__, 4)", "reads a notebook"),
    ("import glob\nglob.glob('../../solutions/*')", "solutions/"),
    ("def check_amdahl(f):\n    pass", "a name the hidden tests use"),
    ("check_fetch_max = lambda f: None", "a name the hidden tests use"),
])
def test_tampering_is_flagged(source, reason):
    flags = scan_source(source, cell="answer")
    assert flags and any(reason in f.reason for f in flags), flags
    assert all(f.cell == "answer" and f.line >= 1 for f in flags)


@pytest.mark.parametrize("source", [
    "from course_lib.measure import work\ndef parallel_spin(t, n, s):\n    return [work.spin(n, s)]",
    "import numpy as np\nsum = 0\nfor v in range(3):\n    sum += v",  # sloppy, not tampering
    "class Sender:\n    def send(self, v):\n        self.last = v",
    "%timeit 1 + 1\nx = 1",
    "def broken(:\n",  # a syntax error fails the cell by itself
])
def test_honest_answers_are_not_flagged(source):
    assert scan_source(source) == []


@pytest.mark.parametrize("notebook", sorted((ROOT / "solutions").glob("*/*.ipynb")),
                         ids=lambda p: Path(p).parent.name)
def test_no_solution_notebook_is_flagged(notebook):
    assert scan_notebook(notebook) == []


def test_graders_cannot_be_reassigned_from_a_notebook():
    import course_lib.testing.exercises.c00_measure as m

    with pytest.raises(AttributeError, match="grades an exercise"):
        m.check_amdahl = lambda f: None
    with pytest.raises(AttributeError, match="grades an exercise"):
        del m.check_robust_time
    assert callable(m.check_amdahl)
