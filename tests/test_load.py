"""The load generator really loads a core, stops when asked, and never outlives its parent."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from course_lib.testing.load import busy_cores, main


def test_busy_cores_keeps_a_core_busy_and_stops():
    with busy_cores(1) as pids:
        spinner = psutil.Process(pids[0])
        before = sum(spinner.cpu_times()[:2])
        time.sleep(0.5)
        used = sum(spinner.cpu_times()[:2]) - before
    assert used > 0.15, f"the spinner used only {used:.2f} s of CPU in 0.5 s"
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE


def test_busy_cores_rejects_a_bad_count():
    with pytest.raises(ValueError, match="cores"):
        with busy_cores(-1):
            pass


def test_main_runs_the_command_and_returns_its_status():
    assert main(["--cores", "1", "--", sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert main(["--cores", "0", "--", sys.executable, "-c", "pass"]) == 0


def test_a_spinner_exits_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import time
        from course_lib.testing.load import busy_cores
        with busy_cores(1) as pids:
            print(pids[0], flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    end = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the spinner outlived its parent"
