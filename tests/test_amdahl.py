import numpy as np
import pytest

from course_lib.measure.amdahl import amdahl_speedup, fit_serial_fraction, gustafson_speedup


def test_amdahl_limits_and_known_values():
    assert amdahl_speedup(0.0, 8) == 8.0
    assert amdahl_speedup(1.0, 8) == 1.0
    assert amdahl_speedup(0.1, 10) == pytest.approx(1 / 0.19)
    assert amdahl_speedup(0.1, 10**9) == pytest.approx(10.0, rel=1e-6)  # bounded by 1/s
    assert np.allclose(amdahl_speedup(0.5, [1, 2, 4]), [1.0, 4 / 3, 1.6])


def test_gustafson_grows_linearly():
    assert gustafson_speedup(0.1, 10) == pytest.approx(9.1)
    assert gustafson_speedup(0.0, 64) == 64.0


@pytest.mark.parametrize("bad", [(-0.01, 2), (1.01, 2), (0.1, 0), (0.1, float("nan"))])
def test_bad_input_is_rejected(bad):
    with pytest.raises(ValueError):
        amdahl_speedup(*bad)
    with pytest.raises(ValueError):
        gustafson_speedup(*bad)


@pytest.mark.parametrize("s", [0.0, 0.03, 0.2, 0.75, 1.0])
def test_fit_recovers_exact_fraction(s):
    n = [1, 2, 3, 4, 8, 16]
    assert fit_serial_fraction(n, amdahl_speedup(s, n)) == pytest.approx(s, abs=1e-12)


def test_fit_edge_cases():
    assert np.isnan(fit_serial_fraction([1, 1], [1.0, 1.0]))
    assert fit_serial_fraction([1, 2, 4], [1.0, 2.2, 4.5]) == 0.0  # superlinear clips to 0
    with pytest.raises(ValueError):
        fit_serial_fraction([1, 2], [1.0])
    with pytest.raises(ValueError):
        fit_serial_fraction([1, 2], [1.0, 0.0])
