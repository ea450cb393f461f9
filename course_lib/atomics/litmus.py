"""Litmus tests: what outcomes memory models allow, and what this machine really does.

A litmus test is a tiny concurrent program (two or four threads, two shared variables, all
initially 0) and a question: which final register values can occur?

1. :data:`TESTS` holds the classics: SB (store buffering), MP (message passing), LB (load
   buffering), 2+2W (two writes each) and IRIW (independent reads of independent writes).
2. :func:`allowed` runs a small exhaustive explorer over every execution the model permits:
   ``"SC"`` (sequential consistency: some interleaving of the threads' instructions) or
   ``"TSO"`` (x86-TSO: each thread's stores go to a private FIFO store buffer, which drains to
   memory at any moment; a thread's loads read its own newest buffered store if any, else
   memory; a fence waits until the thread's buffer is empty).
3. :func:`run` runs a two-thread test on the hardware (C11 atomics at a chosen ordering, two
   threads pinned to two CPUs, a per-instance barrier so that the threads really race, millions
   of instances in a few seconds) and returns a :class:`LitmusResult` histogram.

Source: P. Sewell, S. Sarkar, S. Owens, F. Zappa Nardelli, M. Myreen, "x86-TSO: A Rigorous and
Usable Programmer's Model for x86 Multiprocessors", CACM 53(7), 2010; J. Alglave, L. Maranget,
M. Tautschnig, "Herding Cats", TOPLAS 36(2), 2014 (the test names and the ARM results);
L. Lamport, "How to Make a Multiprocessor Computer That Correctly Executes Multiprocess
Programs", IEEE ToC 1979 (SC).

Thread-safety: :func:`run` releases the GIL while its C threads race (cffi). Do not run two
:func:`run` calls at once: they would compete for the same two cores.
"""
from __future__ import annotations

import functools
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from course_lib.atomics.ordering import Ordering, check_ordering
from course_lib.config import pick

__all__ = ["LitmusTest", "TESTS", "MODELS", "HARDWARE_TESTS", "allowed", "run", "LitmusResult",
           "usable_cpus"]

#: Instructions: ("W", var, value) store; ("R", var, reg) load into reg; ("F",) full fence.
Instr = tuple


@dataclass(frozen=True)
class LitmusTest:
    """A litmus test: threads of instructions and the values to observe.

    Attributes:
        name: the short name (``"SB"``...).
        threads: one tuple of instructions per thread: ``("W", "x", 1)`` stores 1 to x,
            ``("R", "y", "r0")`` loads y into register r0, ``("F",)`` is a full fence.
        observables: what an outcome lists, in order: register names, or variable names for
            their final values in memory.
        relaxed: the outcome the test is about (forbidden under SC).
        summary: one line saying what it shows.

    Example:
        >>> TESTS["SB"].observables
        ('r0', 'r1')
    """

    name: str
    threads: tuple[tuple[Instr, ...], ...]
    observables: tuple[str, ...]
    relaxed: tuple[int, ...]
    summary: str

    def fenced(self) -> "LitmusTest":
        """The same test with a full fence between consecutive instructions of each thread.

        Example:
            >>> TESTS["SB"].fenced().threads[0]
            (('W', 'x', 1), ('F',), ('R', 'y', 'r0'))
        """
        threads = []
        for th in self.threads:
            out: list[Instr] = []
            for k, ins in enumerate(th):
                out += ([("F",)] if k else []) + [ins]
            threads.append(tuple(out))
        return LitmusTest(self.name + "+fences", tuple(threads), self.observables, self.relaxed,
                          self.summary + " (with fences)")

    def __str__(self) -> str:
        def show(ins: Instr) -> str:
            return {"W": lambda: f"{ins[1]} = {ins[2]}", "R": lambda: f"{ins[2]} = {ins[1]}",
                    "F": lambda: "fence"}[ins[0]]()

        cols = [[f"thread {t}"] + [show(i) for i in th] for t, th in enumerate(self.threads)]
        width = max(len(c) for col in cols for c in col) + 3
        rows = max(len(c) for c in cols)
        lines = ["".join((col[r] if r < len(col) else "").ljust(width) for col in cols).rstrip()
                 for r in range(rows)]
        obs = ", ".join(self.observables)
        return (f"{self.name}: {self.summary}\n" + "\n".join(lines) +
                f"\nobserve ({obs}); the interesting outcome is {self.relaxed}")


