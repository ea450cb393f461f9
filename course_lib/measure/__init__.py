"""Measuring: what this machine has, and how long things really take (chapter c00, used by all).

==================  ======================================================================
``machine``         ``describe()``: cores (usable, physical), caches, SIMD, NUMA, counters
``bench``           ``measure``, ``compare`` (interleaved A/B with a CI), ``interleave``,
                    ``scaling``
``stats``           median, IQR, Tukey outliers, bootstrap confidence intervals
``amdahl``          Amdahl's and Gustafson's laws, and fitting a serial fraction
``work``            calibrated CPU work in C that runs without the GIL (``spin``)
``threads``         ``run_on_threads``: start threads together and time them
``timeline``        who ran which task when, drawn from a pool's events (chapter c01)
``plots``           speedup and sample plots
``widgets``         live figures and explorers (still figures when headless)
==================  ======================================================================

Import the module you need (``from course_lib.measure import bench``); nothing is imported here,
so that ``import course_lib.measure.machine`` does not pull in matplotlib.
"""
