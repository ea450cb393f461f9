"""Checkers for chapter c01_par_iter: a ``prange`` reduction, a race-free histogram, a ``join``
tree sum, and choosing a chunk size from a measurement.

How "really parallel" is judged on a machine that may be shared and noisy:

1. Structure: the function is a numba dispatcher compiled with ``parallel=True`` and numba turned
   at least one loop into a *parfor* (a loop it can split over threads).
2. Gain: in the same run, the learner's function and a correct parallel kernel doing the same
   kind of work are timed on 1 thread and on all threads, interleaved. The learner's speedup must
   reach half of the reference's gain. A busy machine slows both alike; if even the reference
   cannot gain 1.5x, only the structure is graded. (Per-thread CPU time would be a tempting
   measure, but OpenMP workers spin-wait after a parallel region and bill CPU time without
   doing work.)
3. With one usable core (or one numba thread) only correctness is graded.

Thread-safety: the checkers change numba's thread count for the calling thread and restore it.
"""
from __future__ import annotations

import operator

import time
import warnings

import numpy as np

from course_lib import par
from course_lib.par.demos import random_tree, tree_sum_sequential
from course_lib.par.kernels import sum_prange
from course_lib.testing import call_with_timeout, check_close, check_raises
from course_lib.testing.delegation import answers
from course_lib.testing.exercises import seal

__all__ = ["check_parallel_structure", "parallel_gain", "check_work_is_split",
           "check_prange_reduction", "check_histogram_fixed", "check_tree_sum",
           "check_pick_chunk_size", "reference_pick_chunk_size"]


def _numba_threads() -> int:
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def _numba_version() -> str:
    import numba

    return str(getattr(numba, "__version__", "?"))


def _usable() -> int:
    from course_lib.measure.machine import usable_cores

    return usable_cores()


def check_parallel_structure(fn, name: str, data_arg: int | None = None) -> None:
    """Assert that ``fn`` is a numba function compiled with ``parallel=True`` whose work loop is
    a ``prange``.

    With ``data_arg`` (the position of the input array), the check looks at *the loop that does
    the work*: some ``prange`` loop of the learner's must read that array (directly, through an
    alias or a slice, or through an array that a parallel array expression computed from it).
    A serial loop over the data followed by a ``prange`` that only copies or combines the result
    fails, and so does a serial whole-array call (``np.bincount(data)``) before such a copy.
    Loops that numba made from ``np.zeros(...)`` and the like never count.

    Call it after ``fn`` has been called at least once (so that it is compiled). If this numba
    keeps its parfor diagnostics somewhere else, a note goes to stdout and the structure is not
    judged.

    Raises:
        AssertionError: naming what is missing (also when ``fn`` was never compiled).
    """
    options = getattr(fn, "targetoptions", None)
    if options is None:
        raise AssertionError(f"{name} should be a numba function: put @njit(parallel=True) above it")
    if not options.get("parallel"):
        raise AssertionError(f"{name} is compiled without parallel=True, so prange runs like range: "
                             "use @njit(parallel=True)")
    overloads = getattr(fn, "overloads", None) or {}
    if not overloads:
        raise AssertionError(f"{name} has not been compiled yet, so its loops cannot be "
                             f"inspected: call {name} once (on a small input) before checking it")
    any_prange = reads_data = False
    try:
        for cres in overloads.values():
            diag = cres.metadata["parfor_diagnostics"]
            loops = [p for p in diag.get_parfors() if _is_user_prange(p)]
            any_prange = any_prange or bool(loops)
            if data_arg is not None and loops:
                derived = _derived_from_arg(diag.func_ir, data_arg)
                reads_data = reads_data or any(_reads(p, derived) for p in loops)
    except (AttributeError, KeyError, TypeError, IndexError):
        # This numba version keeps its parfor diagnostics elsewhere: say so (stdout, never
        # stderr, which zeroes a graded cell).
        print(f"note: could not read numba {_numba_version()}'s parallel-loop diagnostics, "
              f"so whether {name} has a prange loop is not judged")
        return
    if not any_prange:
        raise AssertionError(f"numba found no prange loop in {name} (filling a new array with "
                             "zeros, or an array expression, does not count): write the main loop "
                             "as `for i in prange(n):` (from numba import prange)")
    for cres in overloads.values():
        for parfor in cres.metadata["parfor_diagnostics"].get_parfors():
            racy = _racy_updates(parfor) if _is_user_prange(parfor) else []
            if racy:
                where = ", ".join(f"`{array}[...]` (line {line})" for array, line in racy)
                raise AssertionError(
                    f"{name}'s prange loop updates {where} in place at an index that depends "
                    "neither on the loop variable nor on the thread: two threads can read the same "
                    "old value and both write back old + 1, so updates are lost (a data race; it "
                    "may not show in a run, but it is there). Give each thread or chunk its own "
                    "row of partial results and combine them after the loop")
    if data_arg is not None and not reads_data:
        arg = fn.py_func.__code__.co_varnames[data_arg]
        raise AssertionError(f"{name} has a prange loop, but no prange loop reads `{arg}`: the "
                             f"work over `{arg}` runs serially (a plain loop, or a NumPy call such "
                             "as np.bincount) and the prange only copies or combines the result. "
                             f"Make the loop over `{arg}` itself the prange (or a prange over "
                             "chunks of it)")
    for cres in overloads.values():
        diag = cres.metadata["parfor_diagnostics"]
        trips = [_constant_trip_count(diag.func_ir, p) for p in diag.get_parfors() if _is_user_prange(p)]
        if trips and all(t is not None and t < 2 for t in trips):
            short = max(trips)
            raise AssertionError(
                f"{name}'s prange loop has {short} iteration{'s' * (short != 1)}, so one thread "
                "does all of its work: split the data itself over the prange "
                "(`for i in prange(len(x))`, or a prange over several chunks)")


