"""The packed C GEMM (course_lib/_c/gemm.c, course_lib.matmul.cgemm) against NumPy.

Every variant this machine runs (the others are skipped with the reason), float32 and float64,
awkward shapes, shapes on either side of every tile boundary (with small tiles, so that every
loop runs several times and every edge tile is met), C and Fortran orders, strided and
reversed views, 1 to 3 threads (and more threads than rows), C = AB and C += AB, and the errors.
Results are compared with the rounding bound of a k-term sum (common.error_bound), which grows
with k and with the dtype's epsilon: a correct kernel stays below it in any summation order, a
wrong one (a lost tile, a stale accumulator) is off by thousands of times.
"""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.matmul import cgemm
from course_lib.matmul.cgemm import SimdUnavailable, Tiles, matmul_c, tile_sizes
from course_lib.matmul.common import error_bound, max_error_ratio
from course_lib.simd import features

with features.ceiling(None):
    RUNNABLE = {v.name: v.why_not for v in features.variants()}
DTYPES = [np.float64, np.float32]


@pytest.fixture(autouse=True)
def _no_ceiling(monkeypatch):
    monkeypatch.delenv(features.ENV, raising=False)


def _variant_param(name):
    why = RUNNABLE[name]
    return pytest.param(name, id=name, marks=pytest.mark.skipif(bool(why), reason=f"{name}: {why}"))


ALL = [_variant_param(v) for v in features.VARIANTS]


def _operands(m, k, n, dtype, seed=0, order="C"):
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.standard_normal((m, k)), dtype=dtype, order=order)
    b = np.asarray(rng.standard_normal((k, n)), dtype=dtype, order=order)
    return a, b


def _assert_close(c, a, b):
    assert c.shape == (a.shape[0], b.shape[1])
    ratio = max_error_ratio(c, a, b)
    assert ratio <= 1.0, f"error {ratio:.3g} x the rounding bound"


AWKWARD = [(1, 1, 1), (7, 13, 5), (33, 65, 17), (100, 1, 100), (1, 100, 1), (257, 129, 263),
           (2, 300, 3), (64, 64, 64)]


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_awkward_shapes_both_orders(variant, dtype):
    for i, (m, k, n) in enumerate(AWKWARD):
        for order in "CF":
            a, b = _operands(m, k, n, dtype, seed=i, order=order)
            out = np.empty((m, n), dtype=dtype, order=order)
            c = matmul_c(a, b, out, variant=variant)
            assert c is out
            _assert_close(c, a, b)
            _assert_close(matmul_c(a, b, variant=variant), a, b)  # a new C-ordered result


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_tile_boundaries_plus_minus_one(variant, dtype):
    """Small tiles (mc = 2 mr, kc = 7, nc = 2 nr), so that sizes around mr, mc, kc, nr and nc
    run every loop more than once and hit every kind of edge tile, in both orientations (a
    C-ordered result is computed transposed: its columns are the micro-kernel's rows)."""
    mr, nr = cgemm.microkernel_shape(dtype, variant)
    tiles = tile_sizes(dtype, variant)._replace(mc=2 * mr, kc=7, nc=2 * nr)
    dims_m = [mr - 1, mr, mr + 1, 2 * mr + 1, nr - 1, nr + 1]
    dims_k = [6, 7, 8, 15]
    dims_n = [nr + 1, 2 * nr - 1, 2 * nr, 4 * nr + 1, mr + 1]
    for i, m in enumerate(d for d in dims_m if d > 0):
        for j, n in enumerate(dims_n):
            k = dims_k[(i + j) % len(dims_k)]
            for order in "CF":
                a, b = _operands(m, k, n, dtype, seed=7 * i + j, order=order)
                out = np.empty((m, n), dtype=dtype, order=order)
                _assert_close(matmul_c(a, b, out, variant=variant, tiles=tiles), a, b)


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads(variant, threads):
    mr, nr = cgemm.microkernel_shape(np.float64, variant)
    tiles = tile_sizes(np.float64, variant)._replace(mc=mr, kc=16, nc=2 * nr)
    for m, k, n in [(5 * mr + 3, 40, 3 * nr + 2), (130, 70, 90), (1, 33, 2), (3, 5, 1)]:
        for order in "CF":
            a, b = _operands(m, k, n, np.float64, seed=m, order=order)
            out = np.empty((m, n), order=order)
            _assert_close(matmul_c(a, b, out, variant=variant, threads=threads, tiles=tiles), a, b)
            a32, b32 = a.astype(np.float32), b.astype(np.float32)
            _assert_close(matmul_c(a32, b32, variant=variant, threads=threads), a32, b32)


