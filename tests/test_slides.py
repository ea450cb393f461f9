"""Workshop mode: every chapter carries slide metadata by one rule; slides build; prewarm runs."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from course_lib.course import slides
from notebook_support import CHAPTERS

NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb")) + sorted((ROOT / "notebooks").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{Path(p).parent.parent.name}/{Path(p).parent.name}")
def test_every_cell_carries_the_slide_layout(path):
    nb = nbformat.read(path, as_version=4)
    types = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert types == [slides.slide_type(c) for c in nb.cells], \
        "run `python -m course_lib.course.slides tag` after editing solutions/, then make release"
    assert types[0] == "slide" and types.count("slide") >= 4 and "fragment" in types


def test_slides_build_as_reveal_html(tmp_path):
    [html] = slides.build(ROOT, tmp_path, [CHAPTERS[0]])
    text = html.read_text()
    nb = nbformat.read(ROOT / "notebooks" / CHAPTERS[0] / f"{CHAPTERS[0]}.ipynb", as_version=4)
    wanted = sum(slides.slide_type(c) in ("slide", "subslide") for c in nb.cells)
    assert "reveal" in text and text.count("<section") >= wanted


def test_build_names_a_missing_chapter(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_chapter"):
        slides.build(ROOT, tmp_path, ["no_such_chapter"])


@pytest.mark.notebooks
def test_prewarm_runs_a_chapter_headless():
    seconds = slides.prewarm(CHAPTERS[0], ROOT, timeout=300)
    assert 0 < seconds < 300
