"""course_lib.memory: layout kernels against NumPy, the arenas' batteries, the roofline's sums."""
from __future__ import annotations

import threading

import matplotlib
import numpy as np
import pytest
from numba import njit

from course_lib.memory import arena as A
from course_lib.memory import layout as L
from course_lib.memory import roofline as R

matplotlib.use("Agg")


# ---------------------------------------------------------------------------- layout
def test_record_layouts_are_c_aligned_and_packed():
    assert L.PARTICLE.itemsize == 88 and L.PARTICLE.fields["x"][1] == 8
    assert L.PARTICLE_PACKED.itemsize == 84 and L.PARTICLE_PACKED.fields["x"][1] == 4


@pytest.mark.parametrize("dtype", [L.PARTICLE, L.PARTICLE_PACKED])
@pytest.mark.parametrize("n", [0, 1, 5, 1001])
def test_drift_aos_and_soa_agree_with_numpy(dtype, n):
    p = L.particles(n, dtype, seed=n)
    want = {f: p[f] + p["v" + f] * 0.25 for f in "xyz"}
    soa = L.to_soa(p)
    L.drift_aos(p, 0.25)
    L.drift_soa(*(soa[f] for f in ("x", "y", "z", "vx", "vy", "vz")), 0.25)
    q = L.particles(n, dtype, seed=n)
    L.drift_numpy_fields(q, 0.25)
    for f in "xyz":
        np.testing.assert_allclose(p[f], want[f], rtol=1e-14)
        np.testing.assert_allclose(soa[f], want[f], rtol=1e-14)
        np.testing.assert_allclose(q[f], want[f], rtol=1e-14)
    assert np.array_equal(L.from_soa(soa, dtype)["vx"], p["vx"])


def test_to_soa_copies_and_bad_input_is_named():
    p = L.particles(10)
    soa = L.to_soa(p)
    assert not np.shares_memory(soa["x"], p) and soa["x"].strides == (8,)
    with pytest.raises(TypeError, match="structured"):
        L.to_soa(np.zeros(3))
    with pytest.raises(KeyError, match="missing"):
        L.from_soa({"x": np.zeros(2)})
    with pytest.raises(TypeError, match="particle record"):
        L.particles(3, np.float64)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (33, 31), (64, 64), (100, 7)])
@pytest.mark.parametrize("block", [1, 7, 32, 200])
def test_transposes_match_numpy(shape, block):
    a = np.random.default_rng(1).random(shape)
    assert np.array_equal(L.transpose_naive(a, np.empty(shape[::-1])), a.T)
    assert np.array_equal(L.transpose_blocked(a, np.empty(shape[::-1]), block), a.T)


def test_transpose_rejects_bad_output():
    a = np.zeros((3, 4))
    with pytest.raises(ValueError, match="shape"):
        L.transpose_blocked(a, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="block"):
        L.transpose_blocked(a, np.zeros((4, 3)), 0)


def test_traversal_sums_and_strided_sum():
    a = np.random.default_rng(2).random((37, 53))
    assert L.sum_rows(a) == pytest.approx(a.sum()) == pytest.approx(L.sum_cols(a))
    v = np.arange(100.0)
    for s in (1, 3, 8, 150):
        assert L.strided_sum(v, s) == v[::s].sum()


