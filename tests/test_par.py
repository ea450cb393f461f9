"""Tests for course_lib.par: the work-stealing pool, parallel iterators, par_sort, prange kernels.

Every result is compared with a sequential reference (plain Python or NumPy). Pools of 1, 2 and
3 threads run the same battery; waits have timeouts so that a deadlock fails instead of hanging.
Stress sizes scale with COURSE_STRESS.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib import par
from course_lib._c._work import lib as work_lib
from course_lib.config import stress

STRESS = stress()
HYP = settings(max_examples=40 * STRESS, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", params=[1, 2, 3], ids=lambda n: f"{n}threads")
def pool(request):
    p = par.ThreadPool(request.param)
    yield p
    p.close()


def _run_with_timeout(fn, timeout=30.0):
    """Run fn() on a helper thread; fail (instead of hanging) if it does not finish in time."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised below, on the test's thread
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"did not finish within {timeout} s: deadlock?"
    if "error" in box:
        raise box["error"]
    return box["value"]


def _tree_sum(depth):
    """Sum of 2**depth leaves (each 1) by nested joins."""
    if depth == 0:
        return 1
    a, b = par.join(lambda: _tree_sum(depth - 1), lambda: _tree_sum(depth - 1))
    return a + b


# ============================================================================ the pool
class TestPool:
    def test_smoke(self, pool):
        assert pool.join(lambda: 1, lambda: "b") == (1, "b")
        assert pool.num_threads in (1, 2, 3)
        assert "ThreadPool" in repr(pool)

    def test_install_runs_on_a_worker(self, pool):
        assert par.current_worker_index() is None
        index, threads = pool.install(lambda: (par.current_worker_index(), par.current_num_threads()))
        assert 0 <= index < pool.num_threads
        assert threads == pool.num_threads

    def test_global_join_outside_any_pool(self):
        assert par.join(lambda: 2, lambda: 3) == (2, 3)
        assert par.current_num_threads() == par.global_pool().num_threads >= 1

    def test_join_context_reports_migration(self, pool):
        a, b = pool.install(lambda: par.join_context(lambda m: m, lambda m: m))
        assert a is False and isinstance(b, bool)

    @pytest.mark.parametrize("threads", [1, 2])
    def test_nested_joins_depth_20_chain(self, threads):
        """A chain of 20 nested joins where *both* sides nest again at the left (no deadlock)."""
        def chain(d):
            if d == 0:
                return 0
            a, b = par.join(lambda: chain(d - 1), lambda: _tree_sum(2))
            return a + b + 1

        with par.ThreadPool(threads) as p:
            assert _run_with_timeout(lambda: p.install(lambda: chain(20))) == 20 * 4 + 20

    @pytest.mark.parametrize("threads", [1, 2])
    def test_nested_joins_depth_20_both_sides(self, threads):
        """Depth 20 on the right side too (stolen jobs that nest), plus a full tree of depth 12."""
        def right_chain(d):
            if d == 0:
                return 1
            a, b = par.join(lambda: 1, lambda: right_chain(d - 1))
            return a + b

        with par.ThreadPool(threads) as p:
            assert _run_with_timeout(lambda: p.install(lambda: right_chain(20))) == 21
            assert _run_with_timeout(lambda: p.install(lambda: _tree_sum(12))) == 4096

    def test_fib_matches_sequential(self, pool):
        def fib(n):
            if n < 2:
                return n
            a, b = par.join(lambda: fib(n - 1), lambda: fib(n - 2))
            return a + b

        assert _run_with_timeout(lambda: pool.install(lambda: fib(16))) == 987

    def test_exception_in_fa_waits_for_fb(self, pool):
        finished = []

        def fa():
            raise KeyError("left")

        def fb():
            time.sleep(0.02)
            finished.append("fb")
            return 1

        with pytest.raises(KeyError, match="left"):
            pool.join(fa, fb)
        assert finished == ["fb"], "join propagated fa's error before fb finished"

    def test_exception_in_fb_and_both(self, pool):
        def boom(msg):
            raise ValueError(msg)

        with pytest.raises(ValueError, match="right"):
            pool.join(lambda: 1, lambda: boom("right"))
        with pytest.raises(ValueError, match="left"):
            pool.join(lambda: boom("left"), lambda: boom("right"))
        # the pool still works afterwards
        assert pool.install(lambda: _tree_sum(5)) == 32

    def test_exception_deep_in_the_tree(self, pool):
        def tree(d):
            if d == 0:
                raise ArithmeticError("leaf")
            return par.join(lambda: tree(d - 1), lambda: 0)

        with pytest.raises(ArithmeticError):
            _run_with_timeout(lambda: pool.install(lambda: tree(8)))

    def test_a_stolen_side_runs_on_another_worker(self):
        """fa blocks until fb has started: only a thief can start fb, so this proves stealing."""
        with par.ThreadPool(2) as p:
            started = threading.Event()

            def fa():
                assert started.wait(10), "no worker stole fb"
                return par.current_worker_index()

            def fb():
                started.set()
                return par.current_worker_index()

            a, b = _run_with_timeout(lambda: p.join(fa, fb))
            assert a != b
            stats = p.statistics()
            assert stats.total_stolen >= 1 and stats.tasks_stolen[b] >= 1

    def test_stolen_side_exception(self):
        with par.ThreadPool(2) as p:
            started = threading.Event()

            def fa():
                assert started.wait(10)
                return 1

            def fb():
                started.set()
                raise RuntimeError("thief failed")

            with pytest.raises(RuntimeError, match="thief failed"):
                _run_with_timeout(lambda: p.join(fa, fb))

    def test_many_outside_threads_share_a_pool(self, pool):
        results, errors = [], []

        def client(k):
            try:
                results.append(pool.install(lambda: par.par_range(1000 * k).sum()))
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(1, 7)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "an outside thread is stuck: deadlock?"
        assert not errors
        assert sorted(results) == sorted(sum(range(1000 * k)) for k in range(1, 7))

    def test_stress_random_trees_run_every_leaf_once(self, pool):
        """Random unbalanced join trees with GIL-free leaves (so thieves really steal)."""
        import random

        rng = random.Random(pool.num_threads)
        for _ in range(5 * STRESS):
            ran = []

            def tree(lo, hi):
                if hi - lo == 1:
                    work_lib.cw_spin(rng.randrange(1, 20_000), lo)
                    ran.append(lo)
                    return lo
                mid = lo + max(1, int((hi - lo) * rng.random()))
                mid = min(mid, hi - 1)
                a, b = par.join(lambda: tree(lo, mid), lambda: tree(mid, hi))
                return a + b

            n = rng.randrange(1, 300)
            assert _run_with_timeout(lambda: pool.install(lambda: tree(0, n))) == n * (n - 1) // 2
            assert sorted(ran) == list(range(n))

    def test_gil_releasing_work_runs_in_parallel_threads(self):
        """Both workers really run C work (untimed: we check who ran, not how fast)."""
        with par.ThreadPool(2) as p:
            p.reset_statistics()
            out = p.install(lambda: par.par_range(64).with_max_len(1)
                            .map(lambda i: int(work_lib.cw_spin(20_000, i))).collect())
            assert out == [int(work_lib.cw_spin(20_000, i)) for i in range(64)]
            assert p.statistics().total_tasks >= 64

    def test_close_is_idempotent_and_final(self):
        p = par.ThreadPool(2)
        p.close()
        p.close()
        assert p.closed
        with pytest.raises(RuntimeError, match="closed"):
            p.join(lambda: 1, lambda: 2)
        assert all(not w.thread.is_alive() for w in p._workers)

    def test_install_racing_close_fails_or_finishes_never_hangs(self):
        """A root job slipped in between install's closed-check and close's final drain would
        wait for ever: force exactly that interleaving."""
        from collections import deque

        p = par.ThreadPool(2)
        closer = threading.Thread(target=p.close, daemon=True)

        class CloseBeforeAppend(deque):
            def append(self, job):
                if not closer.is_alive() and not p.closed:
                    closer.start()
                    closer.join(1.0)  # close runs to the end here, unless append blocks it
                super().append(job)

        p._injector = CloseBeforeAppend()
        try:
            assert _run_with_timeout(lambda: p.install(lambda: 42), timeout=15) == 42
        except RuntimeError as e:
            assert "closed" in str(e)
        closer.join(10)
        assert not closer.is_alive() and p.closed

    def test_many_installs_while_closing_never_hang(self):
        for _ in range(20):
            p = par.ThreadPool(2)
            outcomes = []

            def client(k):
                try:
                    outcomes.append(p.install(lambda: k) if k % 2 else p.join(lambda: k, lambda: -k))
                except RuntimeError as e:
                    assert "closed" in str(e)
                    outcomes.append("closed")

            clients = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(8)]
            for t in clients:
                t.start()
            p.close()
            for t in clients:
                t.join(10)
            assert not any(t.is_alive() for t in clients), "an install hung on a closing pool"
            assert len(outcomes) == len(clients)

    @pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (2.0, TypeError),
                                            ("2", TypeError), (True, TypeError)])
    def test_bad_num_threads(self, bad, error):
        with pytest.raises(error, match="num_threads"):
            par.ThreadPool(bad)

    @pytest.mark.parametrize("value, expect", [("3", "3"), ("zero", "ValueError"), ("0", "ValueError")])
    def test_course_num_threads_sizes_the_global_pool(self, value, expect):
        code = ("from course_lib import par\n"
                "try:\n    print(par.current_num_threads())\n"
                "except ValueError as e:\n    print('ValueError', e)\n")
        env = dict(os.environ, COURSE_NUM_THREADS=value)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.stdout.startswith(expect), out.stdout + out.stderr


