"""course_lib.profile.flame: folding perf's stacks, the three samplers, the flame graph."""
import math
import os

import pytest

from course_lib.profile import flame as F

# ---------------------------------------------------------------------------- perf script text
# Three samples of one process (pid 4242, two threads), one of another process, in the format
# `perf script -F comm,pid,tid,time,ip,sym,dso` prints, plus one in perf's default format
# (with the event and symbol offsets). Innermost frame first.
PERF_SCRIPT = """\
python 4242/4242 100.000100: 
\t    7f5f67bba0e9 numba:__main__.hot[float64[::1],int64] (/tmp/perf-4242.map)
\t    7f5f67469680 [unknown] ([unknown])

python 4242/4242 100.001100: 
\t    ffffffff8158e3e1 next_uptodate_folio ([kernel.kallsyms])
\t    ffffffff8158e7dd filemap_map_pages ([kernel.kallsyms])
\t          101a62 _PyEval_EvalFrameDefault (/usr/lib/libpython3.11.so.1.0)
\t          1f0000 Py_RunMain (/usr/lib/libpython3.11.so.1.0)

python 4242/4250 100.002100: 
\t    7f5f67bba0f7 numba:__main__.hot[float64[::1],int64] (/tmp/perf-4242.map)
\t    7f5f67469680 [unknown] ([unknown])

other thread 999/999 100.003000: 
\t          1462a handle_amd (/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2)

python  4242/4242  [001]  100.004000:     250000 cpu-clock: 
\t          fcc35 _PyEval_EvalFrameDefault+0x1a5 (/usr/lib/libpython3.11.so.1.0)
\t          3c0de [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)
"""

HOT = "numba:__main__.hot[float64[::1],int64]"


def test_folding_reverses_frames_and_counts_equal_stacks():
    stacks = F.fold_perf_script(PERF_SCRIPT)
    assert stacks[("[unknown]", HOT)] == 2
    assert stacks[("Py_RunMain", "_PyEval_EvalFrameDefault", "[kernel]")] == 1
    assert stacks[("handle_amd",)] == 1
    # symbol offsets dropped, a nameless frame in a known library named after the library
    assert stacks[("[libc.so.6]", "_PyEval_EvalFrameDefault")] == 1
    assert sum(stacks.values()) == 5


def test_folding_filters_by_process_and_time_and_handles_kernel_frames():
    mine = F.fold_perf_script(PERF_SCRIPT, pid=4242)
    assert sum(mine.values()) == 4 and ("handle_amd",) not in mine
    window = F.fold_perf_script(PERF_SCRIPT, pid=4242, start=100.0005, end=100.0025)
    assert sum(window.values()) == 2
    kept = F.fold_perf_script(PERF_SCRIPT, kernel="keep")
    assert ("Py_RunMain", "_PyEval_EvalFrameDefault", "filemap_map_pages_[k]",
            "next_uptodate_folio_[k]") in kept
    dropped = F.fold_perf_script(PERF_SCRIPT, kernel="drop")
    assert ("Py_RunMain", "_PyEval_EvalFrameDefault") in dropped
    with pytest.raises(ValueError, match="kernel"):
        F.fold_perf_script(PERF_SCRIPT, kernel="hide")


def test_collapsed_text_round_trips():
    stacks = F.fold_perf_script(PERF_SCRIPT)
    p = F.Profile(stacks)
    assert F.parse_collapsed(p.collapsed()) == stacks
    assert F.parse_collapsed("a b;c d 3\n\n") == {("a b", "c d"): 3}
    with pytest.raises(ValueError, match="line 1"):
        F.parse_collapsed("main;f three\n")


def test_top_counts_self_and_total_and_recursion_once():
    p = F.Profile({("main", "f", "f"): 3, ("main", "g"): 1, ("main",): 1})
    rows = {r.name: r for r in p.top(10)}
    assert rows["f"].self_samples == 3 and rows["f"].total_samples == 3  # not 6
    assert rows["main"].self_samples == 1 and rows["main"].total_samples == 5
    assert math.isclose(rows["g"].total_fraction, 0.2)
    assert p.top(1)[0].name == "f" and p.top(1, by="total")[0].name == "main"
    assert "main" in repr(p.top()) and "total%" in repr(p.top())
    with pytest.raises(ValueError):
        p.top(by="wall")


