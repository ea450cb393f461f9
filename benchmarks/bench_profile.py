"""Benchmarks for course_lib.profile (chapter c07): what counting costs, and whether it agrees.

1. ``counters()`` overhead: microseconds per call around a call that does nothing, for the
   default events on all threads, on the calling thread, and for one software event; and what
   lands *inside* the counting window (the task-clock of an empty call).
2. Agreement with ``perf stat`` on the same kernel: where hardware instructions are countable,
   instructions per call from ``counters()`` against ``perf stat -e instructions:u`` on a script
   that runs the kernel k times minus one that runs it 0 times; elsewhere, page faults and
   task-clock of touching a fresh array the same way (the reason is printed).
3. Callgrind's repeatability: the same kernel counted twice on a quiet machine and twice while
   another process keeps a core busy (``testing.load.busy_cores``): the counts should not move.
4. Callgrind's cost: seconds per ``instructions()`` run for a plain Python target and a numba
   target, with and without late instrumentation, and how much slower the counted code runs.

Run with ``python -m benchmarks profile`` (``COURSE_QUICK=1`` for a quick run).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

from course_lib.config import pick
from course_lib.memory.alloc import numpy_hugepages
from course_lib.profile import instructions as I
from course_lib.profile.counters import counters, perf_available
from course_lib.testing.load import busy_cores

NUMBA_LOOP = """
import numba