# ============================================================================ statistics
class TestStatistics:
    def test_every_task_runs_exactly_once(self, pool):
        """With one leaf per item, the timeline has each index exactly once; counters agree."""
        with par.ThreadPool(pool.num_threads, record_timeline=True) as p:
            n = 300
            ran = []
            p.install(lambda: par.par_range(n).with_max_len(1).for_each(ran.append))
            stats = p.statistics()
            assert sorted(ran) == list(range(n))
            leaves = [e for e in stats.timeline if ":" in e.task]
            assert sorted(int(e.task.split(":")[0]) for e in leaves) == list(range(n))
            assert all(int(e.task.split(":")[1]) - int(e.task.split(":")[0]) == 1 for e in leaves)
            # n leaves need n - 1 joins: 2 tasks each, plus the root job
            assert stats.total_tasks == 2 * (n - 1) + 1
            assert stats.tasks_injected == 1
            assert len(stats.timeline) == stats.total_tasks + n
            assert all(0 <= s <= r for s, r in zip(stats.tasks_stolen, stats.tasks_run))
            assert all(e.start <= e.end <= stats.wall_seconds for e in stats.timeline)
            assert all(0 <= e.worker < p.num_threads for e in stats.timeline)

    def test_events_of_a_worker_nest_or_are_disjoint(self):
        with par.ThreadPool(2, record_timeline=True) as p:
            p.install(lambda: _tree_sum(8))
            by_worker = {}
            for e in p.statistics().timeline:
                by_worker.setdefault(e.worker, []).append(e)
            for events in by_worker.values():
                stack = []
                for e in sorted(events, key=lambda e: (e.start, -e.end)):
                    while stack and stack[-1].end <= e.start:
                        stack.pop()
                    assert not stack or e.end <= stack[-1].end + 1e-9, "events overlap on one thread"
                    stack.append(e)

    def test_reset_and_idle_time(self):
        with par.ThreadPool(2) as p:
            p.install(lambda: _tree_sum(6))
            assert p.statistics().total_tasks > 0
            p.reset_statistics()
            time.sleep(0.1)
            stats = p.statistics()
            assert stats.total_tasks == 0 and stats.timeline == ()
            assert stats.num_threads == 2
            # both workers are parked (on a busy machine one may park a little late)
            assert all(0 <= idle <= stats.wall_seconds + 1e-6 for idle in stats.idle_seconds)
            assert max(stats.idle_seconds) >= 0.05, stats

    def test_no_timeline_unless_asked(self, pool):
        pool.install(lambda: _tree_sum(4))
        assert pool.statistics().timeline == ()

    def test_contention_counters(self):
        """Parks, wake-ups and futile searches: one per worker, zeroed by a reset."""
        with par.ThreadPool(3) as p:
            p.install(lambda: par.par_range(64).with_max_len(1).for_each(
                lambda i: work_lib.cw_spin(20_000, i)))
            stats = p.statistics()
            for counts in (stats.parks, stats.wakeups, stats.futile_searches):
                assert len(counts) == 3 and all(isinstance(c, int) and c >= 0 for c in counts)
            # idle workers were woken to steal, and went back to sleep at the end
            assert sum(stats.wakeups) >= 1 and sum(stats.parks) >= 1
            time.sleep(0.05)
            p.reset_statistics()
            stats = p.statistics()
            assert stats.parks == stats.wakeups == stats.futile_searches == (0, 0, 0)

    def test_a_search_looks_in_every_other_deque(self):
        """Whichever victim it starts from, a thief finds a job in any other worker's deque
        (a regression test: a search that started past a victim used to skip it, and a worker
        that could not see the only job went round park-and-withdraw holding the GIL)."""
        from collections import deque
        from types import SimpleNamespace

        from course_lib.par.pool import _Worker

        fake_pool = SimpleNamespace(_injector=deque())
        workers = [_Worker(fake_pool, i) for i in range(4)]
        fake_pool._workers = workers
        for thief in workers:
            for victim in workers:
                if victim is thief:
                    continue
                for start in range(4):
                    thief.next_victim = start
                    victim.deque.append("job")
                    assert thief.find_work() == ("job", True)
        assert thief.find_work() == (None, False) and thief.futile == 1


