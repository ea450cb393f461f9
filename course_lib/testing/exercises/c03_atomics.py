"""Checkers for the atomics chapter (c03): each raises AssertionError with a message that teaches.

1. :func:`check_parallel_histogram`: a ``prange`` histogram fixed with ``fetch_add``. A lucky,
   serialised or "folded" answer cannot pass: the counts must be exact over several runs with
   heavy contention, the function must be compiled with ``parallel=True`` and really contain a
   parallel loop (a ``__numba_parfor_gufunc`` in its LLVM IR), and its IR must contain an
   atomic add. (With ``NUMBA_NUM_THREADS=1`` the threads cannot race; the check says so on
   stdout and grades the rest.)
2. :func:`check_fetch_max`: ``fetch_max`` written as a compare_exchange loop: exact against
   Python on tricky cases, exact under ``prange`` contention, a ``cmpxchg`` in the IR and no
   ready-made ``atomicrmw max``.
3. :func:`check_one_shot`: a release/acquire flag handing data to another thread: the IR must
   show a Release (or stronger) store and an Acquire (or stronger) load (x86 would hide a
   Relaxed mistake at run time); running the Python source with recording atomics must show
   those orderings on the *flag* (its last store, the load that saw 1, or a fence before /
   after them), not on ``data``; both functions ``nogil``; and many hand-overs between two
   real threads must deliver the data, each bounded by a timeout.
4. :func:`check_prediction`: a set of outcomes for a litmus test under SC or TSO, compared with
   :func:`course_lib.atomics.litmus.allowed`, with the reason for each missing or extra outcome.

Every check silences numba's performance warnings (anything on stderr zeroes a graded cell)
and bounds every wait.
"""
from __future__ import annotations

import re
import threading
import warnings
from typing import Any, Callable

import numpy as np

from course_lib import atomics, par
from course_lib.atomics.litmus import TESTS, allowed
from course_lib.measure.machine import usable_cores
from course_lib.testing import call_with_timeout
from course_lib.testing.delegation import answers
from course_lib.testing.exercises import seal

__all__ = ["check_parallel_histogram", "check_fetch_max", "check_one_shot", "check_prediction", "outcomes",
           "REASONS"]


def _require_numba(fn: Any, name: str) -> None:
    if not (hasattr(fn, "py_func") and hasattr(fn, "targetoptions")):
        raise AssertionError(f"{name} should be a numba function: put @njit(...) above it "
                             f"(got {type(fn).__name__})")


def _llvm(fn: Any, signature: tuple, grep: str | None = "auto") -> list[str]:
    from course_lib.atomics import show_llvm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return show_llvm(fn, signature, grep=grep)


