"""course_lib.measure.bench.black_box: an identity in Python, an optimisation barrier in numba."""
import subprocess
import sys

import numpy as np
from numba import njit

from course_lib.measure.bench import black_box


def test_python_identity():
    x = object()
    assert black_box(x) is x
    assert black_box(3) == 3 and "black_box" in repr(black_box)


@njit
def _sum_dropped(a):
    s = 0.0
    for x in a:
        s += x


@njit
def _sum_kept(a):
    s = 0.0
    for x in a:
        s += x
    black_box(s)


def _growth(fn, small, big, rounds=7):
    """Best time at ``big`` over best time at ``small``, the two taken in alternation."""
    import time

    fn(small)
    fn(big)
    ts = tb = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(small)
        ts = min(ts, time.perf_counter() - t0)
        t0 = time.perf_counter()
        fn(big)
        tb = min(tb, time.perf_counter() - t0)
    return tb / ts


def test_a_loop_feeding_black_box_scales_with_n_and_an_unused_one_does_not():
    small, big = np.ones(100_000), np.ones(1_600_000)
    kept = _growth(_sum_kept, small, big)
    dropped = _growth(_sum_dropped, small, big)
    print(f"growth for 16x the work: kept {kept:.3g}x, dropped {dropped:.3g}x")
    assert kept > 4 * dropped


@njit
def _through(a, t):
    b = black_box(a)
    u = black_box(t)
    return b.sum() + black_box(2) + u[1] + black_box(1.5)


def test_values_and_references_pass_through_unchanged():
    a = np.arange(5.0)
    before = sys.getrefcount(a)
    for _ in range(1000):
        assert _through(a, (1, 2.5)) == 10.0 + 2 + 2.5 + 1.5
    assert sys.getrefcount(a) == before  # no reference leaked or lost per call


def test_importing_bench_does_not_import_numba():
    code = "import sys, course_lib.measure.bench; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
