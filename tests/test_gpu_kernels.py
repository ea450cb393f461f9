"""Every kernel of course_lib.gpu against NumPy, on small awkward sizes (no block or tile
divides them), on the simulator (or the GPU where there is one)."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import gpu
from course_lib.gpu import histogram as hist, matmul as mm, reduce as red, stencil, vector

RNG = np.random.default_rng(2024)


# ---------------------------------------------------------------------------- vector
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, threads, max_blocks", [(1, 32, None), (33, 32, None),
                                                    (1000, 32, 2), (777, 64, 3)])
def test_vector_add_and_saxpy(dtype, n, threads, max_blocks):
    x, y = RNG.standard_normal((2, n)).astype(dtype)
    np.testing.assert_array_equal(vector.vector_add(x, y, threads_per_block=threads,
                                                    max_blocks=max_blocks), x + y)
    got = vector.saxpy(1.5, x, y, threads_per_block=threads, max_blocks=max_blocks)
    np.testing.assert_allclose(got, dtype(1.5) * x + y, rtol=1e-6)


def test_vector_add_into_out_and_on_device_arrays():
    x, y = RNG.standard_normal((2, 50)).astype(np.float32)
    out = np.full(50, np.nan, np.float32)
    assert vector.vector_add(x, y, out) is out and np.array_equal(out, x + y)
    d = vector.vector_add(gpu.to_device(x), gpu.to_device(y))
    np.testing.assert_array_equal(gpu.to_host(d), x + y)


# ---------------------------------------------------------------------------- reduction
@pytest.mark.parametrize("n, threads", [(0, 8), (1, 4), (37, 16), (300, 32), (1000, 64)])
def test_block_sum(n, threads):
    x = RNG.standard_normal(n)
    assert np.isclose(red.block_sum(x, threads=threads), x.sum(), atol=1e-9)


def test_block_sum_of_integers_is_exact_and_few_blocks_loop():
    x = RNG.integers(-1000, 1000, 999).astype(np.int32)
    assert red.block_sum(x, threads=32, blocks=3) == int(x.sum())
    x32 = RNG.random(200).astype(np.float32)
    assert np.isclose(red.block_sum(x32, threads=16), x32.astype(np.float64).sum())


def test_block_sum_needs_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        red.block_sum(np.ones(4), threads=48)


def test_warp_sum_only_on_a_gpu():
    x = RNG.standard_normal(1000)
    if gpu.is_simulator():
        with pytest.raises(gpu.SimulatorOnly, match="simulator"):
            red.warp_sum(x)
    else:
        assert np.isclose(red.warp_sum(x, threads=128), x.sum())


# ---------------------------------------------------------------------------- histogram
@pytest.mark.parametrize("fn", [hist.histogram_global, hist.histogram_shared])
@pytest.mark.parametrize("n, bins, threads, blocks", [(1, 1, 32, None), (333, 7, 32, 2),
                                                     (1000, 256, 64, 3), (500, 3, 64, None)])
def test_histograms(fn, n, bins, threads, blocks):
    x = RNG.integers(0, bins, n).astype(np.int32)
    got = fn(x, bins, threads_per_block=threads, max_blocks=blocks)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.bincount(x, minlength=bins))


def test_histogram_out_is_overwritten_and_uint8_input():
    x = RNG.integers(0, 5, 100).astype(np.uint8)
    out = np.full(5, 77, np.int32)
    assert hist.histogram_shared(x, 5, out, threads_per_block=32) is out
    np.testing.assert_array_equal(out, np.bincount(x, minlength=5))


# ---------------------------------------------------------------------------- matmul
SHAPES = [(1, 1, 1), (3, 5, 2), (17, 9, 10), (9, 20, 19)]


@pytest.mark.parametrize("rung", list(mm.RUNGS))
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_ladder(rung, m, k, n):
    for dtype in (np.float32, np.float64):
        a = RNG.standard_normal((m, k)).astype(dtype)
        b = RNG.standard_normal((k, n)).astype(dtype)
        got = mm.RUNGS[rung](a, b)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("tiles", [mm.REGISTER_TILES, (8, 16, 3, 4, 2), (4, 4, 8, 1, 1)])
def test_register_rung_tilings(tiles):
    a = RNG.standard_normal((10, 13)).astype(np.float32)
    b = RNG.standard_normal((13, 11)).astype(np.float32)
    np.testing.assert_allclose(mm.matmul_register(a, b, tiles=tiles), a @ b, rtol=1e-4, atol=1e-4)


def test_matmul_tiled_other_tile_and_empty_inner_dimension():
    a = RNG.standard_normal((6, 7)).astype(np.float32)
    b = RNG.standard_normal((7, 5)).astype(np.float32)
    np.testing.assert_allclose(mm.matmul_tiled(a, b, tile=4), a @ b, rtol=1e-5, atol=1e-5)
    for rung in mm.RUNGS.values():
        out = rung(np.ones((3, 0), np.float32), np.ones((0, 2), np.float32))
        np.testing.assert_array_equal(out, np.zeros((3, 2)))


def test_register_tiling_must_divide():
    with pytest.raises(ValueError, match="must divide"):
        mm.register_kernel(8, 8, 4, 3, 2)


# ---------------------------------------------------------------------------- stencil
@pytest.mark.parametrize("fn", [stencil.jacobi_global, stencil.jacobi_shared])
@pytest.mark.parametrize("shape, block", [((1, 1), (8, 8)), ((3, 3), (8, 8)), ((19, 23), (8, 4)),
                                          ((17, 9), (16, 16))])
def test_jacobi_step(fn, shape, block):
    for dtype in (np.float64, np.float32):
        u = RNG.random(shape).astype(dtype)
        np.testing.assert_allclose(fn(u, block=block), stencil.jacobi_reference(u), rtol=1e-6)


def test_jacobi_steps_converge_to_the_linear_solution():
    u = np.zeros((6, 7))
    u[:, -1] = 1.0
    want = np.tile(np.linspace(0, 1, 7), (6, 1))
    u[:, :] = want
    v = np.empty_like(u)
    stencil.jacobi_shared(u, v, block=(4, 4))
    np.testing.assert_allclose(v[1:-1], want[1:-1], atol=1e-12)  # a fixed point


# ---------------------------------------------------------------------------- streams
def test_pipelined_chunks_give_the_whole_result():
    x = RNG.standard_normal(301)

    def double(d_in, d_out, stream):
        vector.vector_add_kernel[2, 32, stream](d_in, d_in, d_out)

    for chunks in (1, 3, 4):
        np.testing.assert_array_equal(gpu.pipelined(x, double, chunks), 2 * x)


def test_rungs_and_histograms_take_device_arrays():
    a = RNG.standard_normal((5, 6)).astype(np.float32)
    b = RNG.standard_normal((6, 7)).astype(np.float32)
    da, db = gpu.to_device(a), gpu.to_device(b)
    for rung in mm.RUNGS.values():
        np.testing.assert_allclose(gpu.to_host(rung(da, db)), a @ b, rtol=1e-5, atol=1e-5)
    x = RNG.integers(0, 9, 300).astype(np.int32)
    dh = gpu.device_empty(9, np.int32)
    got = hist.histogram_shared(gpu.to_device(x), 9, dh, threads_per_block=32, max_blocks=2)
    np.testing.assert_array_equal(gpu.to_host(got), np.bincount(x, minlength=9))
