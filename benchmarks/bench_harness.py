"""The harness's own figures: its floor (an empty call), the timer, and how noisy this machine is.

Read these first: a difference smaller than the noise printed here is not a difference.
"""
import time

from course_lib.config import pick
from course_lib.measure import bench, work
from course_lib.measure.stats import format_seconds


def run() -> None:
    info = time.get_clock_info("perf_counter")
    print(f"timer: perf_counter, resolution {format_seconds(info.resolution)}, monotonic={info.monotonic}")
    floor = bench.harness_overhead(budget=pick(0.5, 0.1))
    print(f"harness floor (empty call): median {format_seconds(floor.median)}, IQR {format_seconds(floor.iqr)}")
    rounds = pick(2_000_000, 200_000)
    for budget in pick((0.2, 1.0, 3.0), (0.1, 0.3)):
        m = bench.measure(work.spin, rounds, budget=budget)
        lo, hi = m.ci
        print(f"work.spin({rounds:,}) budget {budget:>4} s: median {format_seconds(m.median)}, "
              f"noise (IQR/median) {m.relative_noise:.2%}, CI width {(hi - lo) / m.median:.2%} of median, "
              f"{m.n} samples, {m.outliers}")
    same = bench.compare(lambda: work.spin(rounds), lambda: work.spin(rounds), budget=pick(1.0, 0.2))
    lo, hi = same.ci
    print(f"A/A test (same function twice): ratio {same.ratio:.4f}, 95% CI {lo:.4f} .. {hi:.4f} "
          f"({'contains 1: good' if lo <= 1 <= hi else 'excludes 1: the machine drifted during the run'})")
    double = bench.compare(lambda: work.spin(2 * rounds), lambda: work.spin(rounds), budget=pick(1.0, 0.2))
    print(f"A/B test (twice the work vs once): ratio {double.ratio:.4f} (expected 2), "
          f"95% CI {double.ci[0]:.4f} .. {double.ci[1]:.4f}")