def test_sweeps_return_rows_quickly(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert [r["layout"] for r in L.aos_vs_soa(n=20_000, repeats=1)][-1] == "SoA (6 arrays)"
    assert L.traversal(n=128, repeats=1)["ratio"] > 0
    assert [r["block"] for r in L.transpose_sweep(n=128, blocks=(8, 32), repeats=1)] == [None, 8, 32]
    rows = L.stride_sweep(nbytes=1 << 20, strides=(1, 8, 64), repeats=1)
    assert [r["stride"] for r in rows] == [1, 8, 64] and all(r["ns_per_line"] > 0 for r in rows)


# ---------------------------------------------------------------------------- arenas
def test_aligned_buffer():
    for align in (16, 64, 4096):
        b = A.aligned_buffer(1000, align)
        assert b.size == 1000 and b.ctypes.data % align == 0 and not b.any()
    with pytest.raises(ValueError, match="power of two"):
        A.aligned_buffer(10, 48)


def test_bump_arena_battery():
    state = A.bump_new(1024)
    assert A.bump_alloc(state, 10, 1) == 0
    assert A.bump_alloc(state, 8, 64) == 64
    assert A.bump_alloc(state, 0, 8) == 72
    with pytest.raises(MemoryError, match="exhausted"):
        A.bump_alloc(state, 1024, 8)
    assert state[0] == 72, "a failed alloc leaves the arena as it was"
    assert A.bump_alloc(state, 1024 - 72, 8) == 72  # exact fit
    with pytest.raises(ValueError, match="power of two"):
        A.bump_alloc(state, 8, 24)
    with pytest.raises(ValueError, match="nbytes"):
        A.bump_alloc(state, -1, 8)
    A.bump_reset(state)
    assert A.bump_alloc(state, 1024, 64) == 0


def test_bump_arena_views_do_not_overlap_and_messages_name_sizes():
    arena = A.BumpArena(4096)
    a, b = arena.array(100, np.float64), arena.array((3, 7), np.int32)
    a[:] = 1.0
    b[:] = 7
    assert (a == 1.0).all() and not np.shares_memory(a, b)
    assert a.ctypes.data % 64 == 0 and b.ctypes.data % 64 == 0
    with pytest.raises(MemoryError, match="4096"):
        arena.array(1000, np.float64)
    arena.reset()
    assert arena.used == 0


def test_pool_battery():
    pool = A.Pool(3, 32)
    got = [pool.alloc() for _ in range(3)]
    assert sorted(got) == [0, 1, 2] and pool.free_count == 0
    with pytest.raises(MemoryError, match="all 3 blocks"):
        pool.alloc()
    pool.free(1)
    with pytest.raises(ValueError, match="double free"):
        pool.free(1)
    with pytest.raises(ValueError, match="not in this pool"):
        pool.free(3)
    assert pool.alloc() == 1
    pool.view(2)[:] = 5
    assert pool.view(1).sum() == 0 and pool.view(2).sum() == 5 * 32


@njit(nogil=True)
def _fill_from_arena(buffer, state, rounds, value):
    total = 0
    for r in range(rounds):
        off = A.bump_alloc(state, 64, 64)
        buffer[off:off + 64] = value
        total += buffer[off]
        A.bump_reset(state)
    return total


def test_arenas_run_without_the_gil_in_threads():
    """One arena per thread, both threads in compiled code at once."""
    results = {}
    bufs = [A.aligned_buffer(256) for _ in range(2)]
    states = [A.bump_new(256) for _ in range(2)]

    def work(k):
        results[k] = _fill_from_arena(bufs[k], states[k], 10_000, k + 1)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: 10_000, 1: 20_000}


def test_scratch_kernels_agree():
    data = np.arange(10.0)
    buf, state = A.aligned_buffer(1024), A.bump_new(1024)
    assert A.scratch_with_empty(data, 16) == A.scratch_with_arena(data, 16, buf, state) == 15 * data.sum()
    rows = A.scratch_sweep(widths=(8, 64), elements=1 << 12, repeats=1)
    assert [r["width"] for r in rows] == [8, 64] and all(r["ratio"] > 0 for r in rows)


# ---------------------------------------------------------------------------- roofline
def test_roofline_arithmetic():
    r = R.Roofline(100.0, 20.0)
    assert r.ridge == 5.0
    assert r.attainable(0.1) == pytest.approx(2.0) and r.attainable(50) == 100.0
    assert r.bound(1) == "memory" and r.bound(10) == "compute"
    p = R.KernelPoint.from_run("triad", flops=2e9, nbytes=24e9, seconds=1.5)
    assert p.intensity == pytest.approx(1 / 12) and p.gflops == pytest.approx(2 / 1.5)
    r.place(p)
    r.place("poly", 4.0, 60.0)
    assert "75.0% of its memory roof" in r.table()
    ax = r.plot()
    assert ax.get_xscale() == "log"


def test_roofline_rejects_nonsense():
    with pytest.raises(ValueError, match="positive"):
        R.Roofline(0, 10)
    with pytest.raises(ValueError, match="positive"):
        R.KernelPoint.from_run("k", 1, 0, 1)


def test_course_points_are_measured(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    points = R.course_points(n=1 << 14, repeats=1)
    assert len(points) == 5 and all(p.gflops > 0 for p in points)
