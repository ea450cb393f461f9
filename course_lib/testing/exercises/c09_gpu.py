"""Checkers for chapter c09_gpu: a grid-stride kernel, a shared-memory tiled matrix multiply, a
block reduction in shared memory, and a privatised histogram, all written with ``@cuda.jit``.

Each is graded by results on edge cases (sizes that no block or tile divides, fewer threads
than elements, an output full of NaN so that every element must be written) and by structure
(shared memory and barriers where the exercise needs them, atomics on the shared copy), never
by timing: on the simulator times mean nothing. Every launch runs under a bounded wait (a
kernel that never finishes fails in seconds, and its simulated threads are stopped) and with a
very short thread switch interval on the simulator, so that a missing barrier or a plain
``+=`` on shared memory shows up as a wrong result more often. numba's warnings are silenced
inside the checks: a graded cell writes nothing on stderr.
"""
from __future__ import annotations

import ast
import contextlib
import ctypes
import math
import sys
import threading
import warnings
from typing import Any, Callable

import numpy as np

from course_lib import gpu
from course_lib.gpu import histogram as _hist, matmul as _mm, reduce as _red, vector as _vec
from course_lib.testing import CheckTimeout, call_with_timeout
from course_lib.testing.delegation import answers
from course_lib.testing.exercises import seal
from course_lib.testing.exercises.c06_memory import _source_tree

__all__ = ["check_scale_add", "check_tiled_matmul", "check_block_reduce",
           "check_privatised_histogram", "run_kernel"]

_FORBIDDEN = (_vec.saxpy_kernel, _vec.vector_add_kernel, _vec.saxpy, _mm.tiled_kernel,
              _mm.register_kernel, _mm.naive_kernel, _mm.matmul_tiled, _mm.matmul_naive,
              _mm.matmul_register, _red.block_sum_kernel, _red.block_sum,
              _hist.histogram_shared_kernel, _hist.histogram_global_kernel,
              _hist.histogram_shared, _hist.histogram_global, np.matmul, np.dot, np.bincount)

STUCK = ("look for a loop whose index never reaches its bound (a stride of 0, an index that "
         "is not increased in a while loop) or a barrier some threads never reach.")


_POISON_LOCK = threading.Lock()


class _Stopped(Exception):
    """Raised inside a stuck simulated thread to end it."""


def _stop_simulated_threads() -> None:
    """End the simulator's threads still running a kernel (after a timeout): raise
    :class:`_Stopped` in each, which makes the simulator abort the launch."""
    if not gpu.is_simulator():
        return
    from numba.cuda.simulator.kernel import BlockThread

    for t in threading.enumerate():
        if isinstance(t, BlockThread) and t.is_alive() and t.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident),
                                                       ctypes.py_object(_Stopped))


@contextlib.contextmanager
def _poisoned_shared_memory():
    """On the simulator, fill each new shared array with garbage (NaN, or -99999 for integers)
    instead of whatever ``np.empty`` returns (often zeros): a kernel that reads a slot nobody
    wrote then fails every time, as it may on a GPU, instead of by chance."""
    if not gpu.is_simulator():
        yield
        return
    from numba.cuda.simulator.kernelapi import FakeCUDAShared
    from numba.np import numpy_support

    original = FakeCUDAShared.array

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory; unsupported options
            return original(self, shape, dtype, alignment)
        # one array per source line of the kernel, as the simulator keys them
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with _POISON_LOCK:
            arr = self._allocations.get(key)
            if arr is None:
                dt = numpy_support.as_dtype(dtype) if not isinstance(dtype, (type, np.dtype)) else np.dtype(dtype)
                arr = np.full(shape, np.nan if dt.kind == "f" else -99999, dt)
                self._allocations[key] = arr
        return arr

    FakeCUDAShared.array = array
    try:
        yield
    finally:
        FakeCUDAShared.array = original


@contextlib.contextmanager
def _quiet_and_fine_grained():
    """No numba warnings; on the simulator, switch threads every microsecond and poison new
    shared arrays."""
    from numba.core.errors import NumbaWarning

    old = sys.getswitchinterval()
    with warnings.catch_warnings(), _poisoned_shared_memory():
        warnings.simplefilter("ignore", NumbaWarning)
        if gpu.is_simulator():
            sys.setswitchinterval(1e-6)
        try:
            yield
        finally:
            sys.setswitchinterval(old)