def test_more_threads_than_rows():
    a, b = _operands(3, 50, 2, np.float64)
    _assert_close(matmul_c(a, b, threads=8), a, b)
    # a C-ordered result splits its columns among the threads: 2 columns, at most 1 thread
    assert cgemm.threads_used(3, 2, 8) == 1
    assert cgemm.threads_used(3, 2, 8, order="F") == 1
    mr, _ = cgemm.microkernel_shape(np.float64)
    assert cgemm.threads_used(2, 10 * mr, 3) == 3
    assert cgemm.threads_used(10 * mr, 2, 3, order="F") == 3
    assert cgemm.threads_used(10 * mr, 2, 3, order="C") == 1


def test_large_enough_for_every_loop_with_default_tiles():
    """One product bigger than the default kc (and a few mc blocks) on 2 threads, both dtypes."""
    for dtype in DTYPES:
        t = tile_sizes(dtype)
        m, k, n = 2 * t.mc + 5, t.kc + 3, 3 * t.nr + 1
        a, b = _operands(m, k, n, dtype, seed=3)
        _assert_close(matmul_c(a, b, threads=2), a, b)
        _assert_close(matmul_c(a, b, np.empty((m, n), dtype, order="F"), threads=2), a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_strided_and_reversed_views_are_read_in_place(dtype):
    rng = np.random.default_rng(1)
    big_a = np.asarray(rng.standard_normal((80, 90)), dtype)
    big_b = np.asarray(rng.standard_normal((90, 70)), dtype)
    cases = [
        (big_a[::2, 1::3], big_b[1::3, ::2]),          # every other row / third column
        (big_a[::-1, :37], big_b[:37, ::-1]),          # negative strides
        (big_a[5:40, 3:60].T, big_b[2:37, 9:30]),       # a transposed slice (Fortran-like)
        (np.broadcast_to(big_a[0], (4, 90)), big_b),    # a zero stride
    ]
    for a, b in cases:
        _assert_close(matmul_c(a, b, threads=2), a, b)
    # out may be a strided view too (here: every other column of a bigger array)
    a, b = cases[0]
    big_out = np.full((a.shape[0], 2 * b.shape[1]), np.nan, dtype)
    out = big_out[:, ::2]
    matmul_c(a, b, out)
    _assert_close(out, a, b)
    assert np.isnan(big_out[:, 1::2]).all()  # the columns in between are untouched


def test_misaligned_or_odd_strides_are_copied():
    raw = np.zeros(8 * 12 * 7 + 8, dtype=np.uint8)
    a = np.frombuffer(raw[1:1 + 8 * 12 * 7].data, dtype=np.float64).reshape(12, 7)  # misaligned
    a[...] = np.arange(84).reshape(12, 7)
    b = np.ones((7, 5))
    _assert_close(matmul_c(a, b), a, b)
    rec = np.zeros((6, 4), dtype=[("x", np.float64), ("y", np.int8)])["x"]  # stride 9 bytes
    rec[...] = 1.5
    _assert_close(matmul_c(rec, np.ones((4, 3))), rec, np.ones((4, 3)))


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_accumulate_adds_to_out(variant, dtype):
    mr, nr = cgemm.microkernel_shape(dtype, variant)
    tiles = tile_sizes(dtype, variant)._replace(mc=mr, kc=5, nc=nr)
    for order in "CF":
        a, b = _operands(2 * mr + 1, 13, 2 * nr + 3, dtype, seed=4, order=order)
        start = np.asarray(np.random.default_rng(5).standard_normal((a.shape[0], b.shape[1])),
                           dtype, order=order)
        out = start.copy(order=order)
        matmul_c(a, b, out, variant=variant, tiles=tiles, threads=2, accumulate=True)
        want = start.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
        bound = error_bound(a, b) + np.abs(want) * np.finfo(dtype).eps
        assert (np.abs(out - want) <= bound).all()


def test_empty_and_degenerate_shapes():
    assert matmul_c(np.ones((0, 3)), np.ones((3, 4))).shape == (0, 4)
    assert matmul_c(np.ones((3, 4)), np.ones((4, 0))).shape == (3, 0)
    out = np.full((3, 4), np.nan)
    assert (matmul_c(np.ones((3, 0)), np.ones((0, 4)), out) == 0).all()  # an empty sum is 0
    out = np.full((3, 4), 2.0)
    assert (matmul_c(np.ones((3, 0)), np.ones((0, 4)), out, accumulate=True) == 2).all()


def test_out_is_never_read_without_accumulate():
    a, b = _operands(20, 30, 40, np.float64)
    out = np.full((20, 40), np.nan)
    _assert_close(matmul_c(a, b, out, threads=2), a, b)


def test_dispatch_follows_the_ceiling():
    with features.ceiling("scalar"):
        assert cgemm.microkernel_shape(np.float64) == (4, 4)
        a, b = _operands(9, 10, 11, np.float64)
        _assert_close(matmul_c(a, b), a, b)
    best = features.best_variant()
    assert cgemm.microkernel_shape(np.float32) == cgemm.microkernel_shape(np.float32, best)


def test_dispatch_follows_course_simd_max(monkeypatch):
    monkeypatch.setenv(features.ENV, "vecext")
    assert cgemm.microkernel_shape(np.float32) == cgemm.microkernel_shape(np.float32, "vecext")
    a, b = _operands(10, 11, 12, np.float32)
    _assert_close(matmul_c(a, b), a, b)
    if RUNNABLE["avx2"] == "":
        with pytest.raises(SimdUnavailable, match="ceiling"):
            matmul_c(a, b, variant="avx2")


def test_calls_from_several_python_threads_at_once():
    """cffi releases the GIL: concurrent calls run together, each with its own buffers."""
    from concurrent.futures import ThreadPoolExecutor

    cases = [_operands(90 + i, 70, 80 - i, np.float64, seed=i) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda ab: matmul_c(*ab, threads=2), cases))
    for (a, b), c in zip(cases, results):
        _assert_close(c, a, b)


