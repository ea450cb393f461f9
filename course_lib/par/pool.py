"""A work-stealing thread pool with fork-join (``join``), after Rayon's ``rayon-core``.

The algorithm:

1. Each worker owns a deque of jobs. ``join(fa, fb)`` on a worker pushes a job for ``fb`` on the
   *right* end of its own deque, runs ``fa`` itself, then pops the right end again.
2. An idle worker looks for work in this order: the right end of its own deque (newest first,
   the hot data), the pool's injector queue (jobs from threads outside the pool), then the *left*
   end of the other workers' deques (oldest first: the biggest pieces of a divide-and-conquer).
   Taking from another worker's deque is a *steal*.
3. After ``fa`` returns, the joiner's deque ends with ``fb``'s job or, if a thief took it, is
   empty (every job pushed after it belonged to a nested ``join`` that has finished, and thieves
   take the oldest job first). So one ``pop`` tells whether ``fb`` is still ours: if so, run it
   inline; if not, *help*: run other jobs (steal) until the thief marks ``fb`` done. A worker
   never blocks while work exists, which is why nested joins cannot deadlock on any pool size.
4. A worker that finds nothing parks on its own lock (a binary semaphore). A thread that pushes
   a job wakes one parked worker; a thief that finishes a stolen job wakes its owner if it is
   parked. Both use the protocol "announce, re-check, sleep" (see :meth:`ThreadPool._park`), so
   no wake-up is lost.
5. A thread outside the pool (your notebook) hands work to the pool as a *root* job in the
   injector and blocks on a lock until a worker has run it (Rayon's ``in_worker_cold``).

What dispatch costs, and where threads contend. Every step above is Python, so it runs with the
GIL held; a worker that returns from GIL-free work (a numba ``nogil`` kernel, a C call) must get
the GIL back before it can take its next job, and waits while another thread holds it. So the
pool's own Python time per task is the serial part that limits its speedup on many cores, and
a search that finds nothing is the worst kind: it holds the GIL and does nothing useful. Hence
a search tests each deque for emptiness before popping (a truth test, not a raised
``IndexError``), looks at every other worker exactly once, and then parks. The pool's lock is
taken only to park and to wake, not per task. :meth:`ThreadPool.statistics` counts, per worker,
steals, parks, wake-ups and futile searches; ``benchmarks/bench_par.py`` divides them by the
tasks run (for 0.5 ms tasks on 2 cores: about 0.01 of each per task) and compares the pool's
efficiency with numba's ``prange`` on the same GIL-free work.

Source:
    Blumofe and Leiserson, "Scheduling Multithreaded Computations by Work Stealing", JACM 1999;
    Frigo, Leiserson and Randall, "The Implementation of the Cilk-5 Multithreaded Language",
    PLDI 1998 (the work-first principle); rayon-core's ``join``, ``registry`` and ``sleep``
    modules (design, not code).

Thread-safety and memory ordering:
    ``collections.deque.append``, ``pop`` and ``popleft`` are atomic under CPython's GIL, so the
    owner and thieves can share a deque without a lock; the owner's ``pop`` and a thief's
    ``popleft`` racing for the last job are serialised by the GIL and exactly one of them gets it
    (the other gets ``IndexError``). Plain attribute reads and writes (``job.done``,
    ``worker.parked``) are also atomic and, because the GIL is a full barrier between threads,
    sequentially consistent: the argument in :meth:`ThreadPool._park` relies on exactly that. A
    free-threaded CPython (3.13t) would need real atomics here. Per-worker counters are written
    only by their own worker; :meth:`ThreadPool.statistics` reads them without a lock (a snapshot
    that may be a few tasks stale).
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from course_lib import config

__all__ = ["ThreadPool", "PoolStatistics", "TimelineEvent", "join", "join_context",
           "current_num_threads", "global_pool", "current_worker_index"]

_clock = time.perf_counter
_tls = threading.local()  # .worker: the _Worker running on this thread, if any


def _default_num_threads() -> int:
    """Threads for a pool when none is asked for: ``COURSE_NUM_THREADS``, else usable cores."""
    return config.num_threads()


class TimelineEvent(NamedTuple):
    """One task as the pool ran it (times in seconds since the pool started or was reset).

    ``task`` is a label: a function's qualified name, or ``"lo:hi"`` for a parallel iterator's
    leaf. ``stolen_from`` is the index of the worker whose deque the task was stolen from, or
    None. Events of one worker nest like its call stack: a leaf is an event containing no other.
    """

    worker: int
    start: float
    end: float
    task: str
    stolen_from: int | None = None

    @property
    def stolen(self) -> bool:
        """True if the worker took this task from another worker's deque."""
        return self.stolen_from is not None


