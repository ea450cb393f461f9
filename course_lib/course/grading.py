"""Release and autograde the course with nbgrader: what `make release` and `make grade` run.

    python -m course_lib.course.grading release [CHAPTER ...]   # solutions/<id> -> notebooks/<id>
    python -m course_lib.course.grading grade [--jobs N] [--json]  # submitted/<student>/<id> -> scores
    python -m course_lib.course.grading feedback                # autograded -> feedback/<student>/<id>

How grading stays safe and fair:

1. Every (student, chapter) pair is autograded by its own ``nbgrader autograde`` process under a
   wall-clock limit (``--timeout``): a submission that hangs the kernel, or crashes it with a
   segfault, costs that student the points of that chapter and nothing else. ``--jobs N`` runs
   N of those processes at once, sharing the gradebook (see :func:`grade`).
2. Inside a submission, nbgrader's per-cell limit (``nbgrader_config.py``) interrupts an infinite
   loop, and course_lib.testing's checkers bound their own waits, so one bad cell loses only its
   own points.
3. Every submission's answer cells are scanned for code that changes the grading instead of
   answering (``course_lib.course.tamper``); the score table marks it for the teacher to look at.
4. Grading runs with ``COURSE_QUICK=1`` (small sizes) and ``COURSE_HEADLESS=1`` (widgets draw a
   still figure and never wait).
5. Before grading, the source notebooks are recorded in the gradebook by generating the
   assignment into a scratch folder, so a teacher's fresh clone can grade without touching
   notebooks/.

Source: nbgrader's documentation, "Managing assignment files" and "Autograding".
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

__all__ = ["Score", "chapters", "release", "register", "autograde", "grade", "feedback"]


@dataclass(frozen=True)
class Score:
    """One autograded submission: ``status`` is "graded", "timeout" or "failed"; ``flags`` lists
    answer-cell code that tampers with grading (empty for an honest submission)."""

    student: str
    chapter: str
    score: float
    max_score: float
    status: str
    detail: str = ""
    #: Why the submission's answer cells look like they change the grading (see ``tamper``).
    flags: tuple[str, ...] = ()


def _env() -> dict[str, str]:
    # nbgrader runs helper programs (alembic) by name: put this interpreter's scripts first on PATH,
    # so that `make grade` works without activating the virtual environment.
    scripts = str(Path(sys.executable).parent)
    path = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    return dict(os.environ, PATH=path, COURSE_QUICK="1", COURSE_HEADLESS="1", PYTHONWARNINGS="ignore")


def _kill_tree(pid: int) -> None:
    """Kill a process and every process below it.

    The kernel that nbgrader starts runs in a session of its own, so killing nbgrader's process
    (or its group) would leave a stuck kernel spinning on a core for the rest of the grading run,
    slowing every later submission down; it is still nbgrader's child, so walk the tree.
    """
    import psutil

    try:
        top = psutil.Process(pid)
        family = top.children(recursive=True) + [top]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def _nbgrader(root: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"]
    proc = subprocess.Popen(cmd, cwd=root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def chapters(root: str | Path = ".") -> list[str]:
    """Chapter ids: the folders of ``solutions/`` that hold a notebook, sorted."""
    src = Path(root) / "solutions"
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def release(ids: list[str] | None = None, root: str | Path = ".") -> list[Path]:
    """Generate the student version of each chapter into ``notebooks/<id>/``.

    Args:
        ids: chapter ids; all chapters when empty or None.
        root: the course folder (the one holding ``nbgrader_config.py``).

    Returns:
        The released folders.

    Raises:
        RuntimeError: with nbgrader's output when generation fails (a cell without its
            BEGIN/END SOLUTION pair, a duplicate grade id, ...).
    """
    root = Path(root).resolve()
    out = []
    for cid in ids or chapters(root):
        _check(_nbgrader(root, "generate_assignment", cid, "--force"), f"nbgrader generate_assignment {cid}")
        out.append(root / "notebooks" / cid)
    return out


def register(ids: list[str], root: Path) -> None:
    """Record the chapters' source notebooks in the gradebook, without touching notebooks/."""
    with tempfile.TemporaryDirectory() as scratch:
        for cid in ids:
            proc = _nbgrader(root, "generate_assignment", cid, "--force",
                             f"--CourseDirectory.release_directory={scratch}")
            _check(proc, f"recording {cid} in the gradebook")


