"""course_lib.gpu.launch and the operand checks: launch configurations, the device's limits,
and errors that name the problem."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import gpu
from course_lib.gpu import histogram as hist, matmul as mm, stencil, vector
from course_lib.gpu.launch import Limits


@pytest.mark.parametrize("n, tpb, want", [(0, 256, (1, 256)), (1, 256, (1, 256)),
                                          (256, 256, (1, 256)), (257, 256, (2, 256)),
                                          (1000, 128, (8, 128))])
def test_launch_config(n, tpb, want):
    assert gpu.launch_config(n, tpb) == want


def test_launch_config_caps_blocks_and_covers_2d():
    assert gpu.launch_config(10**6, 256, max_blocks=80) == (80, 256)
    assert gpu.launch_config_2d(100, 33, (16, 16)) == ((3, 7), (16, 16))
    assert gpu.launch_config_2d(0, 0) == ((1, 1), (16, 16))


@pytest.mark.parametrize("blocks, threads, shared, match", [
    (1, 2048, 0, "2048 threads per block: the device allows at most 1024"),
    (1, (32, 32, 2), 0, "2048 threads per block"),
    (1, (1, 1, 65), 0, "block dimension z is 65: at most 64"),
    ((1, 70000), 32, 0, "grid dimension y is 70000 blocks: at most 65535"),
    (1, 256, 64 * 1024, "65536 bytes of shared memory per block: at most 49152 \\(48 KiB\\)"),
    (0, 32, 0, "blocks must be at least 1"),
    (1, (0, 4), 0, "threads must be at least 1"),
])
def test_check_launch_errors(blocks, threads, shared, match):
    with pytest.raises(ValueError, match=match):
        gpu.check_launch(blocks, threads, shared, limits=Limits())


@pytest.mark.parametrize("bad", [2.0, "32", (1, 2, 3, 4), True])
def test_check_launch_types(bad):
    with pytest.raises(TypeError, match="must be an int or a tuple"):
        gpu.check_launch(1, bad)


def test_launch_config_refuses_bad_sizes():
    with pytest.raises(ValueError, match="n must be >= 0"):
        gpu.launch_config(-1)
    with pytest.raises(ValueError, match="at most 1024"):
        gpu.launch_config(10, 4096)


def test_device_limits_are_the_guaranteed_ones_on_the_simulator():
    lim = gpu.device_limits()
    assert lim.max_threads_per_block >= 1024 and lim.warp_size == 32
    if gpu.is_simulator():
        assert lim == Limits()


# ---------------------------------------------------------------------------- operand checks
f32 = np.ones(8, np.float32)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: vector.vector_add(np.ones(8, np.int64), np.ones(8, np.int64)), TypeError,
     "x must have dtype float32 or float64, got int64"),
    (lambda: vector.vector_add(f32, np.ones(8)), TypeError, "y must have dtype float32, got float64"),
    (lambda: vector.vector_add(f32, np.ones(7, np.float32)), ValueError, "y must have shape \\(8\\), got \\(7,\\)"),
    (lambda: vector.vector_add(np.ones((2, 4), np.float32), f32), ValueError, "x must be 1-D, got 2-D"),
    (lambda: vector.saxpy(2.0, np.ones(16, np.float32)[::2], f32), ValueError, "x must be C-contiguous"),
    (lambda: vector.vector_add([1.0], [2.0]), TypeError, "x must be a NumPy or device array, got list"),
    (lambda: vector.vector_add(f32, f32, np.ones(8)), TypeError, "out must have dtype float32"),
    (lambda: mm.matmul_tiled(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32)), ValueError,
     "inner dimensions differ: a is 2x3, b is 4x2"),
    (lambda: mm.matmul_naive(np.ones((2, 3)), np.ones((3, 2), np.float32)), TypeError,
     "b must have dtype float64, got float32"),
    (lambda: mm.matmul_register(np.ones((2, 3)), np.ones((3, 2)), np.ones((2, 3))), ValueError,
     "out must have shape \\(2, 2\\), got \\(2, 3\\)"),
    (lambda: mm.matmul_naive(np.ones((4, 4)).T[::2], np.ones((4, 2))), ValueError, "C-contiguous"),
    (lambda: hist.histogram_global(np.ones(4), 3), TypeError, "x must have dtype int32"),
    (lambda: hist.histogram_shared(np.array([0, 5]), 3), ValueError, "values outside \\[0, 3\\)"),
    (lambda: hist.histogram_shared(np.array([0, -1]), 3), ValueError, "values outside"),
    (lambda: hist.histogram_global(np.array([0]), 0), ValueError, "bins must be a whole number >= 1"),
    (lambda: hist.histogram_shared(np.array([0]), 20000), ValueError, "bytes of shared memory"),
    (lambda: stencil.jacobi_global(np.ones(5)), ValueError, "u must be 2-D"),
])
def test_operand_errors_name_the_problem(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_a_jacobi_step_in_place_is_refused():
    u = np.ones((4, 4))
    with pytest.raises(ValueError, match="out must not be u"):
        stencil.jacobi_shared(u, u)
