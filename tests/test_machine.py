"""Tests for course_lib.measure.machine: pure parsers, fake sysfs/procfs trees, and the real machine."""
from __future__ import annotations

import ctypes
import json
import platform
import sys
from pathlib import Path

import pytest

from course_lib.measure import machine
from course_lib.measure.machine import Cache, Machine, NumaNode, describe, perf_counters_usable


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts and ends with an empty describe() cache, so patches never leak."""
    machine._cached.cache_clear()
    yield
    machine._cached.cache_clear()


def make_tree(root: Path, files: dict[str, str]) -> str:
    """Write ``files`` (path relative to root -> content) and return the root as a string."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return str(root)


def cache_files(cpu: int, caches: list[tuple[int, str, str, str]]) -> dict[str, str]:
    """sysfs cache entries for one CPU: (level, type, size, shared_cpu_list)."""
    files = {}
    for i, (level, kind, size, shared) in enumerate(caches):
        base = f"sys/devices/system/cpu/cpu{cpu}/cache/index{i}/"
        files.update({base + "level": str(level), base + "type": kind, base + "size": size,
                      base + "coherency_line_size": "64", base + "shared_cpu_list": shared})
    return files


# ----------------------------------------------------------------------------- parsers
@pytest.mark.parametrize("text, cpus", [
    ("0", (0,)), ("0-3,8,10-11", (0, 1, 2, 3, 8, 10, 11)), ("", ()), ("0-1", (0, 1)),
    ("5,7", (5, 7)), ("0-63", tuple(range(64))),
])
def test_cpulist_round_trip(text, cpus):
    assert machine.parse_cpulist(text) == cpus
    assert machine.format_cpulist(cpus) == text
    assert machine.parse_cpulist(text + "\n") == cpus  # sysfs files end in a newline


def test_cpulist_unordered_and_bad_input():
    assert machine.format_cpulist([8, 3, 2, 1, 0, 2]) == "0-3,8"
    with pytest.raises(ValueError):
        machine.parse_cpulist("0-x")


@pytest.mark.parametrize("text, size", [
    ("48K", 48 * 1024), ("2048K", 2 << 20), ("32M", 32 << 20), ("1G", 1 << 30), ("64", 64),
    ("16384 kB", 16 << 20), ("  5073112 kB", 5073112 * 1024), ("2 MiB", 2 << 20),
    ("", None), ("lots", None),
])
def test_parse_size(text, size):
    assert machine.parse_size(text) == size


@pytest.mark.parametrize("n, text", [
    (48 * 1024, "48 KiB"), (2 << 20, "2 MiB"), (64, "64 B"), (int(7.5 * 2**30), "7.5 GiB"),
    (None, "unknown"),
])
def test_format_bytes(n, text):
    assert machine.format_bytes(n) == text


def test_simd_flags_are_whole_words():
    fp16_only = "processor : 0\nflags : fpu sse4_1 avx512fp16 avx512bw\n"
    assert dict(machine.simd_from_cpuinfo(fp16_only)) == {
        "sse4.2": False, "avx": False, "avx2": False, "avx512f": False, "fma": False,
        "neon": False}
    assert machine.simd_from_cpuinfo("") == ()


def test_parse_sysctl_ignores_errors():
    text = "hw.logicalcpu: 8\nmachdep.cpu.brand_string: Apple M2: Pro\n\n"
    assert machine.parse_sysctl(text) == {"hw.logicalcpu": "8",
                                          "machdep.cpu.brand_string": "Apple M2: Pro"}


# ----------------------------------------------------------------------------- fake trees
X86_FLAGS = "fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx avx2 avx512f avx512dq avx512bw bmi2"


@pytest.fixture
def x86_numa_root(tmp_path: Path) -> str:
    """An 8-thread, 2-socket x86 box (2 cores x 2 threads each) with AVX-512 but no FMA flag."""
    blocks = []
    for cpu in range(8):
        blocks.append(f"processor\t: {cpu}\nmodel name\t: Fake Xeon 9000\n"
                      f"physical id\t: {cpu // 4}\ncore id\t\t: {cpu % 2}\nflags\t\t: {X86_FLAGS}")
    files = {
        "proc/cpuinfo": "\n\n".join(blocks),
        "proc/meminfo": "MemTotal:       33554432 kB\nMemFree:  1 kB",
        "proc/self/cgroup": "0::/course.slice/job1",
        "sys/fs/cgroup/cpu.max": "max 100000",
        "sys/fs/cgroup/course.slice/job1/cpu.max": "250000 100000",  # 2.5 CPUs -> 3
        "sys/devices/system/cpu/online": "0-7",
        "sys/devices/system/node/node0/cpulist": "0-3",
        "sys/devices/system/node/node0/meminfo": "Node 0 MemTotal:       16777216 kB",
        "sys/devices/system/node/node1/cpulist": "4-7",
        "sys/devices/system/node/node1/meminfo": "Node 1 MemTotal:       16777216 kB",
        "sys/devices/system/node/online": "0-1",
    }
    files.update(cache_files(0, [(1, "Data", "48K", "0-1"), (1, "Instruction", "32K", "0-1"),
                                 (2, "Unified", "2048K", "0-1"), (3, "Unified", "32M", "0-3")]))
    return make_tree(tmp_path, files)


