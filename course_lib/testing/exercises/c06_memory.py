"""Checkers for chapter c06_memory: cache sizes read off a latency curve, an AoS update turned
into SoA, a blocked transpose, and a bump arena in numba.

Speed is graded only as a ratio measured in the same run against the chapter's own reference
(interleaved rounds, :func:`course_lib.measure.bench.interleave`), and only when that reference
itself shows its gain on this machine at this moment; when it does not (a machine too busy, or a
cache so large that the effect hides), the structure of the answer is graded instead, and the
check says so.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, Callable, Mapping

import numpy as np

from course_lib.measure.bench import interleave
from course_lib.measure.machine import describe
from course_lib.memory import arena as ref_arena
from course_lib.memory import layout
from course_lib.testing.delegation import answers
from course_lib.testing.exercises import seal

__all__ = ["check_cache_sizes", "check_soa", "check_blocked_transpose", "check_bump_arena",
           "SOA_FIELDS", "speed_verdict"]

KIB, MIB = 1 << 10, 1 << 20


def _require_numba(fn: Any, name: str) -> None:
    if not hasattr(fn, "py_func"):
        raise AssertionError(f"{name} should be a numba function: put @njit(...) above it")


def speed_verdict(learner_ratio: float, reference_ratio: float, *, need: float,
                  floor: float = 0.6) -> str:
    """Judge a same-run speed ratio (``> 1``: faster than the slow reference).

    Returns ``"pass"`` when the learner's code beats the slow reference by ``need``;
    ``"fail"`` when the reference shows the gain but the learner's does not, or when the
    learner's code is far slower than even the slow reference (below ``floor``: a Python loop);
    ``"structure"`` when the reference itself cannot show a gain of ``need`` now, so the clock
    cannot judge and the structure must.
    """
    if learner_ratio >= need:
        return "pass"
    if learner_ratio < floor:
        return "fail"
    return "fail" if reference_ratio >= need else "structure"


# ---------------------------------------------------------------------------- exercise 1
LEVELS = ("L1", "L2", "L3")


def _described_sizes() -> dict[str, int]:
    m = describe()
    sizes = {"L1": m.l1d_bytes, "L2": m.l2_bytes, "L3": m.l3_bytes}
    return {k: int(v) for k, v in sizes.items() if v}


def _measured_steps() -> tuple[int, ...]:
    """The steps of a latency curve measured now, by the grader (about a second)."""
    from course_lib.memory.latency import latency_curve

    return latency_curve().steps()


def check_cache_sizes(cache_bytes: Mapping[str, Any], factor: float = 2.0, l3_factor: float = 4.0,
                      described: Mapping[str, int] | None = None,
                      measured: Callable[[], tuple[int, ...]] = _measured_steps) -> None:
    """Grade ``CACHE_BYTES = {"L1": ..., "L2": ..., "L3": ...}``, sizes in bytes read off the
    learner's latency curve: each within ``factor`` of what the operating system reports for
    this machine (the curve's steps are soft: a factor of 2 either way is a fair reading), the
    L3 within ``l3_factor`` (a last-level cache is shared by cores, and on a cloud machine by
    tenants: the share one core sees, and the step, move from run to run).

    What a guest of a virtual machine sees can differ from what the CPU reports (a 32 MiB L3
    shared with other tenants may behave like 8 MiB), so a size that misses the OS's figure
    is compared with the grader's own latency curve, measured now on this machine (``measured``,
    called at most once); within ``factor`` of that step passes too. Levels that neither
    source knows are graded for order and plausibility only.

    Raises:
        AssertionError: naming each level that is off, with a hint for the usual slips (KiB
            instead of bytes, two levels swapped).
    """
    if not isinstance(cache_bytes, Mapping):
        raise AssertionError(f"CACHE_BYTES should be a dict like {{'L1': 32768, ...}}, got "
                             f"{type(cache_bytes).__name__}")
    missing = [k for k in LEVELS if k not in cache_bytes]
    if missing:
        raise AssertionError(f"CACHE_BYTES lacks {missing}: give all of {list(LEVELS)}")
    values = {}
    for k in LEVELS:
        v = cache_bytes[k]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not np.isfinite(v) or v <= 0:
            raise AssertionError(f"CACHE_BYTES[{k!r}] should be a positive number of bytes, got {v!r}")
        values[k] = float(v)
    truth = dict(_described_sizes() if described is None else described)
    problems = []
    base = factor
    ordered = values["L1"] < values["L2"] < values["L3"]
    if not ordered:
        problems.append(f"the levels should grow, L1 < L2 < L3; got {values}")
    steps: list[tuple[int, ...]] = []

    def curve_agrees(level: int, v: float, factor: float) -> bool:
        if not steps:
            steps.append(tuple(measured()))
        return level < len(steps[0]) and steps[0][level] / factor <= v <= steps[0][level] * factor

    for level, k in enumerate(LEVELS):
        v, want = values[k], truth.get(k)
        factor = l3_factor if k == "L3" else base
        if want is None:
            if not 1 * KIB <= v <= 4096 * MIB:
                problems.append(f"{k}: {v:.0f} bytes is not a plausible cache size")
            continue
        if not want / factor <= v <= want * factor and not (ordered and curve_agrees(level, v, factor)):
            hint = ""
            if want / 1024 / factor <= v <= want / 1024 * factor:
                hint = " (that looks like KiB: the answer is in bytes)"
            elif want / MIB / factor <= v <= want / MIB * factor:
                hint = " (that looks like MiB: the answer is in bytes)"
            elif any(truth.get(o) and truth[o] / factor <= v <= truth[o] * factor for o in LEVELS if o != k):
                hint = " (that is the size of another level: are two swapped?)"
            seen = (f" and from the step the grader's own curve found ({steps[0][level]:,} bytes)"
                    if steps and level < len(steps[0]) else "")
            problems.append(f"{k}: {v:,.0f} bytes is more than {factor:g}x away from where this "
                            f"machine's {k} ends ({want:,} bytes, says the OS){seen}{hint}; find "
                            "the size where the curve steps up after the plateau")
    if problems:
        raise AssertionError("\n".join(problems))
    print("cache sizes: " + ", ".join(f"{k} {values[k] / KIB:,.0f} KiB" for k in LEVELS)
          + (" (the OS reports " + ", ".join(f"{k} {truth[k] / KIB:,.0f} KiB" for k in truth) + ")"
             if truth else ""))


# ---------------------------------------------------------------------------- exercise 2
SOA_FIELDS = ("x", "y", "z", "vx", "vy", "vz")
_SIZES = (0, 1, 3, 17, 1001)


@answers("the SoA conversion and drift", layout.to_soa, layout.drift_soa, layout.from_soa,
         layout.drift_aos, layout.drift_numpy_fields, count=2)
def check_soa(to_soa: Callable, drift_soa: Callable, n_speed: int = 1_000_000,
              budget: float = 1.5) -> None:
    """Grade ``to_soa(p) -> {field: array}`` and ``drift_soa(x, y, z, vx, vy, vz, dt)``.

    1. ``to_soa`` of particle arrays (0 to 1001 records, aligned and packed) gives every field
       of :data:`SOA_FIELDS` as its own contiguous float64 array with the record's values, not
       a view into the records (``p["x"]`` is strided: that is still AoS).
    2. ``drift_soa`` moves x, y, z by v*dt in place and leaves the velocities alone.
    3. Speed, same run: the learner's drift on the learner's arrays against the chapter's AoS
       drift on the records, ``n_speed`` particles (larger than most L3 caches).
    """
    rng = np.random.default_rng(11)
    for dtype in (layout.PARTICLE, layout.PARTICLE_PACKED):
        for n in _SIZES:
            p = layout.particles(n, dtype, seed=n)
            keep = p.copy()
            try:
                soa = to_soa(p)
            except Exception as exc:
                raise AssertionError(f"to_soa raised {type(exc).__name__}: {exc} on {n} particles") from None
            if not isinstance(soa, Mapping):
                raise AssertionError(f"to_soa should return a dict of arrays, got {type(soa).__name__}")
            for f in SOA_FIELDS:
                a = soa.get(f)
                if not isinstance(a, np.ndarray):
                    raise AssertionError(f"to_soa(p)[{f!r}] should be a NumPy array, got {type(a).__name__}")
                if a.shape != (n,) or not np.array_equal(a, keep[f]):
                    raise AssertionError(f"to_soa(p)[{f!r}] should hold the {n} values of field {f!r}")
                if n and (np.shares_memory(a, p) or not a.flags.c_contiguous):
                    raise AssertionError(
                        f"to_soa(p)[{f!r}] is a view into the records (stride {a.strides[0]} bytes): "
                        "the bytes are still laid out record after record. A struct of arrays "
                        "needs each field copied into its own contiguous array")
            dt = float(rng.choice([1e-3, -0.25]))
            cols = [soa[f] for f in SOA_FIELDS]
            before = [c.copy() for c in cols]
            try:
                drift_soa(*cols, dt)
            except Exception as exc:
                raise AssertionError(f"drift_soa raised {type(exc).__name__}: {exc} on {n} particles") from None
            for k, axis in enumerate("xyz"):
                want = before[k] + before[k + 3] * dt
                if not np.allclose(cols[k], want, rtol=1e-12, atol=1e-12):
                    bad = int(np.flatnonzero(~np.isclose(cols[k], want, rtol=1e-12, atol=1e-12))[0])
                    raise AssertionError(f"after drift_soa with dt={dt}, {axis}[{bad}] is {cols[k][bad]!r}; "
                                         f"want {axis} + v{axis}*dt = {want[bad]!r} ({n} particles)")
                if not np.array_equal(cols[k + 3], before[k + 3]):
                    raise AssertionError(f"drift_soa changed v{axis}: only positions move")
    # speed, in the same run
    p = layout.particles(n_speed)
    soa = to_soa(p)
    cols = [soa[f] for f in SOA_FIELDS]
    mine = layout.to_soa(p)
    ref_cols = [mine[f] for f in SOA_FIELDS]
    drift_soa(*cols, 0.0)
    ms = interleave([("AoS reference", lambda: layout.drift_aos(p, 1e-9)),
                     ("your SoA drift", lambda: drift_soa(*cols, 1e-9)),
                     ("reference SoA", lambda: layout.drift_soa(*ref_cols, 1e-9))], budget=budget)
    learner, reference = ms[0].median / ms[1].median, ms[0].median / ms[2].median
    verdict = speed_verdict(learner, reference, need=1.15)
    print(f"drift of {n_speed:,} particles: AoS {ms[0].median * 1e3:.2f} ms, yours "
          f"{ms[1].median * 1e3:.2f} ms ({learner:.2f}x), reference SoA {reference:.2f}x")
    if verdict == "fail":
        raise AssertionError(
            f"your SoA drift ran {learner:.2f}x the speed of the AoS loop (the reference SoA loop: "
            f"{reference:.2f}x, same run). Use the contiguous arrays in one compiled loop (numba) "
            "or whole-array NumPy operations; a Python loop over elements is far slower than AoS")
    if verdict == "structure":
        print("  (this machine is too busy to show the gain now: graded on layout and results)")


# ---------------------------------------------------------------------------- exercise 3
_SHAPES = ((1, 1), (1, 9), (9, 1), (3, 5), (31, 33), (64, 64), (100, 37), (129, 257))


def _source_tree(fn: Any) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(getattr(fn, "py_func", fn))))
    except (OSError, TypeError, SyntaxError):
        return None


def _loop_shape(tree: ast.AST) -> tuple[int, bool]:
    """(deepest nesting of for/while loops, whether some ``range`` has a step that is not 1)."""
    stepped = any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "range"
                  and len(n.args) == 3
                  and not (isinstance(n.args[2], ast.Constant) and n.args[2].value in (1, -1))
                  for n in ast.walk(tree))

    def depth(node: ast.AST) -> int:
        inner = max((depth(c) for c in ast.iter_child_nodes(node)), default=0)
        return inner + 1 if isinstance(node, (ast.For, ast.While)) else inner

    return depth(tree), stepped


def _blocked_structure(fn: Any, name: str) -> str:
    tree = _source_tree(fn)
    if tree is None:
        return "unknown"
    d, stepped = _loop_shape(tree)
    if d >= 4 or (d >= 2 and stepped):
        return "blocked"
    raise AssertionError(
        f"{name} has {d} nested loop{'s' if d != 1 else ''} and no loop that steps a tile at a "
        "time: that is the plain transpose. Loop over tiles (range(0, n, block)), then over the "
        "elements inside each tile")


@answers("the blocked transpose", layout.transpose_blocked, layout._blocked, layout.transpose_naive,
         np.transpose, np.ascontiguousarray, np.copyto)
def check_blocked_transpose(transpose_blocked: Callable, name: str = "transpose_blocked",
                            n_speed: int = 1024, budget: float = 1.0) -> None:
    """Grade ``transpose_blocked(a, out, block)`` (numba; writes ``a.T`` into ``out``).

    1. Results: every shape in :data:`_SHAPES` (edge tiles of every size, 1-row and 1-column
       matrices), blocks 1, 4, 7, 32 and larger than the matrix, float64 / float32 / int64.
    2. Structure: tile loops (a ``range`` with a step, or four nested loops).
    3. Speed, same run, ``n_speed`` x ``n_speed`` float64: against the plain transpose.
    """
    _require_numba(transpose_blocked, name)
    rng = np.random.default_rng(3)
    for shape in _SHAPES:
        for dtype in (np.float64, np.float32, np.int64):
            a = (rng.standard_normal(shape) * 100).astype(dtype)
            for block in (1, 4, 7, 32, 1000):
                out = np.full((shape[1], shape[0]), -7, dtype=dtype)
                try:
                    transpose_blocked(a, out, block)
                except Exception as exc:
                    raise AssertionError(f"{name} raised {type(exc).__name__}: {exc} for a {shape} "
                                         f"{np.dtype(dtype).name} matrix, block={block}") from None
                if not np.array_equal(out, a.T):
                    wrong = np.argwhere(out != a.T)
                    r, c = (int(v) for v in wrong[0])
                    edge = ("; the wrong elements are in the last partial tile: clip the tile loops "
                            "at the matrix edge" if block > 1 and (r >= shape[1] - shape[1] % block
                                                                    or c >= shape[0] - shape[0] % block)
                            else "")
                    raise AssertionError(f"{name} of a {shape} {np.dtype(dtype).name} matrix with "
                                         f"block={block}: out[{r}, {c}] is {out[r, c]!r}, want "
                                         f"a[{c}, {r}] = {a[c, r]!r} ({len(wrong)} wrong elements){edge}")
    structure = _blocked_structure(transpose_blocked, name)
    a = rng.random((n_speed, n_speed))
    out_l, out_n, out_r = np.empty_like(a), np.empty_like(a), np.empty_like(a)
    ms = interleave([("plain", lambda: layout._naive(a, out_n)),
                     ("yours", lambda: transpose_blocked(a, out_l, 32)),
                     ("reference", lambda: layout._blocked(a, out_r, 32))], budget=budget)
    learner, reference = ms[0].median / ms[1].median, ms[0].median / ms[2].median
    print(f"transpose {n_speed}x{n_speed}: plain {ms[0].median * 1e3:.2f} ms, yours (block 32) "
          f"{learner:.2f}x, reference blocked {reference:.2f}x (same run)")
    verdict = speed_verdict(learner, reference, need=1.2)
    if verdict == "fail":
        raise AssertionError(f"{name} with block=32 ran {learner:.2f}x the speed of the plain "
                             f"transpose while the reference blocked one ran {reference:.2f}x, "
                             "same run: check that both loops inside a tile stay in the tile")
    if verdict == "structure":
        if structure != "blocked":
            raise AssertionError(f"the machine is too busy to time {name}, and its source cannot "
                                 "be read to check the tiles")
        print("  (too busy to show the gain now: graded on results and tile structure)")


# ---------------------------------------------------------------------------- exercise 4
def _nogil(fn: Any) -> bool:
    return bool(getattr(fn, "targetoptions", {}).get("nogil"))


def _call(fn: Callable, what: str, *args: Any) -> Any:
    try:
        return fn(*args)
    except (MemoryError, ValueError):
        raise
    except Exception as exc:
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}") from None


def check_bump_arena(alloc: Callable, reset: Callable, rounds: int = 400) -> None:
    """Grade ``alloc(state, nbytes, align) -> offset`` and ``reset(state)``, numba ``nogil``
    functions over ``state = np.array([top, capacity], np.int64)``.

    The battery: offsets aligned and inside the arena; no two live blocks overlap (random
    sizes and alignments); an allocation that exactly fills the arena succeeds and one more
    byte raises ``MemoryError`` and leaves the arena as it was; zero-byte requests; an
    alignment that is not a power of two raises ``ValueError``; ``reset`` makes the whole
    capacity available again, starting at offset 0.
    """
    for fn, name in ((alloc, "alloc"), (reset, "reset")):
        _require_numba(fn, name)
        if not _nogil(fn):
            raise AssertionError(f"{name} should release the GIL: @njit(nogil=True)")
    rng = np.random.default_rng(17)
    capacity = 1 << 14
    state = ref_arena.bump_new(capacity)
    live: list[tuple[int, int]] = []
    for step in range(rounds):
        nbytes = int(rng.choice([0, 1, 3, 8, 24, 100, 500]))
        align = int(rng.choice([1, 2, 8, 16, 64, 256]))
        top_before = int(state[0])
        try:
            off = _call(alloc, f"alloc(state, {nbytes}, {align})", state, nbytes, align)
        except MemoryError:
            need = -(-top_before // align) * align + nbytes
            if need <= capacity:
                raise AssertionError(f"alloc(state, {nbytes}, {align}) raised MemoryError with top="
                                     f"{top_before} of {capacity}: it fits (it would end at {need})") from None
            if int(state[0]) != top_before:
                raise AssertionError("after a failed alloc the arena changed (top "
                                     f"{top_before} -> {int(state[0])}): check before you bump") from None
            reset(state)
            live.clear()
            continue
        except ValueError as exc:
            raise AssertionError(f"alloc(state, {nbytes}, {align}) raised ValueError: {exc}") from None
        off = int(off)
        if off % align:
            raise AssertionError(f"alloc(state, {nbytes}, align={align}) returned offset {off}, "
                                 f"not a multiple of {align}: round top up first")
        if off < top_before:
            raise AssertionError(f"alloc returned offset {off}, below top={top_before}: that memory "
                                 "is already handed out")
        if off + nbytes > capacity:
            raise AssertionError(f"alloc returned [{off}, {off + nbytes}), past the capacity {capacity}")
        for s, e in live:
            if nbytes and off < e and s < off + nbytes:
                raise AssertionError(f"alloc returned [{off}, {off + nbytes}), overlapping the live "
                                     f"block [{s}, {e}): move top past each block you hand out")
        if int(state[0]) < off + nbytes:
            raise AssertionError(f"after alloc returned [{off}, {off + nbytes}) top is {int(state[0])}: "
                                 "the next allocation would overlap this one")
        live.append((off, off + nbytes))
    # exact fit, then one byte more
    fresh = ref_arena.bump_new(256)
    first = int(_call(alloc, "alloc(state, 200, 8)", fresh, 200, 8))
    try:
        last = int(_call(alloc, "alloc(state, 56, 8)", fresh, 56, 8))
    except MemoryError:
        raise AssertionError("alloc of the last 56 bytes of a 256-byte arena (200 used) raised "
                             "MemoryError: a block that ends exactly at the capacity fits") from None
    if (first, last) != (0, 200):
        raise AssertionError(f"a fresh 256-byte arena gave offsets {first} and {last} for 200 then "
                             "56 bytes; want 0 and 200")
    try:
        _call(alloc, "alloc(state, 1, 1)", fresh, 1, 1)
    except MemoryError:
        pass
    else:
        raise AssertionError("alloc of 1 byte from a full arena did not raise MemoryError: it "
                             "handed out memory past the end of the buffer")
    if int(fresh[0]) != 256:
        raise AssertionError(f"a failed alloc moved top from 256 to {int(fresh[0])}")
    for bad_align in (0, 3, 12, -8):
        try:
            _call(alloc, f"alloc(state, 8, {bad_align})", ref_arena.bump_new(256), 8, bad_align)
        except ValueError:
            continue
        except MemoryError:
            pass
        raise AssertionError(f"alloc(state, 8, align={bad_align}) should raise ValueError: the "
                             "alignment must be a power of two")
    _call(reset, "reset(state)", fresh)
    try:
        again = int(_call(alloc, "alloc(state, 256, 64) after reset", fresh, 256, 64))
    except MemoryError:
        raise AssertionError("after reset(state), alloc of the whole 256-byte arena raised "
                             "MemoryError: reset should make everything free (top = 0)") from None
    if again != 0:
        raise AssertionError(f"after reset, alloc of the whole arena returned offset {again}, not 0")
    print(f"bump arena: {rounds} random allocations, exact fit, exhaustion, bad alignments and "
          "reset all behave")


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_cache_sizes", "check_soa", "check_blocked_transpose", "check_bump_arena")
seal(__name__)