def run_kernel(kernel: Any, grid, block, *args, name: str = "your kernel",
               timeout: float = 20.0) -> None:
    """Launch ``kernel[grid, block](*args)`` and wait for it, at most ``timeout`` seconds.

    Raises:
        CheckTimeout: it did not finish (its simulated threads are stopped).
        AssertionError: it raised; the message names the launch and the error.
    """
    def launch():
        kernel[grid, block](*args)
        gpu.cuda.synchronize()

    try:
        with _quiet_and_fine_grained():
            call_with_timeout(launch, timeout=timeout, what=name, hint=STUCK)
    except CheckTimeout:
        _stop_simulated_threads()
        raise
    except Exception as exc:
        text = str(exc).split("\n")[0][:300]
        hint = ""
        if isinstance(exc, IndexError):
            hint = (": a thread indexed past the end of an array; every index needs a bound "
                    "check against the array's length (i < n, not i <= n)")
        raise AssertionError(f"{name}[{grid}, {block}] raised {type(exc).__name__}: {text}{hint}") from None


def _require_kernel(fn: Any, name: str) -> None:
    if not (hasattr(fn, "py_func") and hasattr(type(fn), "__getitem__")):
        raise AssertionError(f"{name} should be a CUDA kernel: put @cuda.jit above it")


