"""The c09 checkers keep the graders' contract: plausible wrong answers fail, correct answers
written differently from the notebook's pass. Every kernel runs on the simulator here (or on a
GPU where there is one), on tiny sizes."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import gpu  # first: it decides whether numba.cuda is the simulator
from course_lib.gpu import cuda
from contract import case, right, wrong
from course_lib.testing import CheckTimeout
from course_lib.testing.exercises import c09_gpu as c

SCALE = "c09_gpu:test_scale_add"
TILED = "c09_gpu:test_tiled_matmul"
REDUCE = "c09_gpu:test_block_reduce"
HIST = "c09_gpu:test_histogram"
TILE, THREADS, BINS = 8, 32, 16
float32 = np.float32


# ---------------------------------------------------------------------------- exercise 1
@cuda.jit
def scale_add_while(a, x, y, out):
    i = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    while i < x.shape[0]:
        out[i] = y[i] + a * x[i]
        i += cuda.blockDim.x * cuda.gridDim.x


@cuda.jit
def scale_add_range(a, x, y, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a * x[i] + y[i]


@cuda.jit
def scale_add_one_each(a, x, y, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = a * x[i] + y[i]


@cuda.jit
def scale_add_off_by_one(a, x, y, out):
    i = cuda.grid(1)
    while i <= out.shape[0]:
        out[i] = a * x[i] + y[i]
        i += cuda.gridsize(1)


@cuda.jit
def scale_add_wrong_formula(a, x, y, out):
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = a * (x[i] + y[i])


@cuda.jit
def scale_add_block_stride(a, x, y, out):  # right values, each element computed many times
    for i in range(cuda.grid(1), out.shape[0], cuda.blockDim.x):
        out[i] = a * x[i] + y[i]


@cuda.jit
def scale_add_forever(a, x, y, out):
    i = cuda.grid(1)
    while i < out.shape[0]:
        out[i] = a * x[i] + y[i]


@pytest.mark.parametrize("fn", [
    case(scale_add_while, mark=right(SCALE, "while loop, blockDim * gridDim")),
    case(scale_add_range, mark=right(SCALE, "range with gridsize")),
])
def test_scale_add_accepts(fn, capsys):
    c.check_scale_add(fn)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(scale_add_one_each, "never written", mark=wrong(SCALE, "no grid-stride loop")),
    case(scale_add_off_by_one, "i < n, not i <= n", mark=wrong(SCALE, "off-by-one bound")),
    case(scale_add_wrong_formula, "a \\* \\(x \\+ y\\)", mark=wrong(SCALE, "wrong formula")),
    case(scale_add_block_stride, "grid's size", mark=wrong(SCALE, "stride of one block")),
    case(scale_add_range.py_func, "@cuda.jit", mark=wrong(SCALE, "not a kernel")),
])
def test_scale_add_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_scale_add(fn)


@wrong(SCALE, "infinite loop")
def test_scale_add_infinite_loop_fails_in_bounded_time():
    import time

    start = time.perf_counter()
    with pytest.raises(CheckTimeout, match="did not return"):
        c.run_kernel(scale_add_forever, 1, 4, float32(1), np.ones(8, float32),
                     np.ones(8, float32), np.zeros(8, float32), name="scale_add", timeout=1.0)
    assert time.perf_counter() - start < 10
    time.sleep(0.3)
    if gpu.is_simulator():  # the stuck simulated threads were stopped
        from numba.cuda.simulator.kernel import BlockThread
        import threading
        assert not [t for t in threading.enumerate() if isinstance(t, BlockThread) and t.is_alive()]


# ---------------------------------------------------------------------------- exercise 2
@cuda.jit
def tiled_flat_index(a, b, c_):  # one flat shared array per operand, index arithmetic by hand
    sa = cuda.shared.array(TILE * TILE, float32)
    sb = cuda.shared.array(TILE * TILE, float32)
    x, y = cuda.threadIdx.x, cuda.threadIdx.y
    row = cuda.blockIdx.y * TILE + y
    col = cuda.blockIdx.x * TILE + x
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    total = float32(0)
    tiles = (k + TILE - 1) // TILE
    for t in range(tiles):
        ka, kb = t * TILE + x, t * TILE + y
        sa[y * TILE + x] = a[row, ka] if row < m and ka < k else 0
        sb[y * TILE + x] = b[kb, col] if kb < k and col < n else 0
        cuda.syncthreads()
        for p in range(TILE):
            total += sa[y * TILE + p] * sb[p * TILE + x]
        cuda.syncthreads()
    if row < m and col < n:
        c_[row, col] = total


@cuda.jit
def tiled_branches(a, b, c_):
    sa = cuda.shared.array((TILE, TILE), float32)
    sb = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0)
    for k0 in range(0, a.shape[1], TILE):
        if row < a.shape[0] and k0 + tx < a.shape[1]:
            sa[ty, tx] = a[row, k0 + tx]
        else:
            sa[ty, tx] = 0
        if col < b.shape[1] and k0 + ty < b.shape[0]:
            sb[ty, tx] = b[k0 + ty, col]
        else:
            sb[ty, tx] = 0
        cuda.syncthreads()
        for p in range(TILE):
            acc += sa[ty, p] * sb[p, tx]
        cuda.syncthreads()
    if row < c_.shape[0] and col < c_.shape[1]:
        c_[row, col] = acc


@cuda.jit
def tiled_drops_edge(a, b, c_):  # only whole tiles of k
    sa = cuda.shared.array((TILE, TILE), float32)
    sb = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0)
    for t in range(a.shape[1] // TILE):
        k0 = t * TILE
        sa[ty, tx] = a[row, k0 + tx] if row < a.shape[0] else 0
        sb[ty, tx] = b[k0 + ty, col] if col < b.shape[1] else 0
        cuda.syncthreads()
        for p in range(TILE):
            acc += sa[ty, p] * sb[p, tx]
        cuda.syncthreads()
    if row < c_.shape[0] and col < c_.shape[1]:
        c_[row, col] = acc


@cuda.jit
def tiled_no_barrier(a, b, c_):
    sa = cuda.shared.array((TILE, TILE), float32)
    sb = cuda.shared.array((TILE, TILE), float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    col, row = cuda.grid(2)
    acc = float32(0)
    for k0 in range(0, a.shape[1], TILE):
        sa[ty, tx] = a[row, k0 + tx] if row < a.shape[0] and k0 + tx < a.shape[1] else 0
        sb[ty, tx] = b[k0 + ty, col] if k0 + ty < b.shape[0] and col < b.shape[1] else 0
        cuda.syncthreads()
        for p in range(TILE):
            acc += sa[ty, p] * sb[p, tx]
    if row < c_.shape[0] and col < c_.shape[1]:
        c_[row, col] = acc


@cuda.jit
def tiled_from_global(a, b, c_):  # the naive rung
    col, row = cuda.grid(2)
    if row < c_.shape[0] and col < c_.shape[1]:
        acc = float32(0)
        for p in range(a.shape[1]):
            acc += a[row, p] * b[p, col]
        c_[row, col] = acc


@pytest.mark.parametrize("fn", [
    case(tiled_flat_index, mark=right(TILED, "flat shared arrays")),
    case(tiled_branches, mark=right(TILED, "if/else loads")),
])
def test_tiled_accepts(fn, capsys):
    c.check_tiled_matmul(fn, TILE)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(tiled_drops_edge, "partial tile", mark=wrong(TILED, "edge tile dropped")),
    case(tiled_no_barrier, "two per tile", mark=wrong(TILED, "missing barrier")),
    case(tiled_from_global, "shared arrays", mark=wrong(TILED, "not shared memory")),
])
def test_tiled_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_tiled_matmul(fn, TILE)


def test_tiled_refuses_a_silly_tile():
    with pytest.raises(AssertionError, match="TILE should be"):
        c.check_tiled_matmul(tiled_branches, 3)


# ---------------------------------------------------------------------------- exercise 3
@cuda.jit
def reduce_shift(x, partials):
    buf = cuda.shared.array(THREADS, np.float64)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * THREADS + t
    buf[t] = x[i] if i < x.shape[0] else 0.0
    cuda.syncthreads()
    half = THREADS >> 1
    while half:
        if t < half:
            buf[t] = buf[t] + buf[t + half]
        cuda.syncthreads()
        half >>= 1
    if t == 0:
        partials[cuda.blockIdx.x] = buf[0]


@cuda.jit
def reduce_interleaved(x, partials):  # Harris's first kernel: stride doubling, modulo test
    buf = cuda.shared.array(THREADS, np.float64)
    t = cuda.threadIdx.x
    acc = 0.0
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        acc += x[i]
    buf[t] = acc
    cuda.syncthreads()
    s = 1
    while s < THREADS:
        if t % (2 * s) == 0:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s *= 2
    if t == 0:
        partials[cuda.blockIdx.x] = buf[0]


@cuda.jit
def reduce_no_barrier(x, partials):
    buf = cuda.shared.array(THREADS, np.float64)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    buf[t] = x[i] if i < x.shape[0] else 0.0
    cuda.syncthreads()
    s = THREADS // 2
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        s //= 2
    if t == 0:
        partials[cuda.blockIdx.x] = buf[0]


@cuda.jit
def reduce_unguarded_tail(x, partials):  # threads past the end leave their slot unwritten
    buf = cuda.shared.array(THREADS, np.float64)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    if i < x.shape[0]:
        buf[t] = x[i]
    cuda.syncthreads()
    s = THREADS // 2
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        partials[cuda.blockIdx.x] = buf[0]


@cuda.jit
def reduce_serial(x, partials):
    buf = cuda.shared.array(THREADS, np.float64)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    buf[t] = x[i] if i < x.shape[0] else 0.0
    cuda.syncthreads()
    if t == 0:
        s = 0.0
        for j in range(THREADS):
            s += buf[j]
        partials[cuda.blockIdx.x] = s


@pytest.mark.parametrize("fn", [
    case(reduce_shift, mark=right(REDUCE, "shifts")),
    case(reduce_interleaved, mark=right(REDUCE, "interleaved, grid-stride loads")),
])
def test_reduce_accepts(fn, capsys):
    c.check_block_reduce(fn, THREADS)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(reduce_no_barrier, "no cuda.syncthreads", mark=wrong(REDUCE, "missing barrier")),
    case(reduce_unguarded_tail, "partial block", mark=wrong(REDUCE, "wrong at non-power-of-two n")),
    case(reduce_serial, "serially", mark=wrong(REDUCE, "serial one-thread loop")),
])
def test_reduce_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_block_reduce(fn, THREADS)


# ---------------------------------------------------------------------------- exercise 4
@cuda.jit
def hist_while(x, hist):
    mine = cuda.shared.array(BINS, np.int32)
    t = cuda.threadIdx.x
    if t < BINS:
        mine[t] = 0
    j = t + cuda.blockDim.x
    while j < BINS:
        mine[j] = 0
        j += cuda.blockDim.x
    cuda.syncthreads()
    i = cuda.grid(1)
    while i < x.shape[0]:
        cuda.atomic.add(mine, x[i], 1)
        i += cuda.gridsize(1)
    cuda.syncthreads()
    for b in range(t, BINS, cuda.blockDim.x):
        cuda.atomic.add(hist, b, mine[b])


@cuda.jit
def hist_thread0_merge(x, hist):
    mine = cuda.shared.array(BINS, np.int32)
    t = cuda.threadIdx.x
    if t == 0:
        for b in range(BINS):
            mine[b] = 0
    cuda.syncthreads()
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        cuda.atomic.add(mine, x[i], 1)
    cuda.syncthreads()
    if t == 0:
        for b in range(BINS):
            if mine[b]:
                cuda.atomic.add(hist, b, mine[b])


@cuda.jit
def hist_plain_increment(x, hist):
    mine = cuda.shared.array(BINS, np.int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        mine[b] = 0
    cuda.syncthreads()
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        mine[x[i]] += 1
    cuda.syncthreads()
    for b in range(t, BINS, cuda.blockDim.x):
        cuda.atomic.add(hist, b, mine[b])


@cuda.jit
def hist_global_only(x, hist):
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        cuda.atomic.add(hist, x[i], 1)


@cuda.jit
def hist_no_final_barrier(x, hist):
    mine = cuda.shared.array(BINS, np.int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        mine[b] = 0
    cuda.syncthreads()
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        cuda.atomic.add(mine, x[i], 1)
    for b in range(t, BINS, cuda.blockDim.x):
        cuda.atomic.add(hist, b, mine[b])


@cuda.jit
def hist_no_merge(x, hist):
    mine = cuda.shared.array(BINS, np.int32)
    t = cuda.threadIdx.x
    for b in range(t, BINS, cuda.blockDim.x):
        mine[b] = 0
    cuda.syncthreads()
    for i in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        cuda.atomic.add(mine, x[i], 1)
    cuda.syncthreads()
    for b in range(t, BINS, cuda.blockDim.x):
        hist[b] = mine[b]  # overwrites: the blocks' counts are not added together


@pytest.mark.parametrize("fn", [
    case(hist_while, mark=right(HIST, "while loops")),
    case(hist_thread0_merge, mark=right(HIST, "thread 0 zeroes and merges")),
])
def test_histogram_accepts(fn, capsys):
    c.check_privatised_histogram(fn, BINS)
    assert "exact counts" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(hist_plain_increment, "plain \\+=", mark=wrong(HIST, "race on the shared histogram")),
    case(hist_global_only, "no cuda.shared.array", mark=wrong(HIST, "no privatisation")),
    case(hist_no_final_barrier, "two: after zeroing", mark=wrong(HIST, "no barrier before the merge")),
    case(hist_no_merge, "it needs one into the shared copy", mark=wrong(HIST, "no atomic merge")),
])
def test_histogram_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_privatised_histogram(fn, BINS)


def test_the_plain_increment_loses_counts_when_run():
    """The race the structure check names is real: run directly, counts go missing (most runs;
    the simulator interleaves threads finely under the checker's switch interval)."""
    x = np.full(2000, 3, np.int32)
    lost = 0
    for _ in range(3):
        hist = np.zeros(BINS, np.int32)
        c.run_kernel(hist_plain_increment, 1, 64, x, hist)
        lost = max(lost, 2000 - int(hist[3]))
    if not gpu.is_simulator():
        assert lost > 0