TESTS: dict[str, LitmusTest] = {t.name: t for t in (
    LitmusTest("SB", ((("W", "x", 1), ("R", "y", "r0")), (("W", "y", 1), ("R", "x", "r1"))),
               ("r0", "r1"), (0, 0),
               "store buffering: can both threads miss the other's store?"),
    LitmusTest("MP", ((("W", "x", 1), ("W", "y", 1)), (("R", "y", "r0"), ("R", "x", "r1"))),
               ("r0", "r1"), (1, 0),
               "message passing: can the reader see the flag y but not the data x?"),
    LitmusTest("LB", ((("R", "x", "r0"), ("W", "y", 1)), (("R", "y", "r1"), ("W", "x", 1))),
               ("r0", "r1"), (1, 1),
               "load buffering: can each load see the store that comes after the other load?"),
    LitmusTest("2+2W", ((("W", "x", 1), ("W", "y", 2)), (("W", "y", 1), ("W", "x", 2))),
               ("x", "y"), (1, 1),
               "two writes each: can both first writes be the last ones to land?"),
    LitmusTest("IRIW", ((("W", "x", 1),), (("W", "y", 1),),
                        (("R", "x", "r0"), ("R", "y", "r1")),
                        (("R", "y", "r2"), ("R", "x", "r3"))),
               ("r0", "r1", "r2", "r3"), (1, 0, 1, 0),
               "independent reads of independent writes: can two readers disagree on the "
               "order of two writes?"),
)}

MODELS = ("SC", "TSO")
#: The tests :func:`run` can run on the hardware (two threads each).
HARDWARE_TESTS = ("SB", "MP", "LB", "2+2W")


# ----------------------------------------------------------------------------- explorer
def _compile(test: LitmusTest) -> tuple[list[str], list[str]]:
    variables = sorted({i[1] for th in test.threads for i in th if i[0] in "WR"})
    registers = sorted({i[2] for th in test.threads for i in th if i[0] == "R"})
    return variables, registers


def _explore(test: LitmusTest, tso: bool) -> frozenset[tuple[int, ...]]:
    """Every final outcome reachable under SC (tso=False) or x86-TSO (tso=True)."""
    variables, registers = _compile(test)
    vi = {v: k for k, v in enumerate(variables)}
    ri = {r: k for k, r in enumerate(registers)}
    threads = test.threads
    outcomes: set[tuple[int, ...]] = set()
    seen: set[Any] = set()
    # A state: program counters, store buffers (per thread, oldest first, (var, value)),
    # memory, registers. SC is TSO with every store written straight to memory.
    start = (tuple(0 for _ in threads), tuple(() for _ in threads),
             tuple(0 for _ in variables), tuple(0 for _ in registers))
    stack = [start]
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        pcs, bufs, mem, regs = state
        moved = False
        for t, th in enumerate(threads):
            if bufs[t]:  # TSO: the oldest buffered store may drain to memory now
                (var, val), rest = bufs[t][0], bufs[t][1:]
                m = list(mem)
                m[var] = val
                stack.append((pcs, bufs[:t] + (rest,) + bufs[t + 1:], tuple(m), regs))
                moved = True
            if pcs[t] == len(th):
                continue
            ins = th[pcs[t]]
            npcs = pcs[:t] + (pcs[t] + 1,) + pcs[t + 1:]
            if ins[0] == "W":
                if tso:
                    nb = bufs[:t] + (bufs[t] + ((vi[ins[1]], ins[2]),),) + bufs[t + 1:]
                    stack.append((npcs, nb, mem, regs))
                else:
                    m = list(mem)
                    m[vi[ins[1]]] = ins[2]
                    stack.append((npcs, bufs, tuple(m), regs))
                moved = True
            elif ins[0] == "R":
                var = vi[ins[1]]
                own = [val for v, val in bufs[t] if v == var]  # forwarding: newest own store
                r = list(regs)
                r[ri[ins[2]]] = own[-1] if own else mem[var]
                stack.append((npcs, bufs, mem, tuple(r)))
                moved = True
            elif not bufs[t]:  # fence: only once this thread's buffer is empty
                stack.append((npcs, bufs, mem, regs))
                moved = True
        if not moved:  # everything executed and every buffer drained
            values = {**{v: mem[vi[v]] for v in variables}, **{r: regs[ri[r]] for r in registers}}
            outcomes.add(tuple(values[o] for o in test.observables))
    return frozenset(outcomes)