def _quiet(fn: Callable, *args: Any, timeout: float = 30.0, what: str | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call_with_timeout(fn, *args, timeout=timeout, what=what)


# ----------------------------------------------------------------------------- 1. histogram
@answers("histogram", par.histogram_thread_partials, par.histogram_chunk_partials,
         par.histogram_sequential, par.histogram_racy, np.bincount, np.histogram)
def check_parallel_histogram(fn: Callable, runs: int = 5, n: int = 200_000) -> None:
    """Check ``fn(data, bins)``: add 1 to ``bins[data[i]]`` for every i, in a parallel loop.

    Args:
        fn: the learner's ``@njit(parallel=True)`` function; ``data`` is int64 bin numbers,
            ``bins`` an int64 array of counters it must update in place.
        runs: how many random inputs (all must be exact).
        n: items per input (few bins, so threads collide constantly).
    Raises:
        AssertionError: wrong or lost counts, no parallel loop, or no atomic add in the
            compiled code. With only one numba thread (``NUMBA_NUM_THREADS=1``) the check says
            so on stdout and grades the rest.
    Example:
        >>> check_parallel_histogram(histogram)      # doctest: +SKIP
    """
    import numba

    name = getattr(fn, "__name__", "your function")
    _require_numba(fn, name)
    if not fn.targetoptions.get("parallel"):
        raise AssertionError(f"{name} must be compiled with @njit(parallel=True) and loop with "
                             "prange: the point is many threads updating the bins at once")
    # numba's thread count is per thread, and the learner's function runs on a helper thread
    # (call_with_timeout), which gets NUMBA_NUM_THREADS whatever the notebook's thread set: so
    # judge the count the helper really uses, and only report it (a machine started with
    # NUMBA_NUM_THREADS=1 is no fault of the answer; the IR checks below still need a parallel
    # loop and an atomic add).
    threads = _quiet(numba.get_num_threads, what="numba.get_num_threads")
    if threads < 2:
        print(f"note: numba runs this check on {threads} thread (NUMBA_NUM_THREADS="
              f"{numba.config.NUMBA_NUM_THREADS}, {usable_cores()} usable cores), so the threads "
              "cannot race here; the counts and the compiled code are still checked.")
    rng = np.random.default_rng(2024)
    for run in range(runs):
        k = (2, 3, 8, 1, 5)[run % 5]
        data = rng.integers(0, k, size=n, dtype=np.int64)
        bins = np.zeros(k, np.int64)
        _quiet(fn, data, bins, what=name)
        expected = np.bincount(data, minlength=k)
        if not np.array_equal(bins, expected):
            lost = int(expected.sum() - bins.sum())
            detail = (f"your bins lost {lost:,} increments of {n:,}: two threads read the same "
                      "old count, both added 1 and both wrote it back, so one +1 vanished. "
                      "Use fetch_add(bins, data[i], 1, Ordering.Relaxed)" if lost > 0 else
                      f"your bins are {bins.tolist()}, expected {expected.tolist()}")
            raise AssertionError(f"run {run + 1} with {k} bins: {detail}")
    signature = fn.signatures[0]
    if not _llvm(fn, signature, grep=r"__numba_parfor_gufunc"):
        raise AssertionError(f"{name} has no parallel loop: numba compiled it to run on one "
                             "thread. Loop with `for i in prange(len(data)):`")
    atomics = "\n".join(_llvm(fn, signature))
    if "atomicrmw add" not in atomics:
        raise AssertionError(f"the counts are right, but {name} contains no atomic add: it is "
                             "correct by luck or by serialising. Each increment must be one "
                             "atomic read-modify-write: fetch_add(bins, data[i], 1, "
                             "Ordering.Relaxed)")


# ----------------------------------------------------------------------------- 2. fetch_max
def _apply_kernel() -> Callable:
    from numba import njit, prange

    @njit(parallel=True)
    def apply(fn, cells, values, olds):  # every iteration races on cells[0]
        for k in prange(values.size):
            olds[k] = fn(cells, 0, values[k])
    return apply


_APPLY: list[Callable] = []


@answers("my_fetch_max", atomics.fetch_max, atomics.fetch_max_unchecked)
def check_fetch_max(fn: Callable, n: int = 100_000) -> None:
    """Check ``fn(cells, i, value) -> old``: atomically raise ``cells[i]`` to at least ``value``.

    The contended part needs the learner's function to accept an int64 array, an int
    index and an int64 value, as in the exercise's signature.

    Args:
        fn: the learner's ``@njit`` function, built on compare_exchange (or _weak) in a loop;
            it must return the value the cell held before (like Rust's ``fetch_max``).
        n: contended updates in the parallel part of the check.
    Raises:
        AssertionError: a wrong result or return value, a lost update under contention, no
            ``cmpxchg`` in the compiled code, or the ready-made ``fetch_max`` used.
    Example:
        >>> check_fetch_max(my_fetch_max)      # doctest: +SKIP
    """
    name = getattr(fn, "__name__", "your function")
    _require_numba(fn, name)
    cases = [(5, 9), (9, 5), (7, 7), (-3, -8), (-8, -3), (0, -1), (2 ** 62, 2 ** 63 - 1),
             (-(2 ** 63), 0)]
    for start, value in cases:
        cells = np.array([123, start, 456], np.int64)
        old = _quiet(fn, cells, 1, np.int64(value), what=name)
        if int(old) != start:
            raise AssertionError(f"{name}(cells, 1, {value}) with cells[1] == {start} returned "
                                 f"{old}; it must return the value before the update, {start}")
        if int(cells[1]) != max(start, value):
            raise AssertionError(f"after {name}(cells, 1, {value}) with cells[1] == {start}, "
                                 f"cells[1] is {cells[1]}; expected max = {max(start, value)}")
        if cells[0] != 123 or cells[2] != 456:
            raise AssertionError(f"{name} changed cells other than index 1: {cells.tolist()}")
    uses = set(fn.py_func.__code__.co_names)
    if uses & {"fetch_max", "fetch_max_unchecked"}:
        raise AssertionError("that is the ready-made fetch_max: write the compare_exchange loop "
                             "yourself (load, then retry compare_exchange until it succeeds or "
                             "the cell is already big enough)")
    ir = "\n".join(_llvm(fn, fn.signatures[0]))
    if "cmpxchg" not in ir:
        raise AssertionError(f"{name} has no compare_exchange in its compiled code: a plain "
                             "read-then-write loses updates when another thread writes in "
                             "between")
    _check_fetch_max_contended(fn, name, n)


def _check_fetch_max_contended(fn: Callable, name: str, n: int) -> None:
    """Race the threads of a prange loop on one cell and check what a linearizable
    fetch_max guarantees: each thread runs a contiguous chunk of iterations in order, so once
    its operation with value v has returned, the cell is >= v for ever; the next operation of
    the same thread must therefore return at least v. Only the first iteration of each chunk
    (at most threads - 1 places) may see less. The values interleave between the chunks
    (chunk c holds c, c + T, c + 2T, ...), so the threads keep overtaking each other."""
    import numba

    if not _APPLY:
        _APPLY.append(_apply_kernel())

    def race() -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
        # On the thread that runs the kernel: numba's thread count is per thread, and the
        # chunk boundaries below must be the ones the prange loop really uses.
        threads = numba.get_num_threads()
        chunk = n // threads
        total = chunk * threads
        values = (np.arange(chunk, dtype=np.int64)[None, :] * threads
                  + np.arange(threads, dtype=np.int64)[:, None]).reshape(-1)
        cells, olds = np.array([-1], np.int64), np.empty(total, np.int64)
        _APPLY[0](fn, cells, values, olds)
        return threads, total, values, cells, olds

    for _ in range(3):
        threads, total, values, cells, olds = _quiet(race, what=name)
        if cells[0] != total - 1:
            raise AssertionError(f"under contention the maximum of 0..{total - 1} ended as "
                                 f"{cells[0]}: an update was lost (a thread gave up or "
                                 "overwrote a bigger value it had not seen). Retry while "
                                 "compare_exchange fails and the cell is still smaller")
        stale = int(np.count_nonzero(olds[1:] < values[:-1]))
        if stale > threads - 1:
            raise AssertionError(f"{stale:,} times, a thread's fetch_max returned less than "
                                 "the value its own previous call had installed: that update "
                                 "was lost (another thread's smaller write won and nobody "
                                 "retried). Retry while compare_exchange fails and the cell "
                                 "is still smaller")


# ----------------------------------------------------------------------------- 3. one-shot flag
# A releasing write of the flag: a Release store, or a read-modify-write (swap, CAS, fetch_*)
# that releases; an acquiring read likewise. The Python trace below says which array it touches.
_STORE = re.compile(r"(store atomic|cmpxchg|atomicrmw) .* (release|acq_rel|seq_cst)")
_LOAD = re.compile(r"(load atomic|cmpxchg|atomicrmw) .* (acquire|acq_rel|seq_cst)")


def check_one_shot(publish: Callable, consume: Callable, rounds: int = 200) -> None:
    """Check a one-shot hand-over: ``publish(data, flag, value)`` and ``consume(data, flag)``.

    ``publish`` writes ``value`` to ``data[0]`` (a plain write) and then sets ``flag[0]`` to 1
    with a Release store; ``consume`` spins until an Acquire load of ``flag[0]`` sees 1, then
    returns ``data[0]``. Both ``@njit(nogil=True)``.

    Args:
        publish, consume: the learner's functions.
        rounds: hand-overs between two threads, each with fresh arrays.
    Raises:
        AssertionError: missing nogil, an ordering too weak or on the wrong array (checked in
            the compiled code and the recorded Python run: x86 would hide it at run time), a
            wrong value, or a hang (timeout).
    Example:
        >>> check_one_shot(publish, consume)      # doctest: +SKIP
    """
    for f, name in ((publish, "publish"), (consume, "consume")):
        _require_numba(f, name)
        if not f.targetoptions.get("nogil"):
            raise AssertionError(f"{name} must be @njit(nogil=True): a spinning consume that "
                                 "holds the GIL would never let publish run")
    data, flag = np.zeros(1, np.int64), np.zeros(1, np.int64)
    _quiet(publish, data, flag, np.int64(42), what="publish", timeout=10)
    got = _quiet(consume, data, flag, what="consume (flag already set)", timeout=10)
    if int(got) != 42 or int(flag[0]) != 1:
        raise AssertionError(f"after publish(data, flag, 42): flag[0] == {flag[0]}, consume "
                             f"returned {got}; expected flag 1 and value 42")
    pub_ir = "\n".join(_llvm(publish, publish.signatures[0]))
    con_ir = "\n".join(_llvm(consume, consume.signatures[0]))
    if not _STORE.search(pub_ir) and not re.search(r"fence (release|acq_rel|seq_cst)", pub_ir):
        raise AssertionError("publish sets the flag without Release ordering: another thread "
                             "could see flag == 1 and still read the old data[0] (on ARM it "
                             "does; x86 hides it). store(flag, 0, 1, Ordering.Release)")
    if not _LOAD.search(con_ir) and not re.search(r"fence (acquire|acq_rel|seq_cst)", con_ir):
        raise AssertionError("consume reads the flag without Acquire ordering: seeing flag == 1 "
                             "does not then guarantee seeing data[0]. load(flag, 0, "
                             "Ordering.Acquire)")
    _check_orderings_on_flag(publish, consume)
    for r in range(rounds):
        data, flag = np.zeros(1, np.int64), np.zeros(1, np.int64)
        box: dict[str, Any] = {}
        reader = threading.Thread(target=lambda: box.setdefault("v", consume(data, flag)),
                                  daemon=True)
        reader.start()
        _quiet(publish, data, flag, np.int64(1000 + r), what="publish", timeout=10)
        reader.join(10)
        if reader.is_alive():
            raise AssertionError(f"round {r + 1}: consume still spinning 10 s after publish set "
                                 "the flag: does consume re-load the flag on every turn?")
        if box.get("v") != 1000 + r:
            raise AssertionError(f"round {r + 1}: consume returned {box.get('v')}, expected "
                                 f"{1000 + r}")


_RELEASING = ("Release", "AcqRel", "SeqCst")
_ACQUIRING = ("Acquire", "AcqRel", "SeqCst")


def _trace(fn: Any, *args: Any) -> list[tuple[str, tuple]] | None:
    """Run ``fn``'s Python source with course_lib.atomics' operations replaced by recorders.

    Returns the ``(operation name, arguments)`` of every atomic operation in call order, or
    None when the Python version could not run (then only the compiled code is judged). The
    recorders call the real operations, so the run behaves like the compiled one.
    """
    import types

    from course_lib import atomics

    events: list[tuple[str, tuple]] = []

    def recorder(name: str, real: Callable) -> Callable:
        def op(*a: Any) -> Any:
            events.append((name, a))
            return real(*a)
        return op

    names = [n for n in atomics.__all__ if n == "fence" or n.startswith(("load", "store", "swap",
                                                                       "fetch_", "compare_"))]
    stubs = {n: recorder(n, getattr(atomics, n)) for n in names}
    by_id = {id(getattr(atomics, n)): n for n in names}
    module = types.SimpleNamespace(**{**vars(atomics), **stubs})
    py = fn.py_func
    scope = dict(py.__globals__)
    for key, value in py.__globals__.items():
        if id(value) in by_id:
            scope[key] = stubs[by_id[id(value)]]
        elif value is atomics:
            scope[key] = module
    clone = types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__, py.__closure__)
    try:
        _quiet(clone, *args, timeout=10)
    except Exception:  # numba-only constructs, a timeout: fall back on the compiled code alone
        return None
    return events