def _constant_trip_count(func_ir, parfor) -> int | None:
    """The outer loop's iteration count when it is a constant (``prange(1)``), else None."""
    from numba.core import ir

    nest = parfor.loop_nests[0]
    values = []
    for bound in (nest.start, nest.stop):
        if isinstance(bound, int):
            values.append(bound)
            continue
        try:
            definition = func_ir.get_definition(bound)
        except Exception:  # not a single definition: not a constant
            return None
        if not isinstance(definition, ir.Const) or not isinstance(definition.value, int):
            return None
        values.append(definition.value)
    return max(0, values[1] - values[0])


def _is_user_prange(parfor) -> bool:
    """A loop the learner wrote with prange (fused or not), as opposed to one numba made from
    an allocation (``np.zeros``) or an array expression."""
    return any(p[0] == "prange" and len(p) > 1 and p[1] == "user" for p in (parfor.patterns or ()))


# Attributes that give a view of the same data; shape, size, dtype... are only metadata.
_VIEW_ATTRS = {"T", "flat", "real", "imag"}


def _statements(blocks):
    from numba.parfors.parfor import Parfor

    for block in blocks.values():
        for st in block.body:
            yield st
            if isinstance(st, Parfor):
                yield from _statements(st.loop_body)


def _derived_from_arg(func_ir, index: int) -> set[str]:
    """Names of IR variables holding the argument's data: the argument, its aliases, casts,
    slices and views, and arrays that parallel loops fill from any of those."""
    from numba.core import ir
    from numba.parfors.parfor import Parfor

    derived: set[str] = set()
    statements = list(_statements(func_ir.blocks))
    for _ in range(4):  # a fixpoint; chains are short
        before = len(derived)
        for st in statements:
            if isinstance(st, ir.Assign):
                v = st.value
                if isinstance(v, ir.Arg) and v.index == index:
                    derived.add(st.target.name)
                elif isinstance(v, ir.Var) and v.name in derived:
                    derived.add(st.target.name)
                elif isinstance(v, ir.Expr) and v.op in ("cast", "getitem", "static_getitem"):
                    if v.value.name in derived:
                        derived.add(st.target.name)
                elif isinstance(v, ir.Expr) and v.op == "getattr" and v.attr in _VIEW_ATTRS:
                    if v.value.name in derived:
                        derived.add(st.target.name)
            elif isinstance(st, Parfor) and not _is_user_prange(st) and _reads(st, derived):
                for inner in _statements(st.loop_body):  # what the array expression fills
                    if isinstance(inner, ir.SetItem):
                        derived.add(inner.target.name)
        if len(derived) == before:
            break
    return derived


