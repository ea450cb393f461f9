"""Checkers for chapter c08_matmul: reorder the loops, block them, write a register-blocked
micro-kernel in numba, and distribute tiles over threads.

Each is graded by exact results on awkward shapes (tiles that do not divide them, one row, one
column, an ``out`` full of garbage), by the structure of the code (loop order, tile loops,
packed vector instructions, a race-free ``prange``), and by a speed ratio against the previous
rung's reference taken in the same run, when that reference itself shows its gain on this
machine now; when it does not, the structure alone is graded, and the check says so.
"""
from __future__ import annotations

import ast
from typing import Any, Callable

import numpy as np
from numba import njit

from course_lib.matmul import ladder
from course_lib.measure.bench import interleave
from course_lib.testing.delegation import answers
from course_lib.testing.exercises import seal
from course_lib.testing.exercises.c06_memory import _loop_shape, _source_tree

__all__ = ["check_reordered", "check_blocked", "check_microkernel", "check_parallel_matmul",
           "MR", "NR", "pack_a", "pack_b", "reference_kernel", "SHAPES"]

#: Shapes (m, k, n) that no tile size divides, and the degenerate ones.
SHAPES = ((1, 1, 1), (1, 9, 1), (7, 13, 5), (5, 1, 9), (33, 65, 17), (64, 64, 64), (100, 3, 70),
          (1, 100, 1), (70, 31, 129))

_FORBIDDEN = (ladder.naive, ladder.reordered, ladder.blocked, ladder.packed, ladder.microkernel,
              ladder._naive_kernel, ladder._reordered_kernel, ladder._blocked_kernel,
              np.matmul, np.dot, np.einsum, np.tensordot, np.inner, np.outer)


def _require_numba(fn: Any, name: str) -> None:
    if not hasattr(fn, "py_func"):
        raise AssertionError(f"{name} should be a numba function: put @njit above it")


def _tolerance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|error| allowed per element: k * eps * (|A| @ |B|), the textbook bound for any order of
    summation, times 2 (a fused multiply-add rounds once where a multiply and an add round
    twice)."""
    eps = np.finfo(a.dtype).eps
    return 2 * max(a.shape[1], 1) * eps * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)) + 1e-300


def _grade_results(fn: Callable, name: str, call: Callable[[Callable, np.ndarray, np.ndarray,
                                                                np.ndarray], object]) -> None:
    rng = np.random.default_rng(8)
    for m, k, n in SHAPES:
        for dtype in (np.float64, np.float32):
            for order in ("C", "F"):
                a = np.asarray(rng.standard_normal((m, k)), dtype=dtype, order=order)
                b = np.asarray(rng.standard_normal((k, n)), dtype=dtype, order=order)
                out = np.full((m, n), 7.0, dtype=dtype)  # garbage: every element must be written
                try:
                    call(fn, a, b, out)
                except Exception as exc:
                    raise AssertionError(f"{name} raised {type(exc).__name__}: {exc} for a "
                                         f"{m}x{k} times a {k}x{n} {np.dtype(dtype).name} "
                                         f"({order}-ordered)") from None
                want = a.astype(np.float64) @ b.astype(np.float64)
                bad = np.abs(out - want) > _tolerance(a, b)
                if bad.any():
                    i, j = (int(v) for v in np.argwhere(bad)[0])
                    hint = ""
                    if np.allclose(out, want + 7.0, rtol=1e-4, atol=1e-3):
                        hint = ": out started full of 7s and the result is 7 too high: set each element to 0 before adding"
                    elif np.isclose(out[i, j], 7.0):
                        hint = ": that element was never written (an edge tile dropped?)"
                    elif np.all(out[bad] == 0):
                        hint = (": the wrong elements are all 0, never computed (a partial tile "
                                "at an edge dropped?)")
                    raise AssertionError(f"{name}: for a {m}x{k} times a {k}x{n} "
                                         f"{np.dtype(dtype).name} ({order}-ordered), out[{i}, {j}] "
                                         f"is {out[i, j]!r}, want {want[i, j]!r} ({int(bad.sum())} "
                                         f"wrong elements){hint}")


def _ratio(calls: list[tuple[str, Callable[[], object]]], budget: float) -> list[float]:
    """Median time of the first call over each of the others, interleaved rounds."""
    ms = interleave(calls, budget=budget)
    return [ms[0].median / m.median for m in ms[1:]]


def _speed(learner: float, reference: float, need: float, what: str, name: str,
           hint: str = "") -> str:
    """``"pass"``; ``"structure"`` when the reference cannot show ``need`` now; raises when the
    reference shows it and the learner's code does not, or when the learner's code is less than
    half as fast as the reference."""
    if learner >= need and learner >= 0.5 * reference:
        return "pass"
    if learner < 0.5 * reference or reference >= need:
        raise AssertionError(f"{name} ran {learner:.2f}x the speed of {what}, while the chapter's "
                             f"reference ran {reference:.2f}x in the same run{hint}")
    return "structure"


# ---------------------------------------------------------------------------- exercise 1
def _innermost_loops(tree: ast.AST) -> list[ast.For]:
    """The ``for`` loops that contain no other loop."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.For)
            and not any(isinstance(c, (ast.For, ast.While)) for b in n.body for c in ast.walk(b))]