def _scores(root: Path, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[float, float, str]]:
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with Gradebook(_db_url(root)) as gb:
        for student, cid in pairs:
            try:
                sub = gb.find_submission(cid, student)
            except MissingEntry:
                continue
            lost = [f"{g.name}: {g.score:g}/{g.max_score:g}"
                    for nb in sub.notebooks for g in nb.grades if g.max_score and g.score < g.max_score]
            found[(student, cid)] = (float(sub.score), float(sub.max_score), "; ".join(lost))
    return found


#: The gradebook as several autograde processes share it: each waits up to this many seconds
#: for another's write to finish (SQLite's lock) instead of failing at once.
DB_WAIT = 300


def _db_url(root: Path) -> str:
    return f"sqlite:///{root / 'gradebook.db'}?timeout={DB_WAIT}"


def autograde(student: str, cid: str, root: Path, timeout: float = 900) -> Score:
    """Autograde one submission in its own process under a wall-clock limit, and scan its answer
    cells for tampering (the flags are reported, the score is left as graded)."""
    from course_lib.course.tamper import scan_folder

    flags = tuple(str(f) for f in scan_folder(root / "submitted" / student / cid))
    return dataclasses.replace(_autograde(student, cid, root, timeout), flags=flags)


def _autograde(student: str, cid: str, root: Path, timeout: float) -> Score:
    try:
        proc = _nbgrader(root, "autograde", cid, f"--student={student}", "--force",
                         f"--CourseDirectory.db_url={_db_url(root)}", timeout=timeout)
    except subprocess.TimeoutExpired:
        return Score(student, cid, 0.0, 0.0, "timeout", f"no result within {timeout:g} s")
    got = _scores(root, [(student, cid)]).get((student, cid))
    if proc.returncode != 0 or got is None:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-8:]
        return Score(student, cid, 0.0, 0.0, "failed", "\n".join(tail))
    return Score(student, cid, got[0], got[1], "graded", got[2])


