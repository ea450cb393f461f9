"""course_lib: the library behind the course on high-performance parallel programming in Python.

One subpackage per concept. Concepts cross chapters (the ring of chapter 2 is raced again in
chapter 4); exercises do not, so each chapter's checkers live in one file of ``testing.exercises``.

The index, chapter by chapter
=============================

``c00_measure``: measuring
    ``measure.machine`` (what this machine has: cores, caches, SIMD, NUMA, counters),
    ``measure.bench`` (measure, compare, scaling), ``measure.stats``, ``measure.amdahl``,
    ``measure.work`` (calibrated GIL-free C work), ``measure.plots``, ``measure.widgets``.
    Checkers: ``testing.exercises.c00_measure``.
``c01_par_iter``: parallel iterators and work stealing
    ``par`` (``par.pool``: the work-stealing ThreadPool and ``join``; ``par.iterators``;
    ``par.sort``; ``par.kernels``: numba ``prange`` kernels; ``par.demos``: the chapter's
    trees and chunk-size explorer), ``measure.timeline`` (who ran what, when).
    Checkers: ``testing.exercises.c01_par_iter``.
``c02_channels``: channels and message passing
    ``channel`` (``channel.ends``: Sender/Receiver; ``channel.errors``; one module per flavour,
    ``channel.flavour_list`` / ``flavour_array`` / ``flavour_zero``; ``channel.select``,
    ``channel.timers``, ``channel.patterns``; ``channel.ring``: the lock-free C ring, and
    ``channel.ring_numba``: the same ring from numba ``nogil`` code).
    Checkers: ``testing.exercises.c02_channels`` (on top of ``testing.batteries.channel``).
``c03_atomics``: atomics and memory ordering
    ``atomics`` (``atomics.ordering``: Rust's orderings and their rules; ``atomics.numba_backend``
    and ``atomics.c_backend``: the same operations in numba and C11; ``atomics.litmus``: litmus
    tests on this CPU and an SC/TSO explorer).
    Checkers: ``testing.exercises.c03_atomics``.
``c04_locks``: locks, lock-free queues and false sharing
    ``locks`` (``locks.numba_locks``, ``locks.python_locks``, ``locks.sharded``,
    ``locks.padding``: cache-line padding and the false-sharing experiment),
    ``queues`` (``queues.array_queue``, ``queues.seg_queue``, ``queues.treiber``).
    Checkers: ``testing.exercises.c04_locks`` (on top of ``testing.batteries.lock`` and
    ``testing.batteries.queue``).
``c05_simd``: SIMD, the compiler's model and build tuning
    ``simd`` (``simd.features``: the CPU's ISA ladder, kernel variants and a ceiling;
    ``simd.kernels``: C kernels as scalar code, vector extensions and intrinsics, dispatched at
    run time; ``simd.peak`` and ``simd.ladder``: the FMA peak and GFLOP/s per ISA;
    ``simd.autovec``: reading machine code; ``simd.blockers``, ``simd.numba_kernels`` and
    ``simd.targets``: numba's auto-vectorisation, what blocks it, target CPUs;
    ``simd.snippet``: compiling a learner's C; ``simd.tuning``: -O levels, -march=native,
    restrict, LTO and PGO, measured).
    Checkers: ``testing.exercises.c05_simd``.
``c06_memory``: caches, bandwidth, layout, allocation and NUMA
    ``memory`` (``memory.latency``: the pointer-chase staircase and the cache sizes read off
    it; ``memory.stream``: STREAM in numba, C with threads and non-temporal stores, NumPy and
    memcpy; ``memory.roofline``; ``memory.layout``: AoS/SoA, traversal order, blocked
    transpose, strides; ``memory.prefetch``; ``memory.alloc``: page faults and first touch;
    ``memory.arena``: bump arena and pool for numba ``nogil`` code; ``memory.numa`` and
    ``memory.affinity``: nodes, page placement, pinning, scheduling noise).
    Checkers: ``testing.exercises.c06_memory``.
``c07_profiling``: counters, flame graphs and honest benchmarks
    ``profile`` (``profile.counters``: perf_event_open counters around a call;
    ``profile.instructions``: deterministic instruction counts and simulated branches under
    callgrind; ``profile.flame`` and ``profile.perfmap``: sampled flame graphs with numba frames
    named; ``profile.pyprof``; ``profile.pitfalls`` and ``measure.bench.black_box``;
    ``profile.threads``: off-CPU time on a timeline; ``profile.hotspot``, ``profile.branches``).
    Checkers: ``testing.exercises.c07_profiling``.
``c08_matmul``: the matrix-multiply capstone
    ``matmul`` (``matmul.common``: operand checks and error bounds; ``matmul.ladder``: naive,
    reordered, blocked, packed and micro-kernel rungs in numba; ``matmul.parallel``: tiles over
    threads by prange, the pool and a lock-free counter; ``matmul.cgemm``: the C packed GEMM with
    a micro-kernel per ISA; ``matmul.measure``: ladder and scaling tables against BLAS).
    Checkers: ``testing.exercises.c08_matmul``.
``c09_gpu``: GPU kernels, on a real GPU or numba-cuda's simulator
    ``gpu`` (``gpu.target``: the GPU-or-simulator choice, made before ``numba.cuda`` loads;
    ``gpu.launch``: launch configurations checked against the device's limits, occupancy;
    ``gpu.memory``: operand checks, copies, events, streams; ``gpu.vector``: grid-stride
    loops; ``gpu.reduce``: block and warp reductions; ``gpu.histogram``: global atomics and
    privatisation; ``gpu.matmul``: naive, tiled and register-blocked; ``gpu.stencil``: Jacobi
    with a shared halo; ``gpu.figures``: figures measured on a real H100, labelled).
    Checkers: ``testing.exercises.c09_gpu``.
``c10_beyond``: beyond one machine, with MPI and Dask
    ``dist`` (``dist.launch``: ``mpirun``, a function or script on n ranks with a timeout that
    kills the whole job; ``dist.mpienv``: finding mpiexec, ``mpi_available``;
    ``dist.transports``: ping-pong over five transports and the latency + size/bandwidth fit;
    ``dist.collectives``; ``dist.stencil``: the heat equation split by rows with halo exchange;
    ``dist.scaling``: strong and weak scaling against Amdahl and Gustafson; ``dist.tasks``:
    Dask clusters, graphs and the cost of a task; ``dist.hosts``: hosts in network namespaces).
    Checkers: ``testing.exercises.c10_beyond``.

Shared by every chapter: ``config`` (every ``COURSE_*`` setting); ``testing`` (the harness that
bounds a learner's call: ``call_with_timeout``, ``join_all``; ``testing.delegation``: an answer
must be the learner's own, and graded kernels cannot read solutions/; ``testing.load``: a busy
machine on demand); ``course`` (``course.grading``: release, parallel autograding and feedback;
``course.tamper``: tamper flags; ``course.kit``: the student kit; ``course.slides``: slides and
warm-up for talks; ``course.lab``: the JupyterLab launcher); and ``_c`` (the C sources and the
one table that builds them).

Short names
===========
The names learners type keep working: ``from course_lib import bench, machine, ring, litmus,
padding, work`` (and ``stats``, ``amdahl``, ``plots``, ``widgets``, ``timeline``, ``par_demos``,
``grading``, ``lab``) import the modules above under their full names; each short name is the
same module object, not a copy. ``channel``, ``par``, ``atomics``, ``locks`` and ``queues`` are
the subpackages themselves, and so are ``simd``, ``memory``, ``profile``, ``matmul``, ``gpu``
and ``dist``. Submodules are imported on demand, so ``import course_lib`` is cheap (and leaves
``numba.cuda`` unloaded until ``course_lib.gpu`` has chosen its target).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"
__all__ = ["__version__", "quick", "ALIASES"]

#: Short module names (the course's first layout, and what learners type) -> the module.
ALIASES: dict[str, str] = {
    "machine": "course_lib.measure.machine",
    "bench": "course_lib.measure.bench",
    "stats": "course_lib.measure.stats",
    "amdahl": "course_lib.measure.amdahl",
    "work": "course_lib.measure.work",
    "plots": "course_lib.measure.plots",
    "widgets": "course_lib.measure.widgets",
    "timeline": "course_lib.measure.timeline",
    "par_demos": "course_lib.par.demos",
    "ring": "course_lib.channel.ring",
    "litmus": "course_lib.atomics.litmus",
    "padding": "course_lib.locks.padding",
    "grading": "course_lib.course.grading",
    "lab": "course_lib.course.lab",
}


class _AliasLoader(importlib.abc.Loader):
    """Loads ``course_lib.<short>`` by importing the real module and handing back that object."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        """Nothing to run: the real module was executed when it was imported."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Answers only for the names in :data:`ALIASES`; every other import goes the usual way."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, short = fullname.rpartition(".")
        if prefix != __name__ or short not in ALIASES:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(ALIASES[short]))


if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.append(_AliasFinder())

from course_lib.config import quick  # noqa: E402  (after the finder, which it does not need)