def _orders(args: tuple) -> list[str]:
    from course_lib.atomics import Ordering

    return [a.name for a in args if isinstance(a, Ordering)]


def _check_orderings_on_flag(publish: Callable, consume: Callable) -> None:
    """The Release must be on the flag's store and the Acquire on the flag's load (or fences
    placed before that store / after that load): the compiled code shows orderings, not which
    array they touch, so the Python source is run with recording atomics."""
    data, flag = np.zeros(1, np.int64), np.zeros(1, np.int64)
    events = _trace(publish, data, flag, np.int64(42))
    if events:
        writes = [k for k, (op, a) in enumerate(events)
                  if a and a[0] is flag and not op.startswith(("load", "fence"))]
        if not writes:
            raise AssertionError("publish never writes flag[0] with an atomic store: set it with "
                                 "store(flag, 0, 1, Ordering.Release). An ordering on data[0] "
                                 "does not help: consume's Acquire load of the flag pairs only "
                                 "with a Release store of the flag")
        last = writes[-1]
        order = (_orders(events[last][1]) or ["?"])[0]
        fenced = any(op == "fence" and set(_orders(a)) & set(_RELEASING)
                     for op, a in events[:last])
        if order not in _RELEASING and not fenced:
            raise AssertionError(f"publish stores the flag with Ordering.{order}: the Release "
                                 "belongs on the flag's store, the write that consume waits "
                                 "for (a Release on data[0] orders nothing that consume "
                                 "checks). store(flag, 0, 1, Ordering.Release)")
    data, flag = np.array([42], np.int64), np.ones(1, np.int64)
    events = _trace(consume, data, flag)
    if events:
        reads = [k for k, (op, a) in enumerate(events) if a and a[0] is flag]
        if not reads:
            raise AssertionError("consume never reads flag[0] with an atomic load: spin on "
                                 "load(flag, 0, Ordering.Acquire)")
        last = reads[-1]
        fenced = any(op == "fence" and set(_orders(a)) & set(_ACQUIRING)
                     for op, a in events[last + 1:])
        if not set(_orders(events[last][1])) & set(_ACQUIRING) and not fenced:
            order = (_orders(events[last][1]) or ["?"])[0]
            raise AssertionError(f"consume loads the flag with Ordering.{order}: the Acquire "
                                 "belongs on the flag's load, the one that sees 1 (an Acquire "
                                 "on data[0] comes too late to order anything). "
                                 "load(flag, 0, Ordering.Acquire)")


