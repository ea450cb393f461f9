"""Memory bandwidth: John McCalpin's STREAM, in numba, C (with and without non-temporal stores),
NumPy and ``memcpy``, on 1..N threads.

STREAM times four loops over three arrays of ``n`` doubles, each array far larger than the caches,
so that every element comes from and goes to main memory:

=========  ====================  ================================
kernel     what it does          bytes counted per element
=========  ====================  ================================
``copy``   ``c[i] = a[i]``       16 (read 8, write 8)
``scale``  ``b[i] = s * c[i]``   16
``add``    ``c[i] = a[i]+b[i]``  24 (read 16, write 8)
``triad``  ``a[i] = b[i]+s*c[i]`` 24
=========  ====================  ================================

The rate is those bytes divided by the best time of one pass (the first pass is left out, as in
STREAM). Two things the count leaves out, on purpose, as STREAM does:

- *Write allocate*: an ordinary store to a line that is not in the cache makes the core read the
  line first ("read for ownership"), so ``copy`` really moves 24 bytes per element, not 16, and
  ``triad`` 32, not 24. Non-temporal stores (``"c-nt"``: x86 ``movntpd``) skip that read and go
  to memory in whole lines, which is why they show a higher STREAM rate on the same hardware.
- NumPy's extra passes: ``a = b + s*c`` in NumPy is two loops (``a = s*c``, then ``a += b``), so
  it moves 40 bytes for the 24 counted. The counted rate is what the program gets done.

The implementations (``impls``):

==========  =========================================================================
``numba``   ``prange`` loops, on ``numba.set_num_threads(t)`` threads
``c``       plain C loops (``course_lib/_c/memory.c``) on ``t`` POSIX threads, each on its own
            contiguous chunk, timed inside C between barriers (no call overhead)
``c-nt``    the same with non-temporal stores (x86-64 only: :func:`nt_stores_available`)
``numpy``   ``np.copyto``, ``np.multiply(..., out=)``...: one thread, whatever ``threads`` says
``memcpy``  the C library's ``memcpy`` on ``t`` threads, chunk by chunk (the ``copy`` kernel)
==========  =========================================================================

The arrays are first written by :func:`first_touch` with the C threads' chunks (*first touch*:
Linux places each page on the NUMA node of the thread that first writes it). numba's ``prange``
cuts the loop into its own chunks, which on a one-socket machine changes nothing.

McCalpin's rule: each array at least 4 times the size of all the last-level caches together, so
that no pass can be served from cache. The default ``n`` follows it; under ``COURSE_QUICK`` the
arrays are much smaller (2 Mi doubles, 16 MiB), and the result says the rule was not met: part of
each pass may then come from L3, and the rates are too high.

Sources: J. D. McCalpin, "Memory Bandwidth and Machine Balance in Current High Performance
Computers" (1995) and the STREAM FAQ (https://www.cs.virginia.edu/stream/ref.html: the byte
counting, the array-size rule); U. Drepper, "What Every Programmer Should Know About Memory",
section 6.1 (non-temporal stores).
"""
from __future__ import annotations

import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit, prange

from course_lib import config
from course_lib._c import load as _load_extension
from course_lib.locks.padding import aligned_zeros

__all__ = ["StreamRow", "StreamResult", "stream", "run_kernel", "first_touch", "chunks",
           "nt_stores_available", "nt_stores_note", "default_n", "default_threads", "IMPLS",
           "KERNELS", "BYTES_PER_ELEMENT"]

#: The implementations :func:`stream` knows.
IMPLS = ("numba", "c", "c-nt", "numpy", "memcpy")
#: STREAM's kernels, in its order.
KERNELS = ("copy", "scale", "add", "triad")
#: Bytes STREAM counts per element (write-allocate traffic not included).
BYTES_PER_ELEMENT = {"copy": 16, "scale": 16, "add": 24, "triad": 24, "memcpy": 16}
#: STREAM's scalar and first values of a, b, c.
SCALAR = 3.0
INITIAL = (1.0, 2.0, 0.0)

#: The cache-line size the arrays are aligned to (64 bytes on x86-64 and most ARM cores; Apple's
#: M-series use 128-byte lines, where 64 still keeps every vector store inside one line).
LINE = 64
_C_KERNEL = {"copy": 0, "scale": 1, "add": 2, "triad": 3, "memcpy": 4}