@dataclass(frozen=True)
class PoolStatistics:
    """A snapshot of a pool's counters (see :meth:`ThreadPool.statistics`).

    Attributes:
        num_threads: workers in the pool.
        tasks_run: per worker, the tasks it ran: both sides of every ``join`` plus root jobs.
        tasks_stolen: per worker, how many of those it took from another worker's deque.
        tasks_injected: root jobs handed in by threads outside the pool.
        idle_seconds: per worker, time spent with nothing to run (searching or parked).
        wall_seconds: time since the pool started or :meth:`ThreadPool.reset_statistics`.
        timeline: events sorted by start time; empty unless the pool records a timeline.
        parks: per worker, how many times it went to sleep on its parker (each sleep costs a
            trip through the pool's lock and, later, a wake-up: a futex call and a GIL hand-over).
        wakeups: per worker, how many parked workers it woke (after pushing a job, or after
            finishing a job that a parked joiner waited for).
        futile_searches: per worker, how many times it looked in every deque and found nothing.
    """

    num_threads: int
    tasks_run: tuple[int, ...]
    tasks_stolen: tuple[int, ...]
    tasks_injected: int
    idle_seconds: tuple[float, ...]
    wall_seconds: float
    timeline: tuple[TimelineEvent, ...]
    parks: tuple[int, ...] = ()
    wakeups: tuple[int, ...] = ()
    futile_searches: tuple[int, ...] = ()

    @property
    def total_tasks(self) -> int:
        """Tasks run by all workers together."""
        return sum(self.tasks_run)

    @property
    def total_stolen(self) -> int:
        """Steals by all workers together."""
        return sum(self.tasks_stolen)


class _Job:
    """A closure waiting in a deque. ``done`` flips once, after ``result``/``exc`` are set."""

    __slots__ = ("fn", "ctx", "owner", "latch", "result", "exc", "done")

    def __init__(self, fn, ctx, owner, latch=None):
        self.fn = fn          # called as fn(migrated) if ctx else fn()
        self.ctx = ctx
        self.owner = owner    # the _Worker whose join waits for it; None for a root job
        self.latch = latch    # a locked Lock released when done (root jobs only)
        self.result = None
        self.exc = None
        self.done = False


