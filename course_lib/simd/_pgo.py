"""The machinery of :func:`course_lib.simd.tuning.pgo`: its data, the training run, the profiles.

A notebook kernel never exits, so the instrumented module is run in a short child process,
which writes the counters when it exits; for GCC they are redirected with ``GCOV_PREFIX`` and
read back as ``kernel.gcda``, for clang a ``.profraw`` is merged by ``llvm-profdata`` into a
``.profdata``. Each profile is cached next to the instrumented build, keyed by the training
data. (The module docstring of :mod:`course_lib.simd.tuning` tells the whole story.) Nothing
here is public.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from course_lib.simd.snippet import CompileError, Snippet, build_info, compiler

__all__: list[str] = []

#: The kernel's bin count, in training and in the timed run: the value PGO should discover.
_PGO_BINS = 64


def _pgo_data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 1_000_000, n).astype(np.int32)
    u = rng.random(n)
    v[u < 0.01] = -5
    v[(u >= 0.01) & (u < 0.02)] = 2_000_000
    return v


_TRAIN = """
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location(sys.argv[1], sys.argv[2])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
v = np.load(sys.argv[3])
counts = np.zeros(2 + int(sys.argv[4]), np.int64)
m.lib.classify(m.ffi.from_buffer("int32_t[]", v), v.size, m.ffi.from_buffer("int64_t[]", counts),
               int(sys.argv[4]))
"""


def _train(instrumented: Snippet, data: np.ndarray, env: dict) -> None:
    """Run the instrumented module on ``data`` in a child process, which writes the profile."""
    with tempfile.TemporaryDirectory(prefix="course-pgo-") as d:
        path = Path(d, "train.npy")
        np.save(path, data)
        r = subprocess.run([sys.executable, "-c", _TRAIN, instrumented.module_name,
                            str(instrumented.path), str(path), str(_PGO_BINS)],
                           env=dict(os.environ, **env), capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise CompileError(f"the training run failed:\n{r.stderr[-2000:]}")


def _gcc_profile(instrumented: Snippet, data: np.ndarray) -> bytes:
    """kernel.gcda from a training run (cached next to the instrumented build)."""
    digest = hashlib.sha256(data.tobytes()).hexdigest()[:16]
    cached = instrumented.directory / f"profile-{digest}.gcda"
    if cached.exists():
        return cached.read_bytes()
    built_in = Path(build_info(instrumented)["built_in"])
    with tempfile.TemporaryDirectory(prefix="course-gcda-") as out:
        # the counters go to <built_in>/kernel.gcda; strip that folder, write under `out`
        _train(instrumented, data, {"GCOV_PREFIX": out,
                                    "GCOV_PREFIX_STRIP": str(len(built_in.parts) - 1)})
        found = [p for p in Path(out).rglob("kernel.gcda")]
        if not found:
            raise CompileError("the training run wrote no kernel.gcda (was the module built with "
                               "-fprofile-generate?)")
        data_bytes = found[0].read_bytes()
    cached.write_bytes(data_bytes)
    return data_bytes


def _llvm_profdata() -> str | None:
    info = compiler()
    major = (info.get("version") or "").split(".")[0]
    for name in ("llvm-profdata", f"llvm-profdata-{major}"):
        if shutil.which(name):
            return shutil.which(name)
    if sys.platform == "darwin" and shutil.which("xcrun"):
        r = subprocess.run(["xcrun", "--find", "llvm-profdata"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    return None


def _clang_profile(instrumented: Snippet, data: np.ndarray, tool: str) -> bytes:
    digest = hashlib.sha256(data.tobytes()).hexdigest()[:16]
    cached = instrumented.directory / f"profile-{digest}.profdata"
    if cached.exists():
        return cached.read_bytes()
    with tempfile.TemporaryDirectory(prefix="course-profraw-") as out:
        _train(instrumented, data, {"LLVM_PROFILE_FILE": str(Path(out, "train-%p.profraw"))})
        raws = [str(p) for p in Path(out).glob("*.profraw")]
        if not raws:
            raise CompileError("the training run wrote no .profraw file")
        merged = Path(out, "merged.profdata")
        r = subprocess.run([tool, "merge", "-o", str(merged)] + raws, capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise CompileError(f"llvm-profdata merge failed (is it the same LLVM version as the "
                               f"compiler?):\n{r.stderr[-1000:]}")
        profile = merged.read_bytes()
    cached.write_bytes(profile)
    return profile
