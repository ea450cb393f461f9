"""The c08 checkers keep the graders' contract: plausible wrong answers fail, correct answers
written differently pass."""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit, prange

from contract import case, right, wrong
from course_lib.testing.exercises import c08_matmul as c

REORDER = "c08_matmul:test_reordered"
BLOCKED = "c08_matmul:test_blocked"
KERNEL = "c08_matmul:test_microkernel"
PARALLEL = "c08_matmul:test_parallel"
MR, NR = c.MR, c.NR


# ---------------------------------------------------------------------------- exercise 1
@njit
def ikj(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            out[i, j] = 0.0
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                out[i, j] += aip * b[p, j]


@njit
def kij(a, b, out):
    out[:, :] = 0.0
    for p in range(a.shape[1]):
        for i in range(a.shape[0]):
            x = a[i, p]
            for j in range(b.shape[1]):
                out[i, j] += x * b[p, j]


@njit
def ikj_rows(a, b, out):
    for i in range(a.shape[0]):
        row = out[i]
        for j in range(row.shape[0]):
            row[j] = 0.0
        for p in range(a.shape[1]):
            x = a[i, p]
            brow = b[p]
            for j in range(row.shape[0]):
                row[j] += x * brow[j]


@njit
def ikj_array_expr(a, b, out):  # right values; each row update allocates a temporary
    for i in range(a.shape[0]):
        row = out[i]
        row[:] = 0.0
        for p in range(a.shape[1]):
            row += a[i, p] * b[p]


@njit
def ijk(a, b, out):
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            s = 0.0
            for p in range(a.shape[1]):
                s += a[i, p] * b[p, j]
            out[i, j] = s


@njit
def ikj_no_zero(a, b, out):
    for i in range(a.shape[0]):
        for p in range(a.shape[1]):
            for j in range(b.shape[1]):
                out[i, j] += a[i, p] * b[p, j]


@njit
def jki(a, b, out):
    out[:, :] = 0.0
    for j in range(b.shape[1]):
        for p in range(a.shape[1]):
            for i in range(a.shape[0]):
                out[i, j] += a[i, p] * b[p, j]


@njit
def via_dot(a, b, out):
    out[:, :] = np.dot(a, b)


@pytest.mark.parametrize("fn", [
    case(ikj, mark=right(REORDER, "i-k-j with a zeroing loop")),
    case(kij, mark=right(REORDER, "k-i-j")),
    case(ikj_rows, mark=right(REORDER, "row slices")),
])
def test_reordered_accepts(fn, capsys):
    c.check_reordered(fn)
    assert "naive loops" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(ijk, "innermost loop", mark=wrong(REORDER, "still i-j-k")),
    case(jki, "innermost loop", mark=wrong(REORDER, "column innermost")),
    case(ikj_no_zero, "set each element to 0", mark=wrong(REORDER, "out not zeroed")),
    case(via_dot, "write it yourself", mark=wrong(REORDER, "delegation to np.dot")),
    case(ikj_array_expr, "temporary", mark=wrong(REORDER, "array expressions: a temporary per row")),
    case(ikj.py_func, "numba function", mark=wrong(REORDER, "not numba")),
])
def test_reordered_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_reordered(fn)


# ---------------------------------------------------------------------------- exercise 2
@njit
def blocked_slices(a, b, out, bi, bk, bj):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0.0
    for jj in range(0, n, bj):
        j1 = min(jj + bj, n)
        for kk in range(0, k, bk):
            k1 = min(kk + bk, k)
            for ii in range(0, m, bi):
                for i in range(ii, min(ii + bi, m)):
                    crow = out[i, jj:j1]
                    for p in range(kk, k1):
                        x = a[i, p]
                        brow = b[p, jj:j1]
                        for j in range(j1 - jj):
                            crow[j] += x * brow[j]


