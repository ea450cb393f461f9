"""Profiling (chapter c07): where the time goes, counted and sampled.

============================  ==================================================================
``profile.counters``          hardware and software event counts around one call, in-process
                              (``perf_event_open``): cycles, instructions, IPC, cache and branch
                              misses, page faults, context switches; says why when it cannot
``profile.instructions``      a deterministic instruction count of one call (callgrind in a
                              subprocess), the same on a busy machine as on an idle one
``profile.flame``             sampling profiles (perf, py-spy, or a Python sampler) drawn as
                              flame graphs, numba functions under their own names
``profile.perfmap``           ``/tmp/perf-PID.map`` entries for numba's compiled functions
``profile.pyprof``            cProfile, pyinstrument and line_profiler, wired for notebooks
``profile.pitfalls``          benchmarks that lie (deleted loops, folded constants, the first
                              call, a cold CPU, a busy neighbour), each shown and fixed
``profile.threads``           busy and waiting time per thread on a timeline (off-CPU time);
                              the chapter's pipeline
``profile.hotspot``           a small program with one hot spot, to find and fix
``profile.branches``          sorted vs shuffled data: branch mispredictions, counted or simulated
============================  ==================================================================

The submodules are imported on their own (``from course_lib.profile import counters``); this
package imports none of them, so each one's start-up cost is paid only when it is used.
"""