# IR operations whose result is private to an iteration when any operand is (arithmetic on the
# loop variable, tuples holding it, ranges and iterators built from it). A load (``getitem``)
# is not among them: ``data[i]`` is a value from the data, shared by any iterations it repeats in.
_PRIVATE_OPS = {"binop", "inplace_binop", "unary", "cast", "build_tuple", "call", "getiter",
                "iternext", "pair_first"}

_FOLDING = {operator.mod, operator.floordiv, operator.imod, operator.ifloordiv, operator.and_,
            operator.rshift}


def _racy_updates(parfor) -> list[tuple[str, int]]:
    """Read-modify-writes of a shared array inside a prange loop at an index that is private
    neither to the iteration nor to the thread: ``hist[data[i]] += 1`` or ``out[0] += x``.

    Private means computed from the loop variable (``parts[c, data[i]]``, ``out[i]``), or from
    ``numba.get_thread_id()``. Arrays created inside the loop body are private too. Returns
    ``(array name, line)`` for each such update.
    """
    from numba.core import ir

    body = list(_statements(parfor.loop_body))
    private = {nest.index_variable.name for nest in parfor.loop_nests}
    private |= {v.name for st in body for v in st.list_vars() if "parfor__index" in v.name}
    local = {st.target.name for st in body if isinstance(st, ir.Assign)}
    thread_id = {st.target.name for st in body if isinstance(st, ir.Assign)
                 and isinstance(st.value, ir.Expr) and st.value.op == "getattr"
                 and "thread_id" in st.value.attr}
    thread_id |= {st.target.name for st in body if isinstance(st, ir.Assign)
                  and isinstance(st.value, (ir.Global, ir.FreeVar))
                  and "thread_id" in getattr(st.value.value, "__name__", "")}
    for _ in range(len(body)):
        before = len(private)
        for st in body:
            if not isinstance(st, ir.Assign):
                continue
            v = st.value
            if isinstance(v, ir.Var) and v.name in private:
                private.add(st.target.name)
            elif isinstance(v, ir.Expr) and v.op in _PRIVATE_OPS:
                if v.op in ("binop", "inplace_binop") and v.fn in _FOLDING:
                    continue  # i % 4, i // 8: many iterations share the result
                if v.op == "call" and v.func.name in thread_id:
                    private.add(st.target.name)
                else:
                    func = v.func.name if v.op == "call" else None
                    if any(u.name in private for u in v.list_vars() if u.name != func):
                        private.add(st.target.name)
        if len(private) == before:
            break
    shared = {st.target.name for st in body if isinstance(st, (ir.SetItem, ir.StaticSetItem))}
    shared -= {name for name in shared if name in local and not _is_alias(body, name)}
    loads = {(st.value.value.name, _index_key(st.value)) for st in body if isinstance(st, ir.Assign)
             and isinstance(st.value, ir.Expr) and st.value.op in ("getitem", "static_getitem")}
    racy = []
    for st in body:
        if isinstance(st, (ir.SetItem, ir.StaticSetItem)) and st.target.name in shared:
            key = _index_key(st)
            index_var = st.index if isinstance(st, ir.SetItem) else st.index_var
            if (st.target.name, key) in loads and (index_var is None or index_var.name not in private):
                racy.append((st.target.name.split(".")[0], st.loc.line))
    return racy


def _index_key(node):
    """What an IR load or store indexes with: the index variable's name, or a constant."""
    from numba.core import ir

    if isinstance(node, ir.SetItem):
        return node.index.name
    if isinstance(node, ir.StaticSetItem):
        return ("const", repr(node.index))
    if node.op == "getitem":
        return node.index.name
    return ("const", repr(node.index))


def _is_alias(body, name: str) -> bool:
    """Whether a name defined in the loop body only renames an array from outside it."""
    from numba.core import ir

    return any(isinstance(st, ir.Assign) and st.target.name == name and isinstance(st.value, ir.Var)
               for st in body)


def _reads(parfor, names: set[str]) -> bool:
    return any(v.name in names for st in _statements(parfor.loop_body) for v in st.list_vars())