# ----------------------------------------------------------------------------- 4. predictions
REASONS = {
    ("SB", (0, 0), "TSO"): "both stores can still sit in their store buffers when the loads "
                           "read memory",
    ("SB", (0, 0), "SC"): "in any interleaving one store comes first, and the other thread's "
                          "load comes after it",
    ("MP", (1, 0), "TSO"): "stores leave a TSO store buffer in order and loads are not "
                           "reordered, so seeing y == 1 means x == 1 is visible",
    ("MP", (1, 0), "SC"): "if y == 1 was read, x = 1 came before it",
    ("LB", (1, 1), "TSO"): "a load is never delayed past a later store in TSO, so neither load "
                           "can see the other thread's later store",
    ("LB", (1, 1), "SC"): "each load would have to come after the other thread's store, which "
                          "comes after its load: a cycle",
    ("2+2W", (1, 1), "TSO"): "each thread's two stores reach memory in program order",
    ("2+2W", (1, 1), "SC"): "the last write to x and the last write to y would form a cycle",
    ("IRIW", (1, 0, 1, 0), "TSO"): "memory is one place: every reader sees the writes in the "
                                   "same order",
    ("IRIW", (1, 0, 1, 0), "SC"): "the two readers would see the writes in opposite orders",
}


def outcomes(answer: Any, width: int, test: str = "the test") -> set[tuple[int, ...]]:
    """Read a predicted set of outcomes written in any reasonable way, as a set of int tuples.

    Accepted: a set, frozenset, list or tuple of outcomes, each a tuple, list or NumPy array of
    ``width`` integers. Refused, with a message saying what is required: an outcome
    written as a set (``{0, 1}`` cannot say which register read which value), a bare string, a
    mapping, a wrong number of values.

    Example:
        >>> sorted(outcomes([[0, 1], (1, 0)], 2))
        [(0, 1), (1, 0)]
    """
    need = (f"write {test}'s outcomes as a set of tuples in register order, e.g. {{(0, 1), (1, 0)}}"
            if width == 2 else f"write {test}'s outcomes as a set of {width}-tuples in register order")
    if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__iter__"):
        raise AssertionError(f"{need}; got {answer!r}")
    given = set()
    for o in answer:
        if isinstance(o, (set, frozenset, dict, str, bytes)) or not hasattr(o, "__len__"):
            raise AssertionError(f"{need}: each outcome is an ordered tuple; {o!r} is not "
                                 "(a set cannot say which register read which value)")
        try:
            values = tuple(int(v) for v in o)
        except (TypeError, ValueError):
            raise AssertionError(f"{need}: the values of an outcome are integers, got {o!r}") from None
        if len(values) != width:
            raise AssertionError(f"{need}: each outcome has {width} values; got {o!r}")
        given.add(values)
    return given


