import numpy as np
import pytest

from course_lib.measure.stats import bootstrap_ci, format_seconds, tukey_outliers


def test_tukey_classifies_each_side():
    x = [10.0] * 20 + [11.0] * 20 + [13.0, 14.5, 1.0]  # Q1=10, Q3=11, IQR=1
    o = tukey_outliers(x)
    assert (o.low_severe, o.low_mild, o.high_mild, o.high_severe) == (1, 0, 1, 1)
    assert o.total == 3 and "3 outliers" in str(o)
    assert str(tukey_outliers([1.0, 1.0, 1.0])) == "no outliers"


def test_bootstrap_ci_brackets_the_median_and_narrows_with_more_data():
    rng = np.random.default_rng(1)
    small, large = rng.normal(5, 1, 20), rng.normal(5, 1, 2000)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s <= np.median(small) <= hi_s
    assert hi_l - lo_l < (hi_s - lo_s) / 3
    assert bootstrap_ci([3.0]) == (3.0, 3.0)
    assert bootstrap_ci(small) == bootstrap_ci(small)  # seeded: reproducible


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError):
        bootstrap_ci([1.0], level=1.0)


@pytest.mark.parametrize("value,text", [(2.5, "2.5 s"), (1.23e-3, "1.23 ms"), (4.5e-6, "4.5 µs"), (7e-9, "7 ns")])
def test_format_seconds(value, text):
    assert format_seconds(value) == text