def _last_index(node: ast.Subscript) -> str | None:
    idx = node.slice
    last = idx.elts[-1] if isinstance(idx, ast.Tuple) else idx
    return last.id if isinstance(last, ast.Name) else None


def _column_walks(fn: Any, arrays: tuple[str, ...]) -> tuple[str, list[str]] | None:
    """The innermost loop variable of ``fn`` and the arrays among ``arrays`` that it indexes
    *first* of two indices (``b[p, j]`` with p innermost: a walk down a column), or None when
    the source cannot be read."""
    tree = _source_tree(fn)
    if tree is None:
        return None
    inner = _innermost_loops(tree)
    if not inner:
        return None
    found: list[str] = []
    var = None
    for loop in inner:
        var = loop.target.id if isinstance(loop.target, ast.Name) else None
        for sub in ast.walk(loop):
            if (isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name)
                    and sub.value.id in arrays and isinstance(sub.slice, ast.Tuple)
                    and len(sub.slice.elts) == 2 and isinstance(sub.slice.elts[0], ast.Name)
                    and sub.slice.elts[0].id == var):
                found.append(sub.value.id)
        if found:
            return var, sorted(set(found))
    return var, []


@answers("matmul_ikj", *_FORBIDDEN)
def check_reordered(matmul_ikj: Callable, name: str = "matmul_ikj", n_speed: int = 256,
                    budget: float = 1.0) -> None:
    """Grade ``matmul_ikj(a, b, out)``: writes ``a @ b`` into ``out``, loops ordered so that the
    innermost one walks a row of ``b`` and a row of ``out`` (their last index), and faster than
    the i, j, k loops of the naive rung in the same run."""
    _require_numba(matmul_ikj, name)
    _grade_results(matmul_ikj, name, lambda f, a, b, out: f(a, b, out))
    params = matmul_ikj.py_func.__code__.co_varnames[:3]
    walks = _column_walks(matmul_ikj, (params[1], params[2]))
    if walks is not None and walks[1]:
        var, arrays = walks
        raise AssertionError(
            f"{name}'s innermost loop runs over `{var}`, the first index of "
            f"{' and '.join(f'`{x}`' for x in arrays)}: it walks down a column (a new cache line "
            "per element, and a chain of dependent additions). Put the loop over j innermost: "
            "out[i, j] += a[i, k] * b[k, j]")
    a, b = np.random.default_rng(1).random((2, n_speed, n_speed))
    o1, o2, o3 = (np.empty((n_speed, n_speed)) for _ in range(3))
    learner, reference = _ratio([("naive", lambda: ladder._naive_kernel(a, b, o1)),
                                 ("yours", lambda: matmul_ikj(a, b, o2)),
                                 ("reference", lambda: ladder._reordered_kernel(a, b, o3))], budget)
    print(f"{name} at n={n_speed}: {learner:.1f}x the naive loops (the chapter's i-k-j: "
          f"{reference:.1f}x, same run)")
    if _speed(learner, reference, 2.0, "the naive i, j, k loops", name,
              ". If the inner loop is an array expression (row += x * b[p]), numba allocates "
              "a temporary array for each one: write the loop over j") == "structure":
        print("  (this machine cannot show the gain now: graded on results and loop order)")