class _Worker:
    """Per-thread state. Counters and ``events`` are written by this worker only."""

    __slots__ = ("pool", "index", "deque", "parker", "parked", "tasks_run", "tasks_stolen",
                 "idle", "idle_since", "events", "next_victim", "thread", "parks", "wakeups",
                 "futile")

    def __init__(self, pool: ThreadPool, index: int):
        self.pool = pool
        self.index = index
        self.deque: deque[_Job] = deque()
        self.parker = threading.Lock()
        self.parker.acquire()  # invariant: locked, except between a wake's release and our acquire
        self.parked = False    # True while listed in pool._sleepers (changed under pool._lock)
        self.tasks_run = 0
        self.tasks_stolen = 0
        self.idle = 0.0
        self.idle_since = None
        self.events: list[TimelineEvent] = []
        self.next_victim = index + 1
        self.thread = None
        self.parks = 0
        self.wakeups = 0
        self.futile = 0

    # ------------------------------------------------------------------ finding and running work
    def find_work(self):
        """Return ``(job, stolen)`` from our deque, the injector or a victim; ``(None, False)``.

        Each deque is tested for emptiness before the ``pop``: the test is racy (another thread
        may empty it in between, hence the ``try``), but it makes a look into an empty deque
        cost a truth test instead of a raised and caught ``IndexError`` (~10x dearer), which
        matters because a search runs with the GIL held, while other workers may be waiting for
        it to come back from their GIL-free work.
        """
        dq = self.deque
        if dq:
            try:
                return dq.pop(), False
            except IndexError:
                pass
        pool = self.pool
        injector = pool._injector
        if injector:
            try:
                return injector.popleft(), False
            except IndexError:
                pass
        workers = pool._workers
        n = len(workers)
        start = self.next_victim
        for k in range(n):  # every other worker once (one of the n slots is ourselves)
            victim = workers[(start + k) % n]
            if victim is self or not victim.deque:
                continue
            try:
                job = victim.deque.popleft()
            except IndexError:
                continue
            self.next_victim = victim.index  # a victim with work is likely to have more
            return job, True
        self.futile += 1
        return None, False

    def execute(self, job: _Job, stolen: bool) -> None:
        """Run a job taken from a deque or the injector, then signal whoever waits for it."""
        self.tasks_run += 1
        if stolen:
            self.tasks_stolen += 1
        pool = self.pool
        t0 = _clock() if pool._record else 0.0
        try:
            job.result = job.fn(stolen) if job.ctx else job.fn()
        except BaseException as e:  # handed to the joiner, who re-raises it
            job.exc = e
        if pool._record:
            victim = job.owner.index if stolen else None
            self.events.append(TimelineEvent(self.index, t0 - pool._t0, _clock() - pool._t0,
                                             _label(job.fn), victim))
        job.done = True  # published after result/exc: the waiter reads those only once done is seen
        if job.latch is not None:
            job.latch.release()
        else:
            owner = job.owner
            if owner is not self and owner.parked and pool._wake(owner):
                self.wakeups += 1

    def join(self, fa: Callable, fb: Callable, ctx: bool) -> tuple[Any, Any]:
        """The fork-join fast path, run on this worker (see the module docstring, steps 1 and 3)."""
        pool = self.pool
        job = _Job(fb, ctx, self)
        dq = self.deque
        dq.append(job)
        if pool._sleepers and pool._wake_one():  # racy read; _park's re-check makes a stale
            self.wakeups += 1                      # False harmless
        if pool._record:
            return self._join_recorded(job, fa, fb, ctx)
        exc_a = None
        try:
            a = fa(False) if ctx else fa()
        except BaseException as e:  # run fb anyway: both sides finish before we propagate
            a, exc_a = None, e
        try:
            dq.pop()  # it is `job`: anything pushed after it was popped by a nested join
        except IndexError:  # a thief took fb: help until it is done
            self.tasks_run += 1
            self.wait_for(job)
            b, exc_b = job.result, job.exc
        else:
            self.tasks_run += 2
            exc_b = None
            try:
                b = fb(False) if ctx else fb()
            except BaseException as e:
                b, exc_b = None, e
        if exc_a is not None:
            raise exc_a
        if exc_b is not None:
            raise exc_b
        return a, b

    def _join_recorded(self, job: _Job, fa: Callable, fb: Callable, ctx: bool) -> tuple[Any, Any]:
        """:meth:`join` after the push, recording a timeline event for each side run here."""
        pool = self.pool
        results, errors = [None, None], [None, None]
        for side, fn in enumerate((fa, fb)):
            if side == 1:
                try:
                    self.deque.pop()
                except IndexError:
                    self.wait_for(job)
                    results[1], errors[1] = job.result, job.exc
                    break
            self.tasks_run += 1
            t0 = _clock()
            try:
                results[side] = fn(False) if ctx else fn()
            except BaseException as e:
                errors[side] = e
            self.events.append(TimelineEvent(self.index, t0 - pool._t0, _clock() - pool._t0,
                                             _label(fn)))
        for e in errors:
            if e is not None:
                raise e
        return results[0], results[1]

    def wait_for(self, job: _Job) -> None:
        """Help (run other jobs) until a thief has finished ``job``; park when there is nothing."""
        pool = self.pool
        while not job.done:
            found, stolen = self.find_work()
            if found is not None:
                self.execute(found, stolen)
            else:
                pool._park(self, job)

    def main(self) -> None:
        """The worker thread: run jobs until the pool closes."""
        _tls.worker = self
        pool = self.pool
        while not pool._closed:
            job, stolen = self.find_work()
            if job is not None:
                self.execute(job, stolen)
            else:
                pool._park(self, None)


