"""Tests for course_lib.memory.numa: fake sysfs trees, a missing tree, another OS, and the real
move_pages query on this machine (pages of a fresh array are "not present" until touched)."""
from __future__ import annotations

import errno
import platform
from pathlib import Path

import numpy as np
import pytest

from course_lib.memory import numa
from course_lib.memory.numa import NOT_PRESENT, ZERO_PAGE

MIB = 1 << 20


def make_tree(root: Path, files: dict[str, str]) -> str:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return str(root)


def node_files(node: int, cpus: str, mem_kb: int, distance: str | None) -> dict[str, str]:
    base = f"sys/devices/system/node/node{node}/"
    files = {base + "cpulist": cpus,
             base + "meminfo": f"Node {node} MemTotal: {mem_kb} kB\nNode {node} MemFree: 1 kB"}
    if distance is not None:
        files[base + "distance"] = distance
    return files


@pytest.fixture
def one_node(tmp_path):
    files = node_files(0, "0-3", 8 * 1024 * 1024, "10")
    files["sys/devices/system/node/online"] = "0"
    return make_tree(tmp_path, files)


@pytest.fixture
def two_nodes(tmp_path):
    files = {**node_files(0, "0-3,8-11", 16 * 1024 * 1024, "10 21"),
             **node_files(1, "4-7,12-15", 16 * 1024 * 1024, "21 10")}
    files["sys/devices/system/node/possible"] = "0-1"  # not a nodeN entry: ignored
    return make_tree(tmp_path, files)


needs_move_pages = pytest.mark.skipif(numa.move_pages_reason() is not None,
                                      reason=f"move_pages: {numa.move_pages_reason()}")


# ----------------------------------------------------------------------------- fake trees
def test_one_node_tree(one_node, capsys):
    topo = numa.topology(one_node)
    assert topo.available and topo.reason is None
    assert [n.id for n in topo.nodes] == [0]
    assert topo.nodes[0].cpus == (0, 1, 2, 3)
    assert topo.nodes[0].memory_bytes == 8 << 30
    assert topo.distances == ((10,),)
    assert topo.distance(0, 0) == 10 and topo.distance(0, 1) is None
    out = capsys.readouterr().out
    assert "1 NUMA node" in out and "one node" in out and "ACPI SLIT" in out


def test_two_node_tree(two_nodes):
    topo = numa.nodes(two_nodes)
    assert [n.id for n in topo.nodes] == [0, 1]
    assert topo.nodes[1].cpus == (4, 5, 6, 7, 12, 13, 14, 15)
    assert topo.distances == ((10, 21), (21, 10))
    assert topo.distance(0, 1) == 21 and topo.distance(1, 1) == 10
    assert topo.node_of_cpu(9) == 0 and topo.node_of_cpu(13) == 1 and topo.node_of_cpu(99) is None
    text = str(topo)
    assert "2 NUMA nodes" in text and "4-7,12-15" in text and "21" in text
    assert "one node" not in text


def test_two_nodes_without_distance_files(tmp_path):
    root = make_tree(tmp_path, {**node_files(0, "0-1", 1024, None),
                                **node_files(1, "2-3", 1024, "21 10")})
    topo = numa.nodes(root)
    assert len(topo.nodes) == 2 and topo.distances == ()
    assert topo.distance(0, 1) is None
    assert any("distance" in n for n in topo.notes)


def test_sparse_node_ids(tmp_path):
    # Node ids need not be contiguous; the distance rows follow the online nodes in id order.
    root = make_tree(tmp_path, {**node_files(0, "0-1", 1024, "10 32"),
                                **node_files(2, "2-3", 1024, "32 10")})
    topo = numa.nodes(root)
    assert [n.id for n in topo.nodes] == [0, 2]
    assert topo.distance(0, 2) == 32 and topo.distance(2, 0) == 32


def test_missing_tree(tmp_path, capsys):
    topo = numa.topology(str(tmp_path))
    assert not topo.available and topo.nodes == () and topo.distances == ()
    assert "CONFIG_NUMA" in topo.reason
    assert "not available here, because" in capsys.readouterr().out
    assert topo.node_of_cpu(0) is None


def test_empty_node_dir(tmp_path):
    (tmp_path / "sys/devices/system/node").mkdir(parents=True)
    topo = numa.nodes(str(tmp_path))
    assert not topo.available and "no node" in topo.reason


