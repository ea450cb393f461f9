"""The C parts of chapter c06 (course_lib/_c/memory.c) through their Python wrappers: the pointer
chase, the random cycle, the gather with prefetch, and the STREAM kernels on threads.

Correctness only: no timing assertions (the machine may be busy); timings are benchmarks'.
"""
from __future__ import annotations

import platform

import importlib

import numpy as np
import pytest

# The package binds the name `stream` to the function, so fetch the modules themselves.
latency = importlib.import_module("course_lib.memory.latency")
prefetch = importlib.import_module("course_lib.memory.prefetch")
stream = importlib.import_module("course_lib.memory.stream")

X86 = platform.machine().lower() in ("x86_64", "amd64")
NT = stream.nt_stores_available()


def _follow(nxt, steps, start=0):
    i = start
    for _ in range(steps):
        i = int(nxt[i])
    return i


# ------------------------------------------------------------------------------ the cycle
@pytest.mark.parametrize("n_lines", [1, 2, 3, 10, 97, 1000])
@pytest.mark.parametrize("line_bytes", [8, 64, 128])
def test_random_cycle_is_one_cycle_through_every_line(n_lines, line_bytes):
    nxt = latency.random_cycle(n_lines, line_bytes, seed=n_lines)
    w = line_bytes // 8
    assert nxt.dtype == np.int64 and nxt.shape == (n_lines * w,)
    i, seen = 0, []
    for _ in range(n_lines):
        seen.append(i)
        i = int(nxt[i])
    assert i == 0, "back at the start after exactly n_lines steps"
    assert sorted(seen) == list(range(0, n_lines * w, w)), "every line once, nothing else"
    unused = np.ones(nxt.shape, bool)
    unused[::w] = False
    assert not nxt[unused].any(), "only the first slot of each line is used"


def test_random_cycle_depends_on_the_seed_only():
    a, b = latency.random_cycle(500, seed=1), latency.random_cycle(500, seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, latency.random_cycle(500, seed=2))
    order = latency.cycle_order(500, seed=1)
    assert not np.array_equal(order, np.roll(np.arange(500), -1)), "random, not in order"


@pytest.mark.parametrize("args, exc", [((0,), ValueError), ((-3,), ValueError),
                                       ((2.5,), TypeError), ((True,), TypeError),
                                       ((4, 12), ValueError), ((4, 4), ValueError),
                                       ((4, 64, 1.5), TypeError)])
def test_random_cycle_refuses_bad_arguments(args, exc):
    with pytest.raises(exc):
        latency.random_cycle(*args)


# ------------------------------------------------------------------------------ the chase
@pytest.mark.parametrize("impl", ["c", "numba"])
def test_chase_follows_the_cycle_exactly(impl):
    nxt = latency.random_cycle(37, 64, seed=5)
    for steps in (0, 1, 2, 36, 37, 38, 100, 12345):
        for start in (0, 8 * 5):
            want = _follow(nxt, steps, start)
            if impl == "c":
                end, ns = latency.chase(nxt, steps, start)
                assert ns >= 0 and np.isfinite(ns)
            else:
                end = latency.chase_numba(nxt, steps, start)
            assert end == want, (steps, start)


def test_chase_on_a_hand_made_array():
    nxt = np.array([2, 0, 1], dtype=np.int64)  # 0 -> 2 -> 1 -> 0
    assert [latency.chase(nxt, s)[0] for s in range(5)] == [0, 2, 1, 0, 2]
    assert latency.chase(nxt, 0, start=1) == (1, 0.0)


@pytest.mark.parametrize("impl", [latency.chase, latency.chase_numba])
def test_chase_refuses_an_array_that_leaves_itself(impl):
    with pytest.raises(ValueError, match="not an index of next"):
        impl(np.array([1, 5, 0], dtype=np.int64), 10)
    with pytest.raises(ValueError, match="not an index of next"):
        impl(np.array([1, -1, 0], dtype=np.int64), 10)