def _label(fn) -> str:
    """A task's name for the timeline (only computed when a timeline is recorded)."""
    return getattr(fn, "__qualname__", None) or repr(fn)


class ThreadPool:
    """A fixed set of worker threads that share work by stealing (Rayon's ``ThreadPool``).

    Args:
        num_threads: workers to start; None means ``COURSE_NUM_THREADS`` or the usable cores.
        record_timeline: keep a :class:`TimelineEvent` per task for :meth:`statistics` (costs a
            little per task; meant for pictures and teaching).

    Raises:
        TypeError: if ``num_threads`` is not an integer.
        ValueError: if ``num_threads`` < 1.

    Python threads run Python code one at a time (the GIL): the pool speeds up work that
    releases the GIL (numba ``nogil`` kernels, most NumPy calls, C through cffi).

    Example:
        >>> with ThreadPool(2) as pool:
        ...     pool.join(lambda: 1 + 1, lambda: 2 * 3)
        (2, 6)
    """

    def __init__(self, num_threads: int | None = None, *, record_timeline: bool = False):
        if num_threads is None:
            num_threads = _default_num_threads()
        if isinstance(num_threads, bool) or not isinstance(num_threads, int):
            raise TypeError(f"num_threads must be an int or None, got {type(num_threads).__name__}")
        if num_threads < 1:
            raise ValueError(f"num_threads must be at least 1, got {num_threads}")
        self._num_threads = num_threads
        self._record = bool(record_timeline)
        self._closed = False
        self._lock = threading.Lock()          # guards _sleepers and every worker's .parked
        self._sleepers: list[_Worker] = []     # parked workers, most recent last
        self._injector: deque[_Job] = deque()  # root jobs from outside threads
        self._injected = 0
        self._t0 = _clock()
        self._workers = [_Worker(self, i) for i in range(num_threads)]
        for w in self._workers:
            w.thread = threading.Thread(target=w.main, name=f"par-worker-{w.index}", daemon=True)
            w.thread.start()

    # ------------------------------------------------------------------ public API
    @property
    def num_threads(self) -> int:
        """Number of worker threads."""
        return self._num_threads

    def install(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on a worker of this pool, so that ``join``/``par_*`` inside it use this pool.

        Args:
            fn: a zero-argument callable.

        Returns:
            What ``fn`` returns (its exception, if any, is raised here).

        Raises:
            RuntimeError: if the pool is closed.

        Called from a worker of *another* pool, the call blocks that worker until ``fn`` is done
        (it does not help its own pool meanwhile), so avoid ping-ponging between pools.

        Example:
            >>> with ThreadPool(2) as pool:
            ...     pool.install(current_num_threads)
            2
        """
        w = getattr(_tls, "worker", None)
        if w is not None and w.pool is self:
            return fn()
        return self._run_root(fn)

    def join(self, fa: Callable[[], Any], fb: Callable[[], Any]) -> tuple[Any, Any]:
        """Run ``fa()`` and ``fb()``, possibly in parallel, on this pool; see :func:`join`.

        Example:
            >>> with ThreadPool(1) as pool:
            ...     pool.join(lambda: "a", lambda: "b")
            ('a', 'b')
        """
        w = getattr(_tls, "worker", None)
        if w is not None and w.pool is self:
            return w.join(fa, fb, False)
        return self._run_root(lambda: _tls.worker.join(fa, fb, False))

    def statistics(self) -> PoolStatistics:
        """Return the counters and (if recorded) the timeline since start or the last reset.

        Example:
            >>> with ThreadPool(2) as pool:
            ...     _ = pool.join(lambda: 1, lambda: 2)
            ...     pool.statistics().total_tasks >= 2
            True
        """
        now = _clock()
        idle = []
        for w in self._workers:
            since = w.idle_since
            idle.append(w.idle + (now - since if since is not None else 0.0))
        events = sorted((e for w in self._workers for e in list(w.events)), key=lambda e: e.start)
        ws = self._workers
        return PoolStatistics(self._num_threads, tuple(w.tasks_run for w in ws),
                              tuple(w.tasks_stolen for w in ws), self._injected,
                              tuple(idle), now - self._t0, tuple(events),
                              tuple(w.parks for w in ws), tuple(w.wakeups for w in ws),
                              tuple(w.futile for w in ws))

    def reset_statistics(self) -> None:
        """Zero the counters and clear the timeline. Call it while the pool is idle.

        Example:
            >>> with ThreadPool(1) as pool:
            ...     pool.reset_statistics()
        """
        self._t0 = now = _clock()
        self._injected = 0
        for w in self._workers:
            w.tasks_run = w.tasks_stolen = w.parks = w.wakeups = w.futile = 0
            w.idle = 0.0
            if w.idle_since is not None:
                w.idle_since = now
            w.events = []

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers once they finish what they are running; idempotent.

        Args:
            timeout: seconds to wait for each worker thread to end.

        Example:
            >>> pool = ThreadPool(1); pool.close(); pool.close()
        """
        with self._lock:
            self._closed = True
            sleepers, self._sleepers = self._sleepers, []
            for w in sleepers:
                w.parked = False
        for w in sleepers:
            w.parker.release()
        me = threading.current_thread()
        for w in self._workers:
            if w.thread is not me:
                w.thread.join(timeout)
        while True:  # root jobs injected while we were closing: fail them rather than hang
            try:
                job = self._injector.popleft()
            except IndexError:
                break
            job.exc = RuntimeError("the ThreadPool was closed before this job could run")
            job.done = True
            job.latch.release()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def __enter__(self) -> ThreadPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<ThreadPool num_threads={self._num_threads} {state}>"

    # ------------------------------------------------------------------ internals
    def _run_root(self, fn: Callable[[], Any]) -> Any:
        """Hand ``fn`` to a worker from a thread outside the pool and block until it is done."""
        latch = threading.Lock()
        latch.acquire()
        job = _Job(fn, False, None, latch)
        # The check and the append under one lock: close() sets _closed under it too, so a job
        # is either appended before that (close's final drain, or a worker, will finish it) or
        # refused here. Checking first and appending later could slip a job in after the drain,
        # and its latch would never be released.
        with self._lock:
            if self._closed:
                raise RuntimeError("this ThreadPool is closed; create a new one")
            self._injected += 1
            self._injector.append(job)
        if self._sleepers:
            self._wake_one()
        latch.acquire()  # released by the worker after job.done
        if job.exc is not None:
            raise job.exc
        return job.result

    def _wake_one(self) -> bool:
        """Wake one parked worker, if any (called after pushing a job); True if one was woken."""
        with self._lock:
            if not self._sleepers:
                return False
            w = self._sleepers.pop()
            w.parked = False
        w.parker.release()  # exactly one release per park: only the thread that cleared parked
        return True

    def _wake(self, w: _Worker) -> bool:
        """Wake worker ``w`` if it is parked (called when a job it waits for is done)."""
        with self._lock:
            if not w.parked:
                return False
            w.parked = False
            self._sleepers.remove(w)
        w.parker.release()
        return True

    def _has_work(self) -> bool:
        return bool(self._injector) or any(w.deque for w in self._workers)

    def _park(self, w: _Worker, waiting_for: _Job | None) -> None:
        """Sleep until woken: announce, re-check, sleep.

        Why no wake-up is lost: we set ``parked`` (under the lock) *before* re-checking for work
        and for ``waiting_for.done``; a pusher appends its job *before* reading ``_sleepers``, and
        a thief sets ``done`` *before* reading ``owner.parked``. Under the GIL these accesses are
        sequentially consistent, so either our re-check sees the job (or done), or the other
        thread sees us parked and releases our parker.
        """
        since = _clock()
        w.idle_since = since
        with self._lock:
            if self._closed and waiting_for is None:
                w.idle_since = None
                return
            w.parked = True
            self._sleepers.append(w)
        if (waiting_for is not None and waiting_for.done) or self._has_work() or self._closed:
            with self._lock:
                if w.parked:  # nobody has claimed our wake-up: withdraw
                    w.parked = False
                    self._sleepers.remove(w)
                    claimed = False
                else:
                    claimed = True
            if claimed:
                w.parker.acquire()  # a waker is releasing (or has released) it: consume that
        else:
            w.parks += 1
            w.parker.acquire()
        w.idle += _clock() - w.idle_since  # not `since`: reset_statistics may have moved it
        w.idle_since = None


# ---------------------------------------------------------------------------- the global pool
_global: ThreadPool | None = None
_global_lock = threading.Lock()


def _forget_global_pool_in_child() -> None:
    """After ``fork`` the child has the pool object but none of its threads: start afresh."""
    global _global, _global_lock
    _global = None
    _global_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_global_pool_in_child)


