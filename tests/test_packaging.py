"""pyproject.toml and environment.yml describe the same environment."""
import re
import sys

import pytest
import yaml

from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

NOT_PACKAGES = {"python", "pip", "c-compiler"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_pyproject_and_environment_yml_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = dict(_split(r) for r in project["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert dep.get("pip") == ["-e ."], "the pip section installs the course package only"
            continue
        name, spec = _split(dep)
        if name not in NOT_PACKAGES:
            conda_side[name] = spec
    assert conda_side == pip_side
    assert "conda-forge" in env["channels"]


def test_every_c_builder_has_its_source():
    builders = sorted((ROOT / "course_lib" / "_c").glob("build_*.py"))
    assert builders, "no cffi builder found"
    for b in builders:
        name = b.stem[len("build_"):]
        assert (ROOT / "course_lib" / "_c" / f"{name}.c").exists(), f"{b.name} has no {name}.c"
        assert f'"course_lib._{name}"' in b.read_text(), f"{b.name} must build course_lib._{name}"


def test_extensions_are_built():
    import importlib

    for b in sorted((ROOT / "course_lib" / "_c").glob("build_*.py")):
        mod = importlib.import_module(f"course_lib._{b.stem[len('build_'):]}")
        assert hasattr(mod, "ffi") and hasattr(mod, "lib")
