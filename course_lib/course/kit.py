"""The student kit: everything a student needs to run the course, and none of the answers.

    python -m course_lib.course.kit [--out dist/]      (what `make student-kit` runs)

The repository carries ``solutions/``, with every answer and hidden test; a graded class must not
get it. The kit is a ``.tar.gz`` of the files git tracks, minus what only the teaching side needs:

- kept: ``notebooks/`` (the released, student versions), ``course_lib/`` (the library the
  notebooks import, C sources included), ``benchmarks/``, ``tools/``, the README, the Makefile and
  the packaging files, so that ``make lab`` (and ``make bench``) work from the unpacked kit;
- left out: ``solutions/``, ``tests/`` (they grade the solutions), ``.ci/`` and git's files.

Before writing, every kept file is scanned: a file that holds nbgrader's solution or hidden-test
markers, or a whole solution or hidden-test block from ``solutions/``, stops the build with an
error naming the file, so a kit can only be written clean. (course_lib holds the course's own
implementations, which the notebooks compare a learner's answer with; while an exercise is
graded, calling them is refused, see ``course_lib.testing.delegation``.)
"""
from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["LEFT_OUT", "kit_files", "secret_blocks", "leaks", "build", "main"]

#: Top-level entries of the repository that stay out of the kit.
LEFT_OUT = ("solutions", "tests", ".ci", ".gitignore")
_MARKERS = re.compile(r"#+\s*(BEGIN|END)\s+(SOLUTION|HIDDEN TESTS)")
_BLOCK = re.compile(r"#+\s*BEGIN\s+(SOLUTION|HIDDEN TESTS)(.*?)#+\s*END\s+\1", re.S)


#: Build products and caches, skipped when the course folder is not a git checkout: anywhere
#: in a path, or (``build``, ``dist``) only at the top, since ``course_lib/dist`` is source.
_NOT_SOURCE = (".git", ".venv", "__pycache__", ".ipynb_checkpoints",
               ".pytest_cache", "submitted", "autograded", "feedback", "release", "source")
_NOT_SOURCE_AT_TOP = ("build", "dist")


def kit_files(root: Path) -> list[str]:
    """The course's files that go into the kit (paths relative to ``root``): the files git
    tracks, or, outside a git checkout, every file but build products and caches."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        out = [p.relative_to(root).as_posix() for p in root.rglob("*")
               if p.is_file() and not set(p.relative_to(root).parts) & set(_NOT_SOURCE)
               and p.relative_to(root).parts[0] not in _NOT_SOURCE_AT_TOP
               and p.suffix not in (".so", ".o", ".pyc", ".db") and not p.name.startswith(".stamp")]
    return sorted(f for f in out
                  if f.split("/", 1)[0] not in LEFT_OUT and (root / f).is_file())


def _normal(text: str) -> str:
    return "\n".join(ln.strip() for ln in text.splitlines() if ln.strip())


def secret_blocks(root: Path) -> list[str]:
    """Every solution and hidden-test block of the notebooks in ``solutions/``, as normalised
    text (stripped lines, blank lines dropped): what must not reach a student. Blocks of one
    short line (``return 0``) are too common to mean anything and are left out."""
    import nbformat

    blocks: list[str] = []
    for nb_path in sorted((root / "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            for _, body in _BLOCK.findall(cell.source):
                text = _normal(body)
                if text.count("\n") >= 1 and len(text) >= 40:
                    blocks.append(text)
    return blocks


def leaks(name: str, text: str, secrets: Iterable[str]) -> list[str]:
    """What in ``text`` (the file ``name``) would give an answer away; empty when it is clean:
    nbgrader's markers, or a whole solution or hidden-test block."""
    found = [f"{name}: nbgrader marker {m.group(0)!r}" for m in _MARKERS.finditer(text)]
    flat = _normal(text)
    found += [f"{name}: holds a solution or hidden test that begins {s.splitlines()[0]!r}"
              for s in secrets if s in flat]
    return found


def build(root: Path, out_dir: Path, name: str = "hpc-python-student") -> Path:
    """Write ``out_dir/<name>.tar.gz`` and return its path.

    Raises:
        RuntimeError: a kept file would leak an answer (the message lists every finding).
    """
    root, out_dir = Path(root).resolve(), Path(out_dir)
    files = kit_files(root)
    secrets = secret_blocks(root)
    problems: list[str] = []
    for f in files:
        data = (root / f).read_bytes()
        if b"\0" not in data:
            problems += leaks(f, data.decode("utf-8", errors="replace"), secrets)
    if problems:
        raise RuntimeError("the student kit would leak answers:\n  " + "\n  ".join(problems))
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in files:
            tar.add(root / f, arcname=f"{name}/{f}", recursive=False)
        readme = ("This is the student kit of the course: `make lab` opens it.\n"
                  "Teachers: the solutions and tests live in the full repository.\n").encode()
        info = tarfile.TarInfo(f"{name}/STUDENT_KIT.txt")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return archive


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.course.kit",
                                     description="Write the student kit (no solutions).")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the course folder")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="where to write it")
    args = parser.parse_args(argv)
    try:
        archive = build(args.root, args.out)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    with tarfile.open(archive) as tar:
        count = len(tar.getnames())
    print(f"wrote {archive} ({count} files, {archive.stat().st_size / 1e6:.1f} MB): "
          "give it to students; it has no solutions/ and no tests/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
