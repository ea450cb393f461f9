"""Tests for course_lib.memory.affinity (pinning, run statistics) and course_lib.memory.alloc
(page faults of allocation). Counts are checked, never timings: the machine may be busy."""
from __future__ import annotations

import os
import platform
import sys
import threading
import warnings

import numpy as np
import pytest

from course_lib.memory import affinity, alloc
from course_lib.memory.affinity import PinningUnavailable, pinned

MIB = 1 << 20
linux_only = pytest.mark.skipif(not affinity.can_pin(), reason="pinning is not possible here")


# ----------------------------------------------------------------------------- pinning
@linux_only
def test_pinned_pins_and_restores():
    before = os.sched_getaffinity(0)
    cpu = max(before)
    with pinned(cpu) as cpus:
        assert cpus == (cpu,)
        assert os.sched_getaffinity(0) == {cpu}
        assert affinity.current_cpu() == cpu
        assert affinity.allowed_cpus() == (cpu,)
    assert os.sched_getaffinity(0) == before


@linux_only
def test_pinned_restores_after_an_exception():
    before = os.sched_getaffinity(0)
    with pytest.raises(KeyError):
        with pinned(min(before)):
            raise KeyError("boom")
    assert os.sched_getaffinity(0) == before


@linux_only
def test_pinned_rejects_cpus_outside_the_allowed_set():
    before = os.sched_getaffinity(0)
    with pytest.raises(ValueError, match="not in the set this thread may use"):
        with pinned([min(before), max(before) + 1000]):
            pass
    assert os.sched_getaffinity(0) == before
    with pytest.raises(ValueError, match="at least one"):
        with pinned([]):
            pass
    with pytest.raises(TypeError):
        with pinned("0"):
            pass


@linux_only
@pytest.mark.skipif(len(affinity.allowed_cpus()) < 2, reason="needs two usable CPUs")
def test_pinning_is_per_thread_and_nesting_narrows():
    main_before = os.sched_getaffinity(0)
    a, b = sorted(main_before)[:2]
    seen = {}

    def worker():
        with pinned(a):
            seen["worker"] = os.sched_getaffinity(0)
            seen["main"] = os.sched_getaffinity(main_tid)
            try:
                with pinned(b):
                    pass
            except ValueError as exc:
                seen["nested"] = exc

    main_tid = threading.get_native_id()
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["worker"] == {a}
    assert seen["main"] == main_before  # pinning the worker left the main thread alone
    assert isinstance(seen["nested"], ValueError)
    assert os.sched_getaffinity(0) == main_before


def test_no_sched_setaffinity(monkeypatch):
    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    assert not affinity.can_pin()
    assert affinity.pin_unavailable_reason()  # a reason, whatever the OS
    with pytest.raises(PinningUnavailable, match="cannot pin"):
        with pinned(0):
            pass
    assert issubclass(PinningUnavailable, RuntimeError)
    with pytest.warns(RuntimeWarning, match="running unpinned"):
        with pinned(0, strict=False) as cpus:
            assert cpus is None
    spread = affinity.pinning_spread(lambda: None, repeats=3, warmup=0)
    assert len(spread.unpinned_s) == 3 and len(spread.pinned_s) == 0
    assert spread.cpu is None and "no pinned runs" in spread.reason
    assert spread.spread_pinned is None and "not measured" in str(spread)


def test_macos_reason(monkeypatch):
    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert "macOS" in affinity.pin_unavailable_reason()


def test_sandbox_refuses(monkeypatch):
    def refuse(pid, cpus):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setaffinity", refuse, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert "refused" in affinity.pin_unavailable_reason()


def test_current_cpu():
    cpu = affinity.current_cpu()
    if sys.platform.startswith("linux"):
        assert cpu in affinity.allowed_cpus()  # a thread runs on a CPU of its own mask
        assert isinstance(affinity._proc_stat_cpu(), int)
    else:
        assert cpu is None