# ---------------------------------------------------------------------------- shared helpers
def _lib() -> tuple[Any, Any]:
    """The compiled ``course_lib._c._memory`` (ffi, lib), with a clear error if it is missing."""
    return _load_extension("_memory")


def _count(name: str, v: Any, minimum: int = 1) -> int:
    """A whole number >= minimum (bool refused), as a Python int."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number, got {type(v).__name__}: {v!r}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)


def _array(name: str, a: Any, dtype: type, writable: bool = False) -> np.ndarray:
    """A 1-D, C-contiguous, aligned NumPy array of ``dtype``, or a TypeError/ValueError that says
    what is wrong and how to fix it."""
    kind = np.dtype(dtype).name
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy {kind} array, got {type(a).__name__}; make one "
                        f"with np.asarray({name}, dtype=np.{kind})")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {kind} (native byte order), got {a.dtype}; "
                        f"convert it with {name}.astype(np.{kind})")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {a.ndim}-D with shape {a.shape}; flatten it "
                         f"with {name}.reshape(-1)")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (the C code walks consecutive elements), "
                         f"so a strided view such as x[::2] is refused; copy it with "
                         f"np.ascontiguousarray({name})")
    if not a.flags.aligned:
        raise ValueError(f"{name} is not aligned to {a.itemsize} bytes; copy it with "
                         f"np.array({name})")
    if writable and not a.flags.writeable:
        raise ValueError(f"{name} is read-only, but this function writes into it")
    return a


def _ok(status: int, what: str) -> None:
    if status == 0:
        return
    _, lib = _lib()
    if status == lib.MEM_E_NOT_BUILT:
        raise RuntimeError(f"{what}: {nt_stores_note()}")
    if status == lib.MEM_E_THREAD:
        raise RuntimeError(f"{what}: the operating system refused to start the threads")
    raise ValueError(f"{what}: the C library refused an argument (status {status})")


# ---------------------------------------------------------------------------- non-temporal
def nt_stores_available() -> bool:
    """True when the C library has non-temporal store kernels (x86-64: SSE2 ``movntpd``).

    Example:
        >>> nt_stores_available()  # doctest: +SKIP
        True
    """
    return bool(_lib()[1].mem_nt_available())


def nt_stores_note() -> str:
    """One line for a report: the instruction used, or why there is none on this machine.

    Example:
        >>> nt_stores_note()  # doctest: +SKIP
        'non-temporal stores: movntpd (SSE2)'
    """
    ffi, lib = _lib()
    if lib.mem_nt_available():
        return "non-temporal stores: " + ffi.string(lib.mem_nt_isa()).decode()
    return f"non-temporal stores: not on this ISA ({platform.machine() or 'unknown'})"


# ---------------------------------------------------------------------------- the C kernels
def chunks(n: int, threads: int) -> list[tuple[int, int]]:
    """The ``[lo, hi)`` chunk of each thread, as the C kernels and :func:`first_touch` cut them.

    Each thread gets about ``n / threads`` elements, cut at multiples of 8 doubles (one 64-byte
    cache line) so that two threads seldom store into the same line; with fewer than
    ``8 * threads`` elements the last threads get empty chunks.

    Example:
        >>> chunks(20, 3)
        [(0, 8), (8, 16), (16, 20)]
    """
    n, threads = _count("n", n, 0), _count("threads", threads)
    ffi, lib = _lib()
    lo, hi = ffi.new("int64_t *"), ffi.new("int64_t *")
    out = []
    for t in range(threads):
        _ok(lib.mem_chunk(n, threads, t, lo, hi), "chunks")
        out.append((int(lo[0]), int(hi[0])))
    return out


def _three(a: Any, b: Any, c: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = _array("a", a, np.float64, writable=True)
    b = _array("b", b, np.float64, writable=True)
    c = _array("c", c, np.float64, writable=True)
    if not a.shape[0] == b.shape[0] == c.shape[0]:
        raise ValueError(f"a, b and c must have the same length, got {a.shape[0]}, {b.shape[0]} "
                         f"and {c.shape[0]}")
    for (x, nx), (y, ny) in ((("a", a), ("b", b)), (("a", a), ("c", c)), (("b", b), ("c", c))):
        if nx.size and np.may_share_memory(nx, ny):
            raise ValueError(f"{x} and {y} share memory: the kernels assume three separate arrays "
                             f"(C's restrict), so pass copies")
    return a, b, c


def first_touch(a: np.ndarray, b: np.ndarray, c: np.ndarray, *, threads: int = 1,
                values: Sequence[float] = INITIAL) -> None:
    """Write ``values`` into a, b and c from ``threads`` C threads, each writing its own chunk.

    On Linux a fresh page (``np.empty`` of a large array) gets physical memory when it is first
    written, on the NUMA node of the CPU that writes it. Writing each chunk from the thread that
    will use it puts every page next to its user: on a two-socket machine this is the difference
    between local and remote memory. Use the same ``threads`` as the kernels that follow.

    Args:
        a, b, c: float64, 1-D, C-contiguous, writeable, the same length, separate.
        threads: how many threads write (>= 1).
        values: the three values (STREAM's 1.0, 2.0 and 0.0 by default).

    Example:
        >>> a, b, c = np.empty(10), np.empty(10), np.empty(10)
        >>> first_touch(a, b, c, threads=2); float(a[9]), float(b[0]), float(c[5])
        (1.0, 2.0, 0.0)
    """
    a, b, c = _three(a, b, c)
    threads = _count("threads", threads)
    va, vb, vc = (float(v) for v in values)
    ffi, lib = _lib()
    p = [ffi.from_buffer("double[]", x) for x in (a, b, c)]
    _ok(lib.mem_stream_init(*p, a.shape[0], va, vb, vc, threads), "first_touch")


def run_kernel(kernel: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, *,
               scalar: float = SCALAR, threads: int = 1, reps: int = 1,
               nt: bool = False) -> np.ndarray:
    """Run one STREAM kernel in C, ``reps`` times, on ``threads`` threads; return each rep's time.

    The threads are started once for the call; after every rep they meet at a barrier, and the
    rep's time runs from one barrier to the next, so it is the time of the slowest thread.

    Args:
        kernel: ``"copy"`` (c = a), ``"scale"`` (b = s c), ``"add"`` (c = a + b),
            ``"triad"`` (a = b + s c) or ``"memcpy"`` (c = a by the C library's memcpy).
        a, b, c: float64, 1-D, C-contiguous, writeable, the same length, not overlapping.
        scalar: the ``s`` of scale and triad.
        threads: POSIX threads to use (>= 1; more than the elements is allowed: some idle).
        reps: how many times (>= 1).
        nt: non-temporal stores (x86-64 only; not with memcpy).

    Returns:
        float64 array of ``reps`` seconds.

    Raises:
        TypeError / ValueError: bad arrays or counts (the message says which).
        RuntimeError: ``nt=True`` where there are no non-temporal stores, or threads refused.

    Example:
        >>> a, b, c = np.arange(5.0), np.ones(5), np.zeros(5)
        >>> _ = run_kernel("triad", a, b, c, scalar=2.0, threads=2); a
        array([1., 1., 1., 1., 1.])
    """
    if kernel not in _C_KERNEL:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(_C_KERNEL)}")
    a, b, c = _three(a, b, c)
    threads, reps = _count("threads", threads), _count("reps", reps)
    if not isinstance(scalar, (int, float, np.integer, np.floating)) or isinstance(scalar, bool):
        raise TypeError(f"scalar must be a real number, got {type(scalar).__name__}: {scalar!r}")
    if nt and kernel == "memcpy":
        raise ValueError("nt=True does not apply to memcpy: the C library picks its own stores "
                         "(glibc's switches to non-temporal ones above a size threshold)")
    ffi, lib = _lib()
    if threads > lib.MEM_MAX_THREADS:
        raise ValueError(f"threads must be at most {lib.MEM_MAX_THREADS}, got {threads}")
    if nt and not lib.mem_nt_available():
        raise RuntimeError(nt_stores_note())
    times = np.zeros(reps)
    p = [ffi.from_buffer("double[]", x) for x in (a, b, c)]
    status = lib.mem_stream(_C_KERNEL[kernel], *p, a.shape[0], float(scalar), threads, reps,
                            int(bool(nt)), ffi.from_buffer("double[]", times))
    _ok(status, f"run_kernel({kernel!r})")
    return times


# ---------------------------------------------------------------------------- numba, NumPy
@njit(nogil=True, cache=True, parallel=True)
def _nb_copy(a, c):
    for i in prange(a.shape[0]):
        c[i] = a[i]


@njit(nogil=True, cache=True, parallel=True)
def _nb_scale(b, c, s):
    for i in prange(c.shape[0]):
        b[i] = s * c[i]


@njit(nogil=True, cache=True, parallel=True)
def _nb_add(a, b, c):
    for i in prange(a.shape[0]):
        c[i] = a[i] + b[i]


@njit(nogil=True, cache=True, parallel=True)
def _nb_triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def _numba_call(kernel: str, a, b, c, s):
    return {"copy": lambda: _nb_copy(a, c), "scale": lambda: _nb_scale(b, c, s),
            "add": lambda: _nb_add(a, b, c), "triad": lambda: _nb_triad(a, b, c, s)}[kernel]


def _numpy_call(kernel: str, a, b, c, s):
    def triad():  # two passes: a = s*c, then a += b (NumPy has no fused a = b + s*c)
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)

    return {"copy": lambda: np.copyto(c, a), "scale": lambda: np.multiply(c, s, out=b),
            "add": lambda: np.add(a, b, out=c), "triad": triad}[kernel]


def _line_aligned(n: int, offset: int) -> np.ndarray:
    """``n`` doubles starting ``offset`` bytes past a cache-line boundary. The pages are not
    touched here (``np.zeros`` of a large block maps zero pages lazily), so :func:`first_touch`
    still decides where they live."""
    return aligned_zeros(n + LINE // 8, np.float64, LINE)[offset // 8:offset // 8 + n]


def _timed(call, reps: int) -> np.ndarray:
    times = np.empty(reps)
    for r in range(reps):
        t0 = time.perf_counter()
        call()
        times[r] = time.perf_counter() - t0
    return times


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class StreamRow:
    """One measurement: ``impl`` running ``kernel`` on ``threads`` threads.

    Attributes:
        gbps: STREAM's rate, counted bytes / best time, in GB/s (10**9 bytes per second).
        seconds: the best time of one pass (the first pass left out when there were several).
    """

    impl: str
    kernel: str
    threads: int
    gbps: float
    seconds: float


@dataclass(frozen=True, repr=False)
class StreamResult:
    """What :func:`stream` measured.

    Attributes:
        rows: one :class:`StreamRow` per (impl, kernel, thread count).
        n: elements per array; ``array_bytes`` = 8 n.
        reps: passes per measurement.
        llc_bytes: all the last-level caches together (None if unknown).
        rule_met: whether each array was at least 4x ``llc_bytes`` (McCalpin's rule).
        notes: what was skipped, clamped or not met.
    """

    rows: tuple[StreamRow, ...]
    n: int
    reps: int
    llc_bytes: int | None
    rule_met: bool
    notes: tuple[str, ...] = ()
    machine: object = field(default=None, compare=False)

    @property
    def array_bytes(self) -> int:
        return 8 * self.n

    @property
    def impls(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.impl for r in self.rows))

    @property
    def threads(self) -> tuple[int, ...]:
        return tuple(sorted({r.threads for r in self.rows}))

    def gbps(self, impl: str, kernel: str = "triad", threads: int = 1) -> float:
        """The rate of one row; ``nan`` when it was not measured (e.g. numpy beyond 1 thread)."""
        for r in self.rows:
            if (r.impl, r.kernel, r.threads) == (impl, kernel, threads):
                return r.gbps
        return float("nan")

    def best(self, kernel: str = "triad") -> StreamRow:
        """The fastest row for ``kernel`` (any impl, any thread count).

        Raises:
            ValueError: no row has that kernel.
        """
        rows = [r for r in self.rows if r.kernel == kernel]
        if not rows:
            raise ValueError(f"no rows for kernel {kernel!r}; measured: "
                             f"{sorted({r.kernel for r in self.rows})}")
        return max(rows, key=lambda r: r.gbps)

    def table(self) -> str:
        """GB/s, one line per (impl, threads), one column per kernel."""
        from course_lib.measure.machine import format_bytes

        head = (f"STREAM, {self.n:,} doubles per array ({format_bytes(self.array_bytes)}), best of "
                f"{self.reps} passes, GB/s counted as STREAM does (copy/scale 16 B, add/triad "
                f"24 B per element; write-allocate traffic not counted)")
        lines = [head, f"{'impl':>8} {'threads':>7}" + "".join(f"{k:>9}" for k in KERNELS)]
        for impl in self.impls:
            for t in self.threads:
                cells = [self.gbps(impl, k, t) for k in KERNELS]
                if all(math.isnan(x) for x in cells):
                    continue
                lines.append(f"{impl:>8} {t:>7}" + "".join(
                    f"{'-':>9}" if math.isnan(x) else f"{x:>9.1f}" for x in cells))
        rule = "met" if self.rule_met else "NOT met"
        llc = format_bytes(self.llc_bytes) if self.llc_bytes else "unknown"
        lines.append(f"McCalpin's rule (each array >= 4x the last-level caches, {llc}): {rule}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.table()

    def plot(self, ax=None, kernel: str = "triad"):
        """GB/s against threads for ``kernel``, one line per impl (NumPy: one point at 1 thread).

        Returns:
            The matplotlib Axes.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6.0, 3.6), layout="constrained")
        for k, impl in enumerate(self.impls):
            rows = sorted((r for r in self.rows if r.impl == impl and r.kernel == kernel),
                          key=lambda r: r.threads)
            if not rows:
                continue
            ax.plot([r.threads for r in rows], [r.gbps for r in rows], "o-", color=f"C{k}",
                    label=impl)
        ax.set(xlabel="threads", ylabel=f"{kernel} GB/s (STREAM counting)",
               title=f"STREAM {kernel}, {self.n:,} doubles per array"
                     + ("" if self.rule_met else " (smaller than McCalpin's rule)"))
        ax.set_xticks(list(self.threads))
        ax.set_ylim(bottom=0)
        ax.legend(fontsize="small")
        return ax


# ---------------------------------------------------------------------------- the driver
def _machine():
    try:
        from course_lib.measure.machine import describe

        return describe()
    except Exception:  # a result without a machine beats no result
        return None


def _llc_bytes(m) -> int | None:
    """All the last-level caches together: L3 (or L2 if there is no L3) times how many of it
    there are (logical CPUs / CPUs sharing one)."""
    if m is None:
        return None
    level = 3 if m.l3_bytes else 2 if m.l2_bytes else None
    if level is None:
        return None
    cache = next(c for c in m.caches if c.level == level and c.kind != "instruction")
    copies = 1
    if cache.shared_by and m.logical_cores:
        copies = max(1, -(-m.logical_cores // cache.shared_by))
    return cache.size_bytes * copies


def default_n() -> int:
    """Elements per array: McCalpin's rule (4x all the last-level caches; 4x 32 MiB if unknown),
    at least 2 Mi; under ``COURSE_QUICK``, 2 Mi (16 MiB per array) whatever the caches."""
    if config.quick():
        return 2 << 20
    llc = _llc_bytes(_machine()) or (32 << 20)
    return max(2 << 20, -(-4 * llc // 8))


def default_threads() -> list[int]:
    """1, 2, ... up to the usable cores (every count up to 8, then powers of two and the top)."""
    from course_lib.measure.machine import usable_cores

    top = usable_cores()
    counts = set(range(1, min(top, 8) + 1)) | {2 ** k for k in range(3, 12) if 2 ** k <= top}
    return sorted(counts | {top})


def stream(threads: int | Sequence[int] | None = None, n: int | None = None, *,
           impls: Sequence[str] = IMPLS, reps: int | None = None,
           kernels: Sequence[str] = KERNELS, offset: int = 0) -> StreamResult:
    """Measure STREAM's four kernels for every implementation and thread count.

    Each array starts on a cache-line boundary, as STREAM's own arrays do (NumPy only promises
    16 bytes). It matters for compiled vector code: at 16 bytes past a line, every 64-byte AVX-512
    store of numba's loop straddles two lines, and on an AMD Zen 4 that cost numba's triad 12% of
    its bandwidth (31 against 36 GB/s in one run). ``offset`` moves the arrays off the line to show it.

    Args:
        threads: a thread count, a list of them, or None for :func:`default_threads`. numba
            counts above its pool (``NUMBA_NUM_THREADS``) are clamped, with a note. NumPy runs on
            one thread and is measured once, at ``threads=1``.
        n: elements per array (>= 1); default :func:`default_n` (McCalpin's rule, or 2 Mi under
            ``COURSE_QUICK``). Three arrays of ``8 n`` bytes are allocated.
        impls: any of :data:`IMPLS`. ``"c-nt"`` is skipped, with a note, where there are no
            non-temporal stores; ``"memcpy"`` measures the ``copy`` kernel only.
        reps: passes per measurement (>= 1; default 10, 5 under ``COURSE_QUICK``); the best
            pass after the first counts.
        kernels: any of :data:`KERNELS`.
        offset: bytes past a 64-byte boundary at which each array starts: a multiple of 8 from 0
            (the default, as STREAM) to 56.

    Returns:
        A :class:`StreamResult` (print it for the table, ``.plot()`` for the triad curve).

    Raises:
        TypeError / ValueError: a bad count, an unknown impl or kernel.

    Example:
        >>> r = stream(threads=1, n=100_000, impls=("c", "numpy"), reps=2)
        >>> r.best("triad").gbps > 0
        True
    """
    for name in impls:
        if name not in IMPLS:
            raise ValueError(f"unknown impl {name!r}; choose from {', '.join(IMPLS)}")
    for name in kernels:
        if name not in KERNELS:
            raise ValueError(f"unknown kernel {name!r}; choose from {', '.join(KERNELS)}")
    if isinstance(threads, (int, np.integer)) and not isinstance(threads, bool):
        counts = [_count("threads", threads)]
    elif threads is None:
        counts = default_threads()
    elif isinstance(threads, Sequence) and not isinstance(threads, str):
        counts = sorted({_count("threads", t) for t in threads})
        if not counts:
            raise ValueError("threads is an empty list: give at least one thread count")
    else:
        raise TypeError(f"threads must be a whole number, a list of them or None, got "
                        f"{type(threads).__name__}: {threads!r}")
    n = default_n() if n is None else _count("n", n)
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) \
            or offset % 8 or not 0 <= offset < LINE:
        raise ValueError(f"offset must be a multiple of 8 bytes from 0 to {LINE - 8}, got {offset!r}")
    reps = config.pick(10, 5) if reps is None else _count("reps", reps)
    machine = _machine()
    llc = _llc_bytes(machine)
    rule_met = llc is not None and 8 * n >= 4 * llc
    notes: list[str] = []
    if not rule_met:
        need = f"{-(-4 * llc // 8):,}" if llc else "unknown (the caches' sizes are unknown)"
        notes.append(f"each array is {8 * n / 2**20:.1f} MiB: below McCalpin's rule (n >= {need}); "
                     "part of each pass may come from cache, so the rates read high")
    impls = list(dict.fromkeys(impls))
    if "c-nt" in impls and not nt_stores_available():
        notes.append(nt_stores_note() + ": c-nt skipped")
        impls.remove("c-nt")

    if offset:
        notes.append(f"each array starts {offset} bytes past a cache line (offset={offset})")
    a, b, c = (_line_aligned(n, int(offset)) for _ in range(3))
    first_touch(a, b, c, threads=max(counts))
    numba_max = None
    if "numba" in impls:
        import numba

        numba_max, previous = int(numba.config.NUMBA_NUM_THREADS), numba.get_num_threads()
        if max(counts) > numba_max:
            notes.append(f"numba's pool has {numba_max} threads (NUMBA_NUM_THREADS): numba rows "
                         f"for more threads were run on {numba_max}")
        for k in kernels:  # compile (or load from cache) outside the timing
            _numba_call(k, a, b, c, SCALAR)()

    rows: list[StreamRow] = []

    def add(impl: str, kernel: str, t: int, times: np.ndarray) -> None:
        best = float(times[1:].min() if times.size > 1 else times[0])
        rows.append(StreamRow(impl, kernel, t, BYTES_PER_ELEMENT[kernel] * n / best / 1e9, best))

    try:
        order = 0
        for t in counts:
            for kernel in kernels:
                todo = [i for i in impls if not (i == "numpy" and t != counts[0])
                        and not (i == "memcpy" and kernel != "copy")]
                order += 1
                for impl in (todo if order % 2 else todo[::-1]):  # A B C, C B A: fair on noise
                    if impl == "numba":
                        numba.set_num_threads(min(t, numba_max))
                        times = _timed(_numba_call(kernel, a, b, c, SCALAR), reps)
                    elif impl == "numpy":
                        times = _timed(_numpy_call(kernel, a, b, c, SCALAR), reps)
                    else:
                        ck = "memcpy" if impl == "memcpy" else kernel
                        times = run_kernel(ck, a, b, c, threads=t, reps=reps, nt=impl == "c-nt")
                    add(impl, kernel, 1 if impl == "numpy" else t, times)
    finally:
        if numba_max is not None:
            numba.set_num_threads(previous)
    if "numpy" in impls and counts[0] != 1:
        notes.append("numpy runs on one thread: its rows are at threads=1")
    rank = {i: k for k, i in enumerate(IMPLS)}
    rows.sort(key=lambda r: (rank[r.impl], r.threads, KERNELS.index(r.kernel)))
    return StreamResult(tuple(rows), n, reps, llc, rule_met, tuple(notes), machine)
