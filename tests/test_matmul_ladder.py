"""Chapter 8's numba half: every rung and parallel variant against ``a @ b``, errors, measuring.

Correctness is judged with the classical rounding-error bound (``common.error_bound``: it grows
with k and the dtype's eps), never with ``==``: the rungs add the terms in different orders.
"""
import threading
import warnings

import numpy as np
import pytest

from course_lib.matmul import (MR, NR, PAD, PARALLEL, RUNGS, Blocking, BlockSizes, block_sizes,
                               blocked, blocking, check_operands, error_bound, flops, gflops,
                               ladder_table, max_error_ratio, microkernel, naive, packed,
                               parallel_pool, parallel_prange, parallel_queue, reordered,
                               row_blocks, scaling_table, tile_grid)
from course_lib.matmul import measure as mmeasure

DTYPES = [np.float32, np.float64]
AWKWARD = [(1, 1, 1), (7, 13, 5), (33, 65, 17), (100, 1, 100), (1, 100, 1), (129, 257, 65)]
SMALL_TILES = Blocking(MR, NR, 2 * MR, PAD, 3 * NR)   # every edge case in small matrices
ALL = dict(RUNGS) | {f"par_{k}": v for k, v in PARALLEL.items()}


def operands(m, k, n, dtype, orders="CC", seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    pick = {"C": np.ascontiguousarray, "F": np.asfortranarray}
    return pick[orders[0]](a), pick[orders[1]](b)


def assert_product(c, a, b):
    assert c.shape == (a.shape[0], b.shape[1])
    assert c.dtype == a.dtype
    ratio = max_error_ratio(c, a, b)
    assert ratio <= 1, f"error {ratio:.3g} times the rounding bound for {a.shape} @ {b.shape}"


# ----------------------------------------------------------------------------- correctness
@pytest.mark.parametrize("shape", AWKWARD, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ALL))
def test_every_rung_matches_numpy_on_awkward_shapes(name, dtype, shape):
    a, b = operands(*shape, dtype)
    assert_product(ALL[name](a, b), a, b)