# ---------------------------------------------------------------------------- the python sampler
def _hot(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


def _cold(n):
    return sum(range(n))


def _program():
    return _hot(20_000) + _cold(2_000)


def test_python_sampler_finds_the_hot_function():
    p = F.sample_python(_program, seconds=0.4)
    assert p.sampler == "python" and p.calls >= 1 and p.samples > 0
    rows = {r.name.split(" (")[0]: r for r in p.top(10, by="total")}
    program = next(k for k in rows if k.endswith("_program"))
    hot = next(k for k in rows if k.endswith("_hot"))
    assert rows[program].total_fraction == 1.0  # the target is the root of every stack
    assert rows[hot].total_fraction > 0.5
    cold = next((r for k, r in rows.items() if k.endswith("_cold")), None)
    assert cold is None or cold.total_samples < rows[hot].total_samples
    assert all(s[0].startswith(program) for s in p.stacks)  # the sampler's own frames cut off


def test_python_sampler_is_not_phase_locked_to_gil_releases():
    # The hot Python loop sits between NumPy calls that let go of the GIL: with the default
    # 5 ms switch interval the samples land on those calls and the loop goes unseen.
    p = F.sample_python("course_lib.profile.flame:demo_python_part", 30_000, seconds=0.3)
    assert p.samples > 0
    mixed = F.sample_python(F.demo_workload, seconds=0.5)
    share = sum(c for s, c in mixed.stacks.items() if s[-1].startswith("demo_python_part"))
    assert share / mixed.samples > 0.3, mixed


def test_snippets_and_validation():
    p = F.flame("sum(i * i for i in range(20_000))", sampler="python", seconds=0.1)
    assert p.sampler == "python" and p.samples > 0
    assert any("<snippet>" in f for s in p.stacks for f in s)
    with pytest.raises(ValueError, match="sampler"):
        F.flame("pass", sampler="gdb")
    with pytest.raises(ValueError, match="seconds"):
        F.flame("pass", seconds=0)
    with pytest.raises(ValueError, match="empty"):
        F.flame("  ")
    with pytest.raises(SyntaxError):
        F.flame("def (", sampler="python", seconds=0.1)
    with pytest.raises(TypeError):
        F.flame(42)
    with pytest.raises(ValueError, match="rate"):
        F.flame("pass", rate=0)


def test_a_function_only_this_process_knows_is_refused_by_child_samplers():
    fn = lambda: _hot(100)  # noqa: E731
    with pytest.raises(RuntimeError, match="cannot import"):
        F.flame(fn, sampler="py-spy" if F.available_samplers()["py-spy"][0] else "perf",
                seconds=0.1)
    p = F.flame(fn, seconds=0.1)  # auto: falls back to the python sampler and says why
    assert p.sampler == "python"
    assert any("cannot import" in w for w in p.why), p.why


def test_available_samplers_says_why():
    status = F.available_samplers()
    assert set(status) == {"py-spy", "perf", "python"} and status["python"] == (True, "")
    for ok, reason in status.values():
        assert ok or reason  # a sampler that is not available says why


def test_plot_and_svg():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.axes import Axes

    p = F.Profile({("main", "solve", "kernel"): 80, ("main", "solve", "setup"): 15,
                   ("main", HOT): 5}, sampler="python", seconds=1.0)
    ax = p.plot()
    assert isinstance(ax, Axes)
    labels = [t.get_text() for t in ax.texts]
    assert any(t.startswith("kernel") for t in labels) and any(t.startswith("all") for t in labels)
    assert len(ax.patches) == 1 + 5  # "all", then main, solve, kernel, setup and HOT
    assert isinstance(F.Profile({}).plot(), Axes)
    assert isinstance(p.plot(icicle=True), Axes)
    svg = p.svg()
    assert svg.startswith("<svg") and svg.count("<rect") == 6 and "kernel" in svg
    import matplotlib.pyplot as plt

    plt.close("all")


# ---------------------------------------------------------------------------- child samplers
def _skip_unless(name):
    ok, reason = F.available_samplers()[name]
    if not ok:
        pytest.skip(reason)


def test_pyspy_samples_a_function_in_a_child_process():
    _skip_unless("py-spy")
    try:
        p = F.sample_pyspy("course_lib.profile.flame:demo_python_part", 30_000, seconds=0.5,
                           native=False)
    except RuntimeError as e:
        pytest.skip(str(e))
    print(p)
    assert p.sampler == "py-spy" and p.calls >= 1 and p.samples > 0
    assert p.top(1)[0].name.startswith("demo_python_part")
    assert all(not f.endswith("(course_runner.py)") for s in p.stacks for f in s)


def test_pyspy_native_names_numba_code_from_the_perf_map(tmp_path, monkeypatch):
    _skip_unless("py-spy")
    (tmp_path / "numba_heavy_mod.py").write_text(
        "import numpy as np\nfrom numba import njit\n\n@njit\ndef spin(a, reps):\n"
        "    s = 0.0\n    for r in range(reps):\n        for x in a:\n            s += x * 1.000001\n"
        "    return s\n\nA = np.ones(100_000)\n\ndef work():\n    return spin(A, 10)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        p = F.sample_pyspy("numba_heavy_mod:work", seconds=0.5, native="auto")
    except RuntimeError as e:
        pytest.skip(str(e))
    print(p)
    if not any("with --native" in w for w in p.why):
        pytest.skip("py-spy dropped --native here: " + "; ".join(p.why))
    assert p.top(1)[0].name == "numba:numba_heavy_mod.spin[float64[::1],int64]"


def test_perf_names_numba_code():
    _skip_unless("perf")
    try:
        p = F.sample_perf(F.demo_workload, seconds=0.5)
    except RuntimeError as e:
        pytest.skip(str(e))
    print(p)
    assert p.sampler == "perf" and p.samples > 0
    assert any(f.startswith("numba:course_lib.profile.flame.demo_numba_part[float64[::1]]")
               for s in p.stacks for f in s)
    assert not os.path.exists("/tmp/perf-0.map")


def test_a_child_that_hangs_is_stopped():
    name = next((s for s in ("py-spy", "perf") if F.available_samplers()[s][0]), None)
    if name is None:
        pytest.skip("neither py-spy nor perf is available here")
    with pytest.raises(RuntimeError, match="timed out"):
        F.flame("import time\ntime.sleep(120)", sampler=name, seconds=0.1, repeat=False,
                timeout=4)


def test_auto_says_which_sampler_ran():
    p = F.flame("course_lib.profile.flame:demo_python_part", 20_000, seconds=0.3)
    assert p.sampler in F.SAMPLERS
    assert any(w.startswith(p.sampler) for w in p.why), p.why
    assert "Profile by" in repr(p)


def test_sampler_overhead_of_the_python_sampler():
    o = F.sampler_overhead(F.demo_python_part, 3000, sampler="python", seconds=0.2)
    assert o["calls_per_s_alone"] > 0 and o["calls_per_s_sampled"] > 0 and o["slowdown"] > 0