@njit
def blocked_ikj_tiles(a, b, out, bi, bk, bj):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            out[i, j] = 0.0
    for ii in range(0, m, bi):
        for kk in range(0, k, bk):
            for jj in range(0, n, bj):
                w = min(jj + bj, n) - jj
                for i in range(ii, min(ii + bi, m)):
                    crow = out[i, jj:jj + w]
                    for p in range(kk, min(kk + bk, k)):
                        brow = b[p, jj:jj + w]
                        x = a[i, p]
                        for j in range(w):
                            crow[j] += x * brow[j]


@njit
def blocked_drops_edges(a, b, out, bi, bk, bj):
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0.0
    for ii in range(0, m - m % bi, bi):
        for kk in range(0, k - k % bk, bk):
            for jj in range(0, n - n % bj, bj):
                for i in range(ii, ii + bi):
                    for p in range(kk, kk + bk):
                        for j in range(jj, jj + bj):
                            out[i, j] += a[i, p] * b[p, j]


@njit
def unblocked(a, b, out, bi, bk, bj):
    out[:, :] = 0.0
    for i in range(a.shape[0]):
        for p in range(a.shape[1]):
            x = a[i, p]
            for j in range(b.shape[1]):
                out[i, j] += x * b[p, j]


@njit
def blocked_offsets(a, b, out, bi, bk, bj):  # right values; jj + j defeats the vectoriser
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0.0
    for ii in range(0, m, bi):
        for kk in range(0, k, bk):
            for jj in range(0, n, bj):
                for i in range(ii, min(ii + bi, m)):
                    for p in range(kk, min(kk + bk, k)):
                        aip = a[i, p]
                        for j in range(jj, min(jj + bj, n)):
                            out[i, j] += aip * b[p, j]


@njit
def blocked_no_zero(a, b, out, bi, bk, bj):
    m, k = a.shape
    n = b.shape[1]
    for jj in range(0, n, bj):
        j1 = min(jj + bj, n)
        for kk in range(0, k, bk):
            for i in range(m):
                crow = out[i, jj:j1]
                for p in range(kk, min(kk + bk, k)):
                    crow += a[i, p] * b[p, jj:j1]


@pytest.mark.parametrize("fn", [
    case(blocked_slices, mark=right(BLOCKED, "row slices, j-k-i tiles")),
    case(blocked_ikj_tiles, mark=right(BLOCKED, "i-k-j tiles, indexed from 0")),
])
def test_blocked_accepts(fn, capsys):
    c.check_blocked(fn)
    assert "i-k-j loops" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(blocked_drops_edges, "never computed", mark=wrong(BLOCKED, "drops the edge tiles")),
    case(unblocked, "steps over tiles", mark=wrong(BLOCKED, "not blocked")),
    case(blocked_no_zero, "set each element to 0", mark=wrong(BLOCKED, "out not zeroed")),
    case(blocked_offsets, "numba traps", mark=wrong(BLOCKED, "offset indexing, not vectorised")),
])
def test_blocked_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_blocked(fn)


# ---------------------------------------------------------------------------- exercise 3
@njit(fastmath=True)
def kernel_locals(ap, bp, kc, cc):
    a0, a1, a2, a3 = ap[0:kc], ap[kc:2 * kc], ap[2 * kc:3 * kc], ap[3 * kc:4 * kc]
    b0, b1, b2, b3 = bp[0:kc], bp[kc:2 * kc], bp[2 * kc:3 * kc], bp[3 * kc:4 * kc]
    z = cc.dtype.type(0)
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = z
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = z
    for p in range(kc):
        s00 += a0[p] * b0[p]; s01 += a0[p] * b1[p]; s02 += a0[p] * b2[p]; s03 += a0[p] * b3[p]  # noqa: E702
        s10 += a1[p] * b0[p]; s11 += a1[p] * b1[p]; s12 += a1[p] * b2[p]; s13 += a1[p] * b3[p]  # noqa: E702
        s20 += a2[p] * b0[p]; s21 += a2[p] * b1[p]; s22 += a2[p] * b2[p]; s23 += a2[p] * b3[p]  # noqa: E702
        s30 += a3[p] * b0[p]; s31 += a3[p] * b1[p]; s32 += a3[p] * b2[p]; s33 += a3[p] * b3[p]  # noqa: E702
    cc[0, 0] += s00; cc[0, 1] += s01; cc[0, 2] += s02; cc[0, 3] += s03  # noqa: E702
    cc[1, 0] += s10; cc[1, 1] += s11; cc[1, 2] += s12; cc[1, 3] += s13  # noqa: E702
    cc[2, 0] += s20; cc[2, 1] += s21; cc[2, 2] += s22; cc[2, 3] += s23  # noqa: E702
    cc[3, 0] += s30; cc[3, 1] += s31; cc[3, 2] += s32; cc[3, 3] += s33  # noqa: E702