@pytest.mark.parametrize("orders", ["CF", "FC", "FF"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(ALL))
def test_every_rung_takes_fortran_ordered_operands(name, dtype, orders):
    a, b = operands(33, 65, 17, dtype, orders)
    assert_product(ALL[name](a, b), a, b)


@pytest.mark.parametrize("name", ["reordered", "microkernel", "par_queue"])
def test_strided_views_and_a_fortran_out(name):
    a, b = operands(40, 60, 30, np.float64)
    av, bv = a[::2, ::3], b[::3, 1::2]                     # neither C nor Fortran contiguous
    out = np.asfortranarray(np.full((20, 15), np.nan))
    c = ALL[name](av, bv, out)
    assert c is out
    assert_product(c, av, bv)


def test_rungs_are_in_ladder_order():
    assert list(RUNGS) == ["naive", "reordered", "blocked", "packed", "microkernel"]
    assert list(PARALLEL) == ["prange", "pool", "queue"]


@pytest.mark.parametrize("name", list(ALL))
def test_out_is_filled_and_returned_even_with_nothing_to_sum(name):
    a, b = operands(5, 0, 6, np.float64)                   # k = 0: C is all zeros
    out = np.full((5, 6), np.nan)
    assert ALL[name](a, b, out) is out
    assert (out == 0).all()
    for shape in [(0, 3, 4), (3, 4, 0)]:                   # empty results
        a, b = operands(*shape, np.float32)
        assert ALL[name](a, b).shape == (shape[0], shape[2])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_microkernel_at_every_edge_of_small_tiles(dtype):
    t = SMALL_TILES
    for m in (MR - 1, MR, MR + 1, t.mc - 1, t.mc, t.mc + 1, 3 * t.mc + 1):
        for k in (1, t.kc - 1, t.kc, t.kc + 1, 2 * t.kc + 3):
            for n in (NR - 1, NR, NR + 1, t.nc - 1, t.nc, t.nc + 1, 2 * t.nc + 1):
                a, b = operands(m, k, n, dtype, seed=m * 10000 + k * 100 + n)
                assert_product(microkernel(a, b, tiles=t), a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_microkernel_at_the_default_tile_boundaries(dtype):
    t = blocking(dtype)
    for m, k, n in [(t.mc - 1, t.kc + 1, NR + 1), (t.mc + 1, t.kc - 1, NR - 1 or 1),
                    (MR + 1, t.kc, t.nc + 1), (2 * MR + 1, 2 * t.kc + 1, 2 * NR + 1)]:
        a, b = operands(m, k, n, dtype)
        assert_product(microkernel(a, b), a, b)


@pytest.mark.parametrize("rung", [blocked, packed])
def test_blocked_and_packed_at_every_edge_of_small_blocks(rung):
    block = BlockSizes(3, 5, 7)
    for m in (2, 3, 4, 7):
        for k in (4, 5, 6, 11):
            for n in (6, 7, 8, 15):
                for dtype in DTYPES:
                    a, b = operands(m, k, n, dtype, "FC" if n % 2 else "CC")
                    assert_product(rung(a, b, block=block), a, b)
    a, b = operands(70, 130, 1030, np.float64)             # the default blocks' edges
    assert_product(rung(a, b), a, b)


# ----------------------------------------------------------------------------- parallel
@pytest.mark.parametrize("threads", [1, 2, 3, 16])
@pytest.mark.parametrize("variant", list(PARALLEL))
def test_parallel_variants_on_any_thread_count(variant, threads):
    fn = PARALLEL[variant]
    for dtype in DTYPES:
        for shape in [(129, 257, 65), (7, 13, 5), (1, 100, 1)]:
            a, b = operands(*shape, dtype, "FC" if threads == 3 else "CC")
            assert_product(fn(a, b, threads=threads), a, b)          # default tiles: few
            assert_product(fn(a, b, threads=threads, tiles=SMALL_TILES), a, b)   # many


def test_more_threads_than_tiles_leaves_the_extra_threads_idle():
    a, b = operands(5, 9, 6, np.float64)
    grid = tile_grid(5, 6, 8, blocking())
    assert len(grid) < 8
    owners = np.full(len(grid) + 3, 99, dtype=np.int64)
    assert_product(parallel_queue(a, b, threads=8, owners=owners), a, b)
    assert set(owners[:len(grid)]) <= set(range(8))
    assert (owners[len(grid):] == 99).all()


def test_tile_queue_shares_the_tiles_out():
    a, b = operands(300, 40, 300, np.float64)
    t = SMALL_TILES
    owners = np.empty(len(tile_grid(300, 300, 2, t)), dtype=np.int64)
    assert_product(parallel_queue(a, b, threads=2, tiles=t, owners=owners), a, b)
    assert set(owners) <= {0, 1}
    with pytest.raises(ValueError, match="owners"):
        parallel_queue(a, b, threads=2, tiles=t, owners=np.empty(1, np.int64))


@pytest.mark.parametrize("m,n,threads", [(1, 1, 1), (10, 10, 1), (1024, 1024, 2), (999, 77, 3),
                                         (33, 1000, 16)])
def test_tile_grid_covers_c_exactly_once(m, n, threads):
    t = blocking()
    grid = tile_grid(m, n, threads, t)
    hits = np.zeros((m, n), dtype=np.int64)
    for i0, i1, j0, j1 in grid:
        assert i1 > i0 and j1 > j0 and i0 % MR == 0 and j0 % NR == 0
        hits[i0:i1, j0:j1] += 1
    assert (hits == 1).all()
    if m >= 16 * MR * threads and n >= 16 * NR * threads:
        assert 3 * threads <= len(grid) <= 6 * threads
    rows = row_blocks(m, threads, t)                       # prange: one block per thread
    assert rows % MR == 0 and -(-m // rows) <= threads


def test_prange_from_two_python_threads_at_once():
    a, b = operands(200, 100, 150, np.float64)
    results, errors = [None, None], []

    def run(i):
        try:
            results[i] = parallel_prange(a, b, threads=2)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    assert not errors
    for c in results:
        assert_product(c, a, b)


def test_pool_variant_on_a_given_pool():
    from course_lib.par import ThreadPool

    a, b = operands(90, 50, 70, np.float32)
    with ThreadPool(3) as pool:
        assert_product(parallel_pool(a, b, pool=pool, tiles=SMALL_TILES), a, b)
        with pytest.raises(ValueError, match="pool has 3 workers"):
            parallel_pool(a, b, pool=pool, threads=2)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", list(ALL))
def test_clear_errors_for_wrong_operands(name):
    fn = ALL[name]
    f64 = np.ones((3, 4)), np.ones((4, 5))
    with pytest.raises(ValueError, match=r"inner dimensions.*columns \(4\).*rows \(5\)"):
        fn(np.ones((3, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="2-D"):
        fn(np.ones(4), np.ones((4, 2)))
    with pytest.raises(TypeError, match="float32 or float64, got int64"):
        fn(np.ones((2, 2), dtype=np.int64), np.ones((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="same dtype.*float32.*float64"):
        fn(np.ones((2, 2), np.float32), np.ones((2, 2)))
    with pytest.raises(TypeError, match="NumPy array, got list"):
        fn([[1.0]], np.ones((1, 1)))
    with pytest.raises(ValueError, match=r"out must have shape \(3, 5\)"):
        fn(*f64, np.empty((5, 3)))
    with pytest.raises(TypeError, match="out must have the operands' dtype float64"):
        fn(*f64, np.empty((3, 5), np.float32))
    readonly = np.empty((3, 5))
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fn(*f64, readonly)
    square = np.ones((4, 4))
    with pytest.raises(ValueError, match="shares memory with a"):
        fn(square, np.ones((4, 4)), square)


def test_clear_errors_for_bad_tiles_blocks_and_threads():
    a, b = operands(4, 4, 4, np.float64)
    with pytest.raises(ValueError, match=f"compiled for mr x nr = {MR} x {NR}"):
        microkernel(a, b, tiles=(MR + 1, NR, 8, 16, 8))
    with pytest.raises(TypeError, match="tiles must be a Blocking"):
        microkernel(a, b, tiles=(1, 2, 3))
    with pytest.raises(ValueError, match="tiles.kc must be a whole number >= 1"):
        microkernel(a, b, tiles=(MR, NR, 8, 0, 8))
    with pytest.raises(ValueError, match="block.bj must be"):
        blocked(a, b, block=(4, 4, -1))
    with pytest.raises(TypeError, match="block must be a BlockSizes"):
        packed(a, b, block=7)
    for fn in PARALLEL.values():
        with pytest.raises(ValueError, match="threads must be at least 1"):
            fn(a, b, threads=0)
        with pytest.raises(TypeError, match="threads must be a whole number"):
            fn(a, b, threads=1.5)


def test_check_operands_allocates_a_c_ordered_result():
    m, k, n, out = check_operands(np.ones((2, 3), np.float32, order="F"), np.ones((3, 4),
                                                                                  np.float32))
    assert (m, k, n) == (2, 3, 4)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert flops(2, 3, 4) == 48


def test_error_bound_grows_with_k_and_catches_a_wrong_result():
    a, b = operands(20, 500, 10, np.float32)
    assert (error_bound(a[:, :50], b[:50]) < error_bound(a, b)).all()
    assert (error_bound(a, b, np.float64) < error_bound(a, b)).all()
    good = reordered(a, b)
    assert max_error_ratio(good, a, b) <= 1
    bad = good.copy()
    bad[3, 4] += 1e-2
    assert max_error_ratio(bad, a, b) > 1


# ----------------------------------------------------------------------------- block sizes
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_blocking_follows_the_cache_sizes(dtype):
    s = np.dtype(dtype).itemsize
    l1, l2, l3 = 32 * 1024, 1 << 20, 32 << 20
    t = blocking(dtype, l1=l1, l2=l2, l3=l3)
    assert (t.mr, t.nr) == (MR, NR)
    assert t.kc % PAD == 0 and t.mc % MR == 0 and t.nc % NR == 0
    assert (MR + NR) * t.kc * s <= 3 * l1 // 4 < (MR + NR) * (t.kc + PAD) * s
    assert t.mc * t.kc * s <= l2 // 2 < (t.mc + MR) * t.kc * s
    assert t.nc <= 4096
    bigger = blocking(dtype, l1=2 * l1, l2=l2, l3=l3)
    assert bigger.kc >= 2 * t.kc - PAD and bigger.mc <= t.mc
    bs = block_sizes(dtype, l1=l1, l2=l2, l3=l3)
    assert 2 * bs.bj * s <= l1 // 2 and bs.bk * bs.bj * s <= l2 // 2
    assert all(v % 16 == 0 for v in bs)
    assert blocking(np.float32, l1=l1, l2=l2, l3=l3).kc == 2 * blocking(
        np.float64, l1=l1, l2=l2, l3=l3).kc


def test_blocking_refuses_nonsense():
    with pytest.raises(TypeError, match="float32 or float64"):
        blocking(np.int32)
    with pytest.raises(ValueError, match="l1 must be a cache size"):
        blocking(np.float64, l1=100)
    assert isinstance(blocking(), Blocking) and isinstance(block_sizes(), BlockSizes)


# ----------------------------------------------------------------------------- measuring
def test_gflops_of_a_rung_and_of_numpy():
    assert gflops(microkernel, 64, budget=0.02) > 0
    assert gflops("numpy", 64, np.float32, budget=0.02) > 0
    assert gflops(parallel_queue, 64, threads=2, budget=0.02) > 0
    with pytest.raises(ValueError, match="takes no threads argument"):
        gflops(naive, 16, threads=2, budget=0.02)
    with pytest.raises(ValueError, match="n must be"):
        gflops(naive, 0)
    with pytest.raises(TypeError, match="float32 or float64"):
        gflops(naive, 8, np.int64)


def test_ladder_table_measures_every_rung_against_blas():
    t = ladder_table(48, rungs=["naive", "reordered", "microkernel"], budget=0.1,
                     naive_max_n=32, peak=10.0)
    assert [r.name for r in t.rows] == ["naive", "reordered", "microkernel", "numpy"]
    naive_row = t.row("naive")
    assert np.isnan(naive_row.gflops) and "skipped" in naive_row.note
    blas = t.row("numpy")
    assert blas.kind == "blas" and blas.of_blas == pytest.approx(1.0) and blas.interleaved
    micro = t.row("microkernel")
    assert micro.gflops > 0 and micro.threads == 1 and micro.interleaved
    assert micro.of_peak == pytest.approx(micro.gflops / 10.0)
    assert micro.of_blas == pytest.approx(micro.gflops / blas.gflops)
    text = str(t)
    assert "microkernel" in text and "skipped" in text and "n = 48" in text
    with pytest.raises(KeyError, match="rows"):
        t.row("nope")
    import matplotlib

    matplotlib.use("Agg")
    ax = t.plot()
    assert len(ax.patches) == 3                            # naive has no figure, no bar
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_ladder_table_with_threads_and_slow_rungs():
    t = ladder_table(40, threads=2, rungs=["microkernel", "queue", "prange"], budget=0.1,
                     max_call=0.0, peak=10.0)
    assert t.threads == 2 and t.row("queue").threads == 2 and t.row("microkernel").threads == 1
    assert t.row("queue").of_peak == pytest.approx(t.row("queue").gflops / 20.0)
    slow = t.row("prange")
    assert not slow.interleaved and "not interleaved" in slow.note
    assert t.row("numpy").interleaved
    with pytest.raises(ValueError, match="unknown rung 'fast'"):
        ladder_table(16, rungs=["fast"], budget=0.05, peak=1.0)


def test_blas_info_and_the_fallback_without_threadpoolctl(monkeypatch):
    info = mmeasure.blas_info()
    assert info.library and str(info)
    with mmeasure.blas_threads(1) as limited:
        assert limited
        assert mmeasure.blas_info().num_threads in (1, None)
    monkeypatch.setattr(mmeasure, "_threadpoolctl", lambda: None)
    assert mmeasure.blas_info().source == "numpy.show_config"
    with pytest.warns(UserWarning, match="pip install threadpoolctl"):
        with mmeasure.blas_threads(2) as limited:
            assert not limited
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = ladder_table(16, rungs=["reordered"], budget=0.05, peak=1.0)
    assert any("threadpoolctl is not installed" in note for note in t.notes)


def test_scaling_table_relates_every_variant_to_its_own_one_thread_time():
    s = scaling_table(48, threads=[2], variants=["queue", "prange", "numpy"], budget=0.1)
    assert [(r.name, r.threads) for r in s.rows] == [
        ("queue", 1), ("queue", 2), ("prange", 1), ("prange", 2), ("numpy", 1), ("numpy", 2)]
    for r in s.rows:
        assert r.gflops > 0 and r.efficiency == pytest.approx(r.speedup / r.threads)
    assert s.row("queue", 1).speedup == pytest.approx(1.0)
    assert "speedup" in str(s)
    with pytest.raises(KeyError):
        s.row("queue", 3)
    with pytest.raises(ValueError, match="unknown variant 'naive'"):
        scaling_table(16, threads=[1], variants=["naive"], budget=0.05)
    import matplotlib

    matplotlib.use("Agg")
    ax = s.plot()
    assert len(ax.lines) == 4                              # ideal + one per variant
    import matplotlib.pyplot as plt

    plt.close(ax.figure)