def grade(root: str | Path = ".", timeout: float = 900, jobs: int = 1,
          progress: Callable[[str], None] | None = None) -> list[Score]:
    """Autograde every ``submitted/<student>/<chapter>/`` folder, ``jobs`` at a time.

    Each submission is still its own ``nbgrader autograde`` process with its own wall limit;
    ``jobs`` of them run at once (a class of 30 on a 4-core machine: ``jobs=4``). They share the
    one gradebook: SQLite lets one writer in at a time and the others wait (``DB_WAIT``); a
    submission that failed only because the gradebook stayed locked is graded again, alone, at
    the end. The returned scores are read back from the gradebook, one row per submission.

    Args:
        root: the course folder.
        timeout: seconds allowed for one submission (the notebook-level safety net).
        jobs: submissions graded at once (at least 1).
        progress: called with one line per finished submission ("[3/30] alice c02_channels:
            11/13 graded (42 s)"); None prints nothing.

    Returns:
        One :class:`Score` per submission, sorted by student then chapter.

    Raises:
        ValueError: ``jobs`` < 1, or a submitted chapter has no source in ``solutions/``.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"grade(jobs=...): a whole number >= 1, got {jobs!r}")
    root = Path(root).resolve()
    sub = root / "submitted"
    pairs = sorted((s.name, c.name) for s in sub.glob("*") if s.is_dir() for c in s.iterdir() if c.is_dir())
    known = set(chapters(root))
    unknown = sorted({c for _, c in pairs} - known)
    if unknown:
        raise ValueError(f"submitted/ holds chapters with no source in solutions/: {unknown}")
    register(sorted({c for _, c in pairs}), root)
    say = progress or (lambda line: None)
    results: dict[tuple[str, str], Score] = {}
    done = 0

    def one(pair: tuple[str, str]) -> tuple[tuple[str, str], Score, float]:
        start = time.monotonic()
        return pair, autograde(pair[0], pair[1], root, timeout), time.monotonic() - start

    def report(pair: tuple[str, str], score: Score, seconds: float) -> None:
        nonlocal done
        done += 1
        pts = f"{score.score:g}/{score.max_score:g} " if score.status == "graded" else ""
        flagged = f", {len(score.flags)} tamper flag(s)" if score.flags else ""
        say(f"[{done}/{len(pairs)}] {pair[0]} {pair[1]}: {pts}{score.status}{flagged} ({seconds:.0f} s)")

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in concurrent.futures.as_completed([pool.submit(one, p) for p in pairs]):
            pair, score, seconds = future.result()
            results[pair] = score
            if not _locked(score):
                report(pair, score, seconds)
    for pair in [p for p in pairs if _locked(results[p])]:  # again, alone
        pair, score, seconds = one(pair)
        results[pair] = score
        report(pair, score, seconds)
    return [results[p] for p in pairs]


def _locked(score: Score) -> bool:
    return score.status == "failed" and "database is locked" in score.detail


def feedback(root: str | Path = ".") -> None:
    """Write HTML feedback for every autograded submission into ``feedback/``."""
    root = Path(root).resolve()
    for cid in chapters(root):
        if any((root / "autograded").glob(f"*/{cid}")):
            _check(_nbgrader(root, "generate_feedback", cid, "--force"), f"nbgrader generate_feedback {cid}")


def _table(scores: list[Score]) -> str:
    if not scores:
        return "nothing to grade: put submissions in submitted/<student>/<chapter>/"
    rows = [f"{'student':<16} {'chapter':<16} {'score':>11}  status"]
    for s in scores:
        pts = f"{s.score:g} / {s.max_score:g}" if s.status == "graded" else "-"
        rows.append(f"{s.student:<16} {s.chapter:<16} {pts:>11}  {s.status}"
                    + ("  FLAGGED for a look" if s.flags else ""))
        rows.extend(f"{'':<34}flag: {flag}" for flag in s.flags)
        if s.detail:
            rows.extend(f"{'':<34}{line}" for line in s.detail.split("; " if s.status == "graded" else "\n"))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.course.grading", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=".", help="course folder (default: current)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rel = sub.add_parser("release", help="generate notebooks/ from solutions/")
    rel.add_argument("ids", nargs="*")
    gr = sub.add_parser("grade", help="autograde submitted/ and print scores")
    gr.add_argument("--json", action="store_true", help="print JSON instead of a table")
    gr.add_argument("--timeout", type=float, default=900, help="seconds per submission")
    gr.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    sub.add_parser("feedback", help="generate feedback/ from autograded/")
    args = parser.parse_args(argv)
    if not (Path(args.root) / "solutions").is_dir():
        print(f"{Path(args.root).resolve()} has no solutions/ folder: releasing and grading need the "
              "teacher's repository (the student kit has none)", file=sys.stderr)
        return 2
    if args.cmd == "release":
        for path in release(args.ids, args.root):
            print("released", path.relative_to(Path(args.root).resolve()))
    elif args.cmd == "grade":
        start = time.monotonic()
        scores = grade(args.root, args.timeout, args.jobs,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
        print(f"graded {len(scores)} submissions in {time.monotonic() - start:.0f} s with "
              f"{args.jobs} job(s)", file=sys.stderr)
        print(json.dumps([asdict(s) for s in scores], indent=1) if args.json else _table(scores))
    else:
        feedback(args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
