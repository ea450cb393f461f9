"""Benchmarks for course_lib.memory (chapter c06): bandwidth and latency, against the machine.

1. STREAM, every implementation on 1..N threads (``memory.stream``), McCalpin-sized arrays.
   Targets, each a ratio measured in this run:
   - numba's ``prange`` triad reaches at least 0.9x the C triad, at 1 thread and at all threads
     (both are bound by memory: a compiled loop should not lose to another one);
   - reported, no target: C with non-temporal stores over plain C (no write-allocate read),
     NumPy over C at 1 thread (its triad makes two passes), memcpy over the C copy.
2. Latency: the pointer-chase curve (``memory.latency``), its plateaus in ns and the steps found
   from the curve alone, next to the caches that ``describe()`` reports; the C and numba chases
   at a few sizes (the latency is the hardware's: they should agree).
3. Software prefetch (``memory.prefetch``): a random and a sequential gather by distance.
4. Layout (``memory.layout``): AoS vs SoA drift, and the naive vs blocked transpose, as ratios
   of times taken in interleaved rounds of this run; the arena against ``np.empty`` for scratch
   past glibc's mmap threshold (``memory.arena``).

Run with ``python -m benchmarks memory`` (``COURSE_QUICK=1`` for a quick run).
"""
from __future__ import annotations

import importlib

import numpy as np

from course_lib.config import pick
from course_lib.measure.machine import describe, format_bytes

from course_lib.measure.bench import interleave
from course_lib.memory import arena, layout

latency = importlib.import_module("course_lib.memory.latency")
prefetch = importlib.import_module("course_lib.memory.prefetch")
stream_mod = importlib.import_module("course_lib.memory.stream")


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x (target {target}x: {'met' if ratio >= target else 'NOT met'})"


def run() -> None:
    m = describe()
    print(f"\n-- STREAM ({stream_mod.nt_stores_note()})")
    r = stream_mod.stream()
    print(r)
    top = max(r.threads)
    print("\n-- targets and ratios (triad unless said otherwise)")
    # The target gets its own run: numba and C only, more passes, in alternation.
    duel = stream_mod.stream(threads=sorted({1, top}), impls=("numba", "c"), kernels=("triad",),
                             reps=pick(30, 10))
    for t in sorted({1, top}):
        nb, c = duel.gbps("numba", "triad", t), duel.gbps("c", "triad", t)
        print(f"numba {nb:.1f} / C {c:.1f} GB/s at {t} thread(s): {_verdict(nb / c, 0.9)}")
    for t in sorted({1, top}):
        c, nt = r.gbps("c", "triad", t), r.gbps("c-nt", "triad", t)
        cp, mc = r.gbps("c", "copy", t), r.gbps("memcpy", "copy", t)
        print(f"{t} thread(s): C-nt / C {nt / c:.2f}x;  memcpy / C copy {mc / cp:.2f}x")
    print(f"NumPy / C at 1 thread: {r.gbps('numpy', 'triad', 1) / r.gbps('c', 'triad', 1):.2f}x "
          "(NumPy's triad is two passes over the arrays)")

    print("\n-- latency (pointer chase through one random cycle of cache lines)")
    curve = latency.latency_curve()
    print(curve)
    print("plateaus:  " + ";  ".join(f"{format_bytes(p.first)}..{format_bytes(p.last)}: "
                                     f"{p.ns:.1f} ns" for p in curve.plateaus()))
    steps = curve.steps()
    for (name, size), found in zip(curve.caches(), list(steps) + [None] * 3):
        shown = format_bytes(found) if found else "-"
        print(f"{name} {format_bytes(size)} (describe)  ->  step found at {shown}")
    if len(steps) > len(curve.caches()):
        print("extra steps: " + ", ".join(format_bytes(s) for s in steps[len(curve.caches()):]))
    l3 = m.l3_bytes or (32 << 20)
    sizes = [16 << 10, 256 << 10, 4 << 20, pick(4 * l3, min(4 * l3, 64 << 20))]
    budget = pick(0.8, 0.2)
    c_chase = latency.latency_curve(sizes, budget=budget, impl="c")
    nb_chase = latency.latency_curve(sizes, budget=budget, impl="numba")
    print("C vs numba chase: " + ";  ".join(
        f"{format_bytes(int(s))}: {a:.1f} / {b:.1f} ns"
        for s, a, b in zip(c_chase.sizes, c_chase.ns, nb_chase.ns)))

    print("\n-- software prefetch")
    print(prefetch.prefetch_sweep())

    print("\n-- layout (ratios of medians, interleaved rounds)")
    n = pick(2_000_000, 200_000)
    p = layout.particles(n)
    soa = layout.to_soa(p)
    cols = [soa[f] for f in ("x", "y", "z", "vx", "vy", "vz")]
    aos, fast = interleave([("AoS", lambda: layout.drift_aos(p, 1e-9)),
                            ("SoA", lambda: layout.drift_soa(*cols, 1e-9))], budget=pick(2.0, 0.5))
    print(f"drift of {n:,} particles: AoS {aos.median / n * 1e9:.2f} ns, SoA {fast.median / n * 1e9:.2f} "
          f"ns per particle: SoA {aos.median / fast.median:.2f}x")
    size = pick(4096, 1024)
    a = np.random.default_rng(0).random((size, size))
    out = a.copy()
    plain, tiled = interleave([("naive", lambda: layout.transpose_naive(a, out)),
                               ("blocked", lambda: layout.transpose_blocked(a, out, 32))],
                              budget=pick(2.0, 0.5))
    print(f"transpose {size}x{size} float64: naive {plain.median * 1e3:.1f} ms, blocked(32) "
          f"{tiled.median * 1e3:.1f} ms: {plain.median / tiled.median:.2f}x")
    for r in arena.scratch_sweep(widths=(1 << 10, 1 << 22)):
        print(f"scratch {r['bytes'] >> 10:,} KiB per row: np.empty {r['empty_ns']:.3f} ns/element, "
              f"arena {r['arena_ns']:.3f}: {r['ratio']:.1f}x")
