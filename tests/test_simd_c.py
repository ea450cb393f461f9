"""The C SIMD kernels (course_lib/_c/simd.c): every variant this machine runs, against NumPy.

Variants the machine cannot run are skipped with the reason (an ARM laptop skips the x86 ones, a
CI runner without AVX-512 skips avx512). Timing checks are loose sanity only.
"""
from __future__ import annotations

import platform

import numpy as np
import pytest

from course_lib.simd import features, kernels, peak
from course_lib.simd.features import SimdUnavailable

EPS = float(np.finfo(np.float32).eps)
with features.ceiling(None):
    RUNNABLE = {v.name: v.why_not for v in features.variants()}
VECTOR = [v for v in ("sse", "avx2", "avx512", "neon") if not RUNNABLE[v]]


@pytest.fixture(autouse=True)
def _no_ceiling(monkeypatch):
    monkeypatch.delenv(features.ENV, raising=False)


def _variant_param(name):
    why = RUNNABLE[name]
    return pytest.param(name, id=name, marks=pytest.mark.skipif(bool(why), reason=f"{name}: {why}"))


ALL = [_variant_param(v) for v in features.VARIANTS]


def _lengths(variant):
    lanes = features.lanes(variant)
    extra = [4 * lanes - 1, 4 * lanes, 4 * lanes + 1, 8 * lanes + 3 * lanes + 5, 1000, 4099]
    return sorted(set(range(0, 3 * lanes + 2)) | set(extra))


def _cases(variant, rng, pad=4):
    """(n, offset, x, y) with x and y slices starting 0..3 floats into a 64-byte-aligned block."""
    for n in _lengths(variant):
        base_x = rng.standard_normal(n + pad).astype(np.float32)
        base_y = rng.standard_normal(n + pad).astype(np.float32)
        for off in (0, 1, 2, 3):
            yield n, off, base_x[off:off + n], base_y[off:off + n]


# --------------------------------------------------------------------------------- the kernels
@pytest.mark.parametrize("variant", ALL)
def test_dot_matches_numpy(variant):
    rng = np.random.default_rng(1)
    for n, off, x, y in _cases(variant, rng):
        exact = float(np.dot(x.astype(np.float64), y.astype(np.float64)))
        bound = 2 * (n + 4) * EPS * float(np.abs(x.astype(np.float64) * y).sum()) + 1e-30
        got = kernels.dot(x, y, variant=variant)
        assert abs(got - exact) <= bound, (variant, n, off, got, exact)


@pytest.mark.parametrize("variant", ALL)
def test_saxpy_matches_numpy_and_touches_only_its_slice(variant):
    rng = np.random.default_rng(2)
    for n, off, x, _ in _cases(variant, rng):
        buf = rng.standard_normal(n + 8).astype(np.float32)
        y = buf[off:off + n]
        before = buf.copy()
        a = np.float32(-1.75)
        exact = a * x.astype(np.float64) + y.astype(np.float64)
        assert kernels.saxpy(a, x, y, variant=variant) is y
        tol = 2 * EPS * (np.abs(a * x.astype(np.float64)) + np.abs(before[off:off + n])) + 1e-30
        assert np.all(np.abs(y - exact) <= tol), (variant, n, off)
        outside = np.r_[0:off, off + n:n + 8]
        assert np.array_equal(buf[outside], before[outside]), "saxpy wrote outside y"


@pytest.mark.parametrize("variant", ALL)
def test_saxpy_in_place_on_one_array(variant):
    x = np.arange(37, dtype=np.float32)
    kernels.saxpy(2.0, x, x, variant=variant)
    assert np.array_equal(x, 3 * np.arange(37, dtype=np.float32))


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("degree", [0, 1, 3, 8])
def test_poly_matches_polyval(variant, degree):
    rng = np.random.default_rng(3 + degree)
    coeffs = rng.uniform(-1, 1, degree + 1).astype(np.float32)
    for n, off, x, _ in _cases(variant, rng):
        x = x * np.float32(0.75)
        xd = x.astype(np.float64)
        exact = np.polyval(coeffs.astype(np.float64), xd)
        scale = np.polyval(np.abs(coeffs.astype(np.float64)), np.abs(xd))
        got = kernels.poly(x, coeffs, variant=variant)
        assert got.dtype == np.float32 and got.shape == (n,)
        assert np.all(np.abs(got - exact) <= (2 * degree + 2) * EPS * scale + 1e-30), (n, off)


