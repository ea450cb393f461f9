"""Tests for course_lib.profile.counters: software counters on this machine (page faults of a
fresh array, context switches of a sleep, CPU time of other threads), hardware instructions
growing linearly where a PMU exists, and every fallback (paranoid level, no PMU, macOS,
multiplexing) through a fake counter library."""
from __future__ import annotations

import errno
import platform
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from course_lib.memory.alloc import numpy_hugepages
from course_lib.profile import counters as C
from course_lib.profile.counters import DEFAULT_EVENTS, EVENTS, counters, perf_available

linux = pytest.mark.skipif(platform.system() != "Linux", reason="perf_event_open is Linux only")
PAGES_64_MIB = (64 << 20) // 4096


def _software_reason() -> str | None:
    c = counters(len, "x", events=("task-clock",), threads="this")
    bad = {e.name: e.reason for e in c.events.values() if e.source != "perf_event"}
    return None if not bad else f"software perf events not counted here: {bad}"


def spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i
    return x


# ----------------------------------------------------------------------------- this machine
@linux
def test_page_faults_of_a_fresh_64_mib_array():
    # NumPy asks for 2 MiB huge pages on large arrays: one fault would then map 512 pages.
    with numpy_hugepages(False):
        c = counters(np.ones, 8 << 20, events=("page-faults", "minor-faults"), threads="this")
    assert c.result.nbytes == 64 << 20
    faults = c["page-faults"]
    assert faults is not None, c.why_not
    assert 0.9 * PAGES_64_MIB <= faults <= 1.2 * PAGES_64_MIB, c
    assert c["minor-faults"] == pytest.approx(faults, rel=0.01)
    # Writing into the same memory again takes no fault.
    a = c.result
    again = counters(a.fill, 2.0, events=("page-faults",), threads="this")
    assert again["page-faults"] < 100


@linux
def test_a_sleep_switches_context_and_uses_no_cpu():
    c = counters(time.sleep, 0.05, events=("context-switches", "task-clock"), threads="this")
    assert c["context-switches"] >= 1, c
    assert c["task-clock"] < 0.02e9, c          # asleep, not on a CPU
    assert c.wall_seconds >= 0.045


@linux
def test_task_clock_follows_a_busy_loop():
    if reason := _software_reason():
        pytest.skip(reason)
    c = counters(spin, 300_000, events=("task-clock",), threads="this", repeat=3)
    assert len(c.runs) == 3
    assert c.events["task-clock"].source == "perf_event"
    # CPU time of a busy loop is close to its wall time (less when another process preempts it).
    assert 0.3 * c.wall_seconds <= c["task-clock"] / 1e9 <= 1.2 * c.wall_seconds + 1e-4, c
    assert c.cpus_utilized is not None and c.cpus_utilized <= 1.2


@linux
def test_all_threads_counts_a_worker_that_existed_before():
    if reason := _software_reason():
        pytest.skip(reason)
    with ThreadPoolExecutor(1) as pool:
        worker_tid = pool.submit(threading.get_native_id).result()  # the thread exists now

        def on_worker():
            return pool.submit(spin, 400_000).result()   # the caller only waits

        both = counters(on_worker, events=("task-clock",), threads="all")
        mine = counters(on_worker, events=("task-clock",), threads="this")
    shares = both.events["task-clock"].per_thread
    assert worker_tid in shares and worker_tid in both.thread_names, both
    assert shares[worker_tid] >= 0.5 * both["task-clock"], both
    assert mine["task-clock"] < 0.5 * both["task-clock"], (mine, both)
    assert threading.get_native_id() in mine.thread_names


@linux
def test_instructions_grow_linearly_where_the_cpu_counts_them():
    ok, why = perf_available()
    if not ok:
        pytest.skip(f"no hardware instruction counter here: {why}")
    n = 200_000
    spin(10)
    one = counters(spin, n, events=("instructions", "cycles"), threads="this", repeat=3)
    two = counters(spin, 2 * n, events=("instructions", "cycles"), threads="this", repeat=3)
    assert one.hardware_available and one.why_not is None, one
    assert two["instructions"] / one["instructions"] == pytest.approx(2.0, rel=0.05)
    assert one.ipc is not None and 0.05 < one.ipc < 10