def parallel_gain(call, reference, threads: int | None = None) -> tuple[float, float]:
    """Speedups (1 thread -> ``threads``) of ``call`` and ``reference``, measured interleaved.

    Args:
        call, reference: zero-argument callables.
        threads: numba threads to compare with 1; default all usable ones.

    Returns:
        ``(speedup of call, speedup of reference)``, best of 6 runs per count (ABBA order).

    Example:
        >>> import numpy as np
        >>> x = np.ones(1000)
        >>> g = parallel_gain(lambda: sum_prange(x), lambda: sum_prange(x), threads=1)
        >>> g
        (1.0, 1.0)
    """
    import numba

    threads = min(_usable(), _numba_threads()) if threads is None else threads
    if threads < 2:
        return 1.0, 1.0
    previous = numba.get_num_threads()
    times: dict = {}
    try:
        for n in (1, threads, threads, 1):  # ABBA: a slow phase of the machine hits both counts
            numba.set_num_threads(n)
            for label, fn in (("mine", call), ("ref", reference)):
                times[label, n] = min(times.get((label, n), float("inf")), _best_time(fn))
    finally:
        numba.set_num_threads(previous)
    return (times["mine", 1] / times["mine", threads], times["ref", 1] / times["ref", threads])


def check_work_is_split(call, reference, name: str) -> bool:
    """Measure whether ``call()`` gains from more threads about as much as a known-parallel
    ``reference()``, and say so on stdout. It never fails an answer.

    Both run on 1 thread and on all threads, interleaved (best of 6 runs each); up to 5 attempts,
    stopping at the first where the learner's speedup reaches half of the reference's gain
    (``1 + (s_ref - 1) / 2``). What is graded is the structure (:func:`check_parallel_structure`:
    a prange over the data, of more than one iteration, without a data race), because a
    stopwatch on a shared machine cannot be trusted with a grade: under ``make soak``, with one
    core kept busy, correct answers fell short of half the reference's gain in 7 of 40 gradings.
    The figures are printed either way, so the learner sees what their machine measured.

    Args:
        call: zero-argument callable running the learner's function on a large input.
        reference: the same kind of work done by a correct parallel kernel (similar memory traffic).
        name: how to name the function in messages.

    Returns:
        True if an attempt showed the gain; False if none did, or it could not be measured (one
        core).
    """
    threads = min(_usable(), _numba_threads())
    if threads < 2:
        print(f"note: one usable core or numba thread here, so {name}'s speedup cannot be "
              "measured; its prange structure was checked")
        return False
    call(), reference()  # warm up: compilation, thread start-up
    attempts = []  # (learner's speedup, reference's speedup) per attempt
    for _ in range(5):
        mine, ref = parallel_gain(call, reference, threads)
        attempts.append((mine, ref))
        if ref >= 1.5 and mine >= 1 + (ref - 1) / 2:
            print(f"{name} ran {mine:.2f}x faster on {threads} threads than on 1 (a parallel "
                  f"reference: {ref:.2f}x)")
            return True
    figures = "; ".join(f"{m:.2f}x vs {r:.2f}x" for m, r in attempts)
    print(f"note: {name} did not show half of a parallel reference's gain on {threads} threads "
          f"(yours vs the reference, per attempt: {figures}). Not graded: other programs on this "
          "machine can cause that. If it persists on an idle machine, check that each thread "
          "gets a fair share of the work (and that the loop does not allocate large arrays).")
    return False


def _best_time(call, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t)
    return best


# ---------------------------------------------------------------------------- exercise 1
def _sum_sq_reference(x, mu):
    return float(np.sum((np.asarray(x, dtype=np.float64) - mu) ** 2))


