"""Memory (chapter c06): caches, bandwidth, layout, allocation, NUMA and scheduling.

==================  ======================================================================
``latency``         ns per dependent load by working-set size (a pointer chase through a
                    random cycle, in C and numba): the staircase, and the cache sizes read
                    off it
``stream``          McCalpin's STREAM (copy, scale, add, triad) in numba ``prange``, C with
                    threads, C with non-temporal stores, NumPy and ``memcpy``, by threads
``roofline``        ``min(peak, intensity x bandwidth)``: both roofs measured, the course's
                    kernels placed under them
``layout``          AoS vs SoA particles, row vs column order, naive vs blocked transpose,
                    strided access
``prefetch``        a random gather with and without ``__builtin_prefetch``, by distance
``alloc``           ``np.zeros`` / ``np.empty`` / first touch / reuse, with page faults
``arena``           bump arena and fixed-size pool over one buffer, for numba ``nogil`` code
``numa``            nodes, CPUs, memory and distances from sysfs; the node of every page
                    (``move_pages``); first touch; libnuma when present
``affinity``        pin the current thread, the CPU it runs on, context switches, migrations
                    and page faults of a run, and what pinning does to a measurement's spread
==================  ======================================================================

Every measurement runs on the learner's machine; where a feature is missing (one NUMA node,
no ``sched_setaffinity`` on macOS, no non-temporal stores on this ISA) the functions say so and
carry on.
"""
from course_lib.memory.arena import BumpArena, Pool
from course_lib.memory.latency import LatencyCurve, latency_curve
from course_lib.memory.roofline import KernelPoint, Roofline

# ``stream`` is both a module and its main function; the package keeps the name for the module
# (``from course_lib.memory.stream import stream`` for the function).
__all__ = ["BumpArena", "Pool", "LatencyCurve", "latency_curve", "KernelPoint", "Roofline"]
