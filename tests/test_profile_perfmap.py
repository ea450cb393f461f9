"""course_lib.profile.perfmap: perf map entries for numba's compiled functions."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from course_lib.profile import perfmap

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="perf maps are Linux's")


@njit
def scaled_sum(a, k):
    s = 0.0
    for x in a:
        s += k * x
    return s


@njit
def never_called(a):
    return a


@pytest.fixture(scope="module", autouse=True)
def _remove_this_process_map():
    yield
    try:
        os.remove(perfmap.path())
    except OSError:
        pass


def _executable_ranges():
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            addresses, perms = line.split()[:2]
            if "x" in perms:
                lo, hi = (int(v, 16) for v in addresses.split("-"))
                ranges.append((lo, hi))
    return ranges


@linux
def test_entries_name_real_functions_inside_executable_memory():
    scaled_sum(np.ones(4), 2.0)
    scaled_sum(np.ones((3,)).astype(np.float32), 2)
    new = perfmap.register(scaled_sum)
    names = {e.name for e in new}
    base = "numba:test_profile_perfmap.scaled_sum"
    assert f"{base}[float64[::1],float64]" in names
    assert f"{base}[float32[::1],int64]" in names
    assert f"{base}[float64[::1],float64]#wrapper" in names
    ranges = _executable_ranges()
    for e in new:
        assert e.size > 0 and e.exact, e
        assert any(lo <= e.start and e.end <= hi for lo, hi in ranges), e
    # The kernel's entry point is where LLVM says the function starts.
    args, cres = next(iter(scaled_sum.overloads.items()))
    start = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
    assert any(e.start == start and not e.name.endswith("#wrapper") for e in new)
    # Written to the file, in perf's format, and remembered.
    with open(perfmap.path()) as f:
        lines = f.read().splitlines()
    for e in new:
        assert e.line().rstrip("\n") in lines
    assert all(re.fullmatch(r"[0-9a-f]+ [0-9a-f]+ \S+", ln) for ln in lines)
    assert set(new) <= set(perfmap.entries())


def test_register_again_writes_nothing_new_and_checks_its_arguments():
    scaled_sum(np.ones(2), 1.0)
    perfmap.register(scaled_sum)
    assert perfmap.register(scaled_sum) == []
    assert perfmap.register(never_called) == []  # nothing compiled yet
    with pytest.raises(TypeError, match="numba dispatchers"):
        perfmap.register(len)


def test_register_all_finds_every_compiled_dispatcher():
    @njit
    def local_kernel(x):
        return x + 1

    local_kernel(1)
    perfmap.register_all()
    names = {e.name for e in perfmap.entries()}
    assert any(".local_kernel[int64]" in n for n in names), sorted(names)[:20]


def test_elf_symbol_table_and_names():
    scaled_sum(np.ones(2), 1.0)
    args, cres = next(iter(scaled_sum.overloads.items()))
    obj = cres.library._compiled_object
    if obj is None:
        pytest.skip("this numba keeps no object code for freshly compiled functions")
    funcs = perfmap.elf_functions(obj)
    section, offset, size = funcs[cres.fndesc.llvm_func_name]
    assert size > 0 and offset >= 0
    with pytest.raises(ValueError, match="not an ELF"):
        perfmap.elf_functions(b"\x00" * 64)
    with pytest.raises(TypeError):
        perfmap.elf_functions("text")
    assert perfmap.demangle(cres.fndesc.llvm_func_name) == "test_profile_perfmap.scaled_sum"
    assert perfmap.demangle("NRT_decref") == "NRT_decref"

    from numba import types

    f2 = types.Array(types.float64, 2, "F")
    assert perfmap.pretty_signature((f2, types.Array(types.int32, 2, "A"), types.float64)) == \
        "float64[::1,:],int32[:,:],float64"


_CACHED_MODULE = """
import numpy as np
from numba import njit

@njit(cache=True)
def cached_kernel(a):
    s = 0.0
    for x in a:
        s += x * x
    return s
"""

_REPORT = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import cached_mod
from course_lib.profile import perfmap
cached_mod.cached_kernel(np.ones(3))
hits = sum(cached_mod.cached_kernel.stats.cache_hits.values())
entries = perfmap.register(cached_mod.cached_kernel)
import os
os.remove(perfmap.path())
main = [e for e in entries if e.name == "numba:cached_mod.cached_kernel[float64[::1]]"]
print(hits, len(main), all(e.exact and e.size > 0 for e in entries))
"""


@linux
def test_functions_loaded_from_numba_cache_get_exact_sizes(tmp_path):
    (tmp_path / "cached_mod.py").write_text(_CACHED_MODULE)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    outputs = []
    for _ in range(2):  # the first run compiles and saves, the second loads from the cache
        done = subprocess.run([sys.executable, "-c", _REPORT, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split())
    assert outputs[0] == ["0", "1", "True"]
    assert outputs[1] == ["1", "1", "True"]  # a cache hit, still named with an exact size


_PERF_CHILD = """
import time
import numpy as np
from numba import njit
from course_lib.profile import perfmap

@njit
def perf_target_loop(a, reps):
    s = 0.0
    for r in range(reps):
        for x in a:
            s += x * 1.000001
    return s

a = np.ones(50_000)
perf_target_loop(a, 1)
perfmap.register(perf_target_loop)
t0 = time.perf_counter()
while time.perf_counter() - t0 < 0.5:
    perf_target_loop(a, 20)
print(perfmap.path())
"""


@linux
def test_perf_resolves_the_numba_function_by_name(tmp_path):
    from course_lib.profile.flame import available_samplers, _perf_status

    ok, reason = available_samplers()["perf"]
    if not ok:
        pytest.skip(reason)
    event = _perf_status()[2]
    data = tmp_path / "perf.data"
    rec = subprocess.run(["perf", "record", "-e", event, "-F", "499", "-q", "-o", str(data), "--",
                          sys.executable, "-c", _PERF_CHILD], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    if rec.returncode != 0:
        pytest.skip(f"perf record cannot sample here: {rec.stderr.strip()[-300:]}")
    map_file = rec.stdout.strip().splitlines()[-1]
    try:
        script = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym"],
                                capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
    finally:
        os.remove(map_file)
    hits = script.stdout.count("numba:__main__.perf_target_loop[float64[::1],int64]")
    samples = len([ln for ln in script.stdout.splitlines() if ln.strip()])
    print(f"{hits} of {samples} samples named as the numba loop")
    assert hits >= 10  # 0.5 s of the loop at 499 Hz: ~250 when the machine is quiet