# ---------------------------------------------------------------------------- exercise 2
@answers("matmul_blocked", *_FORBIDDEN)
def check_blocked(matmul_blocked: Callable, name: str = "matmul_blocked", n_speed: int = 512,
                  budget: float = 1.5) -> None:
    """Grade ``matmul_blocked(a, b, out, bi, bk, bj)``: ``a @ b`` for tile sizes that divide
    nothing (edge tiles), 1 and larger than the matrices; tile loops in the code; and its speed
    against the unblocked i-k-j loops in the same run, judged only when the chapter's own
    blocked rung beats them here now (on a machine whose caches hold the whole working set it
    does not, and the structure is graded instead)."""
    _require_numba(matmul_blocked, name)
    for tiles in ((1, 1, 1), (7, 5, 3), (16, 32, 8), (1000, 1000, 1000)):
        _grade_results(matmul_blocked, f"{name} with tiles {tiles}",
                       lambda f, a, b, out, t=tiles: f(a, b, out, *t))
    tree = _source_tree(matmul_blocked)
    if tree is not None:
        depth, stepped = _loop_shape(tree)
        if not stepped and depth < 5:
            raise AssertionError(f"{name} has no loop that steps over tiles "
                                 "(range(0, n, bi)): that is the unblocked loop nest")
    a, b = np.random.default_rng(2).random((2, n_speed, n_speed))
    bs = ladder.block_sizes(np.float64)
    o1, o2, o3 = (np.empty((n_speed, n_speed)) for _ in range(3))
    learner, reference = _ratio([("i-k-j", lambda: ladder._reordered_kernel(a, b, o1)),
                                 ("yours", lambda: matmul_blocked(a, b, o2, *bs)),
                                 ("reference", lambda: ladder._blocked_kernel(a, b, o3, *bs))], budget)
    print(f"{name} at n={n_speed}, tiles {tuple(bs)}: {learner:.2f}x the i-k-j loops (the "
          f"chapter's blocked rung: {reference:.2f}x, same run)")
    if _speed(learner, reference, 1.2, "the unblocked i-k-j loops", name,
              ". Two numba traps: out[i, j] with j running from jj may be negative as far as "
              "LLVM knows, so numba checks every index and the loop is not vectorised (take the "
              "row segments as slices, crow = out[i, jj:j1], and index them from 0); and an "
              "array expression (crow += x * b[p, jj:j1]) allocates a temporary every time "
              "(write the loop over j)") == "structure":
        print("  (blocking alone gains nothing here now, for the reference too: graded on results "
              "and tile structure)")


# ---------------------------------------------------------------------------- exercise 3
MR, NR = 4, 4


@njit(cache=True)
def pack_a(a, i0, k0, kc):
    """Rows ``i0..i0+MR`` of ``a``, columns ``k0..k0+kc``, each row contiguous along k:
    ``ap[r * kc + p] = a[i0 + r, k0 + p]`` (rows past the edge are zeros)."""
    ap = np.zeros(MR * kc, dtype=a.dtype)
    for r in range(MR):
        if i0 + r < a.shape[0]:
            for p in range(kc):
                ap[r * kc + p] = a[i0 + r, k0 + p]
    return ap


@njit(cache=True)
def pack_b(b, k0, j0, kc):
    """Columns ``j0..j0+NR`` of ``b``, rows ``k0..k0+kc``, each column contiguous along k:
    ``bp[s * kc + p] = b[k0 + p, j0 + s]`` (columns past the edge are zeros)."""
    bp = np.zeros(NR * kc, dtype=b.dtype)
    for s in range(NR):
        if j0 + s < b.shape[1]:
            for p in range(kc):
                bp[s * kc + p] = b[k0 + p, j0 + s]
    return bp