@functools.lru_cache(maxsize=None)
def _allowed_cached(name: str, model: str, fenced: bool) -> frozenset[tuple[int, ...]]:
    test = TESTS[name].fenced() if fenced else TESTS[name]
    return _explore(test, tso=(model == "TSO"))


def allowed(test: str | LitmusTest, model: str, fenced: bool = False) -> frozenset[tuple[int, ...]]:
    """Every outcome of ``test`` that ``model`` allows, by trying all executions.

    Args:
        test: a name in :data:`TESTS` (``"SB"``, ``"MP"``, ``"LB"``, ``"2+2W"``, ``"IRIW"``) or
            a :class:`LitmusTest` of your own.
        model: ``"SC"`` (interleavings) or ``"TSO"`` (x86: FIFO store buffers with forwarding).
        fenced: put a full fence between consecutive instructions of each thread (what
            ``Ordering.SeqCst`` amounts to on x86, where a SeqCst store is ``xchg``).
    Returns:
        The set of outcome tuples, in the order of ``test.observables``.
    Raises:
        ValueError: unknown test or model.
    Example:
        >>> sorted(allowed("SB", "SC"))
        [(0, 1), (1, 0), (1, 1)]
        >>> (0, 0) in allowed("SB", "TSO")
        True
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {MODELS}")
    if isinstance(test, LitmusTest):
        return _explore(test.fenced() if fenced else test, tso=(model == "TSO"))
    if test not in TESTS:
        raise ValueError(f"unknown litmus test {test!r}; choose one of {tuple(TESTS)}")
    return _allowed_cached(test, model, bool(fenced))


# ----------------------------------------------------------------------------- hardware
def usable_cpus() -> tuple[int, ...]:
    """The CPUs this process may run on (Linux affinity), or ``range(os.cpu_count())``.

    Example:
        >>> len(usable_cpus()) >= 1
        True
    """
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


@dataclass(repr=False)
class LitmusResult:
    """The outcome histogram of one hardware run of a litmus test.

    Attributes:
        test: the test's name.
        ordering: the ordering of the accesses (Relaxed, AcqRel = release stores with acquire
            loads, or SeqCst).
        fenced: whether a SeqCst fence separated each thread's two accesses.
        counts: outcome tuple -> how many instances ended that way.
        iterations: instances run (fewer than asked if the time limit struck).
        seconds: wall time of the run.
        pinned: whether the two threads were pinned to two distinct CPUs.
        cpus: the CPUs used (empty when unpinned).
        arch: ``platform.machine()``.
        notes: caveats for this run (single core, unpinned, stopped early).

    Example:
        >>> r = run("SB", Ordering.Relaxed, iterations=10_000)   # doctest: +SKIP
        >>> r.counts, r.seen_forbidden("SC")                    # doctest: +SKIP
    """

    test: str
    ordering: Ordering
    fenced: bool
    counts: dict[tuple[int, ...], int]
    iterations: int
    seconds: float
    pinned: bool
    cpus: tuple[int, ...]
    arch: str
    notes: list[str] = field(default_factory=list)

    def count(self, outcome: Iterable[int]) -> int:
        """How many instances ended with ``outcome`` (0 if never).

        Example:
            >>> r.count((0, 0))                                  # doctest: +SKIP
        """
        return self.counts.get(tuple(outcome), 0)

    def seen_forbidden(self, model: str) -> dict[tuple[int, ...], int]:
        """The outcomes seen that ``model`` forbids for the plain (unfenced) test, with counts.

        Example:
            >>> r.seen_forbidden("SC")                           # doctest: +SKIP
            {(0, 0): 41234}
        """
        ok = allowed(self.test, model)
        return {o: n for o, n in sorted(self.counts.items()) if o not in ok}

    def rows(self) -> list[tuple[tuple[int, ...], int, bool, bool]]:
        """``(outcome, count, SC allows it, TSO allows it)`` for every possible outcome.

        Every outcome either model allows is listed, even if never seen, then any other seen.
        """
        sc, tso = allowed(self.test, "SC"), allowed(self.test, "TSO")
        outcomes = sorted(set(self.counts) | sc | tso)
        return [(o, self.count(o), o in sc, o in tso) for o in outcomes]

    def __str__(self) -> str:
        obs = ",".join(TESTS[self.test].observables)
        how = f"{self.ordering.name}{' + SeqCst fences' if self.fenced else ''}"
        where = f"CPUs {self.cpus}" if self.pinned else "unpinned"
        rows = self.rows()
        width = max([len(f"({obs})")] + [len(str(o)) for o, *_ in rows]) + 2
        lines = [f"{self.test} with {how}: {self.iterations:,} runs in {self.seconds:.2f} s "
                 f"on {self.arch}, {where}",
                 f"  {'(' + obs + ')':<{width}}{'count':>12}  SC  TSO"]
        for o, n, sc, tso in rows:
            mark = lambda ok: "yes" if ok else " no"  # noqa: E731
            lines.append(f"  {str(o):<{width}}{n:>12,}  {mark(sc)} {mark(tso)}")
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = str(self).splitlines()[0]
        body = "".join(f"<tr><td><code>{o}</code></td><td style='text-align:right'>{n:,}</td>"
                       f"<td>{'yes' if sc else '<b>no</b>'}</td>"
                       f"<td>{'yes' if tso else '<b>no</b>'}</td></tr>"
                       for o, n, sc, tso in self.rows())
        notes = "".join(f"<br><i>note: {n}</i>" for n in self.notes)
        return (f"<p>{head}</p><table><tr><th>outcome</th><th>count</th><th>SC allows</th>"
                f"<th>TSO allows</th></tr>{body}</table>{notes}")

    def plot(self, ax: Any = None) -> Any:
        """A bar chart of the outcomes (log scale), coloured by which models allow each.

        Returns:
            The matplotlib Axes.
        """
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3))[1]
        rows = self.rows()
        colors = ["tab:green" if sc else "tab:orange" if tso else "tab:red"
                  for _, _, sc, tso in rows]
        ax.bar([str(o) for o, *_ in rows], [max(n, 0.8) for _, n, *_ in rows], color=colors)
        ax.set_yscale("log")
        ax.set_ylabel("count (log)")
        ax.set_title(f"{self.test}, {self.ordering.name}{' + fences' if self.fenced else ''}"
                     " (green: SC allows, orange: only TSO, red: neither)", fontsize=9)
        return ax


_TEST_CODE = {"SB": 0, "MP": 1, "LB": 2, "2+2W": 3}
_MODE = {Ordering.Relaxed: 0, Ordering.AcqRel: 1, Ordering.SeqCst: 2}


def run(test: str, ordering: Ordering = Ordering.Relaxed, iterations: int | None = None,
        fenced: bool = False, batch: int = 4096, max_seconds: float = 10.0,
        cpus: tuple[int, int] | None = None) -> LitmusResult:
    """Run a two-thread litmus test on this machine and count the outcomes.

    Args:
        test: ``"SB"``, ``"MP"``, ``"LB"`` or ``"2+2W"`` (see :data:`TESTS`).
        ordering: ``Ordering.Relaxed`` (all accesses relaxed), ``Ordering.AcqRel`` (release
            stores, acquire loads) or ``Ordering.SeqCst`` (all seq_cst).
        iterations: instances to run; default 2,000,000 (200,000 under ``COURSE_QUICK``),
            about 0.2 s on two cores; a tenth on a single core.
        fenced: also put a SeqCst fence between each thread's two accesses.
        batch: instances per batch (each has its own variables).
        max_seconds: stop early after this long (the result says so).
        cpus: the two CPUs to pin the threads to; default the first two usable ones.
    Returns:
        A :class:`LitmusResult`.
    Raises:
        ValueError: unknown or four-thread test, Acquire/Release ordering (use AcqRel),
            bad sizes.
        TypeError: ``ordering`` not an Ordering.
    Example:
        >>> r = run("SB", Ordering.Relaxed)          # doctest: +SKIP
        >>> r.count((0, 0)) > 0  # x86: the store buffer at work   # doctest: +SKIP
        True
    """
    if test not in _TEST_CODE:
        why = " (it needs four threads: use allowed() for it)" if test in TESTS else ""
        raise ValueError(f"cannot run {test!r} on the hardware{why}; choose one of "
                         f"{HARDWARE_TESTS}")
    check_ordering(ordering, "ordering")
    if ordering not in _MODE:
        raise ValueError(f"ordering must be Relaxed, AcqRel (release stores with acquire loads) "
                         f"or SeqCst for a whole litmus test, got Ordering.{ordering.name}")
    available = usable_cpus()
    single = len(available) < 2
    if iterations is None:
        iterations = pick(2_000_000, 200_000) // (10 if single else 1)
    if iterations < 1 or batch < 1 or max_seconds <= 0:
        raise ValueError("iterations, batch and max_seconds must be positive")
    notes: list[str] = []
    if cpus is None:
        cpus = (available[0], available[1]) if not single else (-1, -1)
    elif len(cpus) != 2 or cpus[0] == cpus[1] or any(c not in available for c in cpus):
        raise ValueError(f"cpus must be two distinct CPUs from {available}, got {cpus}")
    if single:
        notes.append("only 1 usable core: the two threads take turns on it, so they rarely "
                     "overlap and relaxed outcomes are rare or absent (not forbidden)")
    from course_lib._c._litmus import ffi, lib

    hist = ffi.new("uint64_t[16]")
    done, pinned = ffi.new("uint64_t *"), ffi.new("int *")
    t0 = time.perf_counter()
    rc = lib.cl_run(_TEST_CODE[test], _MODE[ordering], int(fenced), iterations,
                    min(batch, iterations), max_seconds, cpus[0], cpus[1],
                    1 if single else 20_000, hist, done, pinned)
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError("could not start the litmus threads (out of memory or threads?)")
    if not pinned[0] and not single:
        notes.append("threads not pinned (no CPU affinity on this OS): the scheduler may "
                     "move them, which makes relaxed outcomes rarer")
    if done[0] < iterations:
        notes.append(f"stopped after {max_seconds} s: {done[0]:,} of {iterations:,} runs")
    counts = {(k // 4, k % 4): int(hist[k]) for k in range(16) if hist[k]}
    return LitmusResult(test, ordering, bool(fenced), counts, int(done[0]), seconds,
                        bool(pinned[0]), tuple(cpus) if pinned[0] else (), platform.machine(),
                        notes)