@linux
def test_default_events_always_answer_and_never_raise():
    c = counters(spin, 10_000)
    assert list(c.events) == list(DEFAULT_EVENTS)
    for ev in c.events.values():
        assert ev.counted or ev.reason, ev
    if c.hardware_available is False:
        assert c.why_not and not c.available
        assert c.ipc is None
        assert "not available" in c.table()
    text = repr(c)
    assert "task-clock" in text and "counters:" in text


# ----------------------------------------------------------------------------- fallbacks
class RefusingLib:
    """A perfev library whose perf_event_open answers ``code`` for chosen events."""

    def __init__(self, real, code, refuse=lambda type_, exclude_kernel: True):
        self.real, self.code, self.refuse = real, code, refuse

    def perfev_open(self, type_, config, pid, cpu, group_fd, disabled, inherit, exclude_kernel):
        if self.refuse(type_, exclude_kernel):
            return self.code
        return self.real.perfev_open(type_, config, pid, cpu, group_fd, disabled, inherit,
                                     exclude_kernel)

    def __getattr__(self, name):
        return getattr(self.real, name)


def _with_lib(monkeypatch, fake):
    real_ffi = C._lib()[0]
    monkeypatch.setattr(C, "_lib", lambda: (real_ffi, fake))


@linux
def test_paranoid_level_3_refuses_everything_and_getrusage_stands_in(monkeypatch):
    _with_lib(monkeypatch, RefusingLib(C._lib()[1], -errno.EACCES))
    monkeypatch.setattr(C, "paranoid_level", lambda root="/": 3)
    with numpy_hugepages(False):
        c = counters(np.ones, 4 << 20, threads="this")
    assert c.why_not.startswith("perf_event_paranoid is 3:"), c.why_not
    assert "sysctl kernel.perf_event_paranoid=2" in c.why_not
    assert c["cycles"] is None and c.hardware_available is False
    pf = c.events["page-faults"]
    assert pf.source == "getrusage" and pf.value >= 0.9 * (32 << 20) // 4096, c
    assert c.events["context-switches"].source == "getrusage"
    assert c.events["task-clock"].value > 0
    assert c.events["cpu-migrations"].source == "sched"
    assert "from getrusage" in c.table()


@linux
def test_paranoid_2_without_privileges_counts_user_space_only(monkeypatch):
    # An unprivileged user at level 2: kernel-mode counting is refused, user space works.
    real = C._lib()[1]
    _with_lib(monkeypatch, RefusingLib(real, -errno.EACCES, lambda t, ek: ek == 0))
    monkeypatch.setattr(C, "paranoid_level", lambda root="/": 2)
    c = counters(time.sleep, 0.02, events=("page-faults", "context-switches", "task-clock"),
                 threads="this")
    cs = c.events["context-switches"]
    # perf would count context switches only in kernel mode (always 0 from user space)
    assert cs.source == "getrusage" and cs.value >= 1 and "kernel mode" in cs.reason, c
    assert c.events["page-faults"].source == "perf_event"
    assert "user space only" in c.events["page-faults"].reason
    assert c.events["task-clock"].reason is None
    text = C.explain_error(-errno.EACCES, "cycles", kernel=True)
    assert text.startswith("perf_event_paranoid is 2: only user-space counting is allowed")


@linux
def test_refused_below_level_3_points_at_seccomp(monkeypatch):
    monkeypatch.setattr(C, "paranoid_level", lambda root="/": 1)
    text = C.explain_error(-errno.EPERM, "instructions")
    assert "seccomp" in text and "EPERM" in text


@linux
@pytest.mark.parametrize("has_pmu, vm, expected", [
    (False, True, "this VM exposes no hardware counters"),
    (False, False, "the kernel found no performance-monitoring unit"),
    (True, False, "this CPU has no 'cycles' event (ENOENT)"),
])
def test_a_missing_hardware_event_says_why(monkeypatch, has_pmu, vm, expected):
    _with_lib(monkeypatch, RefusingLib(C._lib()[1], -errno.ENOENT, lambda t, ek: t in (0, 3)))
    monkeypatch.setattr(C, "_has_pmu", lambda root="/": has_pmu)
    monkeypatch.setattr(C, "_is_vm", lambda root="/": vm)
    c = counters(spin, 1000, events=("cycles", "page-faults"), threads="this")
    assert c["cycles"] is None and c.why_not.startswith(expected), c.why_not
    assert c.missing == {"cycles": c.why_not}
    assert c["page-faults"] is not None            # software still works
    assert perf_available()[1].startswith(expected.replace("'cycles'", "'instructions'"))


