import pytest

from course_lib.config import pick, quick


@pytest.mark.parametrize("value,expected", [("", False), ("0", False), ("off", False), ("1", True), ("yes", True)])
def test_quick_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_QUICK", value)
    assert quick() is expected
    assert pick("full", "small") == ("small" if expected else "full")