def check_prediction(test: str, model: str, answer: Any) -> None:
    """Check a predicted set of outcomes of a litmus test under a memory model.

    Args:
        test: a name from :data:`course_lib.atomics.litmus.TESTS` (``"SB"``, ``"MP"``, ...).
        model: ``"SC"`` or ``"TSO"``.
        answer: a collection (set, list, tuple) of outcomes such as ``{(0, 1), (1, 0)}``; an
            outcome is any sequence of ints (a tuple, a list, a NumPy array), in register order.
    Raises:
        AssertionError: naming the outcomes missing or wrongly included, with why.
    Example:
        >>> check_prediction("SB", "SC", {(0, 1), (1, 0), (1, 1)})
    """
    if test not in TESTS:
        raise AssertionError(f"unknown test {test!r}; the tests are {tuple(TESTS)}")
    width = len(TESTS[test].observables)
    given = outcomes(answer, width, test)
    truth = allowed(test, model)
    missing, extra = sorted(truth - given), sorted(given - truth)
    lines = []
    for o in missing:
        why = REASONS.get((test, o, model), "some execution of the model produces it")
        lines.append(f"{o} is possible under {model}: {why}")
    for o in extra:
        why = REASONS.get((test, o, model), "no execution of the model produces it")
        lines.append(f"{o} is not possible under {model}: {why}")
    if lines:
        raise AssertionError(f"{test} under {model}:\n  " + "\n  ".join(lines))


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_parallel_histogram", "check_prediction", "check_one_shot", "check_fetch_max", "outcomes",)
seal(__name__)