# ============================================================================ parallel iterators
ints = st.lists(st.integers(-10**6, 10**6), max_size=300)
min_lens = st.integers(1, 50)


class TestIterators:
    @HYP
    @given(xs=ints, k=min_lens)
    def test_map_filter_collect_keep_order(self, pool, xs, k):
        got = pool.install(lambda: par.par_iter(xs).with_min_len(k).map(lambda x: 3 * x + 1)
                           .filter(lambda x: x % 2 == 0).collect())
        assert got == [y for y in (3 * x + 1 for x in xs) if y % 2 == 0]

    @HYP
    @given(xs=ints, k=min_lens)
    def test_consumers_match_sequential(self, pool, xs, k):
        it = par.par_iter(xs).with_min_len(k)
        run = pool.install
        assert run(it.sum) == sum(xs)
        assert run(it.count) == len(xs)
        assert run(it.filter(lambda x: x > 0).count) == sum(1 for x in xs if x > 0)
        assert run(it.min) == (min(xs) if xs else None)
        assert run(it.max) == (max(xs) if xs else None)
        assert run(lambda: it.reduce(lambda: 0, lambda a, b: a + b)) == sum(xs)
        assert run(lambda: it.map(str).reduce(str, lambda a, b: a + b)) == "".join(map(str, xs))
        assert run(lambda: it.fold(list, lambda acc, x: acc + [x]).reduce(list, lambda a, b: a + b)) == xs
        assert run(lambda: it.fold(int, lambda acc, x: acc + 1).sum()) == len(xs)

    @HYP
    @given(xs=st.lists(st.floats(-1e6, 1e6), max_size=300), k=min_lens)
    def test_float_sum_differs_by_rounding_only(self, pool, xs, k):
        got = pool.install(lambda: par.par_iter(np.array(xs)).with_min_len(k).sum())
        assert got == pytest.approx(sum(xs), rel=1e-9, abs=1e-6)
        got = pool.install(lambda: par.par_iter(xs).with_min_len(k).map(lambda v: v * 0.5).sum())
        assert got == pytest.approx(sum(x * 0.5 for x in xs), rel=1e-9, abs=1e-6)

    @HYP
    @given(start=st.integers(-50, 50), stop=st.integers(-50, 200), step=st.integers(-7, 7).filter(bool))
    def test_par_range_is_range(self, pool, start, stop, step):
        assert pool.install(par.par_range(start, stop, step).collect) == list(range(start, stop, step))

    def test_par_range_one_argument_and_errors(self):
        assert par.par_range(5).collect() == [0, 1, 2, 3, 4]
        with pytest.raises(ValueError, match="step"):
            par.par_range(0, 5, 0)
        with pytest.raises(TypeError, match="stop"):
            par.par_range(0, 5.0)

    def test_empty_inputs(self, pool):
        for it in (par.par_iter([]), par.par_range(0), par.par_iter(np.array([])),
                   par.par_chunks(np.array([]), 3)):
            assert pool.install(it.collect) == []
            assert pool.install(it.sum) == 0
            assert pool.install(it.count) == 0
            assert pool.install(it.min) is None and pool.install(it.max) is None
            assert pool.install(lambda: it.reduce(lambda: "id", lambda a, b: a + b)) == "id"
            assert pool.install(lambda: it.for_each(print)) is None

    def test_iterables_without_indexing_are_copied_in_order(self):
        assert par.par_iter(x * x for x in range(5)).collect() == [0, 1, 4, 9, 16]
        assert par.par_iter({"a": 1, "b": 2}).collect() == ["a", "b"]
        assert sorted(par.par_iter({3, 1, 2}).collect()) == [1, 2, 3]
        assert par.par_iter("héllo").map(str.upper).collect() == list("HÉLLO")

    def test_arrays_iterate_like_sequential(self, pool):
        a = np.arange(12).reshape(4, 3)
        rows = pool.install(par.par_iter(a).map(lambda r: int(r.sum())).collect)
        assert rows == [int(r.sum()) for r in a]
        with pytest.raises(TypeError, match="0-d"):
            par.par_iter(np.array(1.0))

    def test_for_each_sees_every_item_once(self, pool):
        seen = []
        pool.install(lambda: par.par_range(1000).with_min_len(7).for_each(seen.append))
        assert sorted(seen) == list(range(1000))

    @HYP
    @given(n=st.integers(0, 200), size=st.integers(1, 40), k=st.integers(1, 5))
    def test_par_chunks_are_views_of_the_right_sizes(self, pool, n, size, k):
        a = np.arange(n)
        chunks = pool.install(par.par_chunks(a, size).with_min_len(k).collect)
        expected = [a[i:i + size] for i in range(0, n, size)]
        assert len(chunks) == len(expected)
        for got, want in zip(chunks, expected):
            assert np.array_equal(got, want) and np.shares_memory(got, a)
        if chunks:
            assert all(len(c) == size for c in chunks[:-1]) and 1 <= len(chunks[-1]) <= size

    def test_par_chunks_sum_and_lists(self, pool):
        a = np.random.default_rng(3).random(10_001)
        got = pool.install(par.par_chunks(a, 1000).map(np.sum).sum)
        assert got == pytest.approx(a.sum(), rel=1e-12)
        assert par.par_chunks([1, 2, 3, 4, 5], 2).collect() == [[1, 2], [3, 4], [5]]

    @pytest.mark.parametrize("size, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                             (None, TypeError)])
    def test_par_chunks_bad_size(self, size, error):
        with pytest.raises(error, match="size"):
            par.par_chunks(np.arange(4), size)

    def test_bad_arguments_name_the_problem(self):
        it = par.par_range(4)
        with pytest.raises(TypeError, match="map"):
            it.map(3)
        with pytest.raises(TypeError, match="identity"):
            it.reduce(0, lambda a, b: a + b)
        with pytest.raises(TypeError, match="identity"):
            it.fold(0, lambda a, b: a + b)
        with pytest.raises(ValueError, match="with_min_len"):
            it.with_min_len(0)
        with pytest.raises(TypeError, match="iterable"):
            par.par_iter(42)
        with pytest.raises(TypeError, match="par_chunks"):
            par.par_chunks(42, 2)

    def test_exception_in_map_propagates(self, pool):
        def f(x):
            if x == 77:
                raise ZeroDivisionError("item 77")
            return x

        with pytest.raises(ZeroDivisionError, match="item 77"):
            _run_with_timeout(lambda: pool.install(par.par_range(200).with_max_len(3).map(f).collect))

    def test_min_and_max_len_bound_the_leaves(self):
        with par.ThreadPool(2, record_timeline=True) as p:
            p.install(lambda: par.par_range(1000).with_min_len(100).sum())
            sizes = [int(e.task.split(":")[1]) - int(e.task.split(":")[0])
                     for e in p.statistics().timeline if ":" in e.task]
            assert sum(sizes) == 1000 and min(sizes) >= 100
            p.reset_statistics()
            p.install(lambda: par.par_range(1000).with_max_len(10).sum())
            sizes = [int(e.task.split(":")[1]) - int(e.task.split(":")[0])
                     for e in p.statistics().timeline if ":" in e.task]
            assert sum(sizes) == 1000 and max(sizes) <= 10

    def test_min_len_wins_over_max_len(self):
        with par.ThreadPool(2, record_timeline=True) as p:
            p.install(lambda: par.par_range(300).with_min_len(100).with_max_len(10).sum())
            sizes = [int(e.task.split(":")[1]) - int(e.task.split(":")[0])
                     for e in p.statistics().timeline if ":" in e.task]
            assert sum(sizes) == 300 and min(sizes) >= 100

    def test_adaptive_splitting_makes_few_leaves_when_unstolen(self):
        """Rayon's splitter: about 2 * threads leaves for even work (not one per item)."""
        with par.ThreadPool(1, record_timeline=True) as p:
            p.install(lambda: par.par_range(100_000).sum())
            leaves = [e for e in p.statistics().timeline if ":" in e.task]
            assert 1 <= len(leaves) <= 4

    def test_stress_nested_iterators(self, pool):
        n = 200 * STRESS
        got = pool.install(lambda: par.par_range(n).map(
            lambda i: par.par_range(i).with_min_len(3).sum()).collect())
        assert got == [i * (i - 1) // 2 for i in range(n)]


# ============================================================================ par_sort
def _sort_cases():
    rng = np.random.default_rng(42)
    n = 100_000
    floats = rng.standard_normal(n)
    with_nan = floats.copy()
    with_nan[rng.integers(0, n, 500)] = np.nan
    special = np.array([np.inf, -0.0, np.nan, 0.0, -np.inf, 1.0, np.nan, -1.0] * 5000)
    return {
        "ints": rng.integers(-10**9, 10**9, n),
        "few_distinct_ints": rng.integers(0, 5, n).astype(np.int32),
        "uint8": rng.integers(0, 256, n).astype(np.uint8),
        "int8_full_range": rng.integers(-128, 128, n).astype(np.int8),
        "int16": rng.integers(-2**15, 2**15, n).astype(np.int16),
        "uint16": rng.integers(0, 2**16, n).astype(np.uint16),
        "uint64_huge": rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False),
        "int64_extremes": np.array([np.iinfo(np.int64).min, -1, 0, 1, np.iinfo(np.int64).max] * 20_000),
        "float16": rng.standard_normal(n).astype(np.float16),
        "negative_nan": np.where(rng.random(n) < 0.01, -np.nan, floats),
        "tiny_floats": np.array([5e-324, -5e-324, 1e-310, -1e-310, 0.0, -0.0] * 10_000),
        "floats": floats,
        "float32": floats.astype(np.float32),
        "nan": with_nan,
        "all_nan": np.full(50_000, np.nan),
        "inf_zero_nan": special,
        "empty": np.array([], dtype=np.float64),
        "one": np.array([3.5]),
        "two": np.array([2, 1]),
        "sorted": np.arange(n, dtype=np.float64),
        "reversed": np.arange(n, 0, -1),
        "small": rng.integers(0, 100, 37),
    }


@pytest.mark.parametrize("name", list(_sort_cases()))
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_par_sort_matches_np_sort(name, threads):
    a = _sort_cases()[name]
    expected = np.sort(a)
    with par.ThreadPool(threads) as p:
        got = a.copy()
        assert p.install(lambda: par.par_sort(got)) is None
    assert got.dtype == a.dtype
    np.testing.assert_array_equal(got, expected)  # NaN positions compared too


def test_par_sort_global_pool_and_views():
    rng = np.random.default_rng(7)
    a = rng.random(60_000)
    b = a.copy()
    par.par_sort(b)
    np.testing.assert_array_equal(b, np.sort(a))
    strided = rng.random(80_000)
    view = strided[::2]
    expected = np.sort(view)
    par.par_sort(view)
    np.testing.assert_array_equal(strided[::2], expected)
    big_endian = rng.random(50_000).astype(">f8")
    par.par_sort(big_endian)
    np.testing.assert_array_equal(big_endian, np.sort(big_endian))


@HYP
@given(xs=st.lists(st.one_of(st.floats(allow_nan=True), st.just(float("nan"))), max_size=60))
def test_par_sort_hypothesis_floats(xs):
    a = np.array(xs, dtype=np.float64)
    got = a.copy()
    par.par_sort(got)
    np.testing.assert_array_equal(got, np.sort(a))


@HYP
@given(data=st.data())
def test_par_sort_hypothesis_radix_path(data):
    """Arrays long enough for the radix leaves (>= 256 items), any dtype, any bit pattern."""
    from hypothesis.extra import numpy as hnp

    dtype = data.draw(st.sampled_from(["f8", "f4", "i8", "i4", "i1", "u8", "u2"]))
    a = data.draw(hnp.arrays(dtype, st.integers(256, 3000)))
    got = a.copy()
    par.par_sort(got)
    np.testing.assert_array_equal(got, np.sort(a))


def test_par_sort_parallel_merge_path():
    """Big enough for real leaves (65,536 items or more) and two levels of merges on 3 threads."""
    rng = np.random.default_rng(11)
    a = rng.integers(-1000, 1000, 300_000 * STRESS)
    with par.ThreadPool(3) as p:
        got = a.copy()
        p.install(lambda: par.par_sort(got))
    np.testing.assert_array_equal(got, np.sort(a))


@pytest.fixture(params=["numpy", "radix"])
def small_leaves(request, monkeypatch):
    """par_sort with tiny leaves (every level of merges on small arrays) and a pinned leaf sort."""
    from course_lib.par import sort as sort_module

    monkeypatch.setattr(sort_module, "_MIN_LEAF", 3)
    monkeypatch.setattr(sort_module, "_FORCE_LEAF", request.param)
    return request.param


@pytest.mark.parametrize("threads", [2, 3, 4, 7])
@pytest.mark.parametrize("name", ["ints", "few_distinct_ints", "uint8", "int64_extremes", "floats",
                                  "float32", "nan", "all_nan", "inf_zero_nan", "negative_nan",
                                  "tiny_floats", "sorted", "reversed", "small", "two"])
def test_par_sort_every_leaf_and_merge_level(small_leaves, threads, name):
    """Leaves of either kind on 2-7 threads: odd runs out, NaN tails, shares of every size."""
    a = _sort_cases()[name][:5000]
    with par.ThreadPool(threads) as p:
        got = a.copy()
        p.install(lambda: par.par_sort(got))
    np.testing.assert_array_equal(got, np.sort(a))


@HYP
@given(data=st.data())
def test_par_sort_hypothesis_merges(small_leaves, data):
    """Any bit pattern, any length, through leaves of 3+ items and the co-rank split merges."""
    from hypothesis.extra import numpy as hnp

    dtype = data.draw(st.sampled_from(["f8", "f4", "i8", "i4", "u8", "u2"]))
    a = data.draw(hnp.arrays(dtype, st.integers(0, 400)))
    threads = data.draw(st.sampled_from([2, 3, 5]))
    got = a.copy()
    with par.ThreadPool(threads) as p:
        p.install(lambda: par.par_sort(got))
    np.testing.assert_array_equal(got, np.sort(a))


def test_par_sort_numpy_leaves_are_bitwise_np_sort(monkeypatch):
    """With NumPy leaves the numbers are np.sort's bit for bit (when no -0.0/0.0 tie can come out
    in another order), and the NaNs are the ones np.sort writes (its SIMD sorts turn every NaN into
    the default quiet NaN, its scalar sort keeps them), perhaps in another order."""
    from course_lib.par import sort as sort_module

    monkeypatch.setattr(sort_module, "_FORCE_LEAF", "numpy")
    rng = np.random.default_rng(5)
    a = rng.standard_normal(200_000)
    nans = np.array([0x7FF8000000000001, 0xFFF8000000000002, 0x7FF0000000000003], np.uint64)
    a[rng.integers(0, len(a), 300)] = nans[rng.integers(0, 3, 300)].view(np.float64)
    got = a.copy()
    with par.ThreadPool(2) as p:
        p.install(lambda: par.par_sort(got))
    want = np.sort(a)
    numbers = ~np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), ~numbers)
    np.testing.assert_array_equal(got[numbers].view(np.uint64), want[numbers].view(np.uint64))
    assert sorted(got[~numbers].view(np.uint64)) == sorted(want[~numbers].view(np.uint64))