def test_macos_says_use_instruments(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    c = counters(spin, 1000, threads="this")
    assert c.why_not.startswith("macOS: use Instruments"), c.why_not
    assert c["instructions"] is None and c.wall_seconds > 0
    assert c.events["page-faults"].source == "getrusage"
    ok, why = perf_available()
    assert not ok and why.startswith("macOS: use Instruments")


def test_paranoid_level_reads_the_file(tmp_path):
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/perf_event_paranoid").write_text("4\n")
    assert C.paranoid_level(str(tmp_path)) == 4
    assert C.paranoid_level(str(tmp_path / "nowhere")) is None
    assert C.explain_error(-errno.EACCES, "cycles", root=str(tmp_path)).startswith(
        "perf_event_paranoid is 4:")


class FakePMU:
    """A whole fake counter library: every counter reads (raw, enabled, running) from a table."""

    def __init__(self, ffi, readings):
        self.ffi, self.readings, self.by_fd, self.next_fd = ffi, readings, {}, 1000
        self.opened: list[tuple] = []

    def perfev_open(self, type_, config, pid, cpu, group_fd, disabled, inherit, exclude_kernel):
        name = next(n for n, e in EVENTS.items() if (e.type, e.config) == (type_, config))
        self.next_fd += 1
        self.by_fd[self.next_fd] = name
        self.opened.append((name, pid, group_fd, disabled, inherit, exclude_kernel))
        return self.next_fd

    def perfev_start(self, fds, n):
        return 0

    perfev_stop = perfev_close_all = perfev_start

    def perfev_read_all(self, fds, n, out, errors):
        for i in range(n):
            out[3 * i:3 * i + 3] = self.readings[self.by_fd[fds[i]]]
            errors[i] = 0
        return 0


@linux
def test_multiplexed_counts_are_scaled_and_ratios_derived(monkeypatch):
    ffi = C._lib()[0]
    fake = FakePMU(ffi, {"cycles": (1000, 100, 100), "instructions": (1000, 200, 100),
                         "branches": (50, 100, 100), "branch-misses": (5, 100, 0),
                         "cache-misses": (0, 0, 0)})
    _with_lib(monkeypatch, fake)
    c = counters(spin, 10, threads="this", group=True,
                 events=("cycles", "instructions", "branches", "branch-misses", "cache-misses"))
    assert c["instructions"] == 2000 and c.events["instructions"].running == 0.5
    assert c.ipc == 2.0
    # enabled but never running: the PMU had no free counter for it; not a zero
    assert c["branch-misses"] is None and "never had a free counter" in c.missing["branch-misses"]
    assert c["cache-misses"] == 0           # never enabled: the thread did not run, so zero
    assert "scaled: counted 50% of the time" in c.table()
    assert "IPC (instructions per cycle): 2.00" in c.table()
    # group=True: the first hardware event leads, the others follow it (enabled with it)
    leader = fake.opened[0]
    assert leader[2] == -1 and leader[3] == 1
    assert all(o[2] == 1001 and o[3] == 0 for o in fake.opened[1:])
    assert all(o[4] == 1 and o[5] == 1 for o in fake.opened)   # inherit, user space only


# ----------------------------------------------------------------------------- bad input
def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown event 'cycels'"):
        counters(spin, 10, events=("cycels",))
    with pytest.raises(TypeError, match="fn must be callable"):
        counters(42)
    with pytest.raises(ValueError, match="threads must be 'all' or 'this'"):
        counters(spin, 10, threads="some")
    with pytest.raises(ValueError, match="repeat must be an int >= 1"):
        counters(spin, 10, repeat=0)
    with pytest.raises(ValueError, match="named twice"):
        counters(spin, 10, events=("cycles", "cycles"))
    with pytest.raises(TypeError, match="events must be event names"):
        counters(spin, 10, events=3)
    assert counters(spin, 10, events="task-clock").events.keys() == {"task-clock"}