@njit(fastmath=True)
def kernel_two_rows(ap, bp, kc, cc):  # two passes of 2 x 4 register blocks
    for r0 in range(0, MR, 2):
        x = ap[r0 * kc:(r0 + 1) * kc]
        y = ap[(r0 + 1) * kc:(r0 + 2) * kc]
        b0, b1, b2, b3 = bp[0:kc], bp[kc:2 * kc], bp[2 * kc:3 * kc], bp[3 * kc:4 * kc]
        z = cc.dtype.type(0)
        t0 = t1 = t2 = t3 = u0 = u1 = u2 = u3 = z
        for p in range(kc):
            t0 += x[p] * b0[p]; t1 += x[p] * b1[p]; t2 += x[p] * b2[p]; t3 += x[p] * b3[p]  # noqa: E702
            u0 += y[p] * b0[p]; u1 += y[p] * b1[p]; u2 += y[p] * b2[p]; u3 += y[p] * b3[p]  # noqa: E702
        cc[r0, 0] += t0; cc[r0, 1] += t1; cc[r0, 2] += t2; cc[r0, 3] += t3  # noqa: E702
        cc[r0 + 1, 0] += u0; cc[r0 + 1, 1] += u1; cc[r0 + 1, 2] += u2; cc[r0 + 1, 3] += u3  # noqa: E702


@njit
def kernel_strict(ap, bp, kc, cc):
    for r in range(MR):
        for s in range(NR):
            t = 0.0
            for p in range(kc):
                t += ap[r * kc + p] * bp[s * kc + p]
            cc[r, s] += t


@njit(fastmath=True)
def kernel_array_acc(ap, bp, kc, cc):  # a small array: memory to LLVM, not registers
    acc = np.zeros((MR, NR), dtype=cc.dtype)
    for p in range(kc):
        for r in range(MR):
            for s in range(NR):
                acc[r, s] += ap[r * kc + p] * bp[s * kc + p]
    for r in range(MR):
        for s in range(NR):
            cc[r, s] += acc[r, s]


@njit(fastmath=True)
def kernel_overwrites(ap, bp, kc, cc):
    for r in range(MR):
        for s in range(NR):
            t = 0.0
            for p in range(kc):
                t += ap[r * kc + p] * bp[s * kc + p]
            cc[r, s] = t


@njit(fastmath=True)
def kernel_wrong_layout(ap, bp, kc, cc):  # reads A as if packed p-major
    for r in range(MR):
        for s in range(NR):
            t = 0.0
            for p in range(kc):
                t += ap[p * MR + r] * bp[s * kc + p]
            cc[r, s] += t


@pytest.mark.parametrize("fn", [
    case(kernel_locals, mark=right(KERNEL, "16 local sums")),
    case(kernel_two_rows, mark=right(KERNEL, "two 2x4 register blocks")),
    case(c._register_kernel, mark=right(KERNEL, "the chapter's kernel")),
])
def test_microkernel_accepts(fn, capsys):
    c.check_microkernel(fn)
    assert "straightforward kernel" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(kernel_strict, "not vectorised", mark=wrong(KERNEL, "no fastmath: scalar")),
    case(kernel_array_acc, "not vectorised", mark=wrong(KERNEL, "sums in a NumPy array")),
    case(kernel_overwrites, "old value is gone", mark=wrong(KERNEL, "overwrites c")),
    case(kernel_wrong_layout, "layout", mark=wrong(KERNEL, "wrong packed layout")),
    case(kernel_locals.py_func, "numba function", mark=wrong(KERNEL, "not numba")),
])
def test_microkernel_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_microkernel(fn)