def global_pool() -> ThreadPool:
    """Return the process-wide pool, creating it on first use.

    Its size is ``COURSE_NUM_THREADS`` if set, else the usable cores (affinity and cgroup quota).

    Returns:
        The shared :class:`ThreadPool`.

    Raises:
        ValueError: if ``COURSE_NUM_THREADS`` is set but not a positive integer.

    Example:
        >>> global_pool().num_threads >= 1
        True
    """
    global _global
    pool = _global
    if pool is None:
        with _global_lock:
            if _global is None:
                _global = ThreadPool()
            pool = _global
    return pool


def current_num_threads() -> int:
    """Threads of the pool that ``join`` would use here (the current worker's, else the global).

    Returns:
        A positive integer.

    Example:
        >>> current_num_threads() >= 1
        True
    """
    w = getattr(_tls, "worker", None)
    if w is not None:
        return w.pool._num_threads
    return global_pool()._num_threads


def current_worker_index() -> int | None:
    """Index of the pool worker running this code, or None outside any pool.

    Example:
        >>> current_worker_index() is None
        True
    """
    w = getattr(_tls, "worker", None)
    return None if w is None else w.index


def join(fa: Callable[[], Any], fb: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``fa()`` and ``fb()``, possibly in parallel, and return both results (Rayon's ``join``).

    On a worker thread, ``fb`` is offered to idle workers while this thread runs ``fa``; outside
    any pool the call is handed to the global pool. Nested calls are cheap and cannot deadlock.

    Args:
        fa: zero-argument callable, run by the calling worker.
        fb: zero-argument callable, run here or by a thief.

    Returns:
        ``(fa(), fb())``.

    Raises:
        BaseException: whatever ``fa`` or ``fb`` raised, once *both* have finished (``fa``'s
            exception wins when both fail).

    Example:
        >>> def fib(n):
        ...     if n < 2:
        ...         return n
        ...     a, b = join(lambda: fib(n - 1), lambda: fib(n - 2))
        ...     return a + b
        >>> fib(10)
        55
    """
    w = getattr(_tls, "worker", None)
    if w is not None:
        return w.join(fa, fb, False)
    return global_pool()._run_root(lambda: _tls.worker.join(fa, fb, False))


def join_context(fa: Callable[[bool], Any], fb: Callable[[bool], Any]) -> tuple[Any, Any]:
    """Like :func:`join`, but each side receives ``migrated``: True if a thief runs it.

    Adaptive splitters use ``migrated`` to split more when work moves between threads.

    Example:
        >>> join_context(lambda m: m, lambda m: isinstance(m, bool))
        (False, True)
    """
    w = getattr(_tls, "worker", None)
    if w is not None:
        return w.join(fa, fb, True)
    return global_pool()._run_root(lambda: _tls.worker.join(fa, fb, True))