def test_microkernel_shapes_are_whole_vectors():
    for v in features.available():
        for dtype, bits in ((np.float64, 64), (np.float32, 32)):
            mr, nr = cgemm.microkernel_shape(dtype, v)
            assert mr % features.lanes(v, bits) == 0 and nr >= 1
            assert mr * nr <= 64 * 16


def test_tile_sizes_follow_the_caches():
    from types import SimpleNamespace

    machine = SimpleNamespace(l1d_bytes=32 << 10, l2_bytes=1 << 20, l3_bytes=32 << 20)
    for v in features.available():
        for dtype in DTYPES:
            size = np.dtype(dtype).itemsize
            t = tile_sizes(dtype, v, machine)
            assert isinstance(t, Tiles) and (t.mr, t.nr) == cgemm.microkernel_shape(dtype, v)
            assert t.mc % t.mr == 0 and t.nc % t.nr == 0 and t.kc % 8 == 0
            assert t.nr * t.kc * size <= machine.l1d_bytes         # the B sliver: L1
            assert t.mc * t.kc * size <= machine.l2_bytes // 2     # the A block: half of L2
            assert t.mc >= 4 * t.mr
            assert t.kc * t.nc * size <= machine.l3_bytes // 2     # the B panel: L3
    small = tile_sizes(np.float64, "scalar", SimpleNamespace(l1d_bytes=16 << 10, l2_bytes=256 << 10,
                                                             l3_bytes=None))
    big = tile_sizes(np.float64, "scalar", machine)
    assert small.kc <= big.kc and small.mc <= big.mc
    assert tile_sizes(np.float64, "scalar", object()) == tile_sizes(
        np.float64, "scalar", SimpleNamespace(**dict(zip(("l1d_bytes", "l2_bytes", "l3_bytes"),
                                                         cgemm.DEFAULT_CACHES))))


def test_release_buffers():
    a, b = _operands(50, 60, 70, np.float64)
    matmul_c(a, b)
    assert cgemm.release_buffers() >= 0
    assert cgemm.release_buffers() == 0  # nothing left to free
    _assert_close(matmul_c(a, b), a, b)