@numba.njit
def loop(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s
"""


def _nothing() -> None:
    return None


def _overhead() -> None:
    print("\n-- counters() overhead per call (µs), around a call that does nothing")
    calls = pick(300, 50)
    for label, kw in (("default events, threads='all'", {}),
                      ("default events, threads='this'", {"threads": "this"}),
                      ("task-clock only, threads='this'",
                       {"events": ("task-clock",), "threads": "this"})):
        counters(_nothing, **kw)
        start = time.perf_counter()
        for _ in range(calls):
            c = counters(_nothing, **kw)
        per = (time.perf_counter() - start) / calls
        inside = c.get("task-clock")
        where = "" if inside is None else f"; inside the window: task-clock {inside / 1e3:.1f} µs"
        print(f"  {label:<34} {per * 1e6:8.1f} µs per call{where}")


def _perf_stat(script: str, events: str) -> dict[str, float] | None:
    """perf stat -x, on ``python -c script``: event -> value, or None when perf cannot."""
    perf = shutil.which("perf")
    if perf is None:
        return None
    proc = subprocess.run([perf, "stat", "-x,", "-e", events, sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=300)
    values: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        cells = line.split(",")
        if len(cells) >= 3 and cells[0].replace(".", "", 1).isdigit():
            values[cells[2].split(":")[0]] = float(cells[0])
    return values or None


def _agreement() -> None:
    print("\n-- agreement with perf stat (script with k calls minus script with 0 calls, over k)")
    if shutil.which("perf") is None:
        print("  perf is not installed here (linux-tools / linux-perf): nothing to compare with")
        return
    ok, why = perf_available()
    k = pick(20, 5)
    if ok:
        n = pick(2_000_000, 200_000)
        script = textwrap.dedent(f"""
            import sys; sys.path[:0] = {sys.path!r}
            def spin(n):
                x = 0
                for i in range(n):
                    x += i
                return x
            spin(10)
            for _ in range(__REPS__):
                spin({n})
        """)
        runs = {kk: _perf_stat(script.replace("__REPS__", str(kk)), "instructions:u")
                for kk in (0, k)}
        if None in runs.values() or any("instructions" not in r for r in runs.values()):
            print(f"  perf stat did not count instructions:u: {runs}")
            return
        stat = (runs[k]["instructions"] - runs[0]["instructions"]) / k

        def spin(m: int) -> int:
            x = 0
            for i in range(m):
                x += i
            return x
        c = counters(spin, n, events=("instructions",), threads="this", repeat=5)
        mine = c["instructions"]
        if mine is None:
            print(f"  perf stat counted, counters() did not: {c.why_not}")
            return
        print(f"  a Python loop of {n:,}: perf stat {stat:,.0f} instructions:u per call, "
              f"counters() {mine:,} ({mine / stat:.3f}x)")
        return
    print(f"  no hardware instructions here ({why}); comparing software events instead")
    mib = 64  # above glibc's largest mmap threshold (32 MiB): every array is fresh from the kernel
    script = textwrap.dedent(f"""
        import sys; sys.path[:0] = {sys.path!r}
        import numpy as np
        from course_lib.memory.alloc import numpy_hugepages
        with numpy_hugepages(False):
            for _ in range(__REPS__):
                np.ones({mib} << 17)
    """)
    runs = {kk: _perf_stat(script.replace("__REPS__", str(kk)), "page-faults,task-clock")
            for kk in (0, k)}
    if None in runs.values():
        print("  perf stat gave no counts")
        return
    with numpy_hugepages(False):
        c = counters(np.ones, mib << 17, events=("page-faults", "task-clock"), threads="this",
                     repeat=5)
    faults = (runs[k]["page-faults"] - runs[0]["page-faults"]) / k
    clock_ms = (runs[k]["task-clock"] - runs[0]["task-clock"]) / k  # perf stat prints msec
    print(f"  np.ones of {mib} MiB: page-faults perf stat {faults:,.0f} vs counters() "
          f"{c['page-faults']:,} (pages: {(mib << 20) // 4096:,})")
    print(f"  task-clock: perf stat {clock_ms:.2f} ms vs counters() {c['task-clock'] / 1e6:.2f} ms")


def _repeatability() -> None:
    print("\n-- callgrind repeatability: the same numba loop counted, quiet and with a core busy")
    ok, why = I.callgrind_available()
    if not ok:
        print(f"  not available: {why}")
        return
    n = pick(200_000, 50_000)
    quiet = [I.instructions("loop", n, source=NUMBA_LOOP) for _ in range(2)]
    with busy_cores(1):
        busy = [I.instructions("loop", n, source=NUMBA_LOOP) for _ in range(2)]
    counts = [r.count for r in quiet + busy]
    spread = (max(counts) - min(counts)) / min(counts)
    print(f"  loop({n:,}): quiet {counts[0]:,}, {counts[1]:,}; busy {counts[2]:,}, {counts[3]:,}; "
          f"spread {spread:.2e} ({'identical' if spread == 0 else 'differs'})")
    print(f"  seconds per run: quiet {quiet[0].seconds:.1f}, {quiet[1].seconds:.1f}; "
          f"busy {busy[0].seconds:.1f}, {busy[1].seconds:.1f}")


def _cost() -> None:
    print("\n-- callgrind's cost (seconds per instructions() run, Python start-up included)")
    ok, why = I.callgrind_available()
    if not ok:
        print(f"  not available: {why}")
        return
    valgrind = shutil.which("valgrind")
    plain = I._target("f", "def f(n):\n    return sum(range(n))\n", "")
    start = time.perf_counter()
    I._callgrind(plain, (10,), {}, 1, False, 600, valgrind)
    print(f"  a plain Python function, tiny input:           {time.perf_counter() - start:6.1f} s")
    loop = I._target("loop", NUMBA_LOOP, "")
    for late, label in ((True, "instrumented from the region on"),
                        (False, "instrumented from start")):
        start = time.perf_counter()
        r = I._callgrind(loop, (1000,), {}, 1, False, 600, valgrind, late=late)
        print(f"  numba loop, {label:<33} {time.perf_counter() - start:6.1f} s ({r.count:,} instr)")
    # slowdown of the counted code: a longer loop adds this much time, natively and under callgrind
    small, big = 1000, pick(20_000_000, 4_000_000)
    t_small = I._callgrind(loop, (small,), {}, 1, False, 600, valgrind).seconds
    r_big = I._callgrind(loop, (big,), {}, 1, False, 600, valgrind)
    namespace: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "loopmod.py")
        with open(path, "w") as f:
            f.write(NUMBA_LOOP)
        exec(compile(NUMBA_LOOP, path, "exec"), namespace)
    fn = namespace["loop"]
    fn(10)
    start = time.perf_counter()
    fn(big)
    native = time.perf_counter() - start
    extra = r_big.seconds - t_small
    print(f"  loop({big:,}) = {r_big.count:,} instructions: {extra:.2f} s more under callgrind "
          f"than loop({small}), {native * 1e3:.1f} ms natively: about {extra / native:.0f}x slower")


def run() -> None:
    _overhead()
    _agreement()
    _repeatability()
    _cost()
