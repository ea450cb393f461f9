"""Benchmarks for course_lib.gpu (chapter c09), on a real GPU only.

1. The matrix-multiply ladder (naive, shared-memory tiled, register-blocked), float32, square
   n x n (n = 4096; 1024 under ``COURSE_QUICK=1``), in TFLOP/s, against cuBLAS through CuPy
   when CuPy is installed (else it says so), each timed with CUDA events (median of 3 after a
   warm-up that includes compilation); the target: register-blocked >= 0.25x cuBLAS.
2. Bandwidth: a device-to-device copy (bytes read + written), the grid-stride vector add
   (3 arrays) against it, and the two histograms in G elements/s.

Without a GPU (numba-cuda's simulator) it prints one line saying why it skips, and returns.
Run with ``python -m benchmarks gpu``.
"""
from __future__ import annotations

import numpy as np

from course_lib import gpu
from course_lib.config import pick
from course_lib.gpu import figures, histogram as hist, matmul as mm, vector


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.3f}x (target {target}x: {'met' if ratio >= target else 'NOT met'})"


def _cublas_tflops(n: int, a: np.ndarray, b: np.ndarray) -> tuple[float | None, str]:
    try:
        import cupy as cp
    except Exception as exc:  # not installed, or no matching CUDA libraries
        return None, f"CuPy not available ({type(exc).__name__}: {exc}); no cuBLAS reference"
    da, db = cp.asarray(a), cp.asarray(b)
    da @ db
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(3):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        da @ db
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop))
    return 2 * n**3 / float(np.median(times)) / 1e9, f"cuBLAS via CuPy {cp.__version__}"


def run() -> None:
    if gpu.is_simulator():
        print(f"skipped: no GPU here ({gpu.backend().reason}); the simulator cannot time kernels")
        return
    print(gpu.describe())
    cuda = gpu.cuda
    n = pick(4096, 1024)
    rng = np.random.default_rng(0)
    a, b = rng.random((2, n, n), dtype=np.float32)
    da, db = gpu.to_device(a), gpu.to_device(b)
    dc = cuda.device_array((n, n), np.float32)

    print(f"\n-- matrix multiply, float32, n={n} (TFLOP/s; median of 3, CUDA events)")
    ref, what = _cublas_tflops(n, a, b)
    print(f"{'cuBLAS':>10}: " + (f"{ref:8.2f}  ({what})" if ref else what))
    want = a.astype(np.float64) @ b.astype(np.float64)
    for name, rung in mm.RUNGS.items():
        ms = gpu.time_gpu(lambda: rung(da, db, dc), repeat=3)
        tf = 2 * n**3 / ms / 1e9
        err = float(np.abs(dc.copy_to_host() - want).max() / np.abs(want).max())
        ratio = f"  {tf / ref:.3f}x cuBLAS" if ref else ""
        print(f"{name:>10}: {tf:8.2f}{ratio}  (relative error {err:.1e})")
        if name == "register" and ref:
            print(f"{'target':>10}: register-blocked vs cuBLAS {_verdict(tf / ref, 0.25)}")
    print("H100 reference (one run):", figures.h100("naive").value, "/", figures.h100("tiled").value,
          "/ cuBLAS", figures.h100("cuBLAS float32").value, "TFLOP/s")

    print("\n-- bandwidth")
    m = pick(1 << 28, 1 << 24)  # float32 elements: 1 GiB (64 MiB quick) per array
    src = cuda.to_device(np.ones(m, np.float32))
    dst = cuda.device_array(m, np.float32)
    copy_tbs = 2 * 4 * m / gpu.time_gpu(lambda: dst.copy_to_device(src)) / 1e9
    print(f"device-to-device copy: {copy_tbs:.2f} TB/s (H100 reference {figures.h100('copy').value})")
    grid = 32 * (gpu.backend().multiprocessors or 1)  # a few blocks per SM; the loop does the rest
    out = cuda.device_array(m, np.float32)
    ms = gpu.time_gpu(lambda: vector.vector_add_kernel[grid, 256](src, dst, out))
    add_tbs = 3 * 4 * m / ms / 1e9
    print(f"vector add (grid-stride, {grid} blocks): {add_tbs:.2f} TB/s = {add_tbs / copy_tbs:.2f}x the copy")
    x = cuda.to_device(rng.integers(0, 256, pick(1 << 26, 1 << 22)).astype(np.int32))
    h = cuda.device_array(256, np.int32)
    for name, fn in (("global atomics", hist.histogram_global), ("privatised", hist.histogram_shared)):
        ms = gpu.time_gpu(lambda: fn(x, 256, h, max_blocks=grid))
        print(f"histogram, {name:>14}: {x.shape[0] / ms / 1e6:7.2f} G elements/s")
