"""The C rung of chapter 8: a packed, register-blocked GEMM, the way BLIS and OpenBLAS do it.

``matmul_c(a, b)`` computes ``a @ b`` with the C code of ``course_lib/_c/gemm.c``:

- five loops around a *micro-kernel*: ``jc`` over NC columns of C, ``pc`` over KC steps of the
  sum (pack a KC x NC panel of B into NR-wide slivers), ``ic`` over MC rows (pack an MC x KC
  block of A into MR-tall slivers), ``jr`` and ``ir`` over the slivers, and the micro-kernel,
  which keeps an MR x NR tile of C in vector registers for KC fused multiply-adds per element;
- one micro-kernel per ISA, picked at run time by the SIMD chapter's dispatcher
  (:func:`course_lib.simd.features.best_variant`, under ``COURSE_SIMD_MAX``);
- threads that share each packed B panel and split the rows of C, each packing its own A block.

=============================  ==============================================================
:func:`matmul_c`               ``a @ b`` (float32 or float64), or ``out += a @ b``
:func:`tile_sizes`             MR, NR, MC, KC, NC for a dtype and variant, from the cache sizes
:func:`microkernel_shape`      MR x NR of a variant's micro-kernel
:func:`threads_used`           how many threads a call would really use
:func:`release_buffers`        free the packing buffers the C code keeps between calls
=============================  ==============================================================

Blocking, from the caches (the BLIS model; :func:`tile_sizes` says it in numbers):

- an MR x NR tile of C lives in registers during the whole KC loop;
- a KC x NR sliver of B is reused by every MR x KC sliver of A of the block, so it should stay
  in L1 while the slivers of A stream through: KC from the L1 size;
- the MC x KC packed block of A is reused for every sliver of the panel, from L2: MC from L2;
- the KC x NC packed panel of B is reused for every block of A, from L3: NC from L3.

Orientation: the micro-kernels run their vectors down a column of C (MR is the vector
dimension). When C is row-major (the default ``out``), the C code computes ``C^T = B^T A^T``
instead, which has C's columns and rows swapped, so MR and MC then count *columns* of the
result and NC its rows. :func:`tile_sizes` describes the problem as the micro-kernel sees it.

Memory order: A and B may have any strides (C- or Fortran-ordered, slices such as
``a[::2, 1:]``, even negative or zero strides): the packing reads them where they are, no copy.
Only an operand whose strides are not whole elements (a view into a structured array) or that
is not aligned is copied first. ``out`` may be any writeable, non-self-overlapping view.

Threads split the rows of the micro-kernel's problem; more threads than cores only add waiting
(on 2 cores, N = 1024 float64: 53 GFLOP/s on 1 thread, 93 on 2, 73 on 3).

Measured on a 2-core Zen 4 VM (AVX-512), against NumPy's OpenBLAS at the same thread count:
0.96x to 1.02x at N = 1024 and 2048, float64 and float32, 1 and 2 threads, 83% to 91% of the
cores' FMA peak (``gemm.c`` has the table; ``python -m benchmarks matmul_c`` measures yours).

Results agree with NumPy to rounding error (the sums are added in another order, with FMA), not
bit for bit: :func:`course_lib.matmul.common.max_error_ratio` measures by how much.

Sources: K. Goto and R. A. van de Geijn, "Anatomy of High-Performance Matrix Multiplication",
ACM TOMS 34(3), 2008; F. G. Van Zee and R. A. van de Geijn, "BLIS: A Framework for Rapidly
Instantiating BLAS Functionality", ACM TOMS 41(3), 2015; T. M. Low, F. D. Igual, T. M. Smith
and E. S. Quintana-Orti, "Analytical Modeling Is Enough for High-Performance BLIS", ACM TOMS
43(2), 2016.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from course_lib._c import load as _load_extension
from course_lib.matmul.common import check_operands
from course_lib.simd import features as _features
from course_lib.simd.features import SimdUnavailable

__all__ = ["Tiles", "matmul_c", "tile_sizes", "microkernel_shape", "threads_used",
           "release_buffers", "SimdUnavailable", "DEFAULT_CACHES"]

#: Cache sizes assumed when the machine does not report one (L1d, L2, L3 in bytes).
DEFAULT_CACHES = (32 * 1024, 512 * 1024, 8 * 1024 * 1024)

# The share of L2 for the packed A block and of L3 for the packed B panel (the rest holds what
# else is in flight: C's tiles, the slivers on their way to L1, the stack, and, for L3, the
# other cores' panels and a VM's neighbours). Measured on Zen 4: see tile_sizes.
_L2_SHARE = 0.5
_L3_SHARE = 0.25
_MIN_SLIVERS = 4  # an A block of at least 4 slivers: the B sliver's trip to L1 is shared by them
_NC_MAX = 8192  # a larger panel buys nothing: the jc loop is not on the hot path



class Tiles(NamedTuple):
    """The blocking of one call: the micro-kernel's register tile and the cache blocks.

    Attributes:
        mr, nr: the micro-kernel's tile (MR along its vector dimension), fixed per variant.
        mc: rows of the packed A block (a multiple of mr), for L2.
        kc: steps of the sum per pass (the depth of both packed operands), for L1.
        nc: columns of the packed B panel (a multiple of nr), for L3.
    """

    mr: int
    nr: int
    mc: int
    kc: int
    nc: int


def _lib() -> tuple[Any, Any]:
    """The compiled ``course_lib._c._gemm`` (ffi, lib), with a clear error if it is missing."""
    return _load_extension("_gemm")


def _dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _variant_number(variant: str | None) -> tuple[str, int]:
    name = _features.best_variant() if variant is None else variant
    return name, _features.check(name)


def microkernel_shape(dtype: Any = np.float64, variant: str | None = None) -> tuple[int, int]:
    """MR x NR: the tile of C that a variant's micro-kernel keeps in registers.

    Args:
        dtype: float32 or float64.
        variant: None for the one the dispatcher picks, or a variant name (it must be able to
            run here).

    Example:
        >>> microkernel_shape("float64", "scalar")
        (4, 4)
    """
    dt = _dtype(dtype)
    _, number = _variant_number(variant)
    return _shape(number, dt.itemsize * 8)


@functools.lru_cache(maxsize=None)
def _shape(number: int, bits: int) -> tuple[int, int]:
    ffi, lib = _lib()
    mr, nr = ffi.new("int32_t *"), ffi.new("int32_t *")
    _ok(lib.gemm_microkernel_shape(number, bits, mr, nr), "microkernel_shape")
    return int(mr[0]), int(nr[0])


def _caches(machine: Any) -> tuple[int, int, int]:
    if machine is None:
        return _this_machine_caches()
    sizes = (getattr(machine, "l1d_bytes", None), getattr(machine, "l2_bytes", None),
             getattr(machine, "l3_bytes", None))
    return tuple(int(s) if s else d for s, d in zip(sizes, DEFAULT_CACHES))  # type: ignore


@functools.lru_cache(maxsize=1)
def _this_machine_caches() -> tuple[int, int, int]:
    from course_lib.measure.machine import describe

    return _caches(describe())


def tile_sizes(dtype: Any = np.float64, variant: str | None = None, machine: Any = None) -> Tiles:
    """The blocking for ``dtype`` and ``variant`` on a machine, derived from its cache sizes.

    - KC: the KC x NR sliver of B, which every MR x KC sliver of the A block reuses, fills L1:
      ``KC = L1 / (NR * itemsize)``, rounded down to a multiple of 8 (the A sliver, used once
      per B sliver, streams through from L2). Lowered if needed so that MC below is at least
      4 MR.
    - MC: the packed MC x KC block of A fills half of L2 (the B sliver and C's tiles pass
      through the rest): ``MC = L2 / 2 / (KC * itemsize)``, rounded down to a multiple of MR.
    - NC: the packed KC x NC panel of B fills a quarter of L3 (shared by the cores and, in a
      VM, with neighbours), at most 8192, rounded down to a multiple of NR.

    Why not the textbook "the B sliver *and* the A sliver fit in L1"? Measured on a Zen 4 core
    (AVX-512, 24 x 8 float64 tile, 32 KiB L1, N = 1024): that rule gives KC = 128 and
    49.3 GFLOP/s; KC = 512 (this rule) gives 51.9 (at N = 2048, 49.1 and 49.8). The
    micro-kernel needs only 256 bytes of A and B per 24 cycles, which L2 supplies easily, while
    every pass of the KC loop loads and stores the whole C tile (and C lives in memory): a
    longer KC pays for that less often. For the float32 tile (48 x 8) L1 says KC = 1024, and
    the 4-sliver floor of MC lowers it to 680: 104 to 105 GFLOP/s, the same as KC = 1024 within
    the noise, and 102 at KC = 512.

    Args:
        dtype: float32 or float64.
        variant: None for the dispatcher's pick, or a variant name.
        machine: anything with ``l1d_bytes``, ``l2_bytes``, ``l3_bytes`` (a
            :class:`course_lib.measure.machine.Machine`); None: this machine. A missing size
            falls back to :data:`DEFAULT_CACHES`.

    Example:
        >>> from types import SimpleNamespace as M
        >>> zen4 = M(l1d_bytes=32768, l2_bytes=1 << 20, l3_bytes=32 << 20)
        >>> tile_sizes("float64", "avx2", zen4)  # doctest: +SKIP
        Tiles(mr=8, nr=6, mc=96, kc=680, nc=1542)
    """
    dt = _dtype(dtype)
    mr, nr = microkernel_shape(dt, variant)
    return _tiles(mr, nr, dt.itemsize, _caches(machine))


@functools.lru_cache(maxsize=64)
def _tiles(mr: int, nr: int, size: int, caches: tuple[int, int, int]) -> Tiles:
    l1, l2, l3 = caches
    l2_share, l3_share = int(l2 * _L2_SHARE), int(l3 * _L3_SHARE)
    kc = max(8, l1 // (nr * size) // 8 * 8)
    kc = max(8, min(kc, l2_share // (_MIN_SLIVERS * mr * size) // 8 * 8))
    mc = max(mr, l2_share // (kc * size) // mr * mr)
    nc = max(nr, min(_NC_MAX, l3_share // (kc * size)) // nr * nr)
    return Tiles(mr, nr, mc, kc, nc)


def _whole_int(name: str, v: Any) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {type(v).__name__}: {v!r}")
    return int(v)


def _check_tiles(tiles: Any, mr: int, nr: int) -> Tiles:
    try:
        t = Tiles(*tiles)
    except TypeError as exc:
        raise TypeError(f"tiles must be a Tiles(mr, nr, mc, kc, nc) (see tile_sizes), got "
                        f"{tiles!r}") from exc
    mr_, nr_, mc, kc, nc = (_whole_int(f"tiles.{f}", v) for f, v in zip(Tiles._fields, t))
    if (mr_, nr_) != (mr, nr):
        raise ValueError(f"tiles has mr x nr = {mr_} x {nr_}, but this variant's micro-kernel is "
                         f"{mr} x {nr}: start from tile_sizes(dtype, variant) and change mc, kc, "
                         f"nc with ._replace(...)")
    if mc < 1 or kc < 1 or nc < 1:
        raise ValueError(f"tiles.mc, kc and nc must be >= 1, got {mc}, {kc}, {nc}")
    if mc % mr or nc % nr:
        raise ValueError(f"tiles.mc ({mc}) must be a multiple of mr ({mr}) and tiles.nc ({nc}) "
                         f"a multiple of nr ({nr})")
    return Tiles(mr, nr, mc, kc, nc)


def _elements(x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """x (copied if its strides are not whole elements, or it is misaligned), and its strides
    in elements."""
    size = x.itemsize
    if not x.flags.aligned or any(s % size for s in x.strides):
        x = np.ascontiguousarray(x)
    return x, x.strides[0] // size, x.strides[1] // size


def _check_out_layout(out: np.ndarray) -> None:
    size = out.itemsize
    if out.size == 0:
        return
    if not out.flags.aligned or any(s % size for s in out.strides):
        raise ValueError("out is not aligned to its element size, or its strides are not whole "
                         "elements; pass an ordinary array (np.empty)")
    dims = sorted((abs(s) // size, n) for s, n in zip(out.strides, out.shape) if n > 1)
    if any(s == 0 for s, _ in dims) or (len(dims) == 2 and dims[0][0] * dims[0][1] > dims[1][0]):
        raise ValueError(f"out overlaps itself (shape {out.shape}, strides {out.strides}): two "
                         "elements of the result would share memory")


def _ok(status: int, what: str) -> None:
    if status == 0:
        return
    _, lib = _lib()
    if status in (lib.GEMM_E_CPU, lib.GEMM_E_NOT_BUILT, lib.GEMM_E_VARIANT):
        raise SimdUnavailable(f"{what}: the C library says the variant cannot run "
                              f"(status {status})")
    if status == lib.GEMM_E_NOMEM:
        raise MemoryError(f"{what}: the packing buffers could not be allocated")
    raise ValueError(f"{what}: the C library refused an argument (status {status})")


def threads_used(m: int, n: int, threads: int, dtype: Any = np.float64,
                 variant: str | None = None, order: str = "C") -> int:
    """The number of threads :func:`matmul_c` would use for an m x n result.

    The threads split the rows of the micro-kernel's problem (C's columns when C is row-major,
    ``order="C"``), in whole MR-slivers: there are never more threads than slivers.
    """
    dt = _dtype(dtype)
    _, number = _variant_number(variant)
    if order not in ("C", "F"):
        raise ValueError(f"order must be 'C' or 'F', got {order!r}")
    rsc, csc = (max(n, 2), 1) if order == "C" else (1, max(m, 2))
    _, lib = _lib()
    used = lib.gemm_threads_used(number, dt.itemsize * 8, _whole_int("m", m), _whole_int("n", n),
                                 rsc, csc, _whole_int("threads", threads))
    _ok(min(used, 0), "threads_used")
    return int(used)


def release_buffers() -> int:
    """Free the packing buffers that the C code keeps between calls; return the bytes freed.

    Fresh memory costs a page fault per 4 KiB page on its first write (in a VM, more than the
    packing itself), so ``gemm.c`` keeps up to 16 buffers (each at most 64 MiB) for the next
    call. Buffers in use by a running call are kept.
    """
    _, lib = _lib()
    return int(lib.gemm_release_buffers())


def matmul_c(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, *,
             variant: str | None = None, threads: int = 1, tiles: Tiles | None = None,
             accumulate: bool = False) -> np.ndarray:
    """``a @ b`` with the packed, register-blocked C GEMM (or ``out += a @ b``).

    Args:
        a: m x k, float32 or float64, any strides (C or Fortran order, slices).
        b: k x n, the same dtype.
        out: where to write the m x n result (same dtype, writeable, any non-overlapping
            strides, sharing no memory with a or b); None: a new C-ordered array.
        variant: None for the widest one this CPU runs (under ``COURSE_SIMD_MAX``), or a name
            among :func:`course_lib.simd.features.available`.
        threads: POSIX threads to use (1 to 256); at most one per MR-sliver of rows is started
            (:func:`threads_used`).
        tiles: the blocking (:func:`tile_sizes` for this dtype and variant, perhaps with
            ``._replace(kc=...)``); None: :func:`tile_sizes`.
        accumulate: False: ``out = a @ b`` (out is never read, so np.empty will do); True:
            ``out += a @ b`` (out is required).

    Returns:
        ``out``, or the new array.

    Raises:
        TypeError: not arrays, a dtype other than float32/float64, a and b (or out) of
            different dtypes, a non-integer thread count.
        ValueError: not 2-D, inner dimensions that differ, a bad out (shape, read-only,
            sharing memory with a or b, overlapping itself), bad tiles or thread count.
        SimdUnavailable: the named variant cannot run here.

    Example:
        >>> a = np.arange(6.0).reshape(2, 3); b = np.ones((3, 2))
        >>> matmul_c(a, b, variant="scalar")
        array([[ 3.,  3.],
               [12., 12.]])
    """
    if accumulate not in (True, False):
        raise TypeError(f"accumulate must be True or False, got {accumulate!r}")
    if accumulate and out is None:
        raise ValueError("accumulate=True adds a @ b to out: pass out")
    m, k, n, out = check_operands(a, b, out)
    nthreads = _whole_int("threads", threads)
    if not 1 <= nthreads <= 256:
        raise ValueError(f"threads must be between 1 and 256, got {nthreads}")
    _, number = _variant_number(variant)
    dt = out.dtype
    mr, nr = _shape(number, dt.itemsize * 8)
    t = _tiles(mr, nr, dt.itemsize, _caches(None)) if tiles is None else _check_tiles(tiles, mr, nr)
    _check_out_layout(out)
    a, rsa, csa = _elements(a)
    b, rsb, csb = _elements(b)
    rsc, csc = out.strides[0] // dt.itemsize, out.strides[1] // dt.itemsize
    ffi, lib = _lib()
    ctype = "double *" if dt == np.float64 else "float *"
    fn = lib.gemm_f64 if dt == np.float64 else lib.gemm_f32
    status = fn(number, m, n, k, ffi.cast(ctype, a.ctypes.data), rsa, csa,
                ffi.cast(ctype, b.ctypes.data), rsb, csb, ffi.cast(ctype, out.ctypes.data),
                rsc, csc, int(accumulate), nthreads, t.mc, t.kc, t.nc)
    _ok(status, "matmul_c")
    return out