@pytest.mark.parametrize("impl", [latency.chase, latency.chase_numba])
def test_chase_bad_input(impl):
    good = np.array([1, 0], dtype=np.int64)
    with pytest.raises(TypeError, match="int64"):
        impl(good.astype(np.int32), 3)
    with pytest.raises(TypeError, match="NumPy"):
        impl([1, 0], 3)
    with pytest.raises(ValueError, match="contiguous"):
        impl(np.array([1, 9, 0, 9], dtype=np.int64)[::2], 3)
    with pytest.raises(ValueError, match="empty"):
        impl(np.array([], dtype=np.int64), 3)
    with pytest.raises(ValueError, match="steps"):
        impl(good, -1)
    with pytest.raises(ValueError, match="start"):
        impl(good, 1, start=2)
    with pytest.raises(TypeError, match="steps"):
        impl(good, 2.0)


# ------------------------------------------------------------------------------ gather
@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 17, 1000])
def test_gather_sum_matches_numpy_for_every_distance(n):
    rng = np.random.default_rng(n)
    data = rng.standard_normal(max(n, 1) * 3)
    for idx in (rng.integers(0, data.size, n, dtype=np.int64), np.arange(n, dtype=np.int64)):
        want = float(np.sum(data[idx]))
        tol = 1e-12 * (1 + float(np.abs(data[idx]).sum()))
        for d in sorted({0, 1, 2, 3, 4, 5, 8, 16, 64, max(n - 1, 0), n, n + 1, n + 7, 10**6}):
            got = prefetch.gather_sum(data, idx, d)
            assert abs(got - want) <= tol, (n, d, got, want)


def test_gather_sum_exact_on_small_integers():
    data = np.arange(10, dtype=np.float64)
    idx = np.array([9, 9, 0, 3, 3, 3, 7], dtype=np.int64)
    assert prefetch.gather_sum(data, idx) == 34.0
    assert prefetch.gather_sum(data, idx, distance=2) == 34.0


def test_gather_sum_bad_input():
    data, idx = np.ones(4), np.array([0, 3], dtype=np.int64)
    with pytest.raises(ValueError, match=r"idx\[1\] = 4"):
        prefetch.gather_sum(data, np.array([0, 4], dtype=np.int64))
    with pytest.raises(ValueError, match=r"idx\[0\] = -1"):
        prefetch.gather_sum(data, np.array([-1, 0], dtype=np.int64))
    with pytest.raises(TypeError, match="float64"):
        prefetch.gather_sum(data.astype(np.float32), idx)
    with pytest.raises(TypeError, match="int64"):
        prefetch.gather_sum(data, idx.astype(np.float64))
    with pytest.raises(ValueError, match="contiguous"):
        prefetch.gather_sum(np.ones(8)[::2], idx)
    with pytest.raises(ValueError, match="1-D"):
        prefetch.gather_sum(np.ones((2, 2)), idx)
    with pytest.raises(ValueError, match="distance"):
        prefetch.gather_sum(data, idx, -1)
    with pytest.raises(TypeError, match="distance"):
        prefetch.gather_sum(data, idx, True)


# ------------------------------------------------------------------------------ STREAM
def _expected(kernel, a, b, c, s):
    a, b, c = a.copy(), b.copy(), c.copy()
    if kernel in ("copy", "memcpy"):
        c[:] = a
    elif kernel == "scale":
        b[:] = s * c
    elif kernel == "add":
        c[:] = a + b
    else:
        a[:] = b + s * c
    return a, b, c


def _guarded(rng, n, offset):
    """An n-element view starting `offset` doubles into a buffer with guard values around it."""
    buf = np.full(n + offset + 3, -7.0)
    view = buf[offset:offset + n]
    view[:] = rng.standard_normal(n)
    return buf, view


@pytest.mark.parametrize("kernel", ["copy", "scale", "add", "triad", "memcpy"])
@pytest.mark.parametrize("nt", [False, pytest.param(True, marks=pytest.mark.skipif(
    not NT, reason=stream.nt_stores_note()))])
def test_stream_kernels_give_the_right_arrays(kernel, nt):
    if nt and kernel == "memcpy":
        pytest.skip("memcpy picks its own stores")
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 64, 1001):
        for threads in (1, 2, 3, 5):
            for offset in (0, 1, 2):  # 0 and 2: 16-byte aligned starts; 1: an 8-byte one
                bufs = [_guarded(rng, n, offset) for _ in range(3)]
                (ba, a), (bb, b), (bc, c) = bufs
                want = _expected(kernel, a, b, c, 2.5)
                before = [buf.copy() for buf, _ in bufs]
                times = stream.run_kernel(kernel, a, b, c, scalar=2.5, threads=threads, reps=2,
                                          nt=nt)
                assert times.shape == (2,) and np.all(times >= 0) and np.all(np.isfinite(times))
                for name, got, exp in zip("abc", (a, b, c), want):
                    np.testing.assert_allclose(got, exp, rtol=1e-15, atol=0,
                                               err_msg=f"{kernel} {name} n={n} t={threads} "
                                                       f"offset={offset} nt={nt}")
                for (buf, view), old in zip(bufs, before):
                    outside = np.r_[0:offset, offset + n:buf.size]
                    assert np.array_equal(buf[outside], old[outside]), "wrote outside the array"