@njit(cache=True)
def reference_kernel(ap, bp, kc, c):
    """The straightforward MR x NR kernel: one dot product per element of ``c``, in order
    (no ``fastmath``: scalar, each sum a chain of dependent additions)."""
    for r in range(MR):
        for s in range(NR):
            t = c.dtype.type(0)
            for p in range(kc):
                t += ap[r * kc + p] * bp[s * kc + p]
            c[r, s] += t


@njit(fastmath=True, cache=True)
def _register_kernel(ap, bp, kc, c):
    """The register-blocked kernel: 16 sums kept in local variables (registers) while p runs,
    each loaded A and B value used 4 times, the p loop vectorised (``fastmath``)."""
    a0, a1, a2, a3 = ap[0:kc], ap[kc:2 * kc], ap[2 * kc:3 * kc], ap[3 * kc:4 * kc]
    b0, b1, b2, b3 = bp[0:kc], bp[kc:2 * kc], bp[2 * kc:3 * kc], bp[3 * kc:4 * kc]
    z = c.dtype.type(0)
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = z
    c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = z
    for p in range(kc):
        x0, x1, x2, x3 = a0[p], a1[p], a2[p], a3[p]
        y0, y1, y2, y3 = b0[p], b1[p], b2[p], b3[p]
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3  # noqa: E702
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3  # noqa: E702
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3  # noqa: E702
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3  # noqa: E702
    c[0, 0] += c00; c[0, 1] += c01; c[0, 2] += c02; c[0, 3] += c03  # noqa: E702
    c[1, 0] += c10; c[1, 1] += c11; c[1, 2] += c12; c[1, 3] += c13  # noqa: E702
    c[2, 0] += c20; c[2, 1] += c21; c[2, 2] += c22; c[2, 3] += c23  # noqa: E702
    c[3, 0] += c30; c[3, 1] += c31; c[3, 2] += c32; c[3, 3] += c33  # noqa: E702


def check_microkernel(kernel: Callable, name: str = "kernel", kc_speed: int = 2048,
                      budget: float = 1.0) -> None:
    """Grade ``kernel(ap, bp, kc, c)``: adds ``A @ B`` to the ``MR x NR`` block ``c`` (float64
    and float32), where ``ap[r * kc + p]`` is A[r, p] and ``bp[s * kc + p]`` is B[p, s].

    1. Results: ``kc`` 0, 1, 3, 64 and 257; ``c`` starting from values that must be kept (+=);
       ``c`` a view into a larger matrix (its rows are not contiguous).
    2. Structure: packed (SIMD) multiply-adds in its machine code (chapter 5's report).
    3. Speed: at least 2x the straightforward scalar kernel in the same run, judged when the
       chapter's register-blocked kernel shows that gain here now.
    """
    from course_lib.simd import autovec

    _require_numba(kernel, name)
    rng = np.random.default_rng(4)
    for dtype in (np.float64, np.float32):
        for kc in (0, 1, 3, 64, 257):
            ap = rng.standard_normal(MR * kc).astype(dtype)
            bp = rng.standard_normal(NR * kc).astype(dtype)
            big = rng.standard_normal((MR + 3, NR + 5)).astype(dtype)
            c = big[1:MR + 1, 2:NR + 2]
            start = c.copy()
            try:
                kernel(ap, bp, kc, c)
            except Exception as exc:
                raise AssertionError(f"{name} raised {type(exc).__name__}: {exc} (kc={kc}, "
                                     f"{np.dtype(dtype).name})") from None
            A = ap.reshape(MR, kc).astype(np.float64)
            B = bp.reshape(NR, kc).T.astype(np.float64)
            want = start + A @ B
            tol = 2 * max(kc, 1) * np.finfo(dtype).eps * (np.abs(start) + np.abs(A) @ np.abs(B)) + 1e-30
            bad = np.abs(c - want) > tol
            if bad.any():
                r, s_ = (int(v) for v in np.argwhere(bad)[0])
                hint = (": c's old value is gone: add to c, do not overwrite it"
                        if np.allclose(c, want - start, rtol=1e-3, atol=1e-3) else
                        ". The layout: ap[r * kc + p] is A[r, p], bp[s * kc + p] is B[p, s]")
                raise AssertionError(f"{name} (kc={kc}, {np.dtype(dtype).name}): c[{r}, {s_}] is "
                                     f"{c[r, s_]!r}, want {want[r, s_]!r}{hint}")
    x = rng.standard_normal(64)
    report = autovec.report(kernel, x[:4 * MR], x[:4 * NR], 4, np.zeros((MR, NR)))
    if not (report.families.get("fma") or (report.families.get("mul") and report.families.get("add"))):
        raise AssertionError(
            f"{name} computes the right values but its machine code is {report}: the "
            "multiply-adds are not vectorised. Compile with fastmath=True (the sums may then be "
            "reordered), and keep the 16 sums in local variables while p runs: a small NumPy "
            "array is memory to LLVM, local variables are registers")
    ap, bp = rng.standard_normal(MR * kc_speed), rng.standard_normal(NR * kc_speed)
    c1, c2, c3 = (np.zeros((MR, NR)) for _ in range(3))
    learner, reference = _ratio([("straightforward", lambda: reference_kernel(ap, bp, kc_speed, c1)),
                                 ("yours", lambda: kernel(ap, bp, kc_speed, c2)),
                                 ("reference", lambda: _register_kernel(ap, bp, kc_speed, c3))], budget)
    print(f"{name}: {report}; {learner:.1f}x the straightforward kernel (the chapter's "
          f"register-blocked one: {reference:.1f}x, same run)")
    if _speed(learner, reference, 2.0, "the straightforward kernel", name,
              ". Register blocking: run p in the outer loop and keep all 16 sums in local "
              "variables, so that each value loaded from ap and bp is used 4 times") == "structure":
        print("  (the machine cannot show the gain now: graded on results and vector code)")