# ------------------------------------------------------------------------------------ errors
def test_errors_name_the_problem():
    a, b = np.ones((3, 4)), np.ones((4, 5))
    with pytest.raises(ValueError, match="inner dimensions"):
        matmul_c(a, np.ones((3, 5)))
    with pytest.raises(ValueError, match="2-D"):
        matmul_c(np.ones(4), b)
    with pytest.raises(ValueError, match="2-D"):
        matmul_c(a, np.ones((4, 5, 1)))
    with pytest.raises(TypeError, match="float32 or float64"):
        matmul_c(np.ones((3, 4), np.int64), b)
    with pytest.raises(TypeError, match="float32 or float64"):
        matmul_c(a, np.ones((4, 5), np.complex128))
    with pytest.raises(TypeError, match="same dtype"):
        matmul_c(a.astype(np.float32), b)
    with pytest.raises(TypeError, match="NumPy array"):
        matmul_c([[1.0]], [[2.0]])
    with pytest.raises(TypeError, match="dtype"):
        matmul_c(a, b, np.empty((3, 5), np.float32))
    with pytest.raises(ValueError, match="shape"):
        matmul_c(a, b, np.empty((5, 3)))
    ro = np.empty((3, 5))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        matmul_c(a, b, ro)
    shared = np.ones((4, 5))
    with pytest.raises(ValueError, match="shares memory"):
        matmul_c(np.ones((4, 4)), shared, shared)
    with pytest.raises(ValueError, match="overlaps itself"):
        matmul_c(a, b, np.lib.stride_tricks.as_strided(np.empty(8), (3, 5), (8, 8)))
    with pytest.raises(ValueError, match="accumulate"):
        matmul_c(a, b, accumulate=True)


def test_bad_threads_variants_and_tiles():
    a, b = np.ones((3, 4)), np.ones((4, 5))
    for bad in (0, 257, -1):
        with pytest.raises(ValueError, match="threads"):
            matmul_c(a, b, threads=bad)
    for bad in (1.5, True, "2"):
        with pytest.raises(TypeError, match="threads"):
            matmul_c(a, b, threads=bad)
    with pytest.raises(ValueError, match="unknown variant"):
        matmul_c(a, b, variant="avx9000")
    missing = [v for v, why in RUNNABLE.items() if why]
    if missing:
        with pytest.raises(SimdUnavailable, match=missing[0]):
            matmul_c(a, b, variant=missing[0])
    t = tile_sizes(np.float64)
    with pytest.raises(ValueError, match="mr x nr"):
        matmul_c(a, b, tiles=t._replace(mr=t.mr + 1))
    with pytest.raises(ValueError, match="multiple"):
        matmul_c(a, b, tiles=t._replace(mc=t.mr + 1))
    with pytest.raises(ValueError, match="multiple"):
        matmul_c(a, b, tiles=t._replace(nc=t.nr + 1))
    with pytest.raises(ValueError, match=">= 1"):
        matmul_c(a, b, tiles=t._replace(kc=0))
    with pytest.raises(TypeError, match="Tiles"):
        matmul_c(a, b, tiles=(1, 2))
    with pytest.raises(TypeError, match="whole number"):
        matmul_c(a, b, tiles=t._replace(kc=8.0))
    with pytest.raises(TypeError, match="float32 or float64"):
        tile_sizes(np.int32)


def test_c_library_refuses_bad_arguments():
    ffi, lib = cgemm._lib()
    x = ffi.new("double[4]")
    v = features.VARIANTS.index("scalar")
    assert lib.gemm_f64(v, -1, 1, 1, x, 1, 1, x, 1, 1, x, 1, 1, 0, 1, 4, 4, 4) == lib.GEMM_E_ARG
    assert lib.gemm_f64(v, 1, 1, 1, x, 1, 1, x, 1, 1, x, 1, 1, 0, 1, 5, 4, 4) == lib.GEMM_E_ARG
    assert lib.gemm_f64(v, 1, 1, 1, x, 1, 1, x, 1, 1, x, 1, 1, 2, 1, 4, 4, 4) == lib.GEMM_E_ARG
    assert lib.gemm_f64(v, 1, 1, 1, x, 1, 1, x, 1, 1, x, 1, 1, 0, 0, 4, 4, 4) == lib.GEMM_E_ARG
    assert lib.gemm_f64(99, 1, 1, 1, x, 1, 1, x, 1, 1, x, 1, 1, 0, 1, 4, 4, 4) == lib.GEMM_E_VARIANT
    assert lib.gemm_f64(v, 1, 1, 1, x, 1, 1, x, 1, 1, x, 1, 1, 0, 1, 4, 4, 4) == lib.GEMM_OK
