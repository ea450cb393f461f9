"""Chapter c06's measurements end to end, in quick mode: the latency curve and its steps, STREAM
over every implementation, the prefetch sweep, and their plots (matplotlib Agg).

No timing assertions: the machine may be busy. Only shapes, signs and the step finder's logic,
which runs on synthetic curves whose boundaries are planted.
"""
from __future__ import annotations

import importlib

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from matplotlib.axes import Axes  # noqa: E402

latency = importlib.import_module("course_lib.memory.latency")
prefetch = importlib.import_module("course_lib.memory.prefetch")
stream = importlib.import_module("course_lib.memory.stream")

KiB, MiB = 1 << 10, 1 << 20


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# ------------------------------------------------------------------------------ latency
def test_quick_latency_curve_is_increasing_positive_and_finite(quick):
    curve = latency.latency_curve()
    assert list(curve.sizes) == latency.default_sizes()
    assert np.all(np.diff(curve.sizes) > 0)
    assert curve.sizes[0] == 4 * KiB and curve.sizes[-1] <= 64 * MiB
    assert np.all(np.isfinite(curve.ns)) and np.all(curve.ns > 0)
    assert curve.ns.shape == curve.sizes.shape
    text = repr(curve)
    assert "steps found" in text and "ns/load" in text
    assert all(p.ns > 0 for p in curve.plateaus())
    assert isinstance(curve.plot(), Axes)


def test_latency_curve_numba_and_explicit_sizes():
    curve = latency.latency_curve([300 * KiB, 8 * KiB, 8 * KiB + 5], budget=0.05, impl="numba",
                                  line_bytes=128)
    assert list(curve.sizes) == [8 * KiB, 300 * KiB]  # sorted, rounded to lines, deduplicated
    assert curve.impl == "numba" and curve.line_bytes == 128
    assert np.all(np.isfinite(curve.ns)) and np.all(curve.ns > 0)


def test_default_sizes_full_mode_has_in_between_points(monkeypatch):
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    sizes = latency.default_sizes()
    assert sizes[0] == 4 * KiB and 6 * KiB in sizes and sizes == sorted(set(sizes))


@pytest.mark.parametrize("kwargs, exc", [({"sizes": [64]}, ValueError),
                                         ({"sizes": []}, ValueError),
                                         ({"sizes": [4096.0]}, TypeError),
                                         ({"budget": 0}, ValueError),
                                         ({"line_bytes": 12}, ValueError),
                                         ({"impl": "rust"}, ValueError)])
def test_latency_curve_bad_input(kwargs, exc):
    with pytest.raises(exc):
        latency.latency_curve(**kwargs)


def _synthetic(levels, bounds, ramp=False):
    """Latencies on the default grid (powers of two and x1.5) from 4 KiB to 256 MiB: `levels[k]`
    up to `bounds[k]`, the last level beyond; with ramp, one half-way point after each bound."""
    sizes = [s for k in range(12, 29) for s in (1 << k, 3 << (k - 1)) if s <= 256 * MiB]
    ns = []
    for s in sizes:
        k = next((k for k, b in enumerate(bounds) if s <= b), len(bounds))
        value = levels[k]
        if ramp and k > 0 and s <= 2 * bounds[k - 1]:
            value = (levels[k - 1] * levels[k]) ** 0.5  # half-way, on a log scale
        ns.append(value)
    return np.array(sizes), np.array(ns)


@pytest.mark.parametrize("ramp", [False, True])
def test_steps_finds_the_planted_boundaries(ramp):
    bounds = (32 * KiB, 1 * MiB, 32 * MiB)
    sizes, ns = _synthetic((1.2, 4.0, 14.0, 95.0), bounds, ramp)
    curve = latency.LatencyCurve(sizes, ns, 64, *bounds)
    assert curve.steps() == bounds
    levels = [p.ns for p in curve.plateaus()]
    assert levels == pytest.approx([1.2, 4.0, 14.0, 95.0])
    assert curve.level(16 * KiB) == "L1d" and curve.level(64 * MiB) == "DRAM"
    assert isinstance(curve.plot(), Axes)


def test_steps_ignore_a_single_noisy_point_and_small_drift():
    sizes, ns = _synthetic((1.0, 5.0), (64 * KiB,))
    ns = ns * np.linspace(1.0, 1.3, ns.size)  # a slow drift, never 1.5x within a plateau
    ns[3] *= 3  # one hiccup inside the first plateau
    assert latency.find_steps(sizes, ns) == (64 * KiB,)


def test_steps_of_a_flat_curve_and_bad_input():
    assert latency.find_steps([1, 2, 3], [2.0, 2.1, 2.0]) == ()
    assert latency.find_steps([], []) == ()
    with pytest.raises(ValueError, match="as long"):
        latency.find_steps([1, 2], [1.0])
    with pytest.raises(ValueError, match="factor"):
        latency.find_steps([1, 2], [1.0, 2.0], factor=1.0)


def test_curve_without_known_caches():
    curve = latency.LatencyCurve(np.array([4096, 8192]), np.array([1.0, 1.1]))
    assert curve.caches() == [] and curve.level(4096) == "?"
    assert "unknown" in repr(curve)
    assert isinstance(curve.plot(), Axes)


