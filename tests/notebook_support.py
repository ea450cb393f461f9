"""Helpers for the notebook tests: the chapters, running a notebook headless, reading outputs."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from conftest import ROOT

CHAPTERS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def notebooks(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def execute(path: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """Run a notebook top to bottom the way the grader does: quick sizes, headless, its own folder."""
    nb = nbformat.read(path, as_version=4)
    env = {"COURSE_QUICK": "1", "COURSE_HEADLESS": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def problems(nb) -> list[str]:
    """Errors and stderr output of every code cell, as readable lines."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            if o.output_type == "error":
                out.append(f"cell {i}: {o.ename}: {o.evalue}")
            elif o.output_type == "stream" and o.name == "stderr":
                out.append(f"cell {i} wrote to stderr: {o.text[:300]!r}")
    return out


def load(path: Path) -> dict:
    return json.loads(path.read_text())
