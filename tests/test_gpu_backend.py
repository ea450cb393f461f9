"""course_lib.gpu.target: the choice between a GPU and the simulator, both branches, made
before numba.cuda loads; and numba.cuda's import itself (it once failed under a new NumPy)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from course_lib import gpu
from course_lib.gpu import target as bk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("COURSE_GPU", "NUMBA_ENABLE_CUDASIM")}
    clean.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=clean, cwd=ROOT, timeout=120)


# ---------------------------------------------------------------------------- the decision
def test_choose_uses_the_gpu_when_the_probe_finds_one():
    assert bk.choose("auto", lambda: bk.Probe(True, 2)) == (False, "2 CUDA device(s) found")
    assert bk.choose(None, lambda: bk.Probe(True, 1))[0] is False
    assert bk.choose("CUDA", lambda: bk.Probe(True, 1))[0] is False


def test_choose_falls_back_to_the_simulator_with_the_probe_s_reason():
    simulate, why = bk.choose("auto", lambda: bk.Probe(False, 0, "no CUDA driver found: x"))
    assert simulate and why == "no CUDA driver found: x"


def test_sim_never_probes():
    def probe():
        raise AssertionError("probed")
    assert bk.choose(" sim ", probe)[0] is True


def test_cuda_without_a_gpu_is_an_error_that_says_why():
    with pytest.raises(RuntimeError, match="COURSE_GPU=cuda asks for a GPU, but the driver sees"):
        bk.choose("cuda", lambda: bk.Probe(False, 0, "the driver sees no device"))


@pytest.mark.parametrize("bad", ["gpu", "1", "simulator"])
def test_a_bad_setting_names_the_variable(bad):
    with pytest.raises(ValueError, match="COURSE_GPU must be one of auto, sim, cuda"):
        bk.choose(bad, lambda: bk.Probe(True, 1))


def test_probe_of_a_missing_library_says_so():
    p = bk.probe_driver(("no-such-libcuda-here.so",))
    assert not p.ok and "no CUDA driver found" in p.reason and "no-such-libcuda-here.so" in p.reason


@pytest.fixture(scope="module")
def fake_driver(tmp_path_factory):
    """Two fake libcuda's: one that sees no device, one that sees one."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to build a fake CUDA driver")
    out = {}
    for devices in (0, 1):
        d = tmp_path_factory.mktemp(f"fake{devices}")
        src = d / "fake.c"
        src.write_text(f"int cuInit(unsigned f) {{ return 0; }}\n"
                       f"int cuDeviceGetCount(int *n) {{ *n = {devices}; return 0; }}\n")
        lib = d / "libcuda.so.1"
        subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
        out[devices] = str(lib)
    return out


def test_probe_of_a_driver_without_devices(fake_driver):
    p = bk.probe_driver((fake_driver[0],))
    assert not p.ok and p.reason == "the CUDA driver sees no device"


def test_probe_of_a_driver_with_a_device(fake_driver):
    p = bk.probe_driver((fake_driver[1],))
    assert p.ok and p.devices == 1
    assert bk.choose("auto", lambda: p)[0] is False


def test_probe_of_a_library_that_is_not_a_driver():
    import ctypes.util

    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no C maths library to load")
    p = bk.probe_driver((libm,))
    assert not p.ok and "not a CUDA driver" in p.reason


# ---------------------------------------------------------------------------- this process
def test_backend_reports_what_numba_cuda_is():
    b = gpu.backend()
    from numba import cuda
    assert b.simulator == cuda.to_device.__module__.startswith("numba.cuda.simulator")
    text = repr(b)
    assert text.startswith("simulator (") if b.simulator else "compute capability" in text
    assert gpu.describe().startswith("CUDA target: ")


def test_timing_says_it_cannot_on_the_simulator():
    if not gpu.is_simulator():
        pytest.skip("a GPU is present")
    with pytest.raises(gpu.SimulatorOnly, match="needs a real GPU"):
        gpu.EventTimer()
    with pytest.raises(gpu.SimulatorOnly, match="timing a kernel"):
        gpu.time_gpu(lambda: None)


# ---------------------------------------------------------------------------- fresh processes
SHOW = """
import course_lib.gpu as g
b = g.backend()
print("SIM" if b.simulator else "GPU", "|", b.reason)
"""


def test_without_a_driver_the_simulator_is_chosen_and_says_why():
    if bk.probe_driver().ok:
        pytest.skip("this machine has a GPU")
    r = run_python(SHOW)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("SIM | no CUDA driver found"), r.stdout
    assert r.stderr == ""


def test_numba_imported_first_still_gets_the_simulator():
    r = run_python("import numba, numba.core.config\n" + SHOW + "\nimport numpy as np\n"
                   "print(g.vector_add(np.ones(3), np.ones(3)))", COURSE_GPU="sim")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("SIM | COURSE_GPU=sim asks for the simulator"), r.stdout
    assert "[2. 2. 2.]" in r.stdout


def test_course_gpu_cuda_without_a_gpu_fails_clearly():
    if bk.probe_driver().ok:
        pytest.skip("this machine has a GPU")
    r = run_python(SHOW, COURSE_GPU="cuda")
    assert r.returncode != 0 and "COURSE_GPU=cuda asks for a GPU, but no CUDA driver" in r.stderr


def test_a_bad_course_gpu_fails_clearly():
    r = run_python(SHOW, COURSE_GPU="fast")
    assert r.returncode != 0 and "COURSE_GPU must be one of auto, sim, cuda; got 'fast'" in r.stderr


def test_numba_cuda_imported_before_is_reported_honestly():
    r = run_python("from numba import cuda\n" + SHOW, NUMBA_ENABLE_CUDASIM="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("SIM | numba.cuda was imported before course_lib.gpu"), r.stdout
    if not bk.probe_driver().ok:  # loaded for a GPU that is not there
        r = run_python("from numba import cuda\n" + SHOW + "\nprint(repr(b))")
        assert r.returncode == 0, r.stderr
        assert "imported before course_lib.gpu" in r.stdout and "no GPU answers" in r.stdout
        assert "no usable CUDA target" in r.stdout


def test_numba_cuda_imports_with_this_numpy():
    """``import numba.cuda`` failed once under a NumPy newer than numba supported; both modes."""
    for env in ({"NUMBA_ENABLE_CUDASIM": "1"}, {}):
        r = run_python("import numpy, numba.cuda; print(numpy.__version__)", **env)
        assert r.returncode == 0, r.stderr
