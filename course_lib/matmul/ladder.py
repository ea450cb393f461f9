"""The numba rungs of the matrix-multiply ladder: five ways to compute ``C = A @ B``, each faster.

Every rung does the same ``2 m n k`` floating-point operations; they differ in the order in
which they touch memory and in how much of the work the CPU's vector units and registers do.

===============  ==============================================================================
rung             what changes, and why it is faster
===============  ==============================================================================
``naive``        loops ``i, j, k``: ``C[i, j]`` is the dot product of row i of A and column j of
                 B. Reading a column of a C-ordered B jumps a whole row (``8 n`` bytes) per
                 element: a new cache line each time, and the sum is one long dependency chain
                 that cannot be vectorised without reordering the additions.
``reordered``    loops ``i, k, j``: the inner loop adds ``A[i, p] * B[p, :]`` to ``C[i, :]``: it
                 streams a row of B and a row of C, contiguous, with no dependency between
                 iterations, so LLVM vectorises it. Same arithmetic, another order.
``blocked``      the same ``i, k, j`` loops cut into cache tiles (:func:`block_sizes`): a
                 ``bk x bj`` tile of B stays in L2 while every row of an A tile uses it, and a
                 ``bj``-long row segment of C stays in L1 while ``bk`` rows of B are added to it.
                 Edge tiles are partial.
``packed``       the tiles of A and B are first copied into small contiguous buffers (Goto's
                 *packing*), then the same inner loops run over the copies: unit stride
                 everywhere, no cache-set conflicts between rows ``8 n`` bytes apart, few pages
                 (TLB entries) per tile. The copy costs ``O(n^2)`` per tile, the work ``O(n^3)``.
``microkernel``  Goto/BLIS in full: B and A blocks packed into *micro-panels*, and an
                 ``MR x NR`` block of C computed by a *micro-kernel* whose accumulators live in
                 vector registers for a whole ``kc``-long stretch of k (``fastmath=True``).
                 Each value loaded from the panels is used ``MR`` or ``NR`` times.
===============  ==============================================================================

:data:`RUNGS` maps the names to the functions, in this order. Each rung takes
``(a, b, out=None)`` (``blocked`` and ``packed`` also ``block=``, ``microkernel`` also
``tiles=``), accepts float32 and float64, any shapes (edges of every tile are partial), any memory
order (C, Fortran, strided views), checks its operands with
:func:`course_lib.matmul.common.check_operands`, and returns ``out``.

The micro-kernel, and why it is a block of dot products
-------------------------------------------------------
BLIS writes its micro-kernel as a sum of *outer products*: for each p, broadcast ``MR`` values of
A, load ``NR`` values of B as vectors, and do ``MR x NR / lanes`` vector FMAs into accumulators
that stay in registers. In C with intrinsics you write exactly that (``course_lib.matmul.cgemm``).
numba gives you no vector types; you get LLVM's two auto-vectorisers, and numba switches one of
them off: the SLP vectoriser, which would glue ``acc[i, 0..7]`` into one vector, is disabled by
default (``NUMBA_SLP_VECTORIZE=0``), and the loop vectoriser only vectorises an *innermost* loop.
An outer-product kernel written in numba gets its small ``i, j`` loops fully unrolled before the
loop vectoriser runs, and then vectorises the wrong loop (p, with gathers).

So this micro-kernel turns the block around: each of the ``MR x NR`` accumulators is a *dot
product over p* of a row of the A panel and a column of the B panel, both stored contiguously
along p by the packing. With ``fastmath=True`` (which allows reassociating the sums) the loop
vectoriser vectorises p: each accumulator becomes a vector of partial sums (``lanes`` p's at a
time), ``MR + NR`` vector loads feed ``MR x NR`` vector FMAs per step, and ``MR x NR`` horizontal
sums finish the block. With ``MR = NR = 4`` that is 16 accumulators + 8 operands = 24 of the 32
vector registers of AVX-512 or ARM64; on x86 without AVX-512 (16 registers) ``MR = NR = 3``
(9 + 6). The accumulators are a tiny array on the *stack* (:func:`_stack_tile`, an LLVM
``alloca``), indexed only by constants once the ``i, j`` loops are unrolled, so LLVM's SROA pass
turns it into registers; a NumPy array would live on the heap and stay in memory. The panels
are padded along k to a multiple of :data:`PAD` with zeros, so the vector loop never has a
remainder, and edge rows/columns of a panel are zeros that are never stored.

Two traps met on the way, both invisible in the source and obvious in the assembly
(``fn.inspect_asm(sig)``, chapter 5):

- numba wraps negative indices (``x[-1]`` is the last element), so ``x[off + p]`` costs a
  ``off + p < 0 ?`` test unless LLVM can prove the index is never negative. With ``p`` from a
  ``range`` starting at 0 it can; with ``off + p``, ``off`` an argument, it cannot, and the
  vectoriser then emits a *gather* per vector: the micro-kernel ran at 8 GFLOP/s instead of 45.
  Hence the slices everywhere (``ap[off:]``, ``c[i, j0:j1]``): indices that start at 0.
- ``blocked`` and ``packed`` have the same inner loop as ``reordered``, so while B fits in
  the last-level cache they are no faster: what limits all three is loading and storing a row
  of C for every multiply-add, and only the micro-kernel's register block removes that. Their
  tiles pay off once B no longer fits (below).

Measured on one AMD EPYC (Zen 4) core (32 KiB L1d, 1 MiB L2, 32 MiB L3), float64, one
interleaved run per size, GFLOP/s (fraction of OpenBLAS 0.3.31 on one thread):

=========  ==========  ===========  ===========  ===========  ===========  ========
n          naive       reordered    blocked      packed       microkernel  OpenBLAS
=========  ==========  ===========  ===========  ===========  ===========  ========
256        0.9 (0.02)  15.8 (0.31)                            45.4 (0.89)  51.0
1024                   17.9 (0.34)  16.2 (0.31)  16.7 (0.32)  47.0 (0.89)  52.7
2048                   5.3 (0.10)   12.6 (0.24)  15.1 (0.28)  45.1 (0.85)  53.1
=========  ==========  ===========  ===========  ===========  ===========  ========

The core's FMA peak is about 59 GFLOP/s. float32 at n = 1024: 34.6, 33.5, 43.9, 86.5 (0.86)
against 101. At n = 2048 B (32 MiB) no longer fits in L3 next to everything else, and
``reordered``, which streams all of B for every row of C, falls to a third of its speed.

Source:
    K. Goto and R. van de Geijn, "Anatomy of High-Performance Matrix Multiplication", ACM TOMS
    34(3), 2008 (the loops around the micro-kernel, packing, the cache role of each block);
    F. Van Zee and R. van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS
    Functionality", ACM TOMS 41(3), 2015; T. M. Low et al., "Analytical Modeling Is Enough for
    High-Performance BLIS", ACM TOMS 43(2), 2016 (choosing mc, kc, nc from the cache sizes).

Thread-safety: every rung is a ``nogil`` numba function that writes only ``out`` and buffers it
allocates itself, so different calls may run on different threads at once (that is what
:mod:`course_lib.matmul.parallel` does), as long as their ``out`` arrays differ.
"""
from __future__ import annotations

