"""The course's benchmarks: `make bench` (or `python -m benchmarks [name ...]`) runs them.

Each ``bench_<name>.py`` has a ``run()`` that measures with course_lib.measure.bench and prints figures
and the ratios an issue asks for, against baselines measured in the same run. COURSE_QUICK=1
shrinks them to a smoke run.
"""


def print_groups(groups) -> None:
    """Print each ``(title, rows)`` group, ``rows`` a callable returning ``(name, value)`` pairs,
    as a titled, aligned table (rows are measured when their group is printed)."""
    for title, rows in groups:
        rows = rows()
        print(f"\n{title}")
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"  {name:<{width}}  {value}")