# ----------------------------------------------------------------------------- run statistics
def _touch_fresh(nbytes: int) -> int:
    a = np.empty(nbytes // 8)
    a.fill(1.0)
    return a.nbytes


def test_run_stats_counts_a_page_fault_storm():
    with alloc.numpy_hugepages(False):  # 4 KiB pages: one fault per page
        stats = affinity.run_stats(_touch_fresh, 64 * MIB)
    assert stats.result == 64 * MIB
    assert stats.wall_s > 0
    if stats.minor_faults is None:
        pytest.skip("no getrusage here")
    assert stats.minor_faults >= 8_000  # 16,384 pages of 4 KiB
    assert stats.major_faults >= 0
    assert stats.voluntary_switches >= 0 and stats.involuntary_switches >= 0
    if sys.platform.startswith("linux"):
        assert stats.scope == "thread"
        assert stats.migrations is None or stats.migrations >= 0
    text = str(stats)
    assert "minor page faults" in text and "CPU migrations" in text


def test_run_stats_scopes_and_missing_features(monkeypatch, tmp_path):
    s = affinity.run_stats(sum, [1, 2, 3], scope="process")
    assert s.result == 6 and s.scope == "process" and s.migrations is None
    with pytest.raises(ValueError, match="scope"):
        affinity.run_stats(sum, [1], scope="core")
    monkeypatch.setattr(affinity, "_sched_file", lambda tid=None: str(tmp_path / "no-sched"))
    s = affinity.run_stats(sum, [1])
    assert s.migrations is None and any("se.nr_migrations" in n for n in s.notes)
    monkeypatch.setitem(sys.modules, "resource", None)  # e.g. Windows: no resource module
    s = affinity.run_stats(sum, [1])
    assert s.minor_faults is None and s.cpu_s is None and "unknown" in str(s)
    assert any("resource" in n for n in s.notes)
    assert alloc.page_faults(sum, [2, 3]) == (5, None, None)


def test_migrations_parser(tmp_path):
    f = tmp_path / "sched"
    f.write_text("python (1, #threads: 1)\n---\nse.exec_start : 1.0\nse.nr_migrations   :   42\n")
    assert affinity._migrations(str(f)) == 42
    f.write_text("nothing here\n")
    assert affinity._migrations(str(f)) is None


def test_pinning_spread_interleaved():
    spread = affinity.pinning_spread(sum, range(10_000), repeats=4)
    assert len(spread.unpinned_s) == 4
    if affinity.can_pin():
        assert len(spread.pinned_s) == 4 and spread.cpu == affinity.allowed_cpus()[-1]
        assert spread.spread_pinned is not None and spread.spread_pinned >= 0
        assert spread.migrations_pinned is None or spread.migrations_pinned >= 0
    assert spread.spread_unpinned >= 0
    assert "spread (IQR/median)" in str(spread)
    import matplotlib

    matplotlib.use("Agg")
    assert spread.plot() is not None
    with pytest.raises(ValueError):
        affinity.pinning_spread(sum, [1], repeats=0)
    if affinity.can_pin():
        with pytest.raises(ValueError, match="not in the set"):
            affinity.pinning_spread(sum, [1], repeats=1, cpu=max(affinity.allowed_cpus()) + 1000)


# ----------------------------------------------------------------------------- allocation
def test_page_faults_helper():
    with alloc.numpy_hugepages(False):
        result, minor, major = alloc.page_faults(_touch_fresh, 64 * MIB)
    assert result == 64 * MIB
    if minor is not None:
        assert minor >= 8_000 and major >= 0


def test_numpy_hugepages_restores():
    calls = alloc._numpy_madvise()
    if calls is None:
        pytest.skip("this NumPy cannot switch huge pages")
    before = calls[0]()
    with alloc.numpy_hugepages(not before) as now:
        assert now == (not before) and calls[0]() == (not before)
    assert calls[0]() == before


def test_thp_mode(tmp_path):
    f = tmp_path / "sys/kernel/mm/transparent_hugepage/enabled"
    f.parent.mkdir(parents=True)
    f.write_text("always [madvise] never\n")
    assert alloc.thp_mode(str(tmp_path)) == "madvise"
    assert alloc.thp_mode(str(tmp_path / "missing")) is None


def test_allocation_costs_quick(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    costs = alloc.allocation_costs(hugepages=False, repeats=2)
    assert costs.nbytes == 64 * MIB and costs.repeats == 2 and costs.hugepages is False
    names = [r.name for r in costs.rows]
    assert names[:4] == ["np.zeros(n)", "np.empty(n)", "np.zeros(n) + write",
                         "np.empty(n) + write"]
    assert all(r.seconds > 0 for r in costs.rows)
    pages = costs.nbytes // 4096
    if costs.row("np.zeros(n)").minor_faults is not None:
        for name in ("np.zeros(n)", "np.empty(n)"):
            assert costs.row(name).minor_faults < 100  # address space only
        for name in ("np.zeros(n) + write", "np.empty(n) + write", "x + 1.0"):
            assert costs.row(name).minor_faults >= pages // 2  # one fault per 4 KiB page
        for name in ("buf.fill", "np.add"):
            assert costs.row(name).minor_faults < 100  # reuse: the pages are there
    text = str(costs)
    assert "64 MiB" in text and "minor faults" in text and "4 KiB pages" in text
    import matplotlib

    matplotlib.use("Agg")
    assert len(costs.plot()) == 2
    with pytest.raises(KeyError):
        costs.row("np.full")


def test_allocation_costs_rejects_nonsense():
    with pytest.raises(ValueError):
        alloc.allocation_costs(nbytes=0)
    with pytest.raises(ValueError):
        alloc.allocation_costs(nbytes=1 << 20, repeats=0)


def test_small_arrays_are_noted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        costs = alloc.allocation_costs(nbytes=1 << 20, repeats=1)
    assert any("32 MiB" in n for n in costs.notes)