from typing import NamedTuple

import llvmlite.binding as _llvm
import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from course_lib.matmul.common import check_operands

__all__ = ["MR", "NR", "PAD", "Blocking", "blocking", "BlockSizes", "block_sizes", "naive",
           "reordered", "blocked", "packed", "microkernel", "RUNGS", "gemm_block", "panel_sizes"]


# ----------------------------------------------------------------------------- register block
def _vector_registers() -> int:
    """Vector registers LLVM may use for numba code on this CPU: 32 with AVX-512 or on ARM64."""
    features = numba.config.CPU_FEATURES or _llvm.get_host_cpu_features().flatten()
    if "+avx512f" in str(features).split(","):
        return 32
    if "aarch64" in _llvm.get_process_triple() or "arm64" in _llvm.get_process_triple():
        return 32
    return 16


#: Rows and columns of C one micro-kernel call computes (fixed per machine: LLVM needs them as
#: constants to keep the ``MR x NR`` accumulators in registers).
MR = NR = 4 if _vector_registers() >= 32 else 3
#: The packed panels' k-length is rounded up to a multiple of this (16 float32 fill an AVX-512
#: register), padded with zeros: the micro-kernel's vector loop then has no remainder.
PAD = 16


class Blocking(NamedTuple):
    """The block sizes of the Goto/BLIS loops (the ``microkernel`` rung and the parallel ones).

    Attributes:
        mr, nr: the register block: the micro-kernel computes ``mr x nr`` of C at a time.
        mc: rows of the packed A block (``mc x kc``, kept in L2).
        kc: length along k of every packed panel (a ``nr x kc`` panel of B stays in L1).
        nc: columns of the packed B block (``kc x nc``, kept in L3).

    The same fields, in the same order, as ``course_lib.matmul.cgemm.Tiles``; the C rung's
    ``mr, nr`` are its own micro-kernel's, usually not these.
    """

    mr: int
    nr: int
    mc: int
    kc: int
    nc: int


