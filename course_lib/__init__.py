"""course_lib: the library behind the course on high-performance parallel programming in Python.

One module per concept, each a real, tested implementation that the notebooks import:

- ``course_lib.machine``: what this machine has (cores, caches, SIMD, NUMA, perf counters).
- ``course_lib.bench``: a statistical benchmark harness (measure, compare, scaling).
- ``course_lib.plots`` / ``course_lib.widgets``: speedup plots and interactive explorers.
- ``course_lib.testing``: the checkers that graded notebook cells call.

Submodules are imported on demand so that ``import course_lib`` stays cheap.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "quick"]

from course_lib.config import quick