def test_fake_x86_avx512_two_numa_nodes(x86_numa_root):
    m = machine._collect(x86_numa_root)
    assert {f for f, ok in m.simd if ok} == {"sse4.2", "avx", "avx2", "avx512f"}
    assert m.has("avx512f") is True and m.has("fma") is False and m.has("neon") is False
    assert m.numa_nodes == (NumaNode(0, (0, 1, 2, 3), 16 << 30),
                            NumaNode(1, (4, 5, 6, 7), 16 << 30))
    assert m.cpu_model == "Fake Xeon 9000"
    assert (m.logical_cores, m.physical_cores, m.usable_cores) == (8, 4, 3)
    assert m.caches[0] == Cache(1, "data", 48 * 1024, 64, 2)
    assert (m.l1d_bytes, m.l2_bytes, m.l3_bytes) == (48 << 10, 2 << 20, 32 << 20)
    assert m.cache_line_bytes == 64 and m.memory_bytes == 32 << 30
    assert m.perf_counters is None  # only probed for the real root
    text = str(m)
    assert "NUMA node 1:           CPUs 4-7, 16 GiB" in text
    assert "L1d cache:             48 KiB (line 64 B, shared by 2 CPUs)" in text
    assert "3 usable of 8 logical cores" in repr(m) and "L3 32 MiB" in repr(m)


def test_cgroup_parent_limit_wins(tmp_path):
    root = make_tree(tmp_path, {"proc/self/cgroup": "0::/a/b",
                                "sys/fs/cgroup/a/cpu.max": "100000 100000",
                                "sys/fs/cgroup/a/b/cpu.max": "max 100000",
                                "sys/devices/system/cpu/online": "0-15"})
    assert machine._collect(root).usable_cores == 1


@pytest.fixture
def arm_root(tmp_path: Path) -> str:
    """A 4-core Neoverse-N1: cpuinfo has Features but no physical/core ids; no NUMA in sysfs."""
    feats = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm"
    blocks = [f"processor\t: {cpu}\nBogoMIPS\t: 243.75\nFeatures\t: {feats}\n"
              f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd0c"
              for cpu in range(4)]
    files = {"proc/cpuinfo": "\n\n".join(blocks), "sys/devices/system/cpu/online": "0-3"}
    for cpu in range(4):
        files[f"sys/devices/system/cpu/cpu{cpu}/topology/core_id"] = str(cpu)
        files[f"sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id"] = "0"
    files.update(cache_files(0, [(1, "Data", "64K", "0"), (2, "Unified", "1024K", "0")]))
    return make_tree(tmp_path, files)


def test_fake_arm(arm_root):
    m = machine._collect(arm_root)
    assert m.has("neon") is True and m.has("avx") is False and m.has("avx512f") is False
    assert m.cpu_model == "ARM Neoverse-N1"
    assert (m.logical_cores, m.physical_cores) == (4, 4)
    assert m.numa_nodes == ()  # the OS did not say: no invented node
    assert m.l1d_bytes == 64 << 10 and m.l3_bytes is None
    assert "neon" in repr(m) and "NUMA nodes:" in str(m)


def test_empty_root_gives_unknowns(tmp_path):
    m = machine._collect(str(tmp_path))
    for name in ("cpu_model", "logical_cores", "physical_cores", "usable_cores",
                 "cache_line_bytes", "memory_bytes", "perf_counters", "l1d_bytes"):
        assert getattr(m, name) is None, name
    assert m.caches == () and m.simd == () and m.numa_nodes == ()
    assert m.has("avx2") is None
    assert "unknown" in str(m) and "usable" in m._repr_html_()