def test_macos_has_no_nodes(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    topo = numa.nodes()
    assert not topo.available and "macOS" in topo.reason
    assert "not available here" in str(topo)


# ----------------------------------------------------------------------------- the penalty
def test_expected_remote_penalty_two_nodes(two_nodes):
    p = numa.expected_remote_penalty(two_nodes)
    assert p.latency_ratio[0] >= 1.4 and p.latency_ratio[1] <= 2.1
    assert 0.4 <= p.bandwidth_ratio[0] < p.bandwidth_ratio[1] <= 0.8
    assert (p.slit_local, p.slit_remote) == (10, 21)
    assert p.this_machine == {(0, 1): 21, (1, 0): 21} and p.nodes == 2
    text = str(p)
    assert "ACPI" in text and "SLIT" in text and "typical" in text and "0->1: 21" in text


def test_expected_remote_penalty_one_node_and_none(one_node, tmp_path):
    assert "one node" in str(numa.expected_remote_penalty(one_node))
    missing = tmp_path / "nothing"
    missing.mkdir()
    p = numa.expected_remote_penalty(str(missing))
    assert p.nodes == 0 and "does not report" in str(p)


# ----------------------------------------------------------------------------- page placement
def test_page_counts_labels():
    status = np.array([0, 0, 1, NOT_PRESENT, ZERO_PAGE, -errno.ENOMEM], dtype=np.int32)
    assert numa.page_counts(status) == {"node 0": 2, "node 1": 1, "not present": 1,
                                        "zero page": 1, "error ENOMEM": 1}
    assert numa.page_summary(status).startswith("6 pages: node 0 2")
    assert numa.page_counts(None) == {} and "not available" in numa.page_summary(None)


def test_page_addresses_cover_views():
    a = np.empty(10 * numa.PAGE_SIZE // 8)
    n = len(numa._page_addresses(a))
    assert n in (10, 11)  # 11 when the data does not start on a page boundary
    assert len(numa._page_addresses(a[::-1])) == n
    assert len(numa._page_addresses(a[::3])) >= n - 1
    assert len(numa._page_addresses(a[:0])) == 0
    assert np.all(np.diff(numa._page_addresses(a)) == numa.PAGE_SIZE)


def test_page_nodes_needs_an_array():
    with pytest.raises(TypeError, match="NumPy array"):
        numa.page_nodes([1.0, 2.0])


@needs_move_pages
def test_fresh_array_not_present_then_node_after_touch():
    a = np.empty(64 * MIB // 8)  # far above glibc's mmap threshold: fresh pages from the kernel
    before = numa.page_nodes(a)
    assert before.dtype == np.int32 and len(before) >= 64 * MIB // numa.PAGE_SIZE
    assert np.count_nonzero(before == NOT_PRESENT) >= len(before) - 2  # malloc's header page
    a[...] = 1.0
    after = numa.page_nodes(a)
    ids = {n.id for n in numa.nodes().nodes} or {0}
    assert set(np.unique(after).tolist()) <= ids
    if ids == {0}:
        assert np.all(after == 0)
    assert numa.page_counts(after).get("not present", 0) == 0


@needs_move_pages
def test_read_zeros_map_the_zero_page():
    z = np.zeros(64 * MIB // 8)
    assert z.sum() == 0.0  # reads only: every page maps the kernel's shared zero page
    status = numa.page_nodes(z)
    assert np.count_nonzero(status == ZERO_PAGE) > len(status) // 2


@needs_move_pages
def test_page_nodes_of_small_and_empty_arrays():
    assert len(numa.page_nodes(np.empty(0))) == 0
    small = np.arange(10.0)
    assert numa.page_nodes(small).tolist()[0] >= 0  # on the heap, touched when filled


@needs_move_pages
def test_first_touch_demo_runs(capsys):
    result = numa.first_touch_demo()
    assert result.nbytes == 64 * MIB
    assert result.before.get("not present", 0) >= result.pages - 2
    assert "not present" not in result.after
    assert sum(result.after.values()) == result.pages
    assert result.cpu is not None
    out = capsys.readouterr().out
    assert "before the first write" in out and "after the first write" in out


class _FakeLib:
    NUMA_ERR_NOT_LINUX = -1
    NUMA_ERR_NO_SYSCALL = -2

    def __init__(self, code: int):
        self.code = code

    def numa_probe_move_pages(self) -> int:
        return self.code


@pytest.mark.parametrize("code, words", [(-1, "Linux system call"), (errno.EPERM, "seccomp"),
                                         (errno.ENOSYS, "without NUMA"), (-2, "system call number"),
                                         (errno.EINVAL, "Invalid argument")])
def test_page_nodes_unavailable_warns_or_raises(monkeypatch, code, words):
    monkeypatch.setattr(numa, "_lib", lambda: (None, _FakeLib(code)))
    assert words in numa.move_pages_reason()
    with pytest.warns(RuntimeWarning, match="not available here, because"):
        assert numa.page_nodes(np.empty(4)) is None
    with pytest.raises(numa.NumaUnavailable, match=words):
        numa.page_nodes(np.empty(4), strict=True)


def test_without_the_c_module(monkeypatch, capsys):
    monkeypatch.setattr(numa, "_lib", lambda: None)
    assert "not built" in numa.move_pages_reason()
    result = numa.first_touch_demo(n=1 << 12)  # still runs: touches, reports what it cannot see
    assert result.before == {} and result.after == {}
    assert any("not available here" in n for n in result.notes)
    assert "not available here" in capsys.readouterr().out


def test_first_touch_demo_without_pinning(monkeypatch):
    import os

    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    result = numa.first_touch_demo(n=1 << 12, verbose=False)
    assert not result.pinned
    assert any("unpinned" in n for n in result.notes)


# ----------------------------------------------------------------------------- libnuma
def test_libnuma_never_raises():
    info = numa.libnuma()
    assert isinstance(info, numa.LibNuma)
    if info.reason is None:
        assert info.found and info.available and info.max_node >= 0
        assert "numa_max_node" in str(info)
    else:
        assert "not available here, because" in str(info)


def test_libnuma_missing(monkeypatch):
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    info = numa.libnuma()
    assert not info.found and "not installed" in info.reason
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert "Linux library" in numa.libnuma().reason


def test_libnuma_broken(monkeypatch):
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libdoes-not-exist.so.9")
    info = numa.libnuma()
    assert not info.found and "could not be used" in info.reason
