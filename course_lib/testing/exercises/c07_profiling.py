"""Checkers for chapter c07_profiling: find and fix a hot spot, explain a slowdown from
counters, repair a benchmark that measures nothing, and read a pipeline's timeline.

Speed is graded as ratios taken in the same run (interleaved rounds), or as how a time *scales*
with the work, never against a fixed number; counts are graded against the grader's own
measurement on the grading machine, with a fallback where that machine has no counters.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
from numba import njit

from course_lib.measure.bench import interleave
from course_lib.profile import hotspot
from course_lib.testing.delegation import named, own_work
from course_lib.testing.exercises import seal

__all__ = ["check_hot_spot", "check_branch_reading", "check_scaling_benchmark", "check_pipeline_reading",
           "CAUSES", "can_count_branches",
           "sum_sq", "repeat_broken", "STAGE_NAMES", "WAIT_CHOICES"]


# ---------------------------------------------------------------------------- exercise 1
def _logs() -> list[list[tuple[str, str, int]]]:
    cases = [[], hotspot.parse(hotspot.make_log(1)), hotspot.parse(hotspot.make_log(50, users=1))]
    for seed, (n, users) in enumerate(((200, 30), (1000, 900), (3000, 100))):
        cases.append(hotspot.parse(hotspot.make_log(n, users=users, seed=seed)))
    cases.append([("b", "get", 1), ("a", "get", 2), ("b", "put", 3), ("c", "get", 4), ("a", "get", 5)])
    return cases


def check_hot_spot(hot: Any, unique_users_fast: Callable, n_speed: int = 12_000,
                   budget: float = 1.0) -> None:
    """Grade ``HOT`` (the name of the function that takes most of ``hotspot.analyse``'s time)
    and ``unique_users_fast(records)``: the same list as :func:`hotspot.unique_users` (users in
    order of first appearance) on awkward logs, and at least 5x faster on ``n_speed`` lines,
    timed against the original in the same run (a quadratic scan is 50x+ slower there).
    """
    names = ("make_log", "parse", "unique_users", "totals", "analyse")
    if not isinstance(hot, str):
        raise AssertionError(f"HOT should be a function's name as a string, got {type(hot).__name__}")
    if hot.strip().split(".")[-1].rstrip("()") != "unique_users":
        hint = (" (analyse is the whole program: its *cumulative* time includes everything it "
                "calls; look at each function's own time)" if "analyse" in hot else
                f" (one of {', '.join(names)}: sort the profile by tottime)")
        raise AssertionError(f"HOT = {hot!r} is not where this program spends its time{hint}")
    with own_work(unique_users_fast, named(hotspot.unique_users), "unique_users_fast"):
        _grade_unique_users(unique_users_fast, n_speed, budget)


def _grade_unique_users(unique_users_fast: Callable, n_speed: int, budget: float) -> None:
    for records in _logs():
        want = hotspot.unique_users(records)
        try:
            got = unique_users_fast(list(records))
        except Exception as exc:
            raise AssertionError(f"unique_users_fast raised {type(exc).__name__}: {exc} on "
                                 f"{len(records)} records") from None
        if not isinstance(got, list):
            raise AssertionError(f"unique_users_fast should return a list, got {type(got).__name__}")
        if got != want:
            what = ("the same users in another order: keep the order of first appearance"
                    if sorted(got) == sorted(want) else "a different set of users")
            raise AssertionError(f"unique_users_fast on {len(records)} records gave {what}; "
                                 f"first users {got[:4]} vs {want[:4]}")
    records = hotspot.parse(hotspot.make_log(n_speed, seed=9))
    original = hotspot.unique_users
    slow, fast = interleave([("original", lambda: original(records)),
                             ("yours", lambda: unique_users_fast(records))], budget=budget)
    ratio = slow.median / fast.median
    print(f"unique_users on {n_speed:,} lines: original {slow.median * 1e3:.1f} ms, yours "
          f"{fast.median * 1e3:.2f} ms ({ratio:.0f}x, same run)")
    if ratio < 5:
        raise AssertionError(f"unique_users_fast is only {ratio:.1f}x faster than the original "
                             "in the same run: the membership test must not scan a list (a set "
                             "or dict answers 'seen before?' in constant time)")


# ---------------------------------------------------------------------------- exercise 2
CAUSES = ("branch mispredictions", "cache misses", "more instructions", "page faults")


def can_count_branches() -> tuple[bool, str]:
    """Can this machine count mispredicted branches: hardware counters, or callgrind's
    simulator? ``(True, how)`` or ``(False, why not)``."""
    from course_lib.profile.counters import counters
    from course_lib.profile.instructions import callgrind_available

    hw = counters(lambda: None, events=("branch-misses",))
    if hw.get("branch-misses") is not None:
        return True, "hardware counters"
    ok, why = callgrind_available()
    if ok:
        return True, "callgrind's branch simulator"
    return False, f"no hardware counters ({hw.why_not}) and no callgrind ({why})"


def check_branch_reading(cause: Any, misses_per_element: Any,
                         counting: tuple[bool, str] | None = None) -> None:
    """Grade ``CAUSE`` (why ``keep_large`` is several times slower on shuffled data than on
    the same values sorted) and ``MISSES_PER_ELEMENT`` (mispredicted branches per element on
    the shuffled data, from the learner's counters or callgrind's simulation).

    The data are uniform in 0..255 and the threshold is 128: on shuffled data the branch is a
    coin toss, which any predictor, real or simulated, gets wrong about half the time, so a
    measured value lies near 0.5 (accepted: 0.3 to 0.7). Where this machine can count neither
    way (``counting``, default :func:`can_count_branches`), ``None`` is the right answer.
    """
    if cause not in CAUSES:
        raise AssertionError(f"CAUSE should be one of {CAUSES}, got {cause!r}")
    if cause != "branch mispredictions":
        why = {"cache misses": "both runs read the same bytes in the same order, one line after "
                               "the other: the prefetcher serves both alike",
               "more instructions": "callgrind counts the same instructions for both orders "
                                    "(within 1%)",
               "page faults": "the arrays are allocated and touched before the timed calls"}[cause]
        raise AssertionError(f"CAUSE = {cause!r}: not that: {why}. What changes with the order "
                             "is how predictable the `if` is")
    able, how = counting if counting is not None else can_count_branches()
    if misses_per_element is None:
        if able:
            raise AssertionError(f"MISSES_PER_ELEMENT is None, but this machine can count "
                                 f"mispredictions ({how}): measure them")
        print(f"CAUSE right; no counts here ({how})")
        return
    if isinstance(misses_per_element, bool) or not isinstance(
            misses_per_element, (int, float, np.integer, np.floating)):
        raise AssertionError(f"MISSES_PER_ELEMENT should be a number (or None where nothing can "
                             f"count), got {misses_per_element!r}")
    v = float(misses_per_element)
    if not 0.3 <= v <= 0.7:
        hint = (" (that is a total: divide by the number of elements)" if v > 10 else
                " (a percentage? give a fraction per element)" if 10 < v * 10 <= 700 and v > 1 else
                " (that looks like the sorted run: the question is about the shuffled one)"
                if v < 0.1 else "")
        raise AssertionError(f"MISSES_PER_ELEMENT = {v:g}: on shuffled 50/50 data a predictor "
                             f"misses about every second element{hint}")
    print(f"CAUSE right; {v:.2f} mispredictions per element ({how} available here)")


# ---------------------------------------------------------------------------- exercise 3
@njit
def sum_sq(x):
    """The kernel being benchmarked."""
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return s


@njit
def repeat_broken(x, reps):
    """The benchmark that measures nothing: the result of each call is thrown away, the
    compiler inlines ``sum_sq``, sees a loop whose result is unused, and deletes it."""
    for _ in range(reps):
        sum_sq(x)
    return 0.0


def _seconds(fn: Callable, x: np.ndarray, reps: int) -> Callable[[], object]:
    return lambda: fn(x, reps)


def check_scaling_benchmark(repeat_fixed: Callable, n: int = 1 << 14, reps: int = 64,
                            budget: float = 1.0) -> None:
    """Grade ``repeat_fixed(x, reps)``: a numba function that runs ``sum_sq(x)`` ``reps``
    times so that the work is really done, and returns the sum of the results.

    1. The value: ``reps * sum_sq(x)`` (relative error 1e-9) for a few ``x`` and ``reps``.
    2. The work is done: in interleaved rounds of the same run, 4x the repetitions takes at
       least 2x the time, and so does 4x the data (a deleted or hoisted loop takes the same
       time whatever ``reps`` is).
    """
    if not hasattr(repeat_fixed, "py_func"):
        raise AssertionError("repeat_fixed should be a numba function (@njit): the point is "
                             "what the compiler does to the loop")
    rng = np.random.default_rng(2)
    for size, r in ((1, 1), (10, 3), (1000, 7)):
        x = rng.random(size)
        want = r * sum_sq(x)
        try:
            got = float(repeat_fixed(x, r))
        except Exception as exc:
            raise AssertionError(f"repeat_fixed raised {type(exc).__name__}: {exc}") from None
        if not abs(got - want) <= 1e-9 * abs(want):
            raise AssertionError(f"repeat_fixed(x of {size}, reps={r}) returned {got!r}; the sum "
                                 f"of {r} calls of sum_sq(x) is {want!r}")
    x, x4 = rng.random(n), rng.random(4 * n)
    one, more_reps, more_data = interleave([
        ("reps", _seconds(repeat_fixed, x, reps)),
        ("4x reps", _seconds(repeat_fixed, x, 4 * reps)),
        ("4x data", _seconds(repeat_fixed, x4, reps))], budget=budget)
    by_reps, by_data = more_reps.median / one.median, more_data.median / one.median
    print(f"repeat_fixed: {one.median * 1e6:.1f} µs for {reps} x {n:,}; 4x reps {by_reps:.2f}x "
          f"the time, 4x data {by_data:.2f}x (same run)")
    if by_reps < 2:
        raise AssertionError(
            f"4x the repetitions took {by_reps:.2f}x the time: the repetitions are not all done. "
            "If each call's result is unused, the compiler deletes the call; if the loop "
            "computes the same value every time, it computes it once (hoisting). Make every "
            "call's input or output opaque, e.g. pass the data through bench.black_box")
    if by_data < 2:
        raise AssertionError(f"4x the data took {by_data:.2f}x the time: the kernel's work "
                             "is not all done")


# ---------------------------------------------------------------------------- exercise 4
STAGE_NAMES = ("decode", "compress", "checksum")
WAIT_CHOICES = ("send", "recv")


def check_pipeline_reading(bottleneck: Any, waits: Mapping[str, Any],
                           recorder: Any = None) -> None:
    """Grade ``BOTTLENECK`` (the stage that limits :func:`course_lib.profile.threads.log_pipeline`)
    and ``WAITS = {stage: "send" | "recv"}`` (what each *other* stage mostly waits for).

    The truth comes from a timeline the grader records now (or ``recorder``): the bottleneck
    is the stage with the largest busy share; the others' answer is their larger wait.
    """
    from course_lib.profile.threads import log_pipeline

    if recorder is None:
        _, recorder = log_pipeline()
    rows = recorder.summary()
    stages = [s for s in STAGE_NAMES if s in rows]
    truth = max(stages, key=lambda s: rows[s]["share busy"])
    if not isinstance(bottleneck, str) or bottleneck not in STAGE_NAMES:
        raise AssertionError(f"BOTTLENECK should be one of {STAGE_NAMES}, got {bottleneck!r}")
    if bottleneck != truth:
        raise AssertionError(
            f"BOTTLENECK = {bottleneck!r}: on the timeline it waits {_main_wait(rows[bottleneck])} "
            f"{1 - rows[bottleneck]['share busy']:.0%} of the time. The bottleneck is the stage "
            "that is busy nearly all the time")
    if not isinstance(waits, Mapping):
        raise AssertionError(f"WAITS should be a dict {{stage: 'send' or 'recv'}}, got {type(waits).__name__}")
    others = [s for s in stages if s != truth]
    missing = [s for s in others if s not in waits]
    if missing:
        raise AssertionError(f"WAITS lacks {missing}: say what each stage other than the "
                             "bottleneck waits for")
    for s in others:
        got, want = waits[s], _main_wait(rows[s])
        if got not in WAIT_CHOICES:
            raise AssertionError(f"WAITS[{s!r}] should be 'send' or 'recv', got {got!r}")
        if got != want:
            where = "before" if STAGE_NAMES.index(s) < STAGE_NAMES.index(truth) else "after"
            raise AssertionError(
                f"WAITS[{s!r}] = {got!r}: {s} comes {where} the bottleneck, and the timeline "
                f"shows it waiting to {want} ({rows[s]['wait ' + want] * 1e3:.0f} ms). "
                + ("Its output channel is full: back-pressure" if want == "send"
                   else "Its input channel is empty: starved"))
    print(f"bottleneck {truth} (busy {rows[truth]['share busy']:.0%}); "
          + ", ".join(f"{s} waits to {_main_wait(rows[s])}" for s in others))


def _main_wait(row: Mapping[str, float]) -> str:
    return "send" if row["wait send"] >= row["wait recv"] else "recv"


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_hot_spot", "check_branch_reading", "check_scaling_benchmark",
           "check_pipeline_reading")
seal(__name__)
