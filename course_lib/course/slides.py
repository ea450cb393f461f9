"""Workshop mode: every chapter as reveal.js slides, and kernels warmed up before a talk.

    python -m course_lib.course.slides tag            # slide metadata into solutions/ (authors)
    python -m course_lib.course.slides build [--out slides/] [CHAPTER ...]   (`make slides`)
    python -m course_lib.course.slides prewarm CHAPTER                       (`make prewarm`)

The layout rule, applied by :func:`tag` and checked by the tests, is the one a speaker reads:

- a markdown cell that opens with ``# `` or ``## `` (a chapter or a section) starts a **slide**;
- one that opens with ``### `` (an exercise, a step) starts a **sub-slide**, below its section;
- a code cell that is not graded (a demo or a measurement) is a **fragment**: it appears on the
  same slide, one click later, so the speaker can say what will happen before it does;
- every other cell continues the slide it is on.

Slides can be presented live in JupyterLab (the *RISE* extension, ``jupyterlab-rise``, which
``make lab`` installs: press ``alt+r`` or use *View → Render as slides*), or as static HTML from
:func:`build` (nbconvert's reveal.js export, with the cells' stored outputs; run the notebook
first, or use ``--execute``). The HTML loads reveal.js from nbconvert's default location on the
web; pass ``--reveal-prefix`` to point at a local copy for a talk without network.

:func:`prewarm` runs a chapter's notebook headless once (``COURSE_QUICK=1``), so that the first
live run of a demo does not stop for numba's compilation of course_lib's cached kernels, the
imports, and matplotlib's font cache.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

__all__ = ["slide_type", "tag", "build", "prewarm", "main"]


def slide_type(cell) -> str:
    """The slide type the layout rule gives ``cell`` (an nbformat cell)."""
    if cell.cell_type == "markdown":
        head = cell.source.lstrip()
        if head.startswith(("# ", "## ")):
            return "slide"
        if head.startswith("### "):
            return "subslide"
        return "-"
    if cell.cell_type == "code":
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        return "-" if (nbg.get("solution") or nbg.get("grade")) else "fragment"
    return "-"


def tag(notebook: str | Path) -> int:
    """Write the layout rule's slide metadata into ``notebook``; return how many cells changed."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    changed = 0
    for cell in nb.cells:
        want = slide_type(cell)
        if cell.metadata.get("slideshow", {}).get("slide_type") != want:
            cell.metadata["slideshow"] = {"slide_type": want}
            changed += 1
    if changed:
        nbformat.write(nb, notebook)
    return changed


def build(root: str | Path = ".", out: str | Path = "slides", ids: Sequence[str] = (),
          execute: bool = False, reveal_prefix: str | None = None) -> list[Path]:
    """Write ``out/<chapter>.slides.html`` for each chapter of ``notebooks/`` (all by default)."""
    root, out = Path(root).resolve(), Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    chapters = list(ids) or sorted(p.name for p in (root / "notebooks").iterdir() if p.is_dir())
    written = []
    for cid in chapters:
        nb = root / "notebooks" / cid / f"{cid}.ipynb"
        if not nb.exists():
            raise FileNotFoundError(f"no notebook for chapter {cid!r}: {nb}")
        cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "slides", str(nb),
               "--output-dir", str(out), "--output", cid]  # nbconvert adds ".slides.html"
        if execute:
            cmd += ["--execute", "--ExecutePreprocessor.timeout=600"]
        if reveal_prefix:
            cmd += [f"--SlidesExporter.reveal_url_prefix={reveal_prefix}"]
        env = dict(os.environ, COURSE_HEADLESS="1", **({"COURSE_QUICK": "1"} if execute else {}))
        proc = subprocess.run(cmd, cwd=nb.parent, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"nbconvert failed on {cid}:\n{proc.stderr[-2000:]}")
        written.append(out / f"{cid}.slides.html")
    return written


def prewarm(chapter: str, root: str | Path = ".", timeout: float = 900) -> float:
    """Run ``notebooks/<chapter>`` headless once, quick sizes, and return the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(root).resolve() / "notebooks" / chapter / f"{chapter}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # the exercises' stubs raise NotImplementedError: skip past them
        if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            cell.source = ""
    saved = {k: os.environ.get(k) for k in ("COURSE_QUICK", "COURSE_HEADLESS")}
    os.environ.update(COURSE_QUICK="1", COURSE_HEADLESS="1")
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.course.slides",
                                     description="Slides and warm-up for live workshops.")
    parser.add_argument("--root", default=".", help="the course folder")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("tag", help="write slide metadata into solutions/*/*.ipynb (authors)")
    b = sub.add_parser("build", help="reveal.js HTML for each chapter")
    b.add_argument("ids", nargs="*")
    b.add_argument("--out", default="slides")
    b.add_argument("--execute", action="store_true", help="run each notebook first (quick sizes)")
    b.add_argument("--reveal-prefix", default=None, help="where reveal.js is (default: the web)")
    w = sub.add_parser("prewarm", help="run a chapter once, headless, before a talk")
    w.add_argument("chapter")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if args.cmd == "tag":
        for nb in sorted((root / "solutions").glob("*/*.ipynb")):
            print(f"{nb}: {tag(nb)} cells updated")
    elif args.cmd == "build":
        for path in build(root, args.out, args.ids, args.execute, args.reveal_prefix):
            print("wrote", path)
    else:
        print(f"{args.chapter} warmed up in {prewarm(args.chapter, root):.0f} s: the demos "
              "start without compiling course_lib's kernels now")
    return 0


if __name__ == "__main__":
    sys.exit(main())