def _called(tree: ast.AST | None) -> list[str]:
    """Dotted names of every call in the tree (``cuda.shared.array``, ``cuda.syncthreads``)."""
    if tree is None:
        return []

    def dotted(node: ast.AST) -> str:
        if isinstance(node, ast.Attribute):
            return f"{dotted(node.value)}.{node.attr}"
        return node.id if isinstance(node, ast.Name) else "?"

    return [dotted(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _count(calls: list[str], suffix: str) -> int:
    return sum(c == suffix or c.endswith("." + suffix) for c in calls)


def _barrier_in_loop(tree: ast.AST) -> bool:
    return any(isinstance(loop, (ast.For, ast.While)) and
               _count(_called(ast.Module(body=loop.body, type_ignores=[])), "syncthreads")
               for loop in ast.walk(tree))


def _first_bad(got: np.ndarray, want: np.ndarray, atol: float = 0.0) -> tuple[int, ...] | None:
    bad = ~np.isclose(got, want, rtol=1e-5, atol=atol) | np.isnan(got)
    return tuple(int(v) for v in np.argwhere(bad)[0]) if bad.any() else None


# ---------------------------------------------------------------------------- exercise 1
@answers("scale_add", *_FORBIDDEN)
def check_scale_add(scale_add: Callable, name: str = "scale_add") -> None:
    """Grade ``scale_add(a, x, y, out)``: ``out[i] = a * x[i] + y[i]`` for every i, with a
    grid-stride loop: launched with fewer threads than elements and with more, on sizes that
    no block divides, with ``out`` full of NaN."""
    _require_kernel(scale_add, name)
    rng = np.random.default_rng(9)
    for n, grid, block in ((1, 1, 32), (37, 2, 32), (1000, 2, 32), (333, 3, 64), (64, 1, 16)):
        x = rng.standard_normal(n).astype(np.float32)
        y = rng.standard_normal(n).astype(np.float32)
        out = np.full(n, np.nan, np.float32)
        run_kernel(scale_add, grid, block, np.float32(2.5), x, y, out, name=name)
        want = np.float32(2.5) * x + y
        i = _first_bad(out, want, 1e-6)
        if i is not None:
            threads = grid * block
            if np.isnan(out[i]):
                why = (f"out[{i[0]}] was never written: {threads} threads for {n} elements, so "
                       "each thread must loop, stepping by the number of threads in the grid "
                       "(cuda.gridsize(1))" if n > threads else f"out[{i[0]}] was never written")
            elif np.allclose(out, np.float32(2.5) * (x + y), atol=1e-5):
                why = "that is a * (x + y): the formula is a * x[i] + y[i]"
            else:
                why = "check the formula and the index each thread uses"
            raise AssertionError(f"{name} with {n} elements on {grid} block(s) of {block} "
                                 f"threads: out[{i[0]}] is {out[i]!r}, want {want[i]!r}; {why}")
    tree = _source_tree(scale_add)
    calls = _called(tree)
    if tree is not None and not (_count(calls, "gridsize") or "gridDim" in ast.dump(tree)):
        raise AssertionError(f"{name} gives the right values here but does not step by the grid's "
                             "size: use cuda.gridsize(1) (or blockDim.x * gridDim.x) as the stride, "
                             "so that no element is computed twice and any grid covers any n")
    print(f"{name}: correct for 5 launch shapes, fewer and more threads than elements")


# ---------------------------------------------------------------------------- exercise 2
@answers("matmul_shared", *_FORBIDDEN)
def check_tiled_matmul(matmul_shared: Callable, tile: int, name: str = "matmul_shared") -> None:
    """Grade ``matmul_shared(a, b, c)`` launched with ``tile x tile`` blocks and a grid of
    ``(ceil(n / tile), ceil(m / tile))``: ``c = a @ b`` on shapes no tile divides; tiles of A
    and B in ``cuda.shared.array``s; a barrier after loading them and one before they are
    overwritten."""
    _require_kernel(matmul_shared, name)
    if tile not in (4, 8, 16, 32):
        raise AssertionError(f"TILE should be 4, 8, 16 or 32 (threads per block: TILE**2), got {tile}")
    tree = _source_tree(matmul_shared)
    calls = _called(tree)
    if tree is not None:
        if _count(calls, "shared.array") < 2:
            raise AssertionError(f"{name} uses {_count(calls, 'shared.array')} shared arrays: "
                                 "copy a tile of a and a tile of b into two cuda.shared.array's, "
                                 "then compute from those (reading global memory in the inner "
                                 "loop is the naive rung)")
        if _count(calls, "syncthreads") < 2:
            raise AssertionError(f"{name} calls cuda.syncthreads() {_count(calls, 'syncthreads')} "
                                 "time(s); it needs two per tile: after loading (so that no thread "
                                 "reads a tile element before its owner has written it) and after "
                                 "computing (so that no thread overwrites a tile another still reads)")
    rng = np.random.default_rng(3)
    for m, k, n in ((1, 1, 1), (5, 3, 7), (tile + 1, 2 * tile + 3, tile - 1), (9, tile, 2 * tile + 1)):
        a = rng.integers(-4, 5, (m, k)).astype(np.float32)
        b = rng.integers(-4, 5, (k, n)).astype(np.float32)
        c = np.full((m, n), np.nan, np.float32)
        grid = (math.ceil(n / tile), math.ceil(m / tile))
        run_kernel(matmul_shared, grid, (tile, tile), a, b, c, name=name)
        want = a @ b
        i = _first_bad(c, want)
        if i is not None:
            edge = i[0] >= (m // tile) * tile or i[1] >= (n // tile) * tile or k % tile
            why = ("it lies in a partial tile: load zeros where the tile runs past the matrix "
                   "(row < m and k0 + tx < k) and loop over ceil(k / TILE) tiles"
                   if edge else "a tile may have been read before it was fully loaded")
            raise AssertionError(f"{name} for a {m}x{k} times a {k}x{n} (TILE={tile}): c[{i[0]}, "
                                 f"{i[1]}] is {c[i]!r}, want {want[i]!r} "
                                 f"({int((~np.isclose(c, want)).sum())} wrong); {why}")
    print(f"{name}: correct on 4 shapes that TILE={tile} does not divide, shared tiles, 2 barriers")


# ---------------------------------------------------------------------------- exercise 3
@answers("block_reduce", *_FORBIDDEN)
def check_block_reduce(block_reduce: Callable, threads: int, name: str = "block_reduce") -> None:
    """Grade ``block_reduce(x, partials)`` launched with ``ceil(n / threads)`` blocks of
    ``threads`` threads: ``partials[b]`` is the sum of ``x[b * threads:(b + 1) * threads]``,
    computed as a tree in a shared array with a barrier per step."""
    _require_kernel(block_reduce, name)
    if threads < 2 or threads & (threads - 1) or threads > 256:
        raise AssertionError(f"THREADS should be a power of two from 2 to 256, got {threads}")
    tree = _source_tree(block_reduce)
    calls = _called(tree)
    if tree is not None:
        if not _count(calls, "shared.array"):
            raise AssertionError(f"{name} has no cuda.shared.array: the block's threads must "
                                 "meet in shared memory to add their values")
        if not (_barrier_in_loop(tree) or _count(calls, "syncthreads") > int(math.log2(threads))):
            raise AssertionError(
                f"{name} has no cuda.syncthreads() inside its adding loop: a tree needs a "
                "barrier after every halving step (else a thread reads a neighbour's slot before "
                "it is written), and one thread adding the whole array serially is not a tree")
    rng = np.random.default_rng(4)
    for n in (1, 5, threads, threads + 3, 3 * threads - 1):
        x = rng.integers(0, 100, n).astype(np.float64)
        blocks = math.ceil(n / threads)
        partials = np.full(blocks, np.nan)
        run_kernel(block_reduce, blocks, threads, x, partials, name=name)
        want = np.add.reduceat(x, np.arange(0, n, threads))
        i = _first_bad(partials, want)
        if i is not None:
            last = i[0] == blocks - 1 and n % threads
            why = ("that is the last, partial block: threads past the end of x must put 0 in "
                   "their shared slot (and still take part in every barrier)" if last else
                   "check the halving steps and that a barrier follows each")
            raise AssertionError(f"{name} with n={n}, {blocks} block(s) of {threads}: partials"
                                 f"[{i[0]}] is {partials[i]!r}, want {want[i]!r}; {why}")
    print(f"{name}: correct for 5 sizes, including partial blocks; a tree with barriers")


# ---------------------------------------------------------------------------- exercise 4
def _plain_update_of(tree: ast.AST, names: set[str]) -> bool:
    """An ``arr[...] += ...`` (or ``arr[i] = arr[i] + ...``) on one of ``names``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript):
            if getattr(node.target.value, "id", None) in names:
                return True
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp):
            targets = [t for t in node.targets if isinstance(t, ast.Subscript)
                       and getattr(t.value, "id", None) in names]
            reads = [s for s in ast.walk(node.value) if isinstance(s, ast.Subscript)
                     and getattr(s.value, "id", None) in names]
            if targets and reads:
                return True
    return False


def _shared_names(tree: ast.AST) -> set[str]:
    return {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
            and _count(_called(n.value), "shared.array") for t in n.targets if isinstance(t, ast.Name)}


@answers("histogram_shared", *_FORBIDDEN)
def check_privatised_histogram(histogram_shared: Callable, bins: int,
                               name: str = "histogram_shared") -> None:
    """Grade ``histogram_shared(x, hist)`` (``hist`` zeroed by the caller, ``bins`` int32
    counts): a private histogram per block in shared memory, zeroed, a barrier, filled with
    ``cuda.atomic.add``, a barrier, merged into ``hist`` with atomics."""
    _require_kernel(histogram_shared, name)
    tree = _source_tree(histogram_shared)
    calls = _called(tree)
    if tree is not None:
        shared = _shared_names(tree)
        if not shared:
            raise AssertionError(f"{name} has no cuda.shared.array: each block should count into "
                                 "its own copy of the histogram in shared memory (privatisation), "
                                 "not straight into the global one")
        if _plain_update_of(tree, shared):
            raise AssertionError(f"{name} updates its shared histogram with a plain +=: threads of "
                                 "a block that read the same bin at once lose counts (a data race). "
                                 "Use cuda.atomic.add(local, v, 1)")
        if _count(calls, "atomic.add") < 2:
            raise AssertionError(f"{name} calls cuda.atomic.add {_count(calls, 'atomic.add')} time(s): "
                                 "it needs one into the shared copy and one to merge it into hist")
        if _count(calls, "syncthreads") < 2:
            raise AssertionError(f"{name} calls cuda.syncthreads() {_count(calls, 'syncthreads')} "
                                 "time(s); it needs two: after zeroing the shared bins, and after "
                                 "counting, before merging (else a block merges counts some of its "
                                 "threads have not added yet)")
    rng = np.random.default_rng(5)
    cases = [(rng.integers(0, bins, n).astype(np.int32), g, b)
             for n, g, b in ((1, 1, 32), (200, 2, 32), (1000, 3, 64))]
    cases.append((np.full(500, bins - 1, np.int32), 2, 64))  # every thread on one bin
    for x, grid, block in cases:
        hist = np.zeros(bins, np.int32)
        run_kernel(histogram_shared, grid, block, x, hist, name=name)
        want = np.bincount(x, minlength=bins).astype(np.int32)
        if not np.array_equal(hist, want):
            b = int(np.argwhere(hist != want)[0][0])
            lost = int(want.sum() - hist.sum())
            why = (f"{lost} counts lost in total: updates raced, or a block merged before all its "
                   "threads had counted" if lost > 0 else
                   "counts were added twice or the shared bins were not zeroed first")
            raise AssertionError(f"{name} on {x.size} values, {grid} block(s) of {block}: bin {b} "
                                 f"is {int(hist[b])}, want {int(want[b])}; {why}")
    print(f"{name}: exact counts on 4 inputs (one with every value in the same bin); shared, "
          "atomic, two barriers")


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_scale_add", "check_tiled_matmul", "check_block_reduce",
           "check_privatised_histogram")
seal(__name__)
