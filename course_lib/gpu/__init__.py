"""Chapter 9: GPU programming with numba-cuda, on a real GPU or on its simulator.

A GPU runs one function, a *kernel*, on tens of thousands of threads at once. They are grouped
into *blocks* that share a fast on-chip memory and can wait for each other at barriers, and
blocks into a *grid*; the hardware runs each block's threads 32 at a time, in lock-step, as
*warps*. This package holds the chapter's kernels, each a whole, named, tested implementation,
and the host code around them:

==================  ============================================================================
module              what is in it
==================  ============================================================================
``target``          the choice, made at import *before* ``numba.cuda`` loads, between a real GPU
                    (a CUDA driver and a device found with ctypes) and numba-cuda's simulator;
                    ``COURSE_GPU=auto|sim|cuda`` overrides it; :func:`backend`, :func:`describe`
``launch``          :func:`launch_config` (blocks and threads for n elements),
                    :func:`launch_config_2d`, :func:`check_launch` against :func:`device_limits`,
                    :func:`occupancy` (blocks per SM and what limits them)
``memory``          :func:`check_array` (operand checks that name the problem), copies,
                    :class:`EventTimer` and :func:`time_gpu` (CUDA events; GPU only),
                    :func:`pipelined` (chunks on several streams: copies overlap kernels)
``vector``          :func:`vector_add` and :func:`saxpy`, grid-stride loops
``reduce``          :func:`block_sum` (a tree in shared memory), :func:`warp_sum` (warp shuffles;
                    GPU only: the simulator has none)
``histogram``       :func:`histogram_global` (global atomics), :func:`histogram_shared`
                    (privatised per block in shared memory, merged at the end)
``matmul``          the ladder :func:`matmul_naive`, :func:`matmul_tiled` (shared-memory tiles),
                    :func:`matmul_register` (128 x 128 block tiles, 8 x 8 per thread in registers)
``stencil``         a 5-point Jacobi step, :func:`jacobi_global` and :func:`jacobi_shared` (a
                    shared tile with a halo)
``figures``         figures measured once on a real H100 (cuBLAS, the ladder, copy bandwidth,
                    an atomic histogram), labelled as such, and the H100 roofline
==================  ============================================================================

Import this package before anything that imports ``numba.cuda`` (a notebook's first cell does):
the simulator can only be switched on before that first import. ``course_lib.gpu.cuda`` is
``numba.cuda`` as configured, for writing kernels.

Rust <-> Python:

=================================================  =========================================
Rust / CUDA C                                      numba-cuda (this package)
=================================================  =========================================
``#[kernel] pub unsafe fn f(...)`` (rust-cuda)      ``@cuda.jit def f(...)``
``launch!(f<<<grid, block, 0, stream>>>(...))``    ``f[grid, block, stream](...)``
(cust) / ``f<<<grid, block>>>(...)`` (CUDA C)
``thread::index_1d()`` / ``blockIdx.x *             ``cuda.grid(1)``
blockDim.x + threadIdx.x``
``__shared__ float t[16][16]``                     ``cuda.shared.array((16, 16), float32)``
``__syncthreads()``                                ``cuda.syncthreads()``
``atomicAdd(&h[v], 1)``                            ``cuda.atomic.add(h, v, 1)``
``__shfl_down_sync(mask, v, s)``                   ``cuda.shfl_down_sync(mask, v, s)``
``DeviceBuffer::from_slice`` (cust) / cudaMemcpy    ``cuda.to_device(a)``, ``d.copy_to_host()``
``Stream::new``, ``Event::new`` (cust)             ``cuda.stream()``, ``cuda.event()``
=================================================  =========================================

Source: CUDA C++ Programming Guide and Best Practices Guide (NVIDIA); numba-cuda's
documentation; D. Kirk, W. Hwu and I. El Hajj, "Programming Massively Parallel Processors".
"""
from __future__ import annotations

from course_lib.gpu.target import (GPU_ENV, Backend, Probe, SimulatorOnly, backend, choose,
                                    describe, is_simulator, probe_driver, require_gpu,
                                    simulator_pace)
from course_lib.gpu.target import _cuda as cuda  # numba.cuda, configured
from course_lib.gpu.figures import H100, h100, h100_roofline, h100_table
from course_lib.gpu.histogram import histogram_global, histogram_shared
from course_lib.gpu.launch import (Limits, check_launch, device_limits, launch_config,
                                   launch_config_2d, occupancy)
from course_lib.gpu.matmul import RUNGS, matmul_naive, matmul_register, matmul_tiled
from course_lib.gpu.memory import (EventTimer, check_array, device_empty, pipelined, time_gpu,
                                   to_device, to_host)
from course_lib.gpu.reduce import block_sum, warp_sum
from course_lib.gpu.stencil import jacobi_global, jacobi_reference, jacobi_shared
from course_lib.gpu.vector import saxpy, vector_add

__all__ = [
    # target
    "cuda", "backend", "describe", "is_simulator", "require_gpu", "simulator_pace", "Backend",
    "Probe", "probe_driver", "choose", "GPU_ENV", "SimulatorOnly",
    # launch
    "launch_config", "launch_config_2d", "check_launch", "device_limits", "Limits", "occupancy",
    # memory
    "check_array", "to_device", "device_empty", "to_host", "EventTimer", "time_gpu", "pipelined",
    # kernels
    "vector_add", "saxpy", "block_sum", "warp_sum", "histogram_global", "histogram_shared",
    "matmul_naive", "matmul_tiled", "matmul_register", "RUNGS", "jacobi_global",
    "jacobi_shared", "jacobi_reference",
    # figures
    "H100", "h100", "h100_table", "h100_roofline",
]
