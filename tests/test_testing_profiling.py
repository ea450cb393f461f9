"""The c07 checkers keep the graders' contract: plausible wrong answers fail, correct answers
written differently pass."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from numba import njit

from contract import case, right, wrong
from course_lib.measure.bench import black_box
from course_lib.profile import hotspot
from course_lib.profile.threads import Recorder, Span
from course_lib.testing.exercises import c07_profiling as c

HOT = "c07_profiling:test_hot_spot"
BENCH = "c07_profiling:test_benchmark"
PIPE = "c07_profiling:test_pipeline"


# ---------------------------------------------------------------------------- exercise 1
def users_dict(records):
    return list(dict.fromkeys(u for u, _, _ in records))


def users_seen_set(records):
    seen, out = set(), []
    for user, _, _ in records:
        if user not in seen:
            seen.add(user)
            out.append(user)
    return out


def users_ordered_dict(records):
    return list(OrderedDict((r[0], None) for r in records).keys())


def users_set(records):
    return list({u for u, _, _ in records})


def users_sorted(records):
    return sorted({u for u, _, _ in records})


def users_still_quadratic(records):
    out = []
    for user, _, _ in records:
        if out.count(user) == 0:
            out.append(user)
    return out


def users_generator(records):
    return (u for u in dict.fromkeys(r[0] for r in records))


def users_delegates(records):
    return hotspot.unique_users(records)


@pytest.mark.parametrize("hot, fn", [
    case("unique_users", users_dict, mark=right(HOT, "dict.fromkeys"), id="fromkeys"),
    case("unique_users", users_seen_set, mark=right(HOT, "a seen set and a list"), id="seen-set"),
    case("hotspot.unique_users()", users_ordered_dict, mark=right(HOT, "OrderedDict, qualified name"), id="ordered"),
])
def test_hot_spot_accepts(hot, fn, capsys):
    c.check_hot_spot(hot, fn)
    assert "same run" in capsys.readouterr().out


@pytest.mark.parametrize("hot, fn, match", [
    case("analyse", users_dict, "cumulative", mark=wrong(HOT, "the top-level function"), id="analyse"),
    case("parse", users_dict, "not where", mark=wrong(HOT, "another function"), id="parse"),
    case("unique_users", users_set, "order", mark=wrong(HOT, "a set loses the order"), id="set"),
    case("unique_users", users_sorted, "order", mark=wrong(HOT, "sorted instead of first seen"), id="sorted"),
    case("unique_users", users_still_quadratic, "faster", mark=wrong(HOT, "still quadratic"), id="quadratic"),
    case("unique_users", users_generator, "return a list", mark=wrong(HOT, "a generator"), id="generator"),
    case("unique_users", users_delegates, "write it yourself", mark=wrong(HOT, "calls the original"), id="delegates"),
])
def test_hot_spot_rejects(hot, fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_hot_spot(hot, fn)


# ---------------------------------------------------------------------------- exercise 2
BRANCH = "c07_profiling:test_branches"
CAN = (True, "callgrind's branch simulator")
CANNOT = (False, "no hardware counters and no callgrind")


@pytest.mark.parametrize("cause, misses, counting", [
    case("branch mispredictions", 0.52, CAN, mark=right(BRANCH, "simulated misses per element"), id="simulated"),
    case("branch mispredictions", np.float64(0.47), CAN, mark=right(BRANCH, "a NumPy float from counters"), id="numpy"),
    case("branch mispredictions", None, CANNOT, mark=right(BRANCH, "None where nothing counts"), id="none"),
])
def test_branches_accepts(cause, misses, counting, capsys):
    c.check_branch_reading(cause, misses, counting=counting)
    assert "CAUSE right" in capsys.readouterr().out


@pytest.mark.parametrize("cause, misses, match", [
    case("cache misses", 0.5, "same bytes", mark=wrong(BRANCH, "cache misses")),
    case("more instructions", 0.5, "same instructions", mark=wrong(BRANCH, "more instructions")),
    case("branch misprediction", 0.5, "one of", mark=wrong(BRANCH, "not a listed cause")),
    case("branch mispredictions", 10315, "a total", mark=wrong(BRANCH, "a total, not per element")),
    case("branch mispredictions", 0.016, "sorted run", mark=wrong(BRANCH, "the sorted run's figure")),
    case("branch mispredictions", None, "can count", mark=wrong(BRANCH, "None where counting works")),
    case("branch mispredictions", "0.5", "a number", mark=wrong(BRANCH, "a string")),
])
def test_branches_rejects(cause, misses, match):
    with pytest.raises(AssertionError, match=match):
        c.check_branch_reading(cause, misses, counting=CAN)


def test_can_count_branches_answers_with_a_reason():
    able, how = c.can_count_branches()
    assert isinstance(able, bool) and how


# ---------------------------------------------------------------------------- exercise 3
@njit
def fixed_total(x, reps):
    t = 0.0
    for _ in range(reps):
        t += c.sum_sq(x)
    return t


@njit
def fixed_black_box(x, reps):
    t = 0.0
    for _ in range(reps):
        t += c.sum_sq(black_box(x))
    return black_box(t)


@njit
def fixed_inline(x, reps):
    total = 0.0
    for _ in range(reps):
        s = 0.0
        for i in range(x.shape[0]):
            s += x[i] * x[i]
        total += s
    return total


@njit
def once_times_reps(x, reps):  # the right value, computed once
    return reps * c.sum_sq(x)


@njit
def hoisted_by_hand(x, reps):  # the kernel moved out of the loop: a loop of additions is timed
    s = c.sum_sq(x)
    t = 0.0
    for _ in range(reps):
        t += s
    return t


def python_loop(x, reps):
    return sum(float(c.sum_sq(x)) for _ in range(reps))


@pytest.mark.parametrize("fn", [
    case(fixed_total, mark=right(BENCH, "accumulate the results")),
    case(fixed_black_box, mark=right(BENCH, "black_box")),
    case(fixed_inline, mark=right(BENCH, "the kernel written inline")),
])
def test_benchmark_accepts(fn, capsys):
    c.check_scaling_benchmark(fn)
    assert "4x reps" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(c.repeat_broken, "returned 0.0", mark=wrong(BENCH, "results discarded")),
    case(once_times_reps, "repetitions are not all done", mark=wrong(BENCH, "computed once")),
    case(hoisted_by_hand, "repetitions are not all done", mark=wrong(BENCH, "kernel hoisted out of the loop")),
    case(python_loop, "numba function", mark=wrong(BENCH, "a Python loop around it")),
])
def test_benchmark_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_scaling_benchmark(fn)


def test_the_broken_benchmark_really_measures_nothing():
    """The premise of the exercise, on this machine: the broken loop does not scale."""
    from course_lib.measure.bench import interleave

    x = np.random.default_rng(0).random(1 << 14)
    a, b = interleave([("64", lambda: c.repeat_broken(x, 64)),
                       ("4096", lambda: c.repeat_broken(x, 4096))], budget=0.3)
    assert b.median / a.median < 4, "64x the repetitions should cost (almost) nothing more"


# ---------------------------------------------------------------------------- exercise 4
def _recorder(busy: dict[str, float], waits: dict[str, tuple[float, float]]) -> Recorder:
    rec = Recorder()
    for name in c.STAGE_NAMES:
        t = 0.0
        for state, dt in (("busy", busy[name]), ("wait send", waits[name][0]),
                          ("wait recv", waits[name][1])):
            rec.spans.append(Span(name, state, t, t + dt))
            t += dt
    return rec


SYNTH = _recorder({"decode": 0.01, "compress": 0.9, "checksum": 0.01},
                  {"decode": (0.8, 0.0), "compress": (0.0, 0.01), "checksum": (0.0, 0.9)})


@pytest.mark.parametrize("bottleneck, waits", [
    case("compress", {"decode": "send", "checksum": "recv"}, mark=right(PIPE, "as the timeline shows"), id="exact"),
    case("compress", {"checksum": "recv", "decode": "send", "compress": "recv"},
         mark=right(PIPE, "the bottleneck listed too"), id="with-bottleneck"),
])
def test_pipeline_accepts(bottleneck, waits, capsys):
    c.check_pipeline_reading(bottleneck, waits, recorder=SYNTH)
    c.check_pipeline_reading(bottleneck, waits)  # and on a timeline recorded now
    assert "bottleneck compress" in capsys.readouterr().out


@pytest.mark.parametrize("bottleneck, waits, match", [
    case("decode", {"compress": "send", "checksum": "recv"}, "busy nearly all", mark=wrong(PIPE, "the first stage")),
    case("checksum", {"decode": "send", "compress": "send"}, "busy nearly all", mark=wrong(PIPE, "the last stage")),
    case("compress", {"decode": "recv", "checksum": "send"}, "back-pressure", mark=wrong(PIPE, "waits swapped")),
    case("compress", {"decode": "send", "checksum": "send"}, "starved", mark=wrong(PIPE, "everyone waits to send")),
    case("compress", {"decode": "send"}, "lacks", mark=wrong(PIPE, "a stage missing")),
    case("Compress", {"decode": "send", "checksum": "recv"}, "one of", mark=wrong(PIPE, "not a stage name")),
])
def test_pipeline_rejects(bottleneck, waits, match):
    with pytest.raises(AssertionError, match=match):
        c.check_pipeline_reading(bottleneck, waits, recorder=SYNTH)
