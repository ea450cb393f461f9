"""course_lib.profile.pyprof: cProfile, pyinstrument and line_profiler as returned text."""
import pytest

from course_lib.profile import pyprof


def _inner(n):
    return sum(i * i for i in range(n))


def _outer(n):
    return _inner(n) + _inner(n // 2)


def test_cprofile_table():
    r = pyprof.cprofile(_outer, 10_000, sort="tottime", top=5)
    assert r.value == _outer(10_000) and r.tool == "cProfile" and r.available
    assert 0 < len(r.rows) <= 5
    inner = [row for row in r.rows if row.function.endswith("(_inner)")]
    assert inner and inner[0].ncalls == 2
    assert "_inner" in r.text and repr(r) == r.text
    with pytest.raises(ValueError, match="sort"):
        pyprof.cprofile(_outer, 10, sort="speed")
    with pytest.raises(TypeError):
        pyprof.cprofile(42)


def test_pyinstrument_and_line_profiler_return_text_or_say_how_to_install():
    r = pyprof.pyinstrument_report(_outer, 200_000)
    if r.available:
        assert r.value == _outer(200_000) and "_outer" in r.text
    else:
        assert "pip install pyinstrument" in r.text
    r = pyprof.line_profile(_outer, 1000, functions=[_outer, _inner])
    if r.available:
        assert r.value == _outer(1000) and "return _inner(n) + _inner(n // 2)" in r.text
    else:
        assert "pip install line_profiler" in r.text
    with pytest.raises(TypeError):
        pyprof.line_profile(_outer, 10, functions=[3])