@pytest.mark.parametrize("variant", ALL)
def test_poly_into_out_and_in_place(variant):
    x = np.linspace(-1, 1, 21, dtype=np.float32)
    expect = kernels.poly(x, [2, 0, -1], variant="scalar")
    out = np.empty_like(x)
    assert kernels.poly(x, [2, 0, -1], variant=variant, out=out) is out
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=1e-6)
    kernels.poly(x, [2, 0, -1], variant=variant, out=x)
    np.testing.assert_allclose(x, expect, rtol=1e-6, atol=1e-6)


def _poly_lengths(variant):
    """Every length up to 3 AVX-512 vectors + 1, and each side of every whole number of vectors
    up to 27: the kernels work in blocks of several vectors (12 Horner chains at once), then
    one vector at a time, then a tail, and each of those boundaries is crossed."""
    lanes = features.lanes(variant)
    near = {m * lanes + d for m in range(1, 28) for d in (-1, 0, 1)}
    return sorted(set(range(3 * 16 + 2)) | near)


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("degree", [5, 32])
def test_poly_matches_polyval_on_every_length_and_start(variant, degree):
    rng = np.random.default_rng(30 + degree)
    coeffs = rng.uniform(-1, 1, degree + 1).astype(np.float32)
    c64 = coeffs.astype(np.float64)
    for n in _poly_lengths(variant):
        base = rng.uniform(-1, 1, n + 8).astype(np.float32)
        for off in (0, 1, 2, 3):  # x[1:] starts 4 bytes into a 64-byte line
            x = base[off:off + n]
            xd = x.astype(np.float64)
            exact = np.polyval(c64, xd)
            bound = (2 * degree + 2) * EPS * np.polyval(np.abs(c64), np.abs(xd)) + 1e-30
            buf = np.full(n + 8, 7.0, np.float32)  # out, with guard cells on each side
            out = buf[off:off + n]
            assert kernels.poly(x, coeffs, variant=variant, out=out) is out
            assert np.all(np.abs(out - exact) <= bound), (variant, n, off)
            outside = np.r_[0:off, off + n:n + 8]
            assert np.all(buf[outside] == 7.0), ("poly wrote outside out", variant, n, off)
            inplace = x.copy()
            kernels.poly(inplace, coeffs, variant=variant, out=inplace)
            assert np.array_equal(inplace, out), ("in place differs", variant, n, off)


@pytest.mark.parametrize("variant", ALL)
def test_masked_sum_matches_numpy_and_never_counts_nan(variant):
    rng = np.random.default_rng(4)
    for n, off, x, _ in _cases(variant, rng):
        x = x.copy()
        x[rng.random(n) < 0.2] = np.nan
        if n > 2:
            x[1] = -np.inf  # never greater: never counted
        t = 0.3
        kept = x[x > t].astype(np.float64)
        exact = float(kept.sum())
        got = kernels.masked_sum(x, t, variant=variant)
        assert abs(got - exact) <= 2 * (n + 4) * EPS * float(np.abs(kept).sum()) + 1e-30, (n, off)
        assert kernels.masked_sum(x, float("nan"), variant=variant) == 0.0
    x = np.ones(3 * features.lanes(variant) + 1, np.float32)
    x[-1] = np.inf
    assert kernels.masked_sum(x, 0.5, variant=variant) == np.inf


def _arg_inputs(variant, rng):
    for n, off, x, _ in _cases(variant, rng):
        if n == 0:
            continue
        yield n, off, x
        ties = np.round(x * 2).astype(np.float32)  # few distinct values: many equal minima
        yield n, off, ties
        signed_zero = np.where(rng.random(n) < 0.5, np.float32(-0.0), np.float32(0.0))
        yield n, off, signed_zero
        with_nan = x.copy()
        with_nan[rng.integers(n)] = np.nan
        yield n, off, with_nan
        infs = np.where(rng.random(n) < 0.5, np.float32(np.inf), np.float32(-np.inf))
        yield n, off, infs
    for n in (1, 5, features.lanes(variant) + 1, 100):
        yield n, 0, np.full(n, np.nan, np.float32)
        yield n, 0, np.full(n, np.inf, np.float32)
        yield n, 0, np.full(n, -np.inf, np.float32)
        yield n, 0, np.full(n, 7, np.float32)


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("which", ["argmin", "argmax"])
def test_argmin_argmax_match_numpy_including_ties_and_nan(variant, which):
    rng = np.random.default_rng(5)
    ours, theirs = getattr(kernels, which), getattr(np, which)
    for n, off, x in _arg_inputs(variant, rng):
        assert ours(x, variant=variant) == int(theirs(x)), (which, n, off, x[:20])


