import threading

import numpy as np
import pytest

from course_lib.measure import work


def _xorshift(n, seed):
    x, mask = seed or 1, 2**64 - 1
    for _ in range(n):
        x ^= (x << 13) & mask
        x ^= x >> 7
        x ^= (x << 17) & mask
    return x


@pytest.mark.parametrize("n,seed", [(0, 5), (1, 1), (1000, 12345), (7, 2**63 + 11), (3, 0), (3, 2)])
def test_spin_matches_python_reference(n, seed):
    assert work.spin(n, seed) == _xorshift(n, seed)


def test_neighbouring_seeds_give_different_chains():
    assert len({work.spin(100, s) for s in range(1, 9)}) == 8  # (0 and 1 both start at 1)


def test_spin4_does_the_same_number_of_steps_in_four_chains():
    seed = 9
    a = b = c = d = None
    a, b, c, d = seed, seed * 3, seed * 5, seed * 7
    mask = 2**64 - 1
    expect = _xorshift(250, a) ^ _xorshift(250, b & mask) ^ _xorshift(250, c & mask) ^ _xorshift(250, d & mask)
    assert work.spin4(1000, seed) == expect


def test_sum_f64_and_its_errors():
    x = np.arange(1000, dtype=np.float64)
    assert work.sum_f64(x) == x.sum()
    assert work.sum_f64(np.empty(0)) == 0.0
    with pytest.raises(TypeError, match="float64"):
        work.sum_f64(np.arange(10, dtype=np.float32))
    with pytest.raises(TypeError, match="contiguous"):
        work.sum_f64(x[::2])


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError), (True, TypeError)])
def test_spin_rejects_bad_rounds(bad, exc):
    with pytest.raises(exc):
        work.spin(bad)


def test_spin_releases_the_gil():
    """While one thread is inside a long work.spin, another thread keeps running Python code."""
    ticks, done = [], threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(1)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        work.spin(300_000_000)  # ~0.5 s of C without the GIL
    finally:
        done.set()
        t.join(10)
    # With the GIL held for the whole call the ticker would be starved until the switch interval.
    assert len(ticks) > 10_000
