"""The heat stencil: the row split, the serial reference, and the MPI version bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.dist import (heat_parallel, heat_serial, heat_step, initial_grid, mpi_available,
                             mpirun, split_rows, stencil_scaling)

needs_mpi = pytest.mark.skipif(not mpi_available(), reason=mpi_available().reason)


@pytest.mark.parametrize("rows, parts", [(10, 4), (3, 4), (7, 1), (0, 2), (16, 4)])
def test_split_rows_covers_everything_evenly(rows, parts):
    blocks = split_rows(rows, parts)
    assert len(blocks) == parts and blocks[0][0] == 0 and blocks[-1][1] == rows
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    sizes = [b - a for a, b in blocks]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_split_rows_refuses_nonsense():
    with pytest.raises(ValueError):
        split_rows(5, 0)


def test_serial_step_against_a_plain_loop():
    u = initial_grid(6, 7, seed=3)
    out = u.copy()
    heat_step(u, out)
    for i in range(1, 5):
        for j in range(1, 6):
            assert out[i, j] == 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
    assert np.array_equal(out[:, 0], u[:, 0]) and np.array_equal(out[0], u[0])


def test_serial_keeps_the_boundary_and_smooths():
    u0 = initial_grid(20, 20)
    u = heat_serial(u0, 200)
    assert np.array_equal(u[0], u0[0]) and np.array_equal(u[:, -1], u0[:, -1])
    assert np.abs(np.diff(u[1:-1, 1:-1], axis=1)).mean() < np.abs(np.diff(u0[1:-1, 1:-1], axis=1)).mean() / 5


def test_initial_grid_refuses_a_grid_without_interior():
    with pytest.raises(ValueError):
        initial_grid(2, 9)


@needs_mpi
@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_parallel_equals_serial_bit_for_bit(ranks):
    u0 = initial_grid(15, 9, seed=ranks)   # 13 interior rows: uneven blocks on 2, 3 and 4 ranks
    results = mpirun(heat_parallel, ranks, args=(u0, 8)).results
    grid, seconds = results[0]
    assert np.array_equal(grid, heat_serial(u0, 8))
    assert all(r[0] is None for r in results[1:]) and seconds >= 0


@needs_mpi
def test_too_many_ranks_for_the_rows_is_an_error():
    from course_lib.dist import RankError

    with pytest.raises(RankError, match="cannot be split"):
        mpirun(heat_parallel, 3, args=(initial_grid(4, 5), 1))


@needs_mpi
@pytest.mark.parametrize("kind", ["strong", "weak"])
def test_scaling_runs_and_fits_a_law(kind):
    run = stencil_scaling((1, 2), kind=kind, ny=66, nx=64, rows_per_rank=16, steps=5)
    assert run.ranks == (1, 2) and run.speedups[0] == pytest.approx(1.0)
    assert (run.shapes[1][0] == 66) == (kind == "strong")
    s = run.serial_fraction
    assert np.isnan(s) or 0.0 <= s <= 1.0
    assert kind in str(run)
