"""Every graded exercise keeps its contract (see contract.py): at least three wrong answers of
three different kinds that its checker fails, and at least two correct answers that it passes.

The tally comes from the marks of the tests pytest collected in this run, so this test judges
only when the whole suite was collected; run on its own it skips and says so.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ANSWERS

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
MIN_WRONG_KINDS, MIN_RIGHT = 3, 2


def graded_cells() -> set[str]:
    """``chapter:grade_id`` of every graded (autograder test) cell of every solution notebook."""
    found = set()
    for nb in sorted(ROOT.glob("solutions/c*/*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                found.add(f"{nb.parent.name}:{meta['grade_id']}")
    return found


def _files_with_answers() -> set[str]:
    return {p.name for p in TESTS.glob("test_*.py")
            if p.name != Path(__file__).name and "from contract import" in p.read_text()}


@pytest.fixture
def tally(request):
    seen = request.config.stash.get(ANSWERS, None)
    missing = _files_with_answers() - (seen["files"] if seen else set())
    if missing:
        pytest.skip(f"the contract is judged on the whole suite; not collected: {sorted(missing)}")
    return seen["tally"]


def test_every_graded_exercise_keeps_its_contract(tally):
    short = []
    for exercise in sorted(graded_cells()):
        answers = tally.get(exercise, [])
        kinds = {kind for verdict, kind, _ in answers if verdict == "wrong"}
        rights = [a for a in answers if a[0] == "right"]
        if len(kinds) < MIN_WRONG_KINDS or len(rights) < MIN_RIGHT:
            short.append(f"{exercise}: {len(kinds)} kinds of wrong answer (need {MIN_WRONG_KINDS}), "
                         f"{len(rights)} correct answers (need {MIN_RIGHT})")
    assert not short, "exercises without their answers in tests/:\n" + "\n".join(short)


def test_every_answer_names_a_graded_exercise(tally):
    unknown = sorted(set(tally) - graded_cells())
    assert not unknown, f"answer marks name exercises no solution notebook grades: {unknown}"


def test_marks_are_well_formed(tally):
    bad = [(e, v, k) for e, answers in tally.items() for v, k, _ in answers
           if v not in ("wrong", "right") or not k]
    assert not bad, bad


def test_the_matrix_is_printed_for_the_record(tally):
    """``make test PYTEST_ARGS="-s -k contract"`` shows the matrix."""
    for exercise in sorted(tally):
        answers = tally[exercise]
        wrong = sorted({k for v, k, _ in answers if v == "wrong"})
        right = sum(v == "right" for v, _, _ in answers)
        print(f"{exercise:42} {right} right, {len(wrong)} kinds wrong: {'; '.join(wrong)}")
