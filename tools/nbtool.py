"""Write nbgrader notebooks as plain text, and read them back.

The ``.ipynb`` files in ``solutions/`` are the source of truth for nbgrader. JSON is awkward to
write and review, so chapters can be drafted in "percent" format and converted::

    python tools/nbtool.py to-ipynb draft.py solutions/c00_measure/c00_measure.ipynb
    python tools/nbtool.py to-py solutions/c00_measure/c00_measure.ipynb draft.py

Cell markers (one per cell, on a line of its own)::

    # %% [markdown]               markdown; each following line loses its leading "# "
    # %%                          an ordinary code cell
    # %% [readonly] id=setup      a locked code cell (nbgrader "read-only")
    # %% [solution] id=amdahl     an autograded answer cell (### BEGIN/END SOLUTION inside)
    # %% [tests] id=t_amdahl points=2   an autograder test cell (### BEGIN/END HIDDEN TESTS inside)

Cell ids are derived from the position and grade id, so converting the same text twice gives the
same notebook byte for byte.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_MARKER = re.compile(r"^# %%(?: \[(?P<kind>\w+)\])?(?P<attrs>(?: \w+=\S+)*)\s*$")
_KINDS = {None, "markdown", "readonly", "solution", "tests"}


def _nbgrader_meta(kind: str | None, attrs: dict[str, str]) -> dict | None:
    if kind in (None, "markdown"):
        return None
    grade_id = attrs.get("id")
    if not grade_id:
        raise ValueError(f"a [{kind}] cell needs id=...")
    meta = {"grade": kind == "tests", "grade_id": grade_id, "locked": kind != "solution",
            "schema_version": 3, "solution": kind == "solution", "task": False}
    if kind == "tests":
        meta["points"] = int(attrs.get("points", "1"))
    return meta


def parse(text: str) -> list[dict]:
    """Split percent-format text into nbformat 4.5 cell dicts."""
    cells: list[dict] = []
    kind, attrs, body = None, {}, None
    for line in text.splitlines() + ["# %%__END__"]:
        m = _MARKER.match(line) if line != "# %%__END__" else True
        if m:
            if body is not None:
                while body and not body[-1].strip():
                    body.pop()
                cells.append(_make_cell(len(cells), kind, attrs, body))
            if line == "# %%__END__":
                break
            kind = m.group("kind")
            if kind not in _KINDS:
                raise ValueError(f"unknown cell kind [{kind}] in line {line!r}")
            attrs = dict(a.split("=", 1) for a in m.group("attrs").split())
            body = []
        elif body is not None:
            body.append(line)
    return cells


def _make_cell(index: int, kind: str | None, attrs: dict[str, str], body: list[str]) -> dict:
    meta = _nbgrader_meta(kind, attrs)
    cell_id = f"cell-{index:03d}" + (f"-{attrs['id']}" if "id" in attrs else "")
    if kind == "markdown":
        lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in body]
        return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": _join(lines)}
    cell = {"cell_type": "code", "execution_count": None, "id": cell_id,
            "metadata": {"nbgrader": meta} if meta else {}, "outputs": [], "source": _join(body)}
    return cell


def _join(lines: list[str]) -> list[str]:
    return [ln + "\n" for ln in lines[:-1]] + lines[-1:] if lines else []


def to_notebook(text: str) -> dict:
    """Build a whole notebook dict from percent-format text."""
    return {
        "cells": parse(text),
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def to_text(nb: dict) -> str:
    """Turn a notebook dict back into percent-format text (inverse of :func:`to_notebook`)."""
    out = []
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        meta = cell.get("metadata", {}).get("nbgrader")
        if cell["cell_type"] == "markdown":
            out.append("# %% [markdown]")
            out.extend(("# " + ln) if ln else "#" for ln in src.splitlines())
        else:
            if meta is None:
                out.append("# %%")
            else:
                kind = "tests" if meta.get("grade") else "solution" if meta.get("solution") else "readonly"
                extra = f" points={meta['points']}" if kind == "tests" else ""
                out.append(f"# %% [{kind}] id={meta['grade_id']}{extra}")
            out.extend(src.splitlines())
        out.append("")
    return "\n".join(out)


def dumps(nb: dict) -> str:
    """Serialise like Jupyter does (indent 1, sorted keys, trailing newline)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("to-ipynb", "to-py"):
        print(__doc__)
        return 2
    cmd, src, dst = argv
    if cmd == "to-ipynb":
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        Path(dst).write_text(dumps(to_notebook(Path(src).read_text())))
    else:
        Path(dst).write_text(to_text(json.loads(Path(src).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
