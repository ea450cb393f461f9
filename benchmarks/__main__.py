"""Run the benchmarks: ``python -m benchmarks`` (all) or ``python -m benchmarks harness par``."""
import importlib
import sys
import time
from pathlib import Path

from course_lib.measure.machine import describe


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    available = sorted(p.stem[len("bench_"):] for p in here.glob("bench_*.py"))
    unknown = sorted(set(names) - set(available))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}")
        return 2
    print(describe())
    for name in names or available:
        print(f"\n=== {name} " + "=" * (70 - len(name)))
        start = time.perf_counter()
        importlib.import_module(f"benchmarks.bench_{name}").run()
        print(f"--- {name} took {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
