"""course_lib.profile.threads (timelines of busy and waiting threads), .hotspot and .branches."""
from __future__ import annotations

import threading
import time

import matplotlib
import numpy as np
import pytest

from course_lib.profile import branches, hotspot, threads
from course_lib.profile.instructions import callgrind_available

matplotlib.use("Agg")


def test_recorder_sums_spans_per_thread_and_state():
    rec = threads.Recorder()
    rec.spans += [threads.Span("a", "busy", 0.0, 0.3), threads.Span("a", "wait send", 0.3, 0.4),
                  threads.Span("b", "wait recv", 0.0, 0.4)]
    s = rec.summary()
    assert s["a"]["busy"] == pytest.approx(0.3) and s["a"]["share busy"] == pytest.approx(0.75)
    assert s["b"]["share busy"] == 0.0 and rec.threads() == ["a", "b"]
    assert "busy %" in rec.table()
    assert rec.plot().get_xlabel() == "ms since start"
    with pytest.raises(ValueError, match="state"):
        rec.span("a", "sleeping")


def test_recorder_is_safe_from_many_threads():
    rec = threads.Recorder()

    def work(k):
        for _ in range(200):
            with rec.span(f"t{k}", "busy"):
                pass

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(rec.spans) == 800 and sorted(rec.threads()) == ["t0", "t1", "t2", "t3"]


def test_pipeline_keeps_order_and_shows_the_slow_stage():
    def slow(x):
        time.sleep(0.004)
        return x + 1

    out, rec = threads.run_pipeline([("fast", lambda x: x * 2), ("slow", slow),
                                     ("last", str)], range(30), capacity=2)
    assert out == [str(2 * i + 1) for i in range(30)]
    s = rec.summary()
    assert max(("fast", "slow", "last"), key=lambda n: s[n]["share busy"]) == "slow"
    assert s["fast"]["wait send"] > s["fast"]["wait recv"]
    assert s["last"]["wait recv"] > s["last"]["wait send"]


def test_pipeline_errors_and_timeouts_reach_the_caller():
    def boom(x):
        raise KeyError(x)

    with pytest.raises(KeyError):
        threads.run_pipeline([("boom", boom)], range(3))
    with pytest.raises(TimeoutError, match="within"):
        threads.run_pipeline([("stuck", lambda x: time.sleep(30))], range(2), timeout=0.5)
    with pytest.raises(ValueError, match="stage"):
        threads.run_pipeline([], range(2))


def test_log_pipeline_results_are_checksums():
    out, rec = threads.log_pipeline(count=3)
    assert len(out) == 3 and all(len(h) == 64 for h in out)
    assert set(rec.threads()) >= {"decode", "compress", "checksum"}


def test_hotspot_program_and_its_parts():
    lines = hotspot.make_log(100, users=7, seed=1)
    recs = hotspot.parse(lines)
    users = hotspot.unique_users(recs)
    assert len(users) == len(set(users)) <= 7 and users[0] == recs[0][0]
    assert sum(hotspot.totals(recs).values()) == sum(r[2] for r in recs)
    assert list(hotspot.analyse(100, seed=1)) == hotspot.unique_users(hotspot.parse(hotspot.make_log(100, seed=1)))
    with pytest.raises(ValueError):
        hotspot.make_log(-1)


def test_keep_large_matches_numpy():
    x, xs = branches.data(1001)
    out = np.empty_like(x)
    k = branches.keep_large(x, out, branches.THRESHOLD)
    assert np.array_equal(out[:k], x[x >= branches.THRESHOLD])
    assert np.array_equal(np.sort(x), xs)
    r = branches.sorted_vs_shuffled(n=10_000, repeats=1)
    assert r["sorted_ns"] > 0 and r["shuffled_ns"] > 0


@pytest.mark.skipif(not callgrind_available()[0], reason=callgrind_available()[1])
def test_simulated_branches_tell_the_orders_apart():
    """Same instructions (within 2%), far more simulated mispredictions when shuffled."""
    sim = branches.simulated_branches(n=4_000)
    s, u = sim["sorted"], sim["shuffled"]
    assert abs(u.count - s.count) <= 0.02 * s.count
    assert s.branches > 4_000 and u.branches > 4_000
    assert u.branch_misses > 5 * s.branch_misses  # (both include ~300 misses of the call itself)
    assert 0.3 <= (u.branch_misses - s.branch_misses) / 4_000 <= 0.7
