"""The harness's logic is tested against a fake clock: every call advances it by a known cost,
so the samples, ratios and fits can be checked exactly, whatever the machine is doing."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from course_lib.measure import bench


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(bench, "_clock", c)
    return c


def costly(clock, first, typical, spike_every=None, spike=0.0):
    calls = {"n": 0}

    def fn():
        calls["n"] += 1
        cost = first if calls["n"] == 1 else typical
        if spike_every and calls["n"] % spike_every == 0:
            cost += spike
        clock.now += cost

    fn.calls = calls
    return fn


def test_measure_excludes_first_call_and_reports_it(clock):
    fn = costly(clock, first=2.0, typical=1e-3)
    m = bench.measure(fn, budget=0.2)
    assert m.first_call == pytest.approx(2.0)
    assert m.median == pytest.approx(1e-3)
    assert m.min == pytest.approx(1e-3) and m.max == pytest.approx(1e-3)
    assert m.iqr == pytest.approx(0.0, abs=1e-15)
    assert 5 <= m.n <= 200
    # sampled time stays near the budget (calibration works)
    assert 0.1 <= m.n * m.inner * 1e-3 <= 0.4


def test_measure_batches_fast_calls(clock):
    m = bench.measure(costly(clock, first=1e-6, typical=1e-7), budget=0.1)
    assert m.inner > 100  # one sample must last far longer than one call
    assert m.median == pytest.approx(1e-7)


def test_outliers_are_flagged_and_median_is_robust(clock):
    fn = costly(clock, first=1e-3, typical=1e-3, spike_every=97, spike=0.5)
    m = bench.measure(fn, budget=0.5, min_samples=50, max_samples=60, warmup=0.0)
    assert m.median == pytest.approx(1e-3, rel=0.02)
    assert m.mean > m.median
    assert m.outliers.high_severe >= 1
    lo, hi = m.ci
    assert lo <= m.median <= hi


def test_measure_repr_and_plot(clock):
    m = bench.measure(costly(clock, 1e-3, 1e-3), budget=0.05, label="demo")
    text = repr(m)
    assert "demo" in text and "median 1 ms" in text and "95% CI" in text and "first call" in text
    ax = m.plot()
    assert ax.get_title() == "demo"


def test_compare_interleaves_and_reports_ratio(clock):
    order = []

    def a():
        order.append("a")
        clock.now += 2e-3

    def b():
        order.append("b")
        clock.now += 1e-3

    c = bench.compare(a, b, budget=0.2, labels=("slow", "fast"))
    assert c.ratio == pytest.approx(2.0)
    assert c.ci[0] == pytest.approx(2.0) and c.ci[1] == pytest.approx(2.0)
    assert "fast is 2x faster than slow" in repr(c)
    assert c.a.n == c.b.n >= 10
    # sampling alternates A B B A ...: the call sequence switches side at least once per sample
    switches = sum(x != y for x, y in zip(order, order[1:]))
    assert switches >= c.a.n
    c.plot()


def test_compare_says_when_there_is_no_clear_difference(clock):
    rng = np.random.default_rng(0)

    def noisy():
        clock.now += 1e-3 * (1 + 0.2 * rng.random())

    c = bench.compare(noisy, noisy, budget=0.2)
    assert "no clear difference" in repr(c)
    assert c.a.label != c.b.label


def test_interleave_reverses_the_order_of_every_other_round(clock):
    log = []

    def work(name, cost):
        def fn():
            log.append(name)
            clock.now += cost
        return fn

    ms = bench.interleave([("a", work("a", 1e-3)), ("b", work("b", 2e-3)),
                           ("c", work("c", 4e-3))], budget=0.3)
    assert [m.label for m in ms] == ["a", "b", "c"]
    assert [m.median for m in ms] == pytest.approx([1e-3, 2e-3, 4e-3])
    assert ms[0].n == ms[1].n == ms[2].n >= 5
    # the warm-ups (a, b, c), then rounds a b c, c b a, a b c ...: as runs of the same name,
    # each round after the first continues the run its predecessor ended with
    runs = [name for i, name in enumerate(log) if i == 0 or log[i - 1] != name]
    expected = ["a", "b", "c", "a", "b", "c"]
    for i in range(1, ms[0].n):
        expected += ["b", "a"] if i % 2 else ["b", "c"]
    assert runs == expected


def test_interleave_on_the_real_clock():
    ms = bench.interleave([("1k", lambda: sum(range(1000))), ("2k", lambda: sum(range(2000)))],
                          budget=0.05)
    assert [m.label for m in ms] == ["1k", "2k"] and ms[0].n == ms[1].n >= 5
    assert all(m.min > 0 and m.median >= m.min and m.first_call > 0 for m in ms)


def test_scaling_recovers_amdahl_fraction_and_clamps(clock, monkeypatch):
    monkeypatch.setattr("course_lib.measure.machine.usable_cores", lambda: 4)
    s_true = 0.25

    def run(n):
        clock.now += 1e-2 * (s_true + (1 - s_true) / n)

    s = bench.scaling(run, threads=[1, 2, 4, 8], via="call", budget=0.5)
    assert s.threads == (1, 2, 4)
    assert any("clamped to 4" in note for note in s.notes)
    assert s.serial_fraction == pytest.approx(s_true, abs=1e-9)
    assert np.allclose(s.speedup, [1, 1 / (0.25 + 0.375), 1 / (0.25 + 0.1875)])
    assert np.allclose(s.efficiency, s.speedup / np.array([1, 2, 4]))
    assert "serial fraction 0.250" in repr(s)
    s.plot()


def test_scaling_adds_one_thread(clock, monkeypatch):
    monkeypatch.setattr("course_lib.measure.machine.usable_cores", lambda: 2)
    s = bench.scaling(lambda n: setattr(clock, "now", clock.now + 1e-3 / n), threads=[2], via="call", budget=0.1)
    assert s.threads == (1, 2) and any("added 1 thread" in n for n in s.notes)


@pytest.mark.parametrize("call", [
    lambda: bench.measure(42),
    lambda: bench.measure(lambda: None, budget=0),
    lambda: bench.measure(lambda: None, min_samples=0),
    lambda: bench.measure(lambda: None, min_samples=10, max_samples=5),
    lambda: bench.compare(lambda: None, "nope"),
    lambda: bench.interleave([]),
    lambda: bench.interleave([("nope", 42)]),
    lambda: bench.interleave([("x", lambda: None)], budget=-1),
    lambda: bench.scaling(lambda n: None, threads=[0], via="call"),
    lambda: bench.scaling(lambda n: None, threads=[1.5], via="call"),
    lambda: bench.scaling(lambda n: None, via="processes"),
])
def test_bad_input_gets_a_clear_error(call):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert len(str(info.value)) > 20


def test_measure_real_clock_smoke():
    m = bench.measure(sum, range(100), budget=0.05)
    assert m.median > 0 and m.machine is not None
    assert bench.harness_overhead(budget=0.05).median < 1e-5


def test_scaling_via_numba_sets_and_restores_threads():
    code = textwrap.dedent("""
        import numba, numpy as np
        from numba import njit, prange
        from course_lib.measure import bench
        seen = []
        @njit(parallel=True)
        def kernel(x):
            s = 0.0
            for i in prange(x.size):
                s += x[i]
            return s
        x = np.ones(10000)
        def fn():
            seen.append(numba.get_num_threads())
            kernel(x)
        before = numba.get_num_threads()
        s = bench.scaling(fn, threads=[1, 2, 64], budget=0.1)
        assert numba.get_num_threads() == before, "thread count not restored"
        assert s.threads[0] == 1 and s.threads[-1] <= numba.config.NUMBA_NUM_THREADS
        assert set(seen) == set(s.threads), (set(seen), s.threads)
        print("OK", s.threads)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "OK" in out.stdout