def test_leaf_sort_is_chosen_by_measurement():
    from course_lib.par import sort as sort_module

    for dt in ("f8", "f4", "i8"):
        kind = sort_module.leaf_sort_for(dt)
        times = sort_module.leaf_sort_times(dt)
        assert set(times) == {"numpy", "radix"} and min(times.values()) > 0
        assert kind == ("radix" if times["radix"] < sort_module._RADIX_EDGE * times["numpy"]
                        else "numpy")
        assert sort_module.leaf_sort_times(np.dtype(dt)) == times  # measured once, then cached


@pytest.mark.parametrize("bad, error, match", [
    ([3, 1, 2], TypeError, "NumPy array"),
    (np.array([1 + 2j]), TypeError, "dtype"),
    (np.array([True, False]), TypeError, "dtype"),
    (np.zeros((2, 2)), ValueError, "1-D"),
])
def test_par_sort_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        par.par_sort(bad)


def test_par_sort_read_only():
    a = np.arange(5.0)
    a.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        par.par_sort(a)


# ============================================================================ numba kernels
def test_map_and_sum_kernels_match_numpy():
    x = np.random.default_rng(0).uniform(-5, 5, 100_001)
    expected = np.sqrt(np.abs(x)) * np.sin(x) + np.cos(x) * np.exp(-x * x)
    np.testing.assert_allclose(par.map_sequential(x), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(par.map_prange(x), expected, rtol=1e-12, atol=1e-15)
    assert par.sum_sequential(x) == pytest.approx(x.sum(), rel=1e-10)
    assert par.sum_prange(x) == pytest.approx(x.sum(), rel=1e-10)
    assert par.sum_prange(np.array([])) == 0.0
    assert par.map_prange([]).shape == (0,)
    with pytest.raises(ValueError, match="1-D"):
        par.map_prange(np.zeros((2, 2)))


HISTOGRAMS = [par.histogram_sequential, par.histogram_thread_partials, par.histogram_chunk_partials]


@pytest.mark.parametrize("hist", HISTOGRAMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n, nbins", [(0, 3), (1, 1), (10, 4), (1_000_003, 2), (500_000, 1000)])
def test_correct_histograms_match_bincount(hist, n, nbins):
    data = np.random.default_rng(n).integers(0, nbins, n)
    for _ in range(3 if n > 1000 else 1):  # a race would show up on the big inputs
        np.testing.assert_array_equal(hist(data, nbins), np.bincount(data, minlength=nbins))


@pytest.mark.parametrize("hist", HISTOGRAMS + [par.histogram_racy], ids=lambda f: f.__name__)
def test_histogram_bad_input(hist):
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        hist(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="nbins"):
        hist(np.array([0]), 0)
    with pytest.raises(TypeError, match="integer"):
        hist(np.array([0.5]), 2)


def test_racy_histogram_really_loses_counts():
    """On 2 threads with one hot bin, the racy histogram loses increments (checked, not assumed).

    Two threads must really overlap for a count to be lost, and on a busy machine a try may run
    its halves one after the other; so tries go on for up to 20 s, each on more data than the
    last (a longer run overlaps more surely). Lost counts have shown up within the first few
    tries on every machine seen, with another process keeping one of two cores busy too.
    """
    import numba

    from course_lib.measure.machine import usable_cores

    if usable_cores() < 2 or numba.get_num_threads() < 2:
        pytest.skip("a race needs two threads running at once")
    n, totals = 20_000_000, []
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        data = np.zeros(n, np.int64)
        totals.append((n, int(par.histogram_racy(data, 1)[0])))
        assert totals[-1][1] <= n
        if totals[-1][1] < n:
            break
        n = min(2 * n, 80_000_000)
    assert any(got < size for size, got in totals), (
        f"the racy histogram never lost a count in {len(totals)} tries: has the compiler made the "
        "increments safe (or folded them into one add per thread)?")


def test_spin_kernels_match_c():
    assert par.spin(1000, 5) == work_lib.cw_spin(1000, 5)
    out = par.spin_prange(500, 8)
    assert [int(v) for v in out] == [int(work_lib.cw_spin(500, t)) for t in range(8)]


def test_public_api():
    assert set(par.__all__) <= set(dir(par))
    for name in par.__all__:
        obj = getattr(par, name)
        assert obj.__doc__, f"{name} has no docstring"





@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_global_pool_works_in_a_forked_child():
    import multiprocessing

    par.par_range(10).sum()  # make sure the parent's global pool exists
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as procs:
        assert procs.apply_async(_child_sum).get(timeout=60) == sum(range(1000))


def _child_sum():
    return par.par_range(1000).sum()
