"""The arithmetic ceiling of one core: how many floating-point operations per second it can do.

A fused multiply-add (FMA) computes ``a * b + c`` in one instruction: 2 flops per lane. A core
since Intel Haswell and AMD Zen can start **two** vector FMAs per cycle (two FMA units), and each
takes about 4 cycles, so it needs at least 2 x 4 = 8 independent FMAs in flight to stay busy.
The loop in ``course_lib/_c/simd.c`` (``simd_fma_peak``) keeps 12 independent accumulators
(14 for the variants without FMA, whose multiply-then-add chain is longer)
(``acc_k = acc_k * m + c``) and does nothing else, so it runs at the ceiling:

    flops per cycle = lanes x FMA units x 2
    e.g. AVX2 float32: 8 lanes x 2 units x 2 = 32 flops per cycle; at 3.5 GHz, 112 GFLOP/s.

:func:`peak` measures GFLOP/s and divides by that figure to give the clock the measurement
implies: if it comes out near the CPU's real clock, the model is right. The assumptions, which
``Peak.note`` repeats:

- 2 FMA units per core on x86 (Haswell and later, Zen 1 to 5) and on most AArch64 servers; 4
  on Apple M-series and Arm Neoverse V1/V2 (four 128-bit pipes).
- AVX-512 on AMD Zen 4 (CPU family 25) is *double-pumped*: a 512-bit FMA occupies both 256-bit
  units, so it counts as 1 unit of 16 lanes (no more flops than AVX2, fewer instructions).
  Some Intel client and low-end Xeon cores also have a single 512-bit FMA unit: their implied
  clock comes out at half the real one.
- Variants without FMA (scalar, sse, vecext on x86) do a multiply and an add instead; both
  count, 2 flops per lane. Cores with separate add pipes (AMD Zen) reach the same figure; Intel
  cores, whose two pipes do either, reach half of it.
- Turbo: a single busy core usually runs above its base clock, and wide vector code may run a
  little slower (AVX-512 "licence" on older Intel parts).

Timings are the best of a few repeats (the fastest run is the least disturbed one); under
``COURSE_QUICK=1`` each measurement lasts a few milliseconds.

Sources: Agner Fog, "Instruction tables" and "The microarchitecture of Intel, AMD and VIA CPUs"
(FMA units, latency 4, throughput 2 per cycle; Zen 4's 512-bit operations); Intel Intrinsics
Guide (latency and throughput columns); Williams, Waterman and Patterson, "Roofline: an
insightful visual performance model for multicore architectures", CACM 52(4), 2009.
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np

from course_lib import config
from course_lib.simd import features as _features

__all__ = ["Peak", "peak", "peak_table", "format_table", "fma_units", "dot_rate"]

_PRECISION = {"f32": 32, "f64": 64, "float32": 32, "float64": 64, 32: 32, 64: 64}
_FUSED = {"scalar": False, "vecext": False, "sse": False, "avx2": True, "avx512": True,
          "neon": True}
_REPEATS = 5


@dataclass(frozen=True)
class Peak:
    """One measured peak.

    Attributes:
        variant: the kernel variant (``"avx2"`` ...). precision: ``"f32"`` or ``"f64"``.
        lanes: elements per vector. fused: whether its code asks for FMA instructions (a
            compiler may fuse the others' multiply and add too, e.g. Clang on AArch64).
        gflops: measured, one core, best of the repeats.
        fma_units: the assumed number of vector FMA units (see the module's notes).
        flops_per_cycle: lanes x fma_units x 2, the model's ceiling per cycle.
        clock_ghz: gflops / flops_per_cycle, the clock the measurement implies.
        note: the assumption behind fma_units, in words.
    """

    variant: str
    precision: str
    lanes: int
    fused: bool
    gflops: float
    fma_units: int
    flops_per_cycle: int
    clock_ghz: float
    note: str

    def __str__(self) -> str:
        return (f"{self.variant:>7} {self.precision}: {self.gflops:7.1f} GFLOP/s = "
                f"{self.flops_per_cycle:3d} flops/cycle x {self.clock_ghz:.2f} GHz")


def _cpuinfo() -> dict[str, str]:
    """vendor_id, cpu family, model name (x86 Linux), or {} elsewhere; never raises."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read(8192)
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if info:
                break
            continue
        info.setdefault(key.strip(), value.strip())
    return info


def _cpu_model() -> str:
    try:
        from course_lib.measure.machine import describe

        return describe().cpu_model or ""
    except Exception:  # the model name only refines a guess
        return ""


def fma_units(variant: str) -> tuple[int, str]:
    """The assumed vector FMA units per core for ``variant`` on this CPU, and why.

    Example:
        >>> fma_units("avx2")  # doctest: +SKIP
        (2, 'x86 since Haswell / Zen: 2 FMA units per core')
    """
    if variant not in _FUSED:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(_FUSED)}")
    arm = platform.machine().lower() in ("aarch64", "arm64")
    if arm:
        model = _cpu_model()
        if "Apple" in model or "Neoverse-V" in model:
            return 4, f"{model}: 4 128-bit FMA pipes per core"
        return 2, "AArch64 core: assumed 2 128-bit FMA pipes (4 on Apple M and Neoverse V)"
    if variant == "avx512":
        info = _cpuinfo()
        if info.get("vendor_id") == "AuthenticAMD" and info.get("cpu family") == "25":
            return 1, "AMD Zen 4: AVX-512 double-pumped, one 512-bit FMA per cycle"
        return 2, "AVX-512: assumed 2 512-bit FMA units (1 on some client / low-end Xeon cores)"
    if not _FUSED[variant]:
        return 2, "no FMA: a multiply and an add per lane, assumed 2 FP pipes"
    return 2, "x86 since Haswell / Zen: 2 FMA units per core"


def _seconds(seconds: float | None) -> float:
    if seconds is None:
        return config.pick(0.2, 0.03)
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    return float(seconds)


def _best_rate(call, budget: float) -> float:
    """Calibrate ``call(count) -> flops`` to budget / _REPEATS per run; best flops per second."""
    count, spent = 256, 0.0
    while True:  # grow until one run is long enough to time (and to reach the turbo clock)
        t0 = time.perf_counter()
        flops = call(count)
        dt = time.perf_counter() - t0
        spent += dt
        if dt >= min(0.002, budget / (2 * _REPEATS)) or count > 1 << 40:
            break
        count *= 4
    best = flops / dt
    per_run = max(budget - spent, budget / 2) / _REPEATS
    count = max(1, int(count * per_run / max(dt, 1e-9)))
    for _ in range(_REPEATS):
        t0 = time.perf_counter()
        flops = call(count)
        best = max(best, flops / max(time.perf_counter() - t0, 1e-12))
    return best


def peak(precision: str = "f32", variant: str | None = None, seconds: float | None = None) -> Peak:
    """Measure the multiply-add peak of one core with one variant.

    Args:
        precision: ``"f32"`` or ``"f64"``.
        variant: None for the best available (under the ceiling), or a variant name.
        seconds: the time budget; None: 0.2 s, or 0.03 s under ``COURSE_QUICK=1``.

    Returns:
        A :class:`Peak`.

    Raises:
        ValueError: unknown precision or variant name. SimdUnavailable: the variant cannot run.

    Example:
        >>> print(peak("f32", "scalar"))  # doctest: +SKIP
         scalar f32:     7.2 GFLOP/s =   4 flops/cycle x 1.80 GHz
    """
    bits = _PRECISION.get(precision)
    if bits is None:
        raise ValueError(f"precision must be 'f32' or 'f64', got {precision!r}")
    name = _features.best_variant() if variant is None else variant
    number = _features.check(name)
    ffi, lib = _features._lib()
    sink = ffi.new("double *")

    def call(iters: int) -> int:
        flops = lib.simd_fma_peak(number, bits, iters, sink)
        if flops < 0:  # pragma: no cover - check() ran first
            raise _features.SimdUnavailable(f"simd_fma_peak refused {name} (status {flops})")
        return flops

    rate = _best_rate(call, _seconds(seconds))
    lanes = _features.lanes(name, bits)
    units, note = fma_units(name)
    per_cycle = lanes * units * 2
    gflops = rate / 1e9
    return Peak(name, f"f{bits}", lanes, _FUSED[name], gflops, units, per_cycle,
                gflops / per_cycle, note)


def peak_table(precisions: tuple[str, ...] = ("f32", "f64"),
               seconds: float | None = None) -> list[Peak]:
    """:func:`peak` for every available variant (under the ceiling) and each precision."""
    return [peak(p, v, seconds) for v in _features.available() for p in precisions]


def format_table(rows: list[Peak]) -> str:
    """The rows as a text table (one line each, plus the assumptions once)."""
    lines = [str(r) for r in rows]
    notes = sorted({f"{r.variant}: {r.note}" for r in rows})
    return "\n".join(lines + ["assumed:"] + ["  " + n for n in notes])


def dot_rate(n: int = 4096, variant: str | None = None, seconds: float | None = None) -> float:
    """GFLOP/s of :func:`course_lib.simd.kernels.dot` on ``n`` elements (2 flops each).

    The dot product is repeated inside C, so that the cost of calling from Python (about a
    microsecond) does not hide a kernel that takes a hundred nanoseconds. With n = 4096 the two
    arrays (32 KiB) sit in the L1 or L2 cache: the figure shows the arithmetic, not the memory.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    name = _features.best_variant() if variant is None else variant
    number = _features.check(name)
    ffi, lib = _features._lib()
    rng = np.random.default_rng(5)
    x, y = rng.random(int(n), dtype=np.float32), rng.random(int(n), dtype=np.float32)
    px, py, out = ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", y), ffi.new("float *")

    def call(reps: int) -> int:
        status = lib.simd_dot_repeat(number, px, py, int(n), reps, out)
        if status:  # pragma: no cover - check() ran first
            raise _features.SimdUnavailable(f"simd_dot_repeat refused {name} (status {status})")
        return 2 * int(n) * reps

    return _best_rate(call, _seconds(seconds)) / 1e9
