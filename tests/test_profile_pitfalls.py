"""course_lib.profile.pitfalls: each pitfall's wrong and right figures, where the relation is
structural (growth with the work, compilation against a call), never absolute times."""
import math

import numpy as np
import pytest

from course_lib.profile import pitfalls as P


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")


def test_a_deleted_loop_does_not_grow_with_the_work_and_the_fixed_one_does():
    p = P.deleted_loop(factor=16)
    print(p)
    assert p.right > 4 * p.wrong  # ~16 against ~1
    assert p.details["returned_growth"] > 4 * p.wrong
    assert "deleted" in p.name and p.unit.endswith("work")


def test_a_folded_constant_does_not_grow_with_the_work_and_a_value_does():
    p = P.constant_folded(factor=16)
    print(p)
    assert p.right > 4 * p.wrong
    small, big = p.details["black_box_s"]
    assert big > 4 * small  # black_box(SECRET) hides the constant as well as an argument does


def test_the_first_call_is_the_compiler():
    p = P.first_call()
    print(p)
    assert p.wrong > 10 * p.right  # milliseconds of compiling against a call of microseconds
    assert p.details["steady"].n >= 5


def test_cold_start_reports_its_series():
    p = P.cold_start(idle=0.05, samples=40, work=2000)
    print(p)
    assert p.wrong > 0 and p.right > 0
    assert len(p.details["series"]) == 40
    assert math.isclose(p.details["ramp"], p.wrong / p.right)
    with pytest.raises(ValueError):
        P.cold_start(samples=3)
    with pytest.raises(ValueError):
        P.cold_start(idle=-1)


def test_interleaving_protects_the_ratio_from_a_busy_neighbour():
    p = P.busy_neighbour()
    print(p)
    assert abs(math.log(p.right)) < abs(math.log(p.wrong))  # identical code: the truth is 1
    assert p.details["comparison"].a.n == p.details["comparison"].b.n


def test_arguments_are_checked_and_pitfalls_draw():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with pytest.raises(ValueError, match="factor"):
        P.deleted_loop(factor=1)
    with pytest.raises(ValueError):
        P.constant_folded(n=0)
    with pytest.raises(ValueError, match="budget"):
        P.busy_neighbour(budget=0)
    fake = P.Pitfall("x", "y", 1e-3, 1e-6, "s per call", "z")
    assert "wrong" in repr(fake) and fake.plot() is not None
    series = P.Pitfall("x", "y", 2.0, 1.0, "s per sample", "z", {"series": np.ones(5)})
    assert series.plot() is not None
    plt.close("all")
