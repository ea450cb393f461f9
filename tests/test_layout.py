"""The package layout keeps its promises: short names are the same modules, each chapter's
checkers live in one place, every COURSE_* setting is parsed in one place, one error family."""
from __future__ import annotations

import importlib
import queue
import re
import subprocess
import sys

import pytest

import course_lib
from conftest import ROOT


@pytest.mark.parametrize("short", sorted(course_lib.ALIASES))
def test_short_names_import_the_same_module_object(short):
    real = importlib.import_module(course_lib.ALIASES[short])
    assert importlib.import_module(f"course_lib.{short}") is real
    assert getattr(course_lib, short) is real
    ns: dict = {}
    exec(f"from course_lib import {short} as m", ns)
    assert ns["m"] is real


def test_a_patch_through_a_short_name_is_seen_by_the_real_module(monkeypatch):
    from course_lib import work
    from course_lib.measure import work as real

    monkeypatch.setattr(work, "spin", lambda *a: "patched")
    assert real.spin(1) == "patched"


def test_unknown_names_still_fail_to_import():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("course_lib.no_such_module")


def test_import_course_lib_is_cheap():
    code = "import sys, course_lib; print(sorted(m for m in ('numpy', 'numba', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_hidden_test_imports_from_its_own_chapter_module():
    for nb in sorted((ROOT / "solutions").glob("c*/*.ipynb")):
        chapter = nb.parent.name
        text = nb.read_text()
        for hidden in re.findall(r"BEGIN HIDDEN TESTS(.*?)END HIDDEN TESTS", text, re.S):
            for module in re.findall(r"from (course_lib[\w.]*) import", hidden):
                assert module == f"course_lib.testing.exercises.{chapter}", (nb.name, module)
        assert (ROOT / "course_lib" / "testing" / "exercises" / f"{chapter}.py").exists()


def test_the_index_names_every_subpackage():
    doc = course_lib.__doc__
    for pkg in sorted(p.name for p in (ROOT / "course_lib").iterdir()
                      if (p / "__init__.py").exists()):
        assert f"``{pkg}``" in doc or f"``{pkg}." in doc, f"course_lib/__init__.py never mentions {pkg}/"


def test_queues_and_channels_raise_one_family_of_errors():
    from course_lib import channel, queues

    assert queues.Full is channel.Full and queues.Empty is channel.Empty
    q = queues.ArrayQueue(2)
    q.push(1)
    q.push(2)
    with pytest.raises(queue.Full) as full:
        q.push(3)
    assert isinstance(full.value, channel.ChannelError) and full.value.value == 3
    q.pop()
    q.pop()
    with pytest.raises(queue.Empty):
        q.pop()
    tx, rx = channel.bounded(1)
    tx.send(1)
    with pytest.raises(queue.Full):
        tx.try_send(2)


@pytest.mark.parametrize("name, fn", [("COURSE_STRESS", "stress"), ("COURSE_NUM_THREADS", "num_threads")])
def test_numeric_settings_name_the_variable_when_malformed(monkeypatch, name, fn):
    from course_lib import config

    monkeypatch.setenv(name, "3")
    assert getattr(config, fn)() == 3
    for bad in ("0", "-2", "many", "1.5"):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=name):
            getattr(config, fn)()
    monkeypatch.setenv(name, "")
    assert getattr(config, fn)() >= 1


def test_usable_physical_cores_counts_hyperthreads_once(monkeypatch, tmp_path):
    import os

    from course_lib.measure import machine

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this OS: the count comes from describe()")
    cpus = sorted(os.sched_getaffinity(0))
    for k, cpu in enumerate(cpus):
        topo = tmp_path / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "core_id").write_text(f"{k // 2}\n")  # pairs of hyperthreads
        (topo / "physical_package_id").write_text("0\n")
    monkeypatch.setattr(machine, "_SYSFS_CPU", str(tmp_path))
    assert machine.usable_physical_cores() == max(1, min((len(cpus) + 1) // 2, machine.usable_cores()))