def test_packing_helpers_match_the_layout():
    a = np.arange(30.0).reshape(5, 6)
    ap = c.pack_a(a, 4, 1, 3)
    assert list(ap[:3]) == [25.0, 26.0, 27.0] and not ap[3:].any()
    b = np.arange(20.0).reshape(4, 5)
    bp = c.pack_b(b, 1, 2, 2)
    assert list(bp[:2]) == [7.0, 12.0] and list(bp[2:4]) == [8.0, 13.0] and not bp[6:].any()


# ---------------------------------------------------------------------------- exercise 4
@njit(parallel=True)
def par_rows(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    for i in prange(m):
        for j in range(n):
            out[i, j] = 0.0
        for p in range(k):
            x = a[i, p]
            for j in range(n):
                out[i, j] += x * b[p, j]


@njit(parallel=True)
def par_blocks(a, b, out):
    m = a.shape[0]
    blocks = (m + 31) // 32
    for t in prange(blocks):
        i0, i1 = t * 32, min(t * 32 + 32, m)
        out[i0:i1, :] = 0.0
        for i in range(i0, i1):
            for p in range(a.shape[1]):
                out[i, :] += a[i, p] * b[p, :]


@njit(parallel=True)
def par_tiles(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    ti, tj = (m + 15) // 16, (n + 63) // 64
    for t in prange(ti * tj):
        i0, j0 = (t // tj) * 16, (t % tj) * 64
        i1, j1 = min(i0 + 16, m), min(j0 + 64, n)
        for i in range(i0, i1):
            crow = out[i, j0:j1]
            crow[:] = 0.0
            for p in range(k):
                crow += a[i, p] * b[p, j0:j1]


@njit
def par_serial(a, b, out):
    out[:, :] = 0.0
    for i in range(a.shape[0]):
        for p in range(a.shape[1]):
            out[i, :] += a[i, p] * b[p, :]


@njit(parallel=True)
def par_over_k(a, b, out):  # threads split k and all add into the same out[i, j]: a race
    m, k = a.shape
    n = b.shape[1]
    out[:, :] = 0.0
    for p in prange(k):
        for i in range(m):
            for j in range(n):
                out[i, j] += a[i, p] * b[p, j]


@njit(parallel=True)
def par_one_trip(a, b, out):
    for _ in prange(1):
        out[:, :] = 0.0
        for i in range(a.shape[0]):
            for p in range(a.shape[1]):
                out[i, :] += a[i, p] * b[p, :]


@njit(parallel=True)
def par_drops_rows(a, b, out):
    m = a.shape[0]
    for t in prange(m // 4):
        for i in range(t * 4, t * 4 + 4):
            out[i, :] = 0.0
            for p in range(a.shape[1]):
                out[i, :] += a[i, p] * b[p, :]


@pytest.mark.parametrize("fn", [
    case(par_rows, mark=right(PARALLEL, "prange over rows")),
    case(par_blocks, mark=right(PARALLEL, "prange over row blocks")),
    case(par_tiles, mark=right(PARALLEL, "prange over a grid of tiles")),
])
def test_parallel_accepts(fn, capsys):
    c.check_parallel_matmul(fn)
    assert "matmul_parallel" in capsys.readouterr().out


@pytest.mark.parametrize("fn, match", [
    case(par_serial, "parallel=True", mark=wrong(PARALLEL, "serial")),
    case(par_over_k, "race|wrong elements", mark=wrong(PARALLEL, "threads split k: a race")),
    case(par_one_trip, "1 iteration", mark=wrong(PARALLEL, "prange of one iteration")),
    case(par_drops_rows, "never written|never computed|wrong elements", mark=wrong(PARALLEL, "drops the last rows")),
])
def test_parallel_rejects(fn, match):
    with pytest.raises(AssertionError, match=match):
        c.check_parallel_matmul(fn)
