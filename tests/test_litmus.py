"""Tests for course_lib.atomics.litmus: the model explorer against the published results, and the
hardware runner against the model of this machine (x86-TSO on x86)."""
from __future__ import annotations

import platform

import pytest

from course_lib.atomics import Ordering
from course_lib.atomics.litmus import (HARDWARE_TESTS, MODELS, TESTS, LitmusTest, allowed, run,
                                       usable_cpus)
from course_lib.config import stress

X86 = platform.machine().lower() in ("x86_64", "amd64")
STRESS = stress()
ALL4 = {(a, b) for a in (0, 1) for b in (0, 1)}


# ----------------------------------------------------------------------------- explorer
def test_sb_published():
    assert allowed("SB", "SC") == ALL4 - {(0, 0)}
    assert allowed("SB", "TSO") == ALL4          # the store buffer lets both loads miss
    assert allowed("SB", "TSO", fenced=True) == allowed("SB", "SC")  # mfence restores SC


def test_mp_published():
    for model in MODELS:
        assert allowed("MP", model) == ALL4 - {(1, 0)}


def test_lb_published():
    for model in MODELS:
        assert allowed("LB", model) == ALL4 - {(1, 1)}


def test_2p2w_published():
    for model in MODELS:
        assert allowed("2+2W", model) == {(1, 2), (2, 1), (2, 2)}


def test_iriw_published():
    every = {(a, b, c, d) for a in (0, 1) for b in (0, 1) for c in (0, 1) for d in (0, 1)}
    for model in MODELS:
        assert allowed("IRIW", model) == every - {(1, 0, 1, 0)}


def test_tso_store_forwarding_and_custom_tests():
    # A thread always sees its own store at once (forwarding), even while it is buffered:
    # t0: x=1; r0=x; r1=y   t1: y=1; r2=y; r3=x  -> r0 = r2 = 1 always, and r1 = r3 = 0 is
    # allowed under TSO (the classic "n6"-style consequence of forwarding), not under SC.
    t = LitmusTest("fwd", ((("W", "x", 1), ("R", "x", "r0"), ("R", "y", "r1")),
                           (("W", "y", 1), ("R", "y", "r2"), ("R", "x", "r3"))),
                   ("r0", "r1", "r2", "r3"), (1, 0, 1, 0), "forwarding")
    tso, sc = allowed(t, "TSO"), allowed(t, "SC")
    assert all(o[0] == 1 and o[2] == 1 for o in tso | sc)
    assert (1, 0, 1, 0) in tso and (1, 0, 1, 0) not in sc
    assert sc <= tso  # TSO only adds behaviours


def test_explorer_errors_and_text():
    with pytest.raises(ValueError, match="unknown model"):
        allowed("SB", "ARM")
    with pytest.raises(ValueError, match="unknown litmus test"):
        allowed("XY", "SC")
    text = str(TESTS["MP"])
    assert "x = 1" in text and "r0 = y" in text and "(1, 0)" in text


# ----------------------------------------------------------------------------- hardware
@pytest.mark.parametrize("name", HARDWARE_TESTS)
@pytest.mark.parametrize("ordering", [Ordering.Relaxed, Ordering.AcqRel, Ordering.SeqCst])
def test_hardware_never_shows_what_the_machine_model_forbids(name, ordering):
    result = run(name, ordering, iterations=100_000 * STRESS)
    assert result.iterations > 0 and sum(result.counts.values()) == result.iterations
    # SeqCst everywhere gives SC on every machine; x86 never goes beyond TSO.
    if ordering is Ordering.SeqCst:
        assert not result.seen_forbidden("SC"), result
    if X86:
        assert not result.seen_forbidden("TSO"), result


@pytest.mark.skipif(not X86, reason="the x86 store buffer; ARM shows it too, plus more")
def test_sb_store_buffer_shows_on_x86_and_fences_remove_it():
    if len(usable_cpus()) < 2:
        pytest.skip("one usable core: the threads cannot overlap")
    for ordering in (Ordering.Relaxed, Ordering.AcqRel):
        result = run("SB", ordering)  # the default run, as the notebook does
        assert result.count((0, 0)) > 0, result
        assert result.pinned, result
    for fenced, ordering in ((True, Ordering.Relaxed), (False, Ordering.SeqCst)):
        result = run("SB", ordering, fenced=fenced, iterations=300_000 * STRESS)
        assert result.count((0, 0)) == 0, result


def test_result_reporting():
    result = run("MP", Ordering.AcqRel, iterations=5_000)
    assert "MP with AcqRel" in str(result) and "<table>" in result._repr_html_()
    assert {row[0] for row in result.rows()} >= allowed("MP", "TSO")
    assert result.count((9, 9)) == 0


def test_run_errors():
    with pytest.raises(ValueError, match="four threads"):
        run("IRIW")
    with pytest.raises(ValueError, match="AcqRel"):
        run("SB", Ordering.Acquire)
    with pytest.raises(TypeError, match="Ordering member"):
        run("SB", 0)
    with pytest.raises(ValueError, match="two distinct CPUs"):
        run("SB", cpus=(0, 0))
    with pytest.raises(ValueError, match="positive"):
        run("SB", iterations=0)


def test_time_limit_stops_early():
    result = run("SB", iterations=10 ** 12, max_seconds=0.2)
    assert 0 < result.iterations < 10 ** 12 and any("stopped" in n for n in result.notes)
