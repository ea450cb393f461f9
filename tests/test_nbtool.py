import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import nbtool  # noqa: E402

TEXT = """# %% [markdown]
# # Title
#
# Some *text*.

# %% [readonly] id=setup
import math

# %% [solution] id=answer
def f(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

# %% [tests] id=test_answer points=2
assert f(2) == 4
"""


def test_to_notebook_builds_nbgrader_metadata():
    nb = nbtool.to_notebook(TEXT)
    kinds = [c["cell_type"] for c in nb["cells"]]
    assert kinds == ["markdown", "code", "code", "code"]
    assert nb["cells"][0]["source"][0] == "# Title\n"
    meta = [c["metadata"].get("nbgrader") for c in nb["cells"][1:]]
    assert meta[0]["locked"] and not meta[0]["solution"] and not meta[0]["grade"]
    assert meta[1]["solution"] and not meta[1]["locked"]
    assert meta[2]["grade"] and meta[2]["points"] == 2 and meta[2]["grade_id"] == "test_answer"


def test_round_trip_is_exact():
    nb = nbtool.to_notebook(TEXT)
    assert nbtool.to_notebook(nbtool.to_text(nb)) == nb


def test_unknown_kind_and_missing_id_are_errors():
    with pytest.raises(ValueError, match="unknown cell kind"):
        nbtool.parse("# %% [answer] id=x\n1\n")
    with pytest.raises(ValueError, match="needs id"):
        nbtool.parse("# %% [tests]\n1\n")


@pytest.mark.parametrize("path", sorted(ROOT.glob("solutions/*/*.ipynb")), ids=lambda p: p.parent.name)
def test_committed_sources_round_trip_through_text(path):
    """Every source notebook can be edited as text with nbtool and comes back unchanged."""
    def essence(notebook):
        return [(c["cell_type"], "".join(c["source"]), c["metadata"].get("nbgrader")) for c in notebook["cells"]]

    nb = json.loads(path.read_text())
    assert essence(nbtool.to_notebook(nbtool.to_text(nb))) == essence(nb)
