"""Tests for course_lib.profile.instructions: callgrind counts of a numba loop grow linearly with
its length, the same count comes back from another process, the fallbacks without valgrind, the
timeout, carrying a notebook function's source, and bad input.

Each callgrind run pays Python's start-up under valgrind (about 1.5 s; 5-10 s with numba's
import and compilation), so the file makes four such runs and one that times out."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from course_lib.profile import counters as counters_module
from course_lib.profile import instructions as I
from course_lib.profile.counters import Counts, EventCount
from course_lib.profile.instructions import InstructionCount, instructions, source_bundle

CALLGRIND, WHY_NOT = I.callgrind_available()
needs_callgrind = pytest.mark.skipif(not CALLGRIND, reason=f"no callgrind here: {WHY_NOT}")

NUMBA_LOOP = """
import numba

@numba.njit
def loop(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s
"""

PYTHON_DICT = """
def fill(n):
    d = {}
    for i in range(n):
        d[str(i)] = i       # string hashes: the same layout each run only with PYTHONHASHSEED
    return sum(d.values())
"""


# ----------------------------------------------------------------------------- callgrind
@needs_callgrind
def test_a_numba_loop_counts_linearly_and_compilation_is_not_counted():
    n = 50_000
    one = instructions("loop", n, source=NUMBA_LOOP, repeat=2)
    two = instructions("loop", 2 * n, source=NUMBA_LOOP)
    assert one.method == "callgrind" and one.deterministic, one
    assert len(one.counts) == 2 and one.count == one.counts[0]
    # numba compiled before the region: a few instructions per iteration, not millions
    assert 3 * n < one.count < 100 * n, one
    assert two.count / one.count == pytest.approx(2.0, rel=0.03), (one, two)
    # the second call in the same process: the same work, to a few instructions
    assert one.counts[1] == pytest.approx(one.counts[0], rel=1e-3)
    assert 0 < one.baseline < 50_000
    assert "instructions per call of <source> loop (callgrind, exact" in repr(one)


@needs_callgrind
def test_the_same_count_from_another_process():
    first = instructions("fill", 2000, source=PYTHON_DICT)
    second = instructions("fill", 2000, source=PYTHON_DICT)
    assert first.count == pytest.approx(second.count, rel=1e-5), (first, second)
    assert first.count > 100_000


@needs_callgrind
def test_a_run_past_the_timeout_is_a_clear_error():
    with pytest.raises(TimeoutError, match="timeout=2 s.*smaller input"):
        instructions("forever", source="def forever():\n    while True:\n        pass\n", timeout=2)


@needs_callgrind
def test_arguments_must_pickle():
    with pytest.raises(TypeError, match="picklable"):
        instructions("math:factorial", lambda: 1)


# ----------------------------------------------------------------------------- fallbacks
def test_without_valgrind_and_counters_it_says_what_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setattr(counters_module, "perf_available",
                        lambda kernel=False: (False, "this VM exposes no hardware counters"))
    r = instructions("math:factorial", 20)
    assert isinstance(r, InstructionCount) and not r.available and r.count is None
    assert r.reason.startswith("not available: valgrind is not on the PATH: install valgrind")
    assert "apt install valgrind" in r.reason and "this VM exposes no hardware counters" in r.reason
    assert "not available here, because" in str(r)
    only = instructions("math:factorial", 20, method="callgrind")
    assert not only.available and "install valgrind" in only.reason


def test_without_valgrind_the_hardware_counter_stands_in(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setattr(counters_module, "perf_available", lambda kernel=False: (True, "works"))
    calls = []

    def fake_counters(fn, *args, events, threads, repeat, **kwargs):
        calls.append(fn(*args, **kwargs))
        value = 1_000 if fn.__name__ == "<lambda>" else 51_000
        return Counts({"instructions": EventCount("instructions", value, source="perf_event")},
                      1e-6, threads, repeat=repeat, runs=({"instructions": value},) * repeat)

    monkeypatch.setattr(counters_module, "counters", fake_counters)
    r = instructions("math:factorial", 20, repeat=2)
    assert r.method == "perf_event" and not r.deterministic
    assert r.count == 50_000 and r.counts == (50_000, 50_000) and r.baseline == 1_000
    assert "valgrind is not on the PATH" in r.reason
    assert 2432902008176640000 in calls            # the target really ran


# ----------------------------------------------------------------------------- carrying code
NOTEBOOK = """
import numpy as np
from numba import njit

SCALE = 3
GRID = np.zeros(3)


@njit
def helper(x):
    return x * SCALE % 7


def kernel(a):
    s = 0.0
    for i in range(a.size):
        s += helper(a[i]) + np.float64(1.0)
    return s


def reads_an_array():
    return GRID.sum()


def outer():
    z = 1

    def inner():
        return z
    return inner
"""


@pytest.fixture
def notebook(tmp_path):
    """Functions defined the way a notebook defines them: in __main__, with a source file."""
    path = tmp_path / "cell.py"
    path.write_text(NOTEBOOK)
    namespace = {"__name__": "__main__"}
    exec(compile(NOTEBOOK, str(path), "exec"), namespace)
    return namespace


def test_source_bundle_carries_modules_constants_and_helpers(notebook):
    text = source_bundle(notebook["kernel"])
    assert "import numpy as np" in text and "SCALE = 3" in text
    assert "@njit" in text and "from numba" in text
    assert text.index("def helper") < text.index("def kernel")
    namespace: dict = {}
    exec(compile(text, "<bundle>", "exec"), namespace)
    a = np.arange(5.0)
    assert namespace["kernel"](a) == notebook["kernel"](a)


def test_what_cannot_be_carried_is_named(notebook):
    with pytest.raises(ValueError, match="global 'GRID', a ndarray"):
        source_bundle(notebook["reads_an_array"])
    with pytest.raises(ValueError, match="lambda"):
        source_bundle(lambda: 1)
    with pytest.raises(ValueError, match=r"enclosing function \(z\)"):
        source_bundle(notebook["outer"]())
    with pytest.raises(TypeError, match="not a Python function"):
        source_bundle(len)


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="got int 42"):
        instructions(42)
    with pytest.raises(ValueError, match="'module:function'"):
        instructions("nocolon")
    with pytest.raises(ValueError, match="has no 'nosuch'"):
        instructions("math:nosuch")
    with pytest.raises(ValueError, match="cannot import 'no_such_module_here'"):
        instructions("no_such_module_here:f")
    with pytest.raises(TypeError, match="not a function"):
        instructions("math:pi")
    with pytest.raises(ValueError, match="repeat"):
        instructions("math:factorial", 3, repeat=0)
    with pytest.raises(ValueError, match="method"):
        instructions("math:factorial", 3, method="cachegrind")
    with pytest.raises(ValueError, match="timeout"):
        instructions("math:factorial", 3, timeout=0)
    with pytest.raises(ValueError, match="with source given"):
        instructions("not an identifier", source="x = 1")


@needs_callgrind
def test_a_notebook_function_is_carried_and_counted(notebook):
    a = np.arange(200.0)
    r = instructions(notebook["kernel"], a)
    assert r.target == "<source> kernel" and r.deterministic, r
    # 200 Python-level iterations, each calling a numba function: thousands of instructions each
    assert 200 * 500 < r.count < 200 * 100_000, r