@pytest.mark.parametrize("variant", ALL)
def test_argmin_finds_the_first_nan_after_a_vector_of_clean_data(variant):
    x = np.arange(200, dtype=np.float32)
    x[130], x[170] = np.nan, np.nan
    assert kernels.argmin(x, variant=variant) == 130 == kernels.argmax(x, variant=variant)


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("bad, err, match", [
    ([1.0, 2.0], TypeError, "NumPy float32 array"),
    (np.ones(4), TypeError, "float32"),
    (np.ones(4, ">f4"), TypeError, "float32"),
    (np.ones((2, 2), np.float32), ValueError, "1-D"),
    (np.ones(8, np.float32)[::2], ValueError, "C-contiguous"),
])
def test_bad_arrays_are_refused_with_a_clear_message(bad, err, match):
    ok = np.ones(len(bad) if hasattr(bad, "__len__") else 4, np.float32)
    for call in (lambda: kernels.dot(bad, ok), lambda: kernels.masked_sum(bad, 0),
                 lambda: kernels.argmin(bad), lambda: kernels.poly(bad, [1.0])):
        with pytest.raises(err, match=match):
            call()


def test_other_argument_errors():
    x, y = np.ones(4, np.float32), np.ones(5, np.float32)
    with pytest.raises(ValueError, match="same length"):
        kernels.dot(x, y)
    ro = np.ones(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        kernels.saxpy(1.0, x, ro)
    big = np.ones(10, np.float32)
    with pytest.raises(ValueError, match="overlap"):
        kernels.saxpy(1.0, big[:8], big[2:])
    with pytest.raises(ValueError, match="empty"):
        kernels.argmax(np.empty(0, np.float32))
    with pytest.raises(ValueError, match="coeffs"):
        kernels.poly(x, [])
    with pytest.raises(TypeError, match="real number"):
        kernels.saxpy("2", x, x.copy())
    with pytest.raises(ValueError, match="unknown variant"):
        kernels.dot(x, x, variant="avx9000")
    with pytest.raises(ValueError, match="unknown kernel"):
        kernels.dispatch("fft")


def test_a_variant_for_another_architecture_is_unavailable_with_the_reason():
    foreign = "neon" if platform.machine().lower() in ("x86_64", "amd64") else "avx2"
    x = np.ones(4, np.float32)
    with pytest.raises(SimdUnavailable, match="not built"):
        kernels.dot(x, x, variant=foreign)
    assert isinstance(SimdUnavailable("x"), RuntimeError)


class _FakeLib:
    """The real library, but a CPU word without some features (a machine we do not have)."""

    def __init__(self, lib, drop):
        self._lib, self._drop = lib, drop

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def simd_cpu_features(self):
        return self._lib.simd_cpu_features() & ~self._drop

    def simd_variant_status(self, v):
        status = self._lib.simd_variant_status(v)
        needs = self._lib.simd_variant_needs(v)
        if status == 0 and needs & ~self.simd_cpu_features():
            return self._lib.SIMD_E_CPU
        return status


@pytest.mark.skipif(bool(RUNNABLE["avx2"]), reason="needs an x86 CPU with AVX2")
def test_a_cpu_without_avx512_says_so_and_dispatch_falls_back(monkeypatch):
    ffi, lib = features._lib()
    drop = lib.SIMD_F_AVX512F | lib.SIMD_F_AVX512BW | lib.SIMD_F_AVX512VL
    monkeypatch.setattr(features, "_lib", lambda: (ffi, _FakeLib(lib, drop)))
    row = {v.name: v for v in features.variants()}["avx512"]
    assert not row.available and "lacks avx512f, avx512bw, avx512vl" in row.why_not
    assert kernels.dispatch("dot") == "avx2"
    with pytest.raises(SimdUnavailable, match="lacks avx512f"):
        kernels.dot(np.ones(3, np.float32), np.ones(3, np.float32), variant="avx512")
    assert not features.features()["avx512f"]


# ---------------------------------------------------------------------------- the ceiling
def test_dispatch_without_a_ceiling_is_the_widest_runnable_variant():
    order = ("avx512", "avx2", "neon", "sse", "vecext", "scalar")
    assert kernels.dispatch("dot") == next(v for v in order if not RUNNABLE[v])
    assert features.current_ceiling() is None


@pytest.mark.parametrize("cap, allowed", [
    ("scalar", {"scalar"}), ("vecext", {"scalar", "vecext"}),
    ("sse", {"scalar", "vecext", "sse", "neon"}), ("avx2", {"scalar", "vecext", "sse", "neon", "avx2"}),
    ("AVX512F", set(features.VARIANTS)), ("sse4.2", {"scalar", "vecext", "sse", "neon"}),
])
def test_env_ceiling_forces_dispatch_down(monkeypatch, cap, allowed):
    monkeypatch.setenv(features.ENV, cap)
    best = kernels.dispatch("poly")
    assert best in allowed
    assert set(features.available()) == {v for v in allowed if not RUNNABLE[v]}
    x = np.arange(10, dtype=np.float32)
    assert kernels.dot(x, x) == float(np.dot(x, x))  # runs through the capped dispatcher
    for name in set(features.VARIANTS) - allowed:
        if not RUNNABLE[name]:
            with pytest.raises(SimdUnavailable, match="ceiling"):
                kernels.dot(x, x, variant=name)


def test_env_ceiling_errors_name_the_variable(monkeypatch):
    monkeypatch.setenv(features.ENV, "avx1024")
    with pytest.raises(ValueError, match=features.ENV):
        kernels.dispatch("dot")
    for lifted in ("", "native", " NATIVE "):
        monkeypatch.setenv(features.ENV, lifted)
        assert features.current_ceiling() is None


def test_ceiling_context_manager_nests_overrides_env_and_restores(monkeypatch):
    monkeypatch.setenv(features.ENV, "scalar")
    assert kernels.dispatch("dot") == "scalar"
    with features.ceiling(None) as cap:
        assert cap is None and kernels.dispatch("dot") == features.best_variant()
        with features.ceiling("vecext"):
            assert kernels.dispatch("argmin") in ("vecext", "scalar")
            assert not {v.name: v for v in features.variants()}["avx2"].available
        assert features.current_ceiling() is None
    with pytest.raises(RuntimeError):
        with features.ceiling("sse"):
            raise RuntimeError("boom")
    assert features.current_ceiling() == "scalar"
    with pytest.raises(ValueError, match="not an ISA"):
        with features.ceiling("mmx2"):
            pass


# ---------------------------------------------------------------------------- features
def test_features_are_in_ladder_order_and_agree_with_the_os():
    from course_lib.measure.machine import describe

    feats = features.features()
    arch = platform.machine().lower()
    if arch in ("x86_64", "amd64"):
        assert tuple(feats) == features.X86_FEATURES and feats["sse2"]
    elif arch in ("aarch64", "arm64"):
        assert tuple(feats) == features.ARM_FEATURES and feats["neon"]
    os_view = dict(describe(refresh=True).simd)
    shared = sorted(set(os_view) & set(feats))
    if not os_view:
        pytest.skip("machine.describe() could not read the SIMD features of this OS")
    assert shared, (os_view, feats)
    assert {f: feats[f] for f in shared} == {f: os_view[f] for f in shared}


def test_ladder_best_isa_and_lanes():
    rungs = features.ladder()
    assert rungs[0] == ("scalar", True)
    assert features.best_isa() == [r for r, ok in rungs if ok][-1]
    assert features.lanes("scalar") == 1 and features.lanes("avx2") == 8
    assert features.lanes("avx512", 64) == 8 and features.lanes("sse", 64) == 2
    assert features.lanes("vecext") == 4 and features.lanes("neon") == 4
    with pytest.raises(ValueError):
        features.lanes("sse", 16)
    assert features.compiler()


def test_variants_list_every_variant_with_a_reason_when_unavailable():
    rows = features.variants()
    assert [r.name for r in rows] == list(features.VARIANTS)
    assert rows[0].available  # scalar always runs
    for name, available, why_not in rows:
        assert available == (why_not == "") and available == (name in features.available())


# ---------------------------------------------------------------------------- peak
def test_peak_is_positive_and_models_the_flops_per_cycle():
    p = peak.peak("f64", "scalar", seconds=0.02)
    assert p.gflops > 0 and p.lanes == 1 and p.flops_per_cycle == 4 and p.clock_ghz > 0
    assert p.precision == "f64" and not p.fused
    with pytest.raises(ValueError, match="precision"):
        peak.peak("f16")


@pytest.mark.skipif(not VECTOR, reason="no hand-written vector variant runs on this machine")
def test_vector_peak_beats_scalar_peak():
    best = max(VECTOR, key=lambda v: features.lanes(v))
    for _attempt in range(3):  # a busy machine may slow one measurement down: retry
        scalar = peak.peak("f32", "scalar", seconds=0.03).gflops
        vector = peak.peak("f32", best, seconds=0.03).gflops
        if vector > scalar:
            break
    assert vector > scalar, (best, vector, scalar)


def test_peak_table_and_dot_rate_quick(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    rows = peak.peak_table(seconds=0.01)
    assert {r.variant for r in rows} == set(features.available())
    assert all(r.gflops > 0 for r in rows) and len(rows) == 2 * len(features.available())
    assert "GFLOP/s" in peak.format_table(rows)
    assert peak.dot_rate(256, "scalar", seconds=0.01) > 0
    with pytest.raises(ValueError):
        peak.dot_rate(0)