@answers("sum_of_squares", sum_prange, par.sum_sequential)
def check_prange_reduction(sum_of_squares, *, large: int = 4_000_000) -> None:
    """Grade ``sum_of_squares(x, mu)`` = sum of ``(x[i] - mu) ** 2``, a parallel prange reduction.

    Raises:
        AssertionError: with a message that says what is wrong.
    """
    rng = np.random.default_rng(1)
    cases = [(np.array([], dtype=np.float64), 0.0), (np.array([3.0]), 1.0),
             (np.array([1.0, 2.0, 3.0, 4.0]), 2.5), (rng.standard_normal(1001), 0.3),
             (rng.uniform(0, 10, 100_003), 5.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's "no parallel transformation" warning: we explain it
        for x, mu in cases:
            got = call_with_timeout(sum_of_squares, x, mu, timeout=60, what="sum_of_squares")
            check_close(got, _sum_sq_reference(x, mu), rtol=1e-9, atol=1e-9,
                        what=f"sum_of_squares(x of {len(x)} items, mu={mu})")
        check_parallel_structure(sum_of_squares, "sum_of_squares", data_arg=0)
    x = rng.standard_normal(large)
    # The squares are computed once, outside the timing: both sides then read one array of
    # `large` floats per call and reduce it in a prange. (Squaring inside the timed reference
    # would add a serial NumPy pass that hides how well the reduction itself scales.)
    squares = (x - 0.5) ** 2
    check_work_is_split(lambda: sum_of_squares(x, 0.5), lambda: sum_prange(squares),
                        "sum_of_squares")


# ---------------------------------------------------------------------------- exercise 2
@answers("histogram_fixed", par.histogram_thread_partials, par.histogram_chunk_partials,
         par.histogram_sequential)
def check_histogram_fixed(histogram_fixed, *, large: int = 8_000_000) -> None:
    """Grade a race-free parallel ``histogram_fixed(data, nbins)`` (counts of ints in [0, nbins)).

    The big inputs are counted several times: a histogram that still races loses counts there.
    It must also compile to a real parallel loop (:func:`check_parallel_structure`). Speed is not
    graded here: this exercise is about the race, and a same-run speed ratio failed a correct
    answer in a full CI run (5 of 5 attempts, for a reason not yet understood); the reduction
    exercise is where "actually faster" is graded.

    Raises:
        AssertionError: with the number of lost (or extra) counts when it is wrong.
    """
    rng = np.random.default_rng(2)
    cases = [(np.array([], dtype=np.int64), 3), (np.array([0], dtype=np.int64), 1),
             (np.array([2, 0, 2, 1, 2], dtype=np.int64), 4),
             (rng.integers(0, 10, 100_001), 10), (rng.integers(0, 256, 1_000_000), 256),
             (np.zeros(large, dtype=np.int64), 1), (rng.integers(0, 2, large), 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for data, nbins in cases:
            expected = np.bincount(data, minlength=nbins)
            for _ in range(3 if len(data) >= large else 1):
                got = np.asarray(call_with_timeout(histogram_fixed, data, nbins, timeout=60,
                                                   what="histogram_fixed"))
                if got.shape != expected.shape:
                    raise AssertionError(f"histogram_fixed(data, {nbins}) should return {nbins} counts, "
                                         f"got an array of shape {got.shape}")
                if not np.array_equal(got, expected):
                    lost = int(expected.sum() - got.sum())
                    detail = (f"it lost {lost:,} of {len(data):,} counts: two threads read the same old "
                              "count and both wrote back old + 1" if lost > 0 else
                              f"the counts differ from np.bincount in bins "
                              f"{np.flatnonzero(got != expected)[:5].tolist()}")
                    raise AssertionError(f"histogram_fixed is wrong on {len(data):,} values in {nbins} "
                                         f"bins: {detail}")
        check_parallel_structure(histogram_fixed, "histogram_fixed", data_arg=0)


# ---------------------------------------------------------------------------- exercise 3
def check_tree_sum(tree_sum) -> None:
    """Grade ``tree_sum(node)``: the sum of a binary tree, computed with ``par.join``.

    It runs on pools of 1 and 2 threads (a deadlock fails in seconds), must match the sequential
    sum, and must fork: the pool must have run join tasks.

    Raises:
        AssertionError: with a message that says what is wrong.
    """
    from course_lib.par.demos import Node

    check_close(call_with_timeout(tree_sum, None, timeout=10, what="tree_sum"), 0,
                what="tree_sum(None) (an empty tree)")
    check_close(call_with_timeout(tree_sum, Node(7), timeout=10, what="tree_sum"), 7,
                what="tree_sum(Node(7))")
    trees = [random_tree(n, seed) for n, seed in ((3, 1), (50, 2), (1000, 3), (3000, 4))]
    chain = None
    for v in range(40):  # a lopsided tree: every node has only a right child
        chain = Node(v, None, chain)
    trees.append(chain)
    for threads in (1, 2):
        with par.ThreadPool(threads, record_timeline=True) as pool:
            for tree in trees:
                expected = tree_sum_sequential(tree)
                pool.reset_statistics()
                got = call_with_timeout(pool.install, lambda t=tree: tree_sum(t), timeout=30,
                                        what=f"tree_sum on a pool of {threads} thread(s)")
                check_close(got, expected, what=f"tree_sum of a tree of {_size(tree)} nodes")
                if _size(tree) < 1000:
                    continue
                stats = pool.statistics()
                depth = _nesting(stats.timeline)
                if stats.total_tasks < 6 or depth < 3:
                    raise AssertionError(
                        f"tree_sum gave the right answer, but on a tree of {_size(tree)} nodes its "
                        f"joins ran {stats.total_tasks} tasks nested at most {depth} deep: the "
                        "subtrees must be summed *inside* the joins, recursively: "
                        "par.join(lambda: tree_sum(node.left), lambda: tree_sum(node.right)) "
                        "(joins that compute nothing, or one split at the root, do not count)")


def _nesting(timeline) -> int:
    """How deep the tasks of a timeline nest (a task run inside another task's join, on the
    same worker, is one level deeper): 1 for flat tasks, about the tree's depth for a recursive
    sum."""
    deepest = 0
    for worker in {e.worker for e in timeline}:
        stack: list[float] = []
        for e in sorted((e for e in timeline if e.worker == worker), key=lambda e: (e.start, -e.end)):
            while stack and stack[-1] <= e.start:
                stack.pop()
            stack.append(e.end)
            deepest = max(deepest, len(stack))
    return deepest


def _size(node) -> int:
    return 0 if node is None else 1 + _size(node.left) + _size(node.right)


# ---------------------------------------------------------------------------- exercise 4
def reference_pick_chunk_size(timings: dict, tolerance: float = 0.1) -> int:
    """The smallest chunk size whose time is within ``tolerance`` of the fastest.

    Example:
        >>> reference_pick_chunk_size({1: 5.0, 10: 1.05, 100: 1.0, 1000: 1.5})
        10
    """
    if not timings:
        raise ValueError("no timings to choose from")
    best = min(timings.values())
    return min(c for c, t in timings.items() if t <= best * (1 + tolerance))


@answers("pick_chunk_size", reference_pick_chunk_size)
def check_pick_chunk_size(pick_chunk_size, measured: dict | None = None) -> None:
    """Grade ``pick_chunk_size(timings, tolerance=0.1)`` on made-up and measured timings.

    Raises:
        AssertionError: showing the timings, the answer and the expected answer.
    """
    cases = [
        ({1: 5.0, 4: 2.0, 16: 1.04, 64: 1.0, 256: 1.02, 1024: 1.9}, 0.1),
        ({1000: 1.0, 1: 9.0, 100: 1.08, 10: 3.0}, 0.1),         # keys out of order
        ({8: 2.0}, 0.1),                                          # one measurement
        ({1: 1.0, 2: 1.0, 4: 1.0}, 0.1),                          # ties: the smallest
        ({16: 1.2, 32: 1.15, 64: 1.0, 128: 1.01}, 0.2),           # a wider tolerance
        ({16: 1.2, 32: 1.15, 64: 1.0, 128: 1.01}, 0.0),           # no tolerance: the fastest
        ({2: 1.11, 4: 1.0}, 0.1),                                 # just outside the tolerance
    ]
    if measured:
        cases.append((dict(measured), 0.1))
    for timings, tol in cases:
        want = reference_pick_chunk_size(timings, tol)
        got = call_with_timeout(pick_chunk_size, timings, tol, timeout=10, what="pick_chunk_size")
        if got != want:
            raise AssertionError(f"pick_chunk_size({timings}, tolerance={tol}) returned {got!r}; expected "
                                 f"{want}: the smallest chunk size whose time is at most "
                                 f"(1 + tolerance) x the fastest time")
    check_raises(ValueError, pick_chunk_size, {}, 0.1, why="There is nothing to pick from an empty dict.")


#: The names the chapter's hidden tests import: sealed against reassignment from a notebook.
GRADERS = ("check_prange_reduction", "check_histogram_fixed", "check_tree_sum", "check_pick_chunk_size",)
seal(__name__)
