#!/usr/bin/env bash
# Chapter 9 on a real GPU, in one short run (< 8 minutes on an H100): the gpu tests, the gpu
# benchmark (the matmul ladder against cuBLAS, bandwidth) and the c09 notebook headless.
#
#   bash tools/gpu_device_check.sh            (from the repository root, or anywhere)
#
# Assumes, on the GPU machine (no network needed):
#   - the repository's .venv, with numba-cuda and cuda-bindings, copied along;
#   - an NVIDIA driver new enough for the cuda-bindings major version in .venv (13.x needs a
#     CUDA 13 driver, R580 or later; with an older driver install numba-cuda[cu12] instead);
#   - the CUDA compiler libraries numba-cuda needs to compile kernels: NVVM + libdevice and
#     NVRTC (and nvJitLink). With pip they come from `pip install "numba-cuda[cu13]"` (the
#     cuda-toolkit[nvvm,nvrtc,cudart,cccl] and nvidia-nvjitlink wheels) or "[cu12]"; a system
#     CUDA toolkit found through CUDA_HOME also works. The environment report below says what
#     numba-cuda found; if it cannot compile, every later step fails with that reason.
#   - optionally CuPy (cupy-cuda12x / cupy-cuda13x) for the cuBLAS reference; without it the
#     benchmark says so and reports the ladder alone.
set -u
cd "$(dirname "$0")/.."
. .venv/bin/activate
export COURSE_GPU=cuda MPLBACKEND=Agg COURSE_HEADLESS=1
start=$(date +%s)
step() { echo; echo "=== $1 ($(( $(date +%s) - start )) s so far)"; }

step "environment"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | head -3
python - <<'PY'
import course_lib.gpu as g
print(g.describe())
from numba import cuda
import numpy as np
k = g.vector.vector_add_kernel
x = cuda.to_device(np.arange(4, dtype=np.float32))
out = cuda.device_array(4, np.float32)
k[1, 32](x, x, out)
print("compiled and ran a kernel:", out.copy_to_host())
PY

step "gpu tests"
timeout 240 python -m pytest -q -p no:cacheprovider tests/test_gpu_backend.py tests/test_gpu_kernels.py \
  tests/test_gpu_launch.py tests/test_testing_gpu.py --durations=5

step "bench_gpu (full size)"
timeout 180 python -m benchmarks gpu

step "notebook c09 headless (COURSE_QUICK=1)"
timeout 150 python - <<'PY'
import sys, time
from pathlib import Path
sys.path.insert(0, "tests")
from notebook_support import execute, problems
path = Path("solutions/c09_gpu/c09_gpu.ipynb")
t = time.perf_counter()
nb = execute(path.resolve(), timeout=140)
print(f"ran in {time.perf_counter() - t:.1f} s;", "; ".join(problems(nb)) or "no errors, nothing on stderr")
for i, cell in enumerate(nb.cells):
    for o in cell.get("outputs", []) if cell.cell_type == "code" else ():
        if o.output_type == "stream" and o.name == "stdout" and ("TFLOP/s" in o.text or "TB/s" in o.text):
            print(f"[cell {i}]", o.text.strip())
PY
step "done"