# ------------------------------------------------------------------------------ STREAM
def test_quick_stream_has_every_impl_kernel_and_thread_count(quick):
    threads = (1, 2)
    result = stream.stream(threads=threads, reps=2)
    assert result.n == 2 << 20
    impls = [i for i in stream.IMPLS if i != "c-nt" or stream.nt_stores_available()]
    assert result.impls == tuple(impls)
    got = {(r.impl, r.kernel, r.threads) for r in result.rows}
    want = set()
    for impl in impls:
        kernels = ("copy",) if impl == "memcpy" else stream.KERNELS
        counts = (1,) if impl == "numpy" else threads
        want |= {(impl, k, t) for k in kernels for t in counts}
    assert got == want
    assert all(r.gbps > 0 and np.isfinite(r.gbps) and r.seconds > 0 for r in result.rows)
    llc = result.llc_bytes
    assert result.rule_met == (llc is not None and 8 * result.n >= 4 * llc)
    if not result.rule_met:
        assert any("McCalpin" in n for n in result.notes)
    text = result.table()
    assert "write-allocate traffic not counted" in text and repr(result) == text
    assert result.best("triad").gbps == max(r.gbps for r in result.rows if r.kernel == "triad")
    assert np.isnan(result.gbps("numpy", "triad", 2))
    assert isinstance(result.plot(), Axes)


def test_stream_restores_numba_threads():
    import numba

    before = numba.get_num_threads()
    stream.stream(threads=[1, 2], n=5000, impls=("numba",), reps=1, kernels=("triad",))
    assert numba.get_num_threads() == before


def test_stream_numba_and_numpy_kernels_compute_stream():
    rng = np.random.default_rng(0)
    for kernel in stream.KERNELS:
        for make in (stream._numba_call, stream._numpy_call):
            a, b, c = (rng.standard_normal(1001) for _ in range(3))
            want = [x.copy() for x in (a, b, c)]
            {"copy": lambda w: w[2].__setitem__(slice(None), w[0]),
             "scale": lambda w: w[1].__setitem__(slice(None), 3.0 * w[2]),
             "add": lambda w: w[2].__setitem__(slice(None), w[0] + w[1]),
             "triad": lambda w: w[0].__setitem__(slice(None), w[1] + 3.0 * w[2])}[kernel](want)
            make(kernel, a, b, c, 3.0)()
            for got, exp in zip((a, b, c), want):
                np.testing.assert_allclose(got, exp, rtol=1e-15)


def test_stream_default_n_follows_mccalpin(monkeypatch):
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    llc = stream._llc_bytes(stream._machine())
    if llc:
        assert 8 * stream.default_n() >= 4 * llc
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert stream.default_n() == 2 << 20


@pytest.mark.parametrize("kwargs, exc", [({"threads": 0}, ValueError),
                                         ({"threads": [1, 0]}, ValueError),
                                         ({"threads": []}, ValueError),
                                         ({"threads": "2"}, TypeError),
                                         ({"threads": 1.5}, TypeError),
                                         ({"n": 0}, ValueError),
                                         ({"reps": 0}, ValueError),
                                         ({"impls": ("fortran",)}, ValueError),
                                         ({"kernels": ("saxpy",)}, ValueError),
                                         ({"offset": 12}, ValueError),
                                         ({"offset": 64}, ValueError),
                                         ({"offset": -8}, ValueError),
                                         ({"offset": 8.0}, ValueError)])
def test_stream_bad_input(kwargs, exc):
    with pytest.raises(exc):
        stream.stream(**{"n": 100, **kwargs})


@pytest.mark.parametrize("offset", [0, 8, 16, 56])
def test_stream_arrays_start_where_asked_and_first_touch_still_decides(offset):
    # STREAM's arrays start on a cache line (NumPy alone promises 16 bytes: a 64-byte vector
    # store would then straddle two lines); ``offset`` moves them off it on purpose.
    for n in (1, 1000, 1 << 20):
        a = stream._line_aligned(n, offset)
        assert a.dtype == np.float64 and a.shape == (n,) and a.flags.c_contiguous
        assert a.ctypes.data % stream.LINE == offset
    r = stream.stream(threads=1, n=5000, impls=("numba", "c"), kernels=("triad",), reps=2,
                      offset=offset)
    assert r.gbps("numba", "triad", 1) > 0
    assert any(f"offset={offset}" in note for note in r.notes) == bool(offset)


# ------------------------------------------------------------------------------ prefetch
def test_prefetch_sweep_shapes_and_plot():
    s = prefetch.prefetch_sweep(n=20_000, distances=(0, 4, 64), reps=1)
    assert s.distances == (0, 4, 64) and s.n == 20_000
    for ns in (s.random_ns, s.sequential_ns):
        assert ns.shape == (3,) and np.all(ns > 0) and np.all(np.isfinite(ns))
    assert s.best_distance() in s.distances and s.speedup() >= 1.0
    assert "best distance" in repr(s)
    assert isinstance(s.plot(), Axes)


def test_prefetch_sweep_bad_input():
    with pytest.raises(ValueError, match="empty"):
        prefetch.prefetch_sweep(n=100, distances=())
    with pytest.raises(ValueError, match="distance"):
        prefetch.prefetch_sweep(n=100, distances=(0, -4))
    with pytest.raises(ValueError, match="n"):
        prefetch.prefetch_sweep(n=0)