def test_stream_barrier_survives_many_reps_on_more_threads_than_cores():
    a, b, c = np.arange(100.0), np.ones(100), np.full(100, 2.0)
    times = stream.run_kernel("triad", a, b, c, scalar=0.5, threads=9, reps=300)
    assert times.shape == (300,) and np.all(np.isfinite(times))
    assert np.array_equal(a, np.full(100, 2.0))


def test_stream_kernel_with_no_elements():
    e = [np.empty(0) for _ in range(3)]
    assert stream.run_kernel("triad", *e, threads=3, reps=2).shape == (2,)


@pytest.mark.parametrize("n, threads", [(0, 1), (1, 4), (20, 3), (1001, 3), (64, 8), (10**6, 7)])
def test_chunks_cover_the_array_in_lines(n, threads):
    cs = stream.chunks(n, threads)
    assert len(cs) == threads and cs[0][0] == 0 and cs[-1][1] == n
    for (lo, hi), (lo2, _) in zip(cs, cs[1:]):
        assert lo <= hi == lo2
        assert hi % 8 == 0 or hi == n, "chunks are cut at whole 64-byte lines"


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_first_touch_writes_every_element(threads):
    a, b, c = np.empty(1003), np.empty(1003), np.empty(1003)
    stream.first_touch(a, b, c, threads=threads, values=(4.0, -1.0, 0.5))
    assert (a == 4.0).all() and (b == -1.0).all() and (c == 0.5).all()


def test_nt_availability_matches_the_isa():
    assert NT == X86
    note = stream.nt_stores_note()
    assert note.startswith("non-temporal stores: ")
    if not NT:
        assert "not on this ISA" in note
        with pytest.raises(RuntimeError, match="not on this ISA"):
            stream.run_kernel("copy", np.ones(4), np.ones(4), np.ones(4), nt=True)


def test_stream_kernel_bad_input():
    a, b, c = np.ones(10), np.ones(10), np.ones(10)
    with pytest.raises(ValueError, match="threads"):
        stream.run_kernel("triad", a, b, c, threads=0)
    with pytest.raises(ValueError, match="reps"):
        stream.run_kernel("triad", a, b, c, reps=0)
    with pytest.raises(TypeError, match="threads"):
        stream.run_kernel("triad", a, b, c, threads=1.5)
    with pytest.raises(ValueError, match="unknown kernel"):
        stream.run_kernel("saxpy", a, b, c)
    with pytest.raises(TypeError, match="float64"):
        stream.run_kernel("copy", a.astype(np.float32), b, c)
    with pytest.raises(ValueError, match="contiguous"):
        stream.run_kernel("copy", np.ones(20)[::2], b, c)
    with pytest.raises(ValueError, match="same length"):
        stream.run_kernel("copy", np.ones(11), b, c)
    with pytest.raises(ValueError, match="share memory"):
        stream.run_kernel("copy", a, b, a)
    buf = np.ones(30)
    with pytest.raises(ValueError, match="share memory"):
        stream.run_kernel("copy", buf[:10], buf[5:15], c)
    ro = np.ones(10)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        stream.run_kernel("copy", a, b, ro)
    with pytest.raises(ValueError, match="memcpy"):
        stream.run_kernel("memcpy", a, b, c, nt=True)
    with pytest.raises(TypeError, match="scalar"):
        stream.run_kernel("scale", a, b, c, scalar="2")
    with pytest.raises(ValueError, match="at most"):
        stream.run_kernel("copy", a, b, c, threads=100_000)
    with pytest.raises(ValueError, match="threads"):
        stream.first_touch(a, b, c, threads=0)
    with pytest.raises(ValueError, match="threads"):
        stream.chunks(10, 0)
