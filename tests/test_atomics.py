"""Tests for course_lib.atomics: numba (LLVM atomics) and Python (C11 via cffi) on shared memory.

The concurrency battery runs every read-modify-write from many threads (numba ``prange``,
numba ``nogil`` functions in Python threads, Python threads through C) and checks exact results
against plain Python. Sizes scale with ``COURSE_STRESS``.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
import threading

import numba
import numpy as np
import pytest
from numba import njit, prange

from course_lib import atomics as A
from course_lib.atomics import Ordering
from course_lib.config import stress

STRESS = stress()
N = 20_000 * STRESS
X86 = platform.machine().lower() in ("x86_64", "amd64")
DTYPES = [np.int32, np.uint32, np.int64, np.uint64]
O = Ordering


def _join_all(threads: list[threading.Thread], timeout: float = 60.0) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread did not finish in time (deadlock?)"


# ----------------------------------------------------------------------------- kernels
@njit(parallel=True, cache=True)
def _par_add(cells, n):
    olds = np.empty(n, np.int64)
    for i in prange(n):
        olds[i] = A.fetch_add(cells, i % 2, 1, Ordering.Relaxed)
    return olds


@njit(parallel=True, cache=True)
def _par_sub(cells, n):
    for i in prange(n):
        A.fetch_sub(cells, i % 3, 2, Ordering.AcqRel)


@njit(parallel=True, cache=True)
def _par_bits(cells, n):
    # Each iteration flips/sets/clears one bit; the net effect is independent of the order.
    for i in prange(n):
        bit = np.int64(1) << (i % 31)
        A.fetch_or(cells, 0, bit, Ordering.Relaxed)
        A.fetch_xor(cells, 1, bit, Ordering.SeqCst)
        A.fetch_and(cells, 2, ~bit, Ordering.Release)


@njit(parallel=True, cache=True)
def _par_minmax(cells, values):
    for i in prange(values.size):
        A.fetch_max(cells, 0, values[i], Ordering.Relaxed)
        A.fetch_min(cells, 1, values[i], Ordering.Relaxed)


@njit(parallel=True, cache=True)
def _par_swap(cells, n):
    olds = np.empty(n, cells.dtype)
    for i in prange(n):
        olds[i] = A.swap(cells, 0, i + 1, Ordering.AcqRel)
    return olds


@njit(parallel=True, cache=True)
def _par_cas_increment(cells, n):
    for i in prange(n):
        seen = A.load(cells, 0, Ordering.Relaxed)
        while True:
            ok, seen = A.compare_exchange_weak(cells, 0, seen, seen + 1, Ordering.Relaxed,
                                               Ordering.Relaxed)
            if ok:
                break


@njit(nogil=True, cache=True)
def _nogil_add(cells, n, order):
    for _ in range(n):
        A.fetch_add(cells, 0, 1, order)


@njit(nogil=True, cache=True)
def _nogil_add_unchecked(cells, n):
    for _ in range(n):
        A.fetch_add_unchecked(cells, 0, 1, Ordering.Relaxed)


# ----------------------------------------------------------------------------- battery: numba
def test_fetch_add_prange_exact_and_every_old_value_once():
    cells = np.zeros(2, np.int64)
    olds = _par_add(cells, N)
    assert cells.tolist() == [(N + 1) // 2, N // 2]
    # Atomicity, strongly: each cell handed out 0, 1, 2, ... exactly once.
    assert sorted(olds[0::2].tolist()) == list(range((N + 1) // 2))
    assert sorted(olds[1::2].tolist()) == list(range(N // 2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fetch_sub_prange_wraps_like_c(dtype):
    cells = np.zeros(3, dtype)
    _par_sub(cells, N)
    expected = [(-2 * len(range(k, N, 3))) % 2 ** (8 * cells.itemsize) for k in range(3)]
    assert [int(c) % 2 ** (8 * cells.itemsize) for c in cells] == expected


def test_bitwise_prange_exact():
    cells = np.array([0, 0, -1], np.int64)
    _par_bits(cells, N)
    ref = [0, 0, -1]
    for i in range(N):
        bit = 1 << (i % 31)
        ref[0] |= bit
        ref[1] ^= bit
        ref[2] &= ~bit
    assert cells.tolist() == ref


@pytest.mark.parametrize("dtype", DTYPES)
def test_minmax_prange_signed_and_unsigned(dtype):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype)
    values = rng.integers(info.min, info.max, size=N, dtype=dtype, endpoint=True)
    cells = np.array([info.min, info.max], dtype)
    _par_minmax(cells, values)
    assert int(cells[0]) == int(values.max()) and int(cells[1]) == int(values.min())


def test_swap_prange_hands_out_each_value_once():
    cells = np.zeros(1, np.int64)
    olds = _par_swap(cells, N)
    assert sorted(olds.tolist() + [int(cells[0])]) == list(range(N + 1))


def test_compare_exchange_weak_loop_prange_exact():
    cells = np.zeros(1, np.int64)
    _par_cas_increment(cells, N)
    assert cells[0] == N


@pytest.mark.parametrize("kernel", ["checked", "unchecked"])
def test_nogil_numba_from_python_threads_exact(kernel):
    cells = np.zeros(1, np.int64)
    fn = ((lambda: _nogil_add(cells, N, Ordering.SeqCst)) if kernel == "checked"
          else (lambda: _nogil_add_unchecked(cells, N)))
    fn()  # compile first, outside the threads
    cells[0] = 0
    _join_all([threading.Thread(target=fn) for _ in range(4)])
    assert cells[0] == 4 * N


# ----------------------------------------------------------------------------- battery: Python
PY_OPS = {  # op -> (value for thread t, iteration i), initial, reference fold
    "fetch_add": (lambda t, i: 3, 0, lambda c, v: c + v),
    "fetch_sub": (lambda t, i: 1, 10 ** 9, lambda c, v: c - v),
    "fetch_or": (lambda t, i: 1 << ((t * 7 + i) % 40), 0, lambda c, v: c | v),
    "fetch_xor": (lambda t, i: 1 << ((t * 5 + i) % 40), 0, lambda c, v: c ^ v),
    "fetch_and": (lambda t, i: ~(1 << ((t * 3 + i) % 40)), -1, lambda c, v: c & v),
    "fetch_max": (lambda t, i: (t * 7919 + i * 104729) % 1_000_003, -5, max),
    "fetch_min": (lambda t, i: (t * 7919 + i * 104729) % 1_000_003, 10 ** 9, min),
}


@pytest.mark.parametrize("style", ["object", "function"])
@pytest.mark.parametrize("op", sorted(PY_OPS))
def test_python_threads_every_rmw_exact(op, style):
    value, initial, fold = PY_OPS[op]
    threads, per = 4, 2_000 * STRESS
    cells = A.AtomicArray(np.array([initial], np.int64))
    call = ((lambda v: getattr(cells, op)(0, v, Ordering.AcqRel)) if style == "object"
            else (lambda v: getattr(A, op)(cells.array, 0, v, Ordering.AcqRel)))

    def worker(t: int) -> None:
        for i in range(per):
            call(value(t, i))

    _join_all([threading.Thread(target=worker, args=(t,)) for t in range(threads)])
    ref = initial
    for t in range(threads):
        for i in range(per):
            ref = fold(ref, value(t, i))
    assert cells.load(0, Ordering.SeqCst) == ref


def test_python_swap_and_cas_threads_exact():
    cell, per = A.AtomicI64(0), 2_000 * STRESS
    seen: list[list[int]] = [[] for _ in range(4)]

    def swapper(t: int) -> None:
        for i in range(per):
            seen[t].append(cell.swap(t * per + i + 1, Ordering.AcqRel))

    _join_all([threading.Thread(target=swapper, args=(t,)) for t in range(4)])
    assert sorted(sum(seen, []) + [cell.load(Ordering.SeqCst)]) == list(range(4 * per + 1))

    counter = A.AtomicU64(0)

    def cas_incrementer() -> None:
        for _ in range(per):
            cur = counter.load(Ordering.Relaxed)
            while True:
                ok, cur = counter.compare_exchange_weak(cur, cur + 1, Ordering.AcqRel,
                                                        Ordering.Relaxed)
                if ok:
                    break

    _join_all([threading.Thread(target=cas_incrementer) for _ in range(4)])
    assert counter.load(Ordering.SeqCst) == 4 * per


def test_python_threads_and_numba_and_c_on_one_cell():
    cell = A.AtomicI64(0)
    _nogil_add(cell.array, 1, Ordering.Relaxed)  # compile before racing
    per = 20_000 * STRESS
    workers = [threading.Thread(target=_nogil_add, args=(cell.array, per, Ordering.Relaxed)),
               threading.Thread(target=A.c_loop_fetch_add, args=(cell, per, Ordering.SeqCst)),
               threading.Thread(target=lambda: [cell.fetch_add(1, Ordering.Relaxed)
                                                for _ in range(per // 10)])]
    _join_all(workers)
    assert cell.load(Ordering.SeqCst) == 1 + per + per + per // 10


# ----------------------------------------------------------------------------- semantics
@njit
def _one(cells, op_code, value):
    if op_code == 0:
        return A.fetch_add(cells, 0, value, Ordering.SeqCst)
    if op_code == 1:
        return A.fetch_sub(cells, 0, value, Ordering.SeqCst)
    if op_code == 2:
        return A.fetch_and(cells, 0, value, Ordering.SeqCst)
    if op_code == 3:
        return A.fetch_or(cells, 0, value, Ordering.SeqCst)
    if op_code == 4:
        return A.fetch_xor(cells, 0, value, Ordering.SeqCst)
    if op_code == 5:
        return A.fetch_max(cells, 0, value, Ordering.SeqCst)
    if op_code == 6:
        return A.fetch_min(cells, 0, value, Ordering.SeqCst)
    return A.swap(cells, 0, value, Ordering.SeqCst)


_REF = [lambda c, v: c + v, lambda c, v: c - v, lambda c, v: c & v, lambda c, v: c | v,
        lambda c, v: c ^ v, max, min, lambda c, v: v]
_NAMES = ["fetch_add", "fetch_sub", "fetch_and", "fetch_or", "fetch_xor", "fetch_max",
          "fetch_min", "swap"]


def _wrap(x: int, dtype: type) -> int:
    info, bits = np.iinfo(dtype), 8 * np.dtype(dtype).itemsize
    x %= 2 ** bits
    return x - 2 ** bits if info.min < 0 and x > info.max else x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", range(8))
def test_rmw_semantics_match_plain_python_numba_and_c(code, dtype):
    info = np.iinfo(dtype)
    cases = [(5, 3), (info.max, 1), (info.min, 1), (0, info.max), (info.max // 2 + 1, 7),
             (info.min + 1, info.max), (3, 0)]
    for start, value in cases:
        expected_new = _wrap(_REF[code](start, value), dtype)
        numba_cells = np.array([start], dtype)
        assert int(_one(numba_cells, code, dtype(value))) == start
        assert int(numba_cells[0]) == expected_new, (_NAMES[code], start, value)
        c_cells = np.array([start], dtype)
        assert getattr(A, _NAMES[code])(c_cells, 0, value, Ordering.SeqCst) == start
        assert int(c_cells[0]) == expected_new, (_NAMES[code], start, value)


@njit
def _cas(cells, current, new):
    return A.compare_exchange(cells, 0, current, new, Ordering.AcqRel, Ordering.Acquire)


@njit
def _cas_weak_until_success(cells, current, new):
    while True:
        ok, seen = A.compare_exchange_weak(cells, 0, current, new, Ordering.SeqCst,
                                           Ordering.Relaxed)
        if ok or seen != current:
            return ok, seen


@pytest.mark.parametrize("impl", ["numba", "numba_weak", "python", "object"])
def test_compare_exchange_semantics(impl):
    cells = np.array([10], np.int64)
    fn = {"numba": lambda cur, new: _cas(cells, cur, new),
          "numba_weak": lambda cur, new: _cas_weak_until_success(cells, cur, new),
          "python": lambda cur, new: A.compare_exchange(cells, 0, cur, new, O.AcqRel,
                                                        O.Acquire),
          "object": lambda cur, new: A.AtomicI64.at(cells, 0).compare_exchange(
              cur, new, O.AcqRel, O.Acquire)}[impl]
    ok, seen = fn(10, 11)
    assert (bool(ok), int(seen), int(cells[0])) == (True, 10, 11)
    ok, seen = fn(10, 12)  # fails: cell holds 11; nothing written; the value seen comes back
    assert (bool(ok), int(seen), int(cells[0])) == (False, 11, 11)


def test_load_store_and_objects():
    b = A.AtomicBool()
    assert b.load(O.Acquire) is False
    assert b.swap(True, O.AcqRel) is False and b.load(O.SeqCst) is True
    assert b.compare_exchange(True, False, O.AcqRel, O.Relaxed) == (True, True)
    assert b.fetch_or(True, O.Relaxed) is False and b.fetch_xor(True, O.Relaxed) is True
    assert b.load(O.Relaxed) is False and b.array.dtype == np.uint8
    with pytest.raises(TypeError, match="True or False"):
        b.store(1, O.Release)
    u = A.AtomicU64(0)
    assert u.fetch_sub(1, O.Relaxed) == 0 and u.load(O.Relaxed) == 2 ** 64 - 1
    assert u.fetch_max(5, O.Relaxed) == 2 ** 64 - 1  # unsigned: the huge value stays
    i = A.AtomicI64(-3)
    assert i.fetch_max(2, O.Relaxed) == -3 and i.fetch_min(-9, O.Relaxed) == 2
    assert i.load(O.Relaxed) == -9 and repr(i) == "AtomicI64(-9)"
    arr = A.AtomicArray(3, np.int32)
    arr.store(-1, 41, O.Release)
    assert arr.load(2, O.Acquire) == 41 and len(arr) == 3 and arr.dtype == np.int32
    assert bytes(arr.buffer)[8:12] == np.int32(41).tobytes()
    A.fence(O.SeqCst)
    A.spin_loop()


def test_numba_python_and_c_share_memory():
    arr = A.AtomicArray(4, np.uint64)
    _par_minmax(arr.array, np.array([7, 3, 9], np.uint64))
    assert arr.load(0, O.Acquire) == 9  # numba wrote, C reads
    arr.store(1, 123, O.Release)
    assert A.load(arr.array, 1, O.Relaxed) == 123
    strided = np.zeros(8, np.int64)[::2]  # views work: same cells as the base array
    view = A.AtomicArray(strided)
    view.fetch_add(3, 5, O.Relaxed)
    assert strided.base[6] == 5
    cell = A.AtomicI64.at(strided.base, 6)
    _nogil_add(cell.array, 10, O.SeqCst)
    assert strided[3] == 15 and cell.address == strided.base.ctypes.data + 48


# ----------------------------------------------------------------------------- errors
BAD_PY = [
    (lambda a: A.load(a, 0, O.Release), "a load cannot use Ordering.Release"),
    (lambda a: A.load(a, 0, O.AcqRel), "a load cannot use Ordering.AcqRel"),
    (lambda a: A.store(a, 0, 1, O.Acquire), "a store cannot use Ordering.Acquire"),
    (lambda a: A.store(a, 0, 1, O.AcqRel), "a store cannot use Ordering.AcqRel"),
    (lambda a: A.compare_exchange(a, 0, 0, 1, O.SeqCst, O.Release),
     "failure ordering cannot be Ordering.Release"),
    (lambda a: A.compare_exchange(a, 0, 0, 1, O.AcqRel, O.AcqRel),
     "failure ordering cannot be Ordering.AcqRel"),
    (lambda a: A.fence(O.Relaxed), "a fence cannot be Ordering.Relaxed"),
]


@pytest.mark.parametrize("case", range(len(BAD_PY)))
def test_ordering_rules_python(case):
    fn, message = BAD_PY[case]
    with pytest.raises(ValueError, match=message):
        fn(np.zeros(1, np.int64))
    obj = A.AtomicI64(0)
    if "load" in message:
        with pytest.raises(ValueError, match=message):
            obj.load(O[message.split(".")[-1]])


@njit
def _bad_load(a):
    return A.load(a, 0, Ordering.Release)


@njit
def _bad_load_acqrel(a):
    return A.load(a, 0, Ordering.AcqRel)


@njit
def _bad_store(a):
    A.store(a, 0, 1, Ordering.Acquire)


@njit
def _bad_store_acqrel(a):
    A.store(a, 0, 1, Ordering.AcqRel)


@njit
def _bad_cas(a):
    return A.compare_exchange(a, 0, 0, 1, Ordering.SeqCst, Ordering.Release)


@njit
def _bad_cas_acqrel(a):
    return A.compare_exchange_weak(a, 0, 0, 1, Ordering.AcqRel, Ordering.AcqRel)


@njit
def _bad_fence():
    A.fence(Ordering.Relaxed)


@njit
def _int_order(a):
    return A.fetch_add(a, 0, 1, 4)


@pytest.mark.parametrize("case", range(len(BAD_PY)))
def test_ordering_rules_numba_same_message(case):
    fn = [_bad_load, _bad_load_acqrel, _bad_store, _bad_store_acqrel, _bad_cas,
          _bad_cas_acqrel, _bad_fence][case]
    args = () if fn is _bad_fence else (np.zeros(1, np.int64),)
    with pytest.raises(numba.core.errors.TypingError, match=BAD_PY[case][1]):
        fn(*args)


def test_orderings_are_checked_types():
    with pytest.raises(TypeError, match="Ordering member"):
        A.fetch_add(np.zeros(1, np.int64), 0, 1, 4)
    with pytest.raises(numba.core.errors.TypingError, match="Ordering member"):
        _int_order(np.zeros(1, np.int64))
    # Failure may be stronger than success (Rust >= 1.64).
    assert A.compare_exchange(np.zeros(1, np.int64), 0, 0, 1, O.Relaxed, O.SeqCst) == (True, 0)


@njit
def _at(a, i):
    return A.fetch_add(a, i, 1, Ordering.Relaxed)


@njit
def _at_unchecked(a, i):
    return A.fetch_add_unchecked(a, i, 1, Ordering.Relaxed)


@njit(parallel=True)
def _at_prange(a, n):
    for i in prange(n):
        A.fetch_add(a, i, 1, Ordering.Relaxed)


def test_index_checks():
    a = np.zeros(4, np.int64)
    for bad in (4, -5, 10 ** 6):
        with pytest.raises(IndexError, match="index out of range"):
            _at(a, bad)
        with pytest.raises(IndexError, match="out of range"):
            A.fetch_add(a, bad, 1, O.Relaxed)
    _at(a, -1)
    _at_unchecked(a, 2)
    assert a.tolist() == [0, 0, 1, 1]
    # Inside prange numba reports IndexError as a SystemError caused by it (its own bounds
    # checks do the same); what matters is that no memory is touched and nothing crashes.
    with pytest.raises((IndexError, SystemError)) as info:
        _at_prange(a, 1000)
    chain = [info.value, info.value.__cause__, info.value.__context__]
    assert any(isinstance(e, IndexError) for e in chain)


def test_bad_arrays():
    with pytest.raises(TypeError, match="arrays of"):
        A.AtomicArray(np.zeros(2, np.float64))
    with pytest.raises(ValueError, match="1-D"):
        A.fetch_add(np.zeros((2, 2), np.int64), 0, 1, O.Relaxed)
    ro = np.zeros(2, np.int64)
    ro.flags.writeable = False
    assert A.load(ro, 0, O.Relaxed) == 0
    with pytest.raises(ValueError, match="read-only"):
        A.store(ro, 0, 1, O.Relaxed)
    with pytest.raises(TypeError, match="AtomicI64.at needs an array of int64"):
        A.AtomicI64.at(np.zeros(2, np.int32))
    with pytest.raises(OverflowError):
        A.AtomicArray(2, np.int32).store(0, 2 ** 40, O.Relaxed)

    @njit
    def float_cell(a):
        return A.fetch_add(a, 0, 1, Ordering.Relaxed)

    with pytest.raises(numba.core.errors.TypingError, match="1-D arrays of"):
        float_cell(np.zeros(2))


# ----------------------------------------------------------------------------- codegen
@njit
def _orders(a):
    x = A.load(a, 0, Ordering.Acquire)
    A.store(a, 1, x, Ordering.Release)
    A.fetch_add(a, 2, 1, Ordering.Relaxed)
    A.compare_exchange(a, 3, 0, 1, Ordering.AcqRel, Ordering.Acquire)
    A.compare_exchange_weak(a, 3, 0, 1, Ordering.Release, Ordering.Relaxed)
    A.fence(Ordering.SeqCst)
    A.spin_loop()
    return A.fetch_max(a, 0, 5, Ordering.SeqCst)


def test_llvm_ir_honours_each_ordering():
    ir = "\n".join(A.show_llvm(_orders, (numba.int64[:],)))
    assert "load atomic i64" in ir and " acquire" in ir
    assert "store atomic i64" in ir and " release" in ir
    assert "atomicrmw add" in ir and "monotonic" in ir
    assert "acq_rel acquire" in ir
    assert "cmpxchg weak" in ir and "release monotonic" in ir
    assert "fence seq_cst" in ir
    counts = A.atomic_instructions(_orders, (numba.int64[:],))
    assert counts.get("atomicrmw add") == 1 and counts.get("fence") == 1


@pytest.mark.skipif(not X86, reason="x86 machine code")
def test_show_asm_finds_lock_xadd_on_x86():
    @njit(cache=False)
    def bump(a):
        return A.fetch_add(a, 0, 1, Ordering.SeqCst)

    lines = A.show_asm(bump, (numba.int64[:],))
    assert any("lock" in ln and "xadd" in ln for ln in lines), lines
    assert not any("decq" in ln for ln in lines)  # numba's refcounting is filtered out
    assert A.show_asm(_orders, (numba.int64[:],), grep=None)  # the whole listing
    with pytest.raises(ValueError, match="not been compiled"):
        A.show_asm(njit(lambda a: a))
    with pytest.raises(TypeError, match="numba-jitted"):
        A.show_asm(len)


def test_cache_true_works_in_a_fresh_process(tmp_path):
    module = tmp_path / "cached_atomics_mod.py"
    module.write_text(textwrap.dedent("""
        import numpy as np
        from numba import njit
        from course_lib.atomics import Ordering, fetch_add, compare_exchange

        @njit(cache=True)
        def bump(a, n, order):
            for _ in range(n):
                fetch_add(a, 0, 1, order)
            return compare_exchange(a, 0, n, -1, Ordering.AcqRel, Ordering.Acquire)

        if __name__ == "__main__":
            a = np.zeros(1, np.int64)
            print(bump(a, 5, Ordering.Relaxed), a[0], bump.stats.cache_hits)
    """))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    outs = [subprocess.run([sys.executable, str(module)], capture_output=True, text=True,
                           env=env, timeout=120, cwd=tmp_path) for _ in range(2)]
    for out in outs:
        assert out.returncode == 0, out.stderr
    assert outs[0].stdout.split()[-1] == "Counter()"  # compiled
    assert "(True, 5) -1" in outs[1].stdout and "Counter()" not in outs[1].stdout  # loaded
