"""The course's benchmarks: `make bench` (or `python -m benchmarks [name ...]`) runs them.

Each ``bench_<name>.py`` has a ``run()`` that measures with course_lib.measure.bench and prints figures
and the ratios an issue asks for, against baselines measured in the same run. COURSE_QUICK=1
shrinks them to a smoke run.
"""