# ---------------------------------------------------------------------------- exercise 4
@answers("matmul_parallel", *_FORBIDDEN)
def check_parallel_matmul(matmul_parallel: Callable, name: str = "matmul_parallel",
                          n_speed: int = 384, budget: float = 1.5) -> None:
    """Grade ``matmul_parallel(a, b, out)``: ``a @ b`` on awkward shapes; a ``prange`` that
    splits the rows (or tiles) of ``out`` over threads with no data race (chapter 1's static
    check); and, on two or more cores, its speed on all threads against one thread, judged when
    the chapter's parallel rung shows a gain here now."""
    import numba

    from course_lib.matmul.parallel import parallel_prange
    from course_lib.testing.exercises.c01_par_iter import check_parallel_structure

    _require_numba(matmul_parallel, name)
    _grade_results(matmul_parallel, name, lambda f, a, b, out: f(a, b, out))
    check_parallel_structure(matmul_parallel, name)
    threads = numba.get_num_threads()
    if threads < 2:
        print(f"{name}: one thread here: graded on results and structure")
        return
    a, b = np.random.default_rng(3).random((2, n_speed, n_speed))
    o1, o2, o3, o4 = (np.empty((n_speed, n_speed)) for _ in range(4))

    def one(fn, out):
        def call():
            numba.set_num_threads(1)
            try:
                fn(a, b, out)
            finally:
                numba.set_num_threads(threads)
        return call

    ms = interleave([("yours, 1 thread", one(matmul_parallel, o1)),
                     ("yours", lambda: matmul_parallel(a, b, o2)),
                     ("reference, 1 thread", one(lambda x, y, o: parallel_prange(x, y, o), o3)),
                     ("reference", lambda: parallel_prange(a, b, o4))], budget=budget)
    learner, reference = ms[0].median / ms[1].median, ms[2].median / ms[3].median
    print(f"{name}: {threads} threads {learner:.2f}x one thread (the chapter's prange rung: "
          f"{reference:.2f}x, same run)")
    need = 1.3
    if learner >= need or reference < need:
        if learner < need:
            print("  (the reference cannot show a gain now either: graded on results and structure)")
        return
    raise AssertionError(f"{name} on {threads} threads ran {learner:.2f}x its one-thread time, "
                         f"while the chapter's prange rung ran {reference:.2f}x in the same run: "
                         "is the work inside the prange, and split into enough pieces?")


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_reordered", "check_blocked", "check_microkernel", "check_parallel_matmul")
seal(__name__)
