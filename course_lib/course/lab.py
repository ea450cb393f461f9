"""Start JupyterLab on the course: what `make lab` runs, and what the smoke test starts.

    python -m course_lib.course.lab [extra JupyterLab flags, e.g. --no-browser --port 8899]

The server is rooted at the course folder (where ``nbgrader_config.py`` is, so that nbgrader's
Validate button and course list find it) and opens on ``notebooks/``. A positional directory is
not used for that: JupyterLab would take it as the root instead.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["lab_command", "main"]


def lab_command(root: str | Path, extra: list[str] | None = None) -> list[str]:
    """The command line that starts JupyterLab on the course folder ``root``.

    Args:
        root: the course folder.
        extra: more JupyterLab flags, appended last so that they win.

    Returns:
        An argv list starting with this interpreter.
    """
    args = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={Path(root).resolve()}",
            "--LabApp.default_url=/lab/tree/notebooks",
            # No "news" pop-up and no update check: a learner's or a speaker's screen stays on
            # the course (and nothing is fetched from the web)
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # containers and CI run as root; JupyterLab refuses without this
    return args + list(extra or [])


def main(argv: list[str] | None = None) -> int:
    root = Path.cwd()
    if not (root / "nbgrader_config.py").exists():
        print(f"{root} is not the course folder (no nbgrader_config.py): run `make lab` from the repository")
        return 2
    cmd = lab_command(root, sys.argv[1:] if argv is None else argv)
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
