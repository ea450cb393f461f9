"""The graders' contract, as pytest marks.

Every graded exercise keeps, somewhere in ``tests/``, at least three wrong answers of different
kinds that its checker must fail and at least two correct answers, written differently from the
reference, that it must pass. A test that grades one of them carries a mark saying which exercise
(the notebook's ``grade_id``, as ``"c01_par_iter:test_tree_sum"``) and which verdict it expects::

    @wrong("c00_measure:test_amdahl", "formula")      # kind: what sort of mistake it is
    def test_amdahl_rejects_the_classic_slip(): ...

    @right("c00_measure:test_amdahl")
    def test_amdahl_accepts_a_rearranged_formula(): ...

For parametrised tests, give each case its own mark with :func:`case`. ``test_contract.py``
checks that every graded cell of every solution notebook has its answers, and ``make soak``
grades them all ``COURSE_SOAK`` times (default 20) while another process keeps a core busy.
"""
from __future__ import annotations

import pytest

__all__ = ["wrong", "right", "case"]


def wrong(exercise: str, kind: str) -> pytest.MarkDecorator:
    """Mark a test that feeds ``exercise``'s checker a wrong answer of the given ``kind``
    (``"race"``, ``"serial"``, ``"delegation"``, ``"late wake-up"``, ...); the test asserts that
    the checker fails it."""
    return pytest.mark.answer(exercise, "wrong", kind)


def right(exercise: str, kind: str = "correct") -> pytest.MarkDecorator:
    """Mark a test that feeds ``exercise``'s checker a correct answer; the test asserts it passes."""
    return pytest.mark.answer(exercise, "right", kind)


def case(*values, mark: pytest.MarkDecorator, id: str | None = None):
    """One parametrised case carrying its own contract mark (named after its kind unless the
    answer is a named function)."""
    if id is None and not hasattr(values[0], "__name__"):
        id = mark.args[2].replace(" ", "-")
    return pytest.param(*values, marks=mark, id=id)
