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
# Installed from PyPI on both routes (environment.yml's `pip: -e .` pulls them from pyproject.toml
# with their platform markers): the mpi4py wheel matches the ABI of the mpich wheel, and numba-cuda
# needs NVIDIA's cuda-bindings, which conda-forge and PyPI build for Linux and Windows only.
PYPI_ONLY = {"numba-cuda", "mpi4py", "mpich"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_pyproject_and_environment_yml_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = dict(_split(r) for r in project["dependencies"])
    assert PYPI_ONLY <= set(pip_side), "pyproject.toml lost one of the PyPI-only packages"
    pip_side = {k: v for k, v in pip_side.items() if k not in PYPI_ONLY}
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


def _build_table():
    import runpy

    return runpy.run_path(str(ROOT / "course_lib" / "_c" / "build.py"))


def test_every_row_of_the_build_table_has_its_sources():
    table = _build_table()
    assert table["MODULES"], "the build table is empty"
    c_files = {p.name for p in (ROOT / "course_lib" / "_c").glob("*.c") if not p.name.startswith("_")}
    used = set()
    for m in table["MODULES"]:
        for s in m.source_files:
            assert (ROOT / "course_lib" / "_c" / s).exists(), f"{m.name}: {s} is missing"
            used.add(s)
        if m.kind == "cffi":
            assert (ROOT / "course_lib" / "_c" / m.header_file).exists(), f"{m.name}: no header"
    assert c_files <= used, f"C files no row builds: {sorted(c_files - used)}"


def test_extensions_are_built_and_export_every_declared_function():
    import importlib
    import re

    table = _build_table()
    for m in table["MODULES"]:
        mod = importlib.import_module(m.module)
        if m.kind != "cffi":
            continue
        assert hasattr(mod, "ffi") and hasattr(mod, "lib")
        for name in re.findall(r"(\w+)\s*\(", table["cdef"](m)):
            assert hasattr(mod.lib, name), f"{m.module} lacks {name}, declared in {m.header_file}"
        for hidden in m.hide:
            assert not hasattr(mod.lib, hidden)


def test_cdef_is_generated_from_the_header():
    cdef_from_header = _build_table()["cdef_from_header"]
    header = """/* a comment */
    #ifndef G_H
    #define G_H
    #include <stdint.h>
    #define LIMIT 0x10   /* kept */
    enum { A = 0, B = 1 };
    #define PAIR(T, S) T get_##S(const T *p); \\
        void put_##S(T *p, T v);
    PAIR(int64_t, i64)
    int hidden(void);
    #endif
    """
    text = cdef_from_header(header, hide=("hidden",))
    assert text.splitlines() == ["#define LIMIT 0x10", "enum { A = 0, B = 1 };",
                                 "int64_t get_i64(const int64_t *p);", "void put_i64(int64_t *p, int64_t v);"]
    with pytest.raises(ValueError, match="cannot read"):
        cdef_from_header("#if FOO\nint f(void);\n#endif")