def test_fake_macos(monkeypatch):
    values = {"machdep.cpu.brand_string": "Intel(R) Core(TM) i9", "hw.logicalcpu": "16",
              "hw.physicalcpu": "8", "hw.memsize": str(32 << 30), "hw.l1dcachesize": "32768",
              "hw.l2cachesize": "262144", "hw.l3cachesize": "16777216", "hw.cachelinesize": "64",
              "machdep.cpu.features": "FPU SSE4.1 SSE4.2 AVX1.0 FMA",
              "machdep.cpu.leaf7_features": "BMI1 AVX2 BMI2"}
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(machine, "_sysctl", lambda keys: values)
    m = describe(refresh=True)
    assert (m.logical_cores, m.physical_cores, m.usable_cores) == (16, 8, 16)
    assert {f for f, ok in m.simd if ok} == {"sse4.2", "avx", "avx2", "fma"}
    assert (m.l1d_bytes, m.l3_bytes, m.cache_line_bytes) == (32768, 16 << 20, 64)
    assert m.numa_nodes == () and m.perf_counters is None
    arm = machine._macos_fields({"hw.logicalcpu": "8"}, "arm64")
    assert dict(arm["simd"])["neon"] is True and dict(arm["simd"])["avx2"] is False


# ----------------------------------------------------------------------------- the real machine
def test_real_machine():
    m = describe()
    assert m.usable_cores is not None and m.usable_cores >= 1
    if m.logical_cores is not None:
        assert m.logical_cores >= m.usable_cores
    if m.cache_line_bytes is not None:
        assert m.cache_line_bytes > 0 and m.cache_line_bytes & (m.cache_line_bytes - 1) == 0
    assert "usable" in str(m) and "usable" in m._repr_html_()
    assert m.python == platform.python_version()
    json.dumps(m.as_dict())  # plain data all the way down
    assert machine.usable_cores() >= 1


def test_describe_is_cached_and_refreshable():
    first = describe()
    assert describe() is first
    fresh = describe(refresh=True)
    assert fresh is not first and describe() is fresh


def test_describe_is_fast_once_warm():
    import time

    describe()  # first call may import numba
    start = time.perf_counter()
    describe(refresh=True)
    assert time.perf_counter() - start < 0.05


def test_perf_counters_usable_answers():
    assert perf_counters_usable() in (True, False, None)
    if sys.platform != "linux":
        assert perf_counters_usable() is None


def test_perf_event_attr_layout():
    attr = machine._PerfEventAttr(size=64, disabled=1, exclude_kernel=1, exclude_hv=1)
    assert ctypes.sizeof(attr) == 64
    assert machine._PerfEventAttr.wakeup_events.offset == 48
    if sys.byteorder == "little":
        assert bytes(attr)[40:48] == bytes([0b0110_0001, 0, 0, 0, 0, 0, 0, 0])


def test_has_rejects_unknown_feature_and_html_escapes():
    m = Machine(cpu_model="<script>", simd=(("avx2", True),))
    with pytest.raises(ValueError):
        m.has("avx-512")
    assert "&lt;script&gt;" in m._repr_html_() and "<script>" not in m._repr_html_()


# ----------------------------------------------------------------------------- failures
def _boom(*args, **kwargs):
    raise RuntimeError("probe exploded")


def test_failing_probe_gives_none(monkeypatch):
    monkeypatch.setattr(machine, "_numba_info", _boom)
    m = describe(refresh=True)
    assert (m.numba_version, m.numba_threading_layer, m.numba_num_threads) == (None, None, None)
    assert m.usable_cores is not None and m.python is not None


@pytest.mark.skipif(sys.platform != "linux", reason="Linux probes")
def test_failing_linux_probe_gives_none(monkeypatch):
    monkeypatch.setattr(machine, "_cpu_model_linux", _boom)
    monkeypatch.setattr(machine, "_caches_linux", _boom)
    m = describe(refresh=True)
    assert m.cpu_model is None and m.caches == () and m.l1d_bytes is None
    assert m.logical_cores is not None
    monkeypatch.setattr(machine, "_linux_fields", _boom)
    m = describe(refresh=True)
    assert m.simd == () and m.usable_cores is not None and m.usable_cores >= 1


# ----------------------------------------------------------------------------- numba
def test_numba_threading_layer_before_and_after_parallel_code():
    numba = pytest.importorskip("numba")
    m = describe(refresh=True)
    assert m.numba_version == numba.__version__
    assert m.numba_num_threads is not None and m.numba_num_threads >= 1
    try:
        numba.threading_layer()
    except ValueError:  # nothing parallel has run in this process yet
        assert m.numba_threading_layer.endswith("(not started yet)")

    @numba.njit(parallel=True)
    def total(n):
        s = 0
        for i in numba.prange(n):
            s += i
        return s

    assert total(100) == 4950
    layer = describe(refresh=True).numba_threading_layer
    assert layer in ("tbb", "omp", "workqueue")