class BlockSizes(NamedTuple):
    """Cache tiles of the ``blocked`` and ``packed`` rungs: ``bi`` rows of A and C, ``bk``
    along k, ``bj`` columns of B and C."""

    bi: int
    bk: int
    bj: int


# Cache sizes assumed when the machine does not say (a typical x86 core of 2015-2020).
_DEFAULT_CACHES = (32 * 1024, 256 * 1024, 8 * 1024 * 1024)


def _caches(l1: int | None, l2: int | None, l3: int | None) -> tuple[int, int, int]:
    if None in (l1, l2, l3):
        from course_lib.measure.machine import describe

        m = describe()
        l1 = l1 or m.l1d_bytes or _DEFAULT_CACHES[0]
        l2 = l2 or m.l2_bytes or _DEFAULT_CACHES[1]
        l3 = l3 or m.l3_bytes or max(_DEFAULT_CACHES[2], 4 * l2)
    for name, v in (("l1", l1), ("l2", l2), ("l3", l3)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1024:
            raise ValueError(f"{name} must be a cache size in bytes (at least 1024), got {v!r}")
    return int(l1), int(l2), int(l3)


def _itemsize(dtype) -> int:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt.itemsize


def blocking(dtype=np.float64, *, l1: int | None = None, l2: int | None = None,
             l3: int | None = None) -> Blocking:
    """Block sizes for the ``microkernel`` rung, derived from the cache sizes.

    The rule (after Goto and van de Geijn; Low et al.), with ``s`` bytes per element:

    - ``kc``: the ``nr x kc`` micro-panel of B (reused by every micro-panel of A) and the
      ``mr x kc`` micro-panel of A streaming past it fill three quarters of L1:
      ``kc = 3/4 L1 / ((mr + nr) s)``, a multiple of :data:`PAD`. (Half of L1 for B alone,
      the textbook rule, leaves A no room and was 10% slower on a Zen 4 core.)
    - ``mc``: the ``mc x kc`` block of A fills half of L2: ``mc = L2 / (2 kc s)``, a multiple of
      ``mr``.
    - ``nc``: the ``kc x nc`` block of B fills half of L3: ``nc = L3 / (2 kc s)``, a multiple of
      ``nr``, at most 4096.

    Args:
        dtype: float32 or float64.
        l1, l2, l3: cache sizes in bytes; default this machine's
            (:func:`course_lib.measure.machine.describe`), or 32 KiB, 256 KiB and 8 MiB when it
            does not say.

    Returns:
        A :class:`Blocking` with ``mr = MR`` and ``nr = NR``.

    Raises:
        TypeError: a dtype other than float32/float64. ValueError: a cache size below 1 KiB.

    Example:
        >>> blocking(np.float64, l1=32768, l2=1 << 20, l3=32 << 20)     # doctest: +SKIP
        Blocking(mr=4, nr=4, mc=168, kc=384, nc=4096)
    """
    s = _itemsize(dtype)
    l1, l2, l3 = _caches(l1, l2, l3)
    kc = max(PAD, 3 * l1 // (4 * (MR + NR) * s) // PAD * PAD)
    mc = max(MR, l2 // (2 * kc * s) // MR * MR)
    nc = min(4096, max(NR, l3 // (2 * kc * s) // NR * NR))
    return Blocking(MR, NR, mc, kc, nc)


def block_sizes(dtype=np.float64, *, l1: int | None = None, l2: int | None = None,
                l3: int | None = None) -> BlockSizes:
    """Cache tiles for the ``blocked`` and ``packed`` rungs, derived from the cache sizes.

    Their inner loop adds ``A[i, p] * B[p, j0:j1]`` to ``C[i, j0:j1]`` for the ``bk`` values of
    p in a tile, so:

    - ``bj``: a row segment of C and one of B fill half of L1 together: ``bj = L1 / (4 s)``;
    - ``bk``: the ``bk x bj`` tile of B, reused by every row of the A tile, fills half of L2;
    - ``bi = bk``: the A tile is read once per tile of B, its size matters little.

    All are multiples of 16. Arguments and errors as :func:`blocking`.

    Example:
        >>> block_sizes(np.float64, l1=32768, l2=1 << 20, l3=32 << 20)
        BlockSizes(bi=64, bk=64, bj=1024)
    """
    s = _itemsize(dtype)
    l1, l2, _ = _caches(l1, l2, l3)
    bj = max(16, l1 // (4 * s) // 16 * 16)
    bk = max(16, l2 // (2 * bj * s) // 16 * 16)
    bi = bk
    return BlockSizes(bi, bk, bj)


def _positive(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {v!r}")
    return int(v)


def _check_tiles(tiles, dtype) -> Blocking:
    if tiles is None:
        return blocking(dtype)
    try:
        mr, nr, mc, kc, nc = tiles
    except (TypeError, ValueError):
        raise TypeError(f"tiles must be a Blocking (mr, nr, mc, kc, nc) or None, got "
                        f"{tiles!r}") from None
    mr, nr, mc, kc, nc = (_positive(f"tiles.{f}", v) for f, v in zip(Blocking._fields, tiles))
    if (mr, nr) != (MR, NR):
        raise ValueError(f"the numba micro-kernel is compiled for mr x nr = {MR} x {NR} on this "
                         f"machine, got tiles with {mr} x {nr}; change mc, kc, nc only "
                         f"(tiles._replace(mc=..., kc=..., nc=...))")
    return Blocking(mr, nr, mc, kc, nc)


def _check_block(block, dtype) -> BlockSizes:
    if block is None:
        return block_sizes(dtype)
    try:
        bi, bk, bj = block
    except (TypeError, ValueError):
        raise TypeError(f"block must be a BlockSizes (bi, bk, bj) or None, got "
                        f"{block!r}") from None
    return BlockSizes(*(_positive(f"block.{f}", v) for f, v in zip(BlockSizes._fields, block)))


# ----------------------------------------------------------------------------- rung 1: naive
@njit(nogil=True, cache=True)
def _naive_kernel(a, b, c):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            s = c.dtype.type(0)          # accumulate in the operands' precision, as BLAS does
            for p in range(k):
                s += a[i, p] * b[p, j]   # column j of B: one element per row, 8n bytes apart
            c[i, j] = s


def naive(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Rung 1: ``C[i, j] = sum_p A[i, p] B[p, j]``, loops ``i, j, p`` (the textbook formula).

    Args:
        a: m x k, float32 or float64, any memory order.
        b: k x n, same dtype.
        out: m x n array to write into, or None for a new one.

    Returns:
        ``out`` (or the new array), holding ``a @ b``.

    Raises:
        TypeError, ValueError: see :func:`course_lib.matmul.common.check_operands`.

    Example:
        >>> a = np.arange(6.0).reshape(2, 3); b = np.ones((3, 2))
        >>> naive(a, b)
        array([[ 3.,  3.],
               [12., 12.]])
    """
    m, k, n, out = check_operands(a, b, out)
    if out.size:
        _naive_kernel(a, b, out)
    return out


# ----------------------------------------------------------------------------- rung 2: reordered
@njit(nogil=True, cache=True)
def _reordered_kernel(a, b, c):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            c[i, j] = 0
        for p in range(k):
            aip = a[i, p]
            for j in range(n):           # a row of B, a row of C: unit stride, vectorised
                c[i, j] += aip * b[p, j]


def reordered(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Rung 2: loops ``i, p, j``: ``C[i, :] += A[i, p] * B[p, :]`` for each p.

    The inner loop streams a row of B and a row of C (contiguous in C order), and its
    iterations are independent, so LLVM vectorises it; :func:`naive`'s inner loop is a chain of
    additions down a column. Arguments, result and errors as :func:`naive`.

    Example:
        >>> reordered(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
        array([[1., 2.],
               [3., 4.]])
    """
    m, k, n, out = check_operands(a, b, out)
    if out.size:
        _reordered_kernel(a, b, out)
    return out


# ----------------------------------------------------------------------------- rung 3: blocked
@njit(nogil=True, cache=True)
def _blocked_kernel(a, b, c, bi, bk, bj):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            c[i, j] = 0
    for jj in range(0, n, bj):                       # a column strip of B and C
        j1 = min(jj + bj, n)
        for kk in range(0, k, bk):                   # a bk x bj tile of B: stays in L2 ...
            k1 = min(kk + bk, k)
            for ii in range(0, m, bi):               # ... while every A tile uses it
                i1 = min(ii + bi, m)
                for i in range(ii, i1):
                    crow = c[i, jj:j1]               # stays in L1 for bk steps
                    for p in range(kk, k1):
                        aip = a[i, p]
                        brow = b[p, jj:j1]
                        # Indexed from 0, not with `jj + j`: as far as LLVM knows, jj + j
                        # could be negative, and numba's wraparound of negative indices
                        # (j < 0 ? j + n : j, for every element) would stop the vectoriser.
                        for j in range(j1 - jj):
                            crow[j] += aip * brow[j]


def blocked(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *,
            block: BlockSizes | tuple[int, int, int] | None = None) -> np.ndarray:
    """Rung 3: :func:`reordered`'s loops, cut into cache tiles (``bi x bk`` of A, ``bk x bj``
    of B, ``bi x bj`` of C); edge tiles are partial.

    Args:
        a, b, out: as :func:`naive`.
        block: ``(bi, bk, bj)``; default :func:`block_sizes` for the dtype.

    Returns:
        ``out`` (or a new array) holding ``a @ b``.

    Raises:
        TypeError, ValueError: as :func:`naive`; also for a ``block`` that is not three whole
            numbers >= 1.

    Example:
        >>> a = np.ones((5, 7)); b = np.ones((7, 3))
        >>> bool((blocked(a, b, block=(2, 3, 2)) == 7).all())
        True
    """
    m, k, n, out = check_operands(a, b, out)
    bi, bk, bj = _check_block(block, a.dtype)
    if out.size:
        _blocked_kernel(a, b, out, bi, bk, bj)
    return out


# ----------------------------------------------------------------------------- rung 4: packed
@njit(nogil=True, cache=True)
def _copy_tile(src, r0, rows, c0, cols, dst):
    """``src[r0:r0+rows, c0:c0+cols]`` into ``dst[:rows*cols]``, row-major (reading in
    ``src``'s own memory order, so that the copy streams through it)."""
    if src.strides[0] >= src.strides[1]:
        for r in range(rows):
            for q in range(cols):
                dst[r * cols + q] = src[r0 + r, c0 + q]
    else:
        for q in range(cols):
            for r in range(rows):
                dst[r * cols + q] = src[r0 + r, c0 + q]


@njit(nogil=True, cache=True)
def _packed_kernel(a, b, c, bi, bk, bj):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            c[i, j] = 0
    at = np.empty(bi * bk, a.dtype)                  # the packed tiles: small, contiguous
    bt = np.empty(bk * bj, b.dtype)
    for jj in range(0, n, bj):
        nj = min(bj, n - jj)
        for kk in range(0, k, bk):
            nk = min(bk, k - kk)
            _copy_tile(b, kk, nk, jj, nj, bt)        # once per B tile, reused by all of A
            for ii in range(0, m, bi):
                ni = min(bi, m - ii)
                _copy_tile(a, ii, ni, kk, nk, at)
                for i in range(ni):
                    crow = c[ii + i, jj:jj + nj]
                    for p in range(nk):
                        aip = at[i * nk + p]
                        brow = bt[p * nj:(p + 1) * nj]
                        for j in range(nj):
                            crow[j] += aip * brow[j]


def packed(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *,
           block: BlockSizes | tuple[int, int, int] | None = None) -> np.ndarray:
    """Rung 4: :func:`blocked`'s tiles, each copied into a contiguous buffer before use.

    The tile loops run in Goto's order (columns of B, then k, then rows of A): a ``bk x bj``
    tile of B is packed once and used by every tile of A, and each ``bi x bk`` tile of A is
    packed just before its inner loops. Arguments, result and errors as :func:`blocked`.

    Example:
        >>> a = np.ones((5, 7), np.float32); b = np.ones((7, 3), np.float32)
        >>> bool(packed(a, b, block=(2, 3, 2)).sum() == 5 * 3 * 7)
        True
    """
    m, k, n, out = check_operands(a, b, out)
    bi, bk, bj = _check_block(block, a.dtype)
    if out.size:
        _packed_kernel(a, b, out, bi, bk, bj)
    return out


# ----------------------------------------------------------------------------- rung 5: microkernel
@intrinsic
def _stack_tile(typingctx, dtype):
    """A pointer to ``MR * NR`` elements of ``dtype`` on the stack (an LLVM ``alloca``).

    Wrapped by ``numba.carray`` into an ``MR x NR`` array. Unlike ``np.empty`` (a heap
    allocation LLVM cannot see through), an ``alloca`` indexed only by constants is split into
    scalars by LLVM's SROA pass: the tile lives in registers.
    """
    if not isinstance(dtype, types.DType):
        return None
    elt = dtype.dtype

    def codegen(context, builder, sig, args):
        size = llvm_ir.Constant(llvm_ir.IntType(64), MR * NR)
        return cgutils.alloca_once(builder, context.get_value_type(elt), size=size)

    return types.CPointer(elt)(dtype), codegen


@njit(nogil=True, cache=True)
def _round_up(x, multiple):
    return (x + multiple - 1) // multiple * multiple


@njit(nogil=True, cache=True)
def panel_sizes(mc, kc, nc):
    """Elements of the two packing buffers :func:`gemm_block` needs for blocks ``mc, kc, nc``:
    ``(round_up(mc, MR) * round_up(kc, PAD), round_up(nc, NR) * round_up(kc, PAD))``."""
    kcp = _round_up(kc, PAD)
    return _round_up(mc, MR) * kcp, _round_up(nc, NR) * kcp


@njit(nogil=True, cache=True)
def _pack_panels(s, kk, kcp, dst, width):
    """Pack the columns of ``s`` (``kk x cols``) into ``dst``, column c at ``dst[c*kcp:]``.

    For B, ``s`` is the ``kc x nc`` block itself; for A it is the transposed view of the
    ``mc x kc`` block (``a[...].T``, no copy), so that both come out the same way: micro-panel
    q is columns ``q*width .. q*width+width`` of ``s``, each stored contiguously along k, which
    is what the micro-kernel's vector loop reads. Columns ``cols .. round_up(cols, width)`` and
    entries ``kk .. kcp`` are zeros (the micro-kernel multiplies them and stores nothing).

    The copy goes one micro-panel at a time, p outer, the ``width`` columns inner: whatever the
    memory order of ``s``, it reads ``width`` cache lines at a time along p and writes ``width``
    sequential streams, so both sides use whole cache lines. (Copying column by column instead
    reads a new line per element when ``s`` is C-ordered: 3x slower.) Every index starts from
    0 in a slice, for the vectoriser (see :func:`_micro`).
    """
    cols = s.shape[1]
    full = cols // width * width
    for g in range(0, full, width):
        d = dst[g * kcp:(g + width) * kcp]
        for p in range(kk):
            for c in range(width):
                d[c * kcp + p] = s[p, g + c]
        for c in range(width):
            for p in range(kk, kcp):
                d[c * kcp + p] = 0
    if full < cols:                                  # the last, partial micro-panel
        d = dst[full * kcp:(full + width) * kcp]
        for c in range(width):
            if full + c < cols:
                for p in range(kk):
                    d[c * kcp + p] = s[p, full + c]
                for p in range(kk, kcp):
                    d[c * kcp + p] = 0
            else:
                for p in range(kcp):
                    d[c * kcp + p] = 0


@njit(nogil=True, fastmath=True, cache=True)
def _micro(kcp, ap, bp, c, r0, c0, rows, cols, accumulate):
    """``C[r0:r0+rows, c0:c0+cols] (+)= Apanel @ Bpanel`` for one ``MR x NR`` block.

    ``ap[i*kcp + p]`` is A(i, p) of the A micro-panel, ``bp[j*kcp + p]`` is B(p, j) of the B
    micro-panel. ``accumulate`` is False for the first k-block (store) and True after (add).
    The caller passes each panel as a slice starting at 0: with an offset added to the index,
    LLVM could no longer prove the index is >= 0, and numba's negative-index wraparound would
    turn every vector load into a gather.
    """
    acc = numba.carray(_stack_tile(c.dtype), (MR, NR))
    for i in range(MR):
        for j in range(NR):
            acc[i, j] = 0
    for p in range(kcp):                             # vectorised along p: see the docstring
        for i in range(MR):                          # MR x NR accumulators, unrolled
            for j in range(NR):
                acc[i, j] += ap[i * kcp + p] * bp[j * kcp + p]
    if rows == MR and cols == NR:
        if accumulate:
            for i in range(MR):
                for j in range(NR):
                    c[r0 + i, c0 + j] += acc[i, j]
        else:
            for i in range(MR):
                for j in range(NR):
                    c[r0 + i, c0 + j] = acc[i, j]
    else:                                            # an edge block: store the valid part
        for i in range(MR):
            for j in range(NR):
                if i < rows and j < cols:
                    if accumulate:
                        c[r0 + i, c0 + j] += acc[i, j]
                    else:
                        c[r0 + i, c0 + j] = acc[i, j]


@njit(nogil=True, fastmath=True, cache=True)
def gemm_block(a, b, c, i0, i1, j0, j1, mc, kc, nc, ap, bp):
    """``C[i0:i1, j0:j1] = A[i0:i1, :] @ B[:, j0:j1]`` with the Goto/BLIS loops.

    The five loops around the micro-kernel, outermost first: ``jc`` (columns of B by ``nc``),
    ``pc`` (k by ``kc``; pack the ``kc x nc`` block of B), ``ic`` (rows of A by ``mc``; pack the
    ``mc x kc`` block of A), ``jr`` (``NR`` columns: one B micro-panel, kept in L1), ``ir``
    (``MR`` rows: one A micro-panel, streamed from L2). ``ap`` and ``bp`` are the caller's
    packing buffers, at least :func:`panel_sizes` elements; a thread that owns its buffers can
    call this on its own tile of C while other threads do theirs.
    """
    k = a.shape[1]
    if k == 0:
        for i in range(i0, i1):
            for j in range(j0, j1):
                c[i, j] = 0
        return
    for jc in range(j0, j1, nc):
        ncols = min(nc, j1 - jc)
        for pc in range(0, k, kc):
            kk = min(kc, k - pc)
            kcp = _round_up(kk, PAD)
            _pack_panels(b[pc:pc + kk, jc:jc + ncols], kk, kcp, bp, NR)
            for ic in range(i0, i1, mc):
                mrows = min(mc, i1 - ic)
                _pack_panels(a[ic:ic + mrows, pc:pc + kk].T, kk, kcp, ap, MR)
                for jr in range(0, ncols, NR):
                    for ir in range(0, mrows, MR):
                        _micro(kcp, ap[ir * kcp:], bp[jr * kcp:], c, ic + ir, jc + jr,
                               min(MR, mrows - ir), min(NR, ncols - jr), pc > 0)


@njit(nogil=True, cache=True)
def _microkernel_kernel(a, b, c, mc, kc, nc):
    m, k = a.shape
    n = b.shape[1]
    sa, sb = panel_sizes(min(mc, m), min(kc, max(k, 1)), min(nc, n))
    ap = np.empty(sa, a.dtype)
    bp = np.empty(sb, b.dtype)
    gemm_block(a, b, c, 0, m, 0, n, mc, kc, nc, ap, bp)


def microkernel(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *,
                tiles: Blocking | tuple[int, int, int, int, int] | None = None) -> np.ndarray:
    """Rung 5: Goto/BLIS: packed micro-panels and a register-blocked ``MR x NR`` micro-kernel.

    See the module docstring for the micro-kernel and :func:`gemm_block` for the loops.

    Args:
        a, b, out: as :func:`naive`.
        tiles: a :class:`Blocking` ``(mr, nr, mc, kc, nc)``; default :func:`blocking` for the
            dtype. ``mr, nr`` must be :data:`MR`, :data:`NR` (compiled in); ``mc, kc, nc`` are
            free (any whole numbers >= 1: small ones make every edge case happen in tests).

    Returns:
        ``out`` (or a new array) holding ``a @ b``.

    Raises:
        TypeError, ValueError: as :func:`naive`; also for ``tiles`` that are not five whole
            numbers >= 1, or whose ``mr, nr`` differ from the compiled ones.

    Example:
        >>> a = np.random.default_rng(0).random((33, 65)); b = np.ones((65, 17))
        >>> np.allclose(microkernel(a, b), a @ b)
        True
    """
    m, k, n, out = check_operands(a, b, out)
    t = _check_tiles(tiles, a.dtype)
    if out.size:
        _microkernel_kernel(a, b, out, t.mc, t.kc, t.nc)
    return out


#: The rungs, slowest first: name -> function ``f(a, b, out=None)``.
RUNGS = {"naive": naive, "reordered": reordered, "blocked": blocked, "packed": packed,
         "microkernel": microkernel}
