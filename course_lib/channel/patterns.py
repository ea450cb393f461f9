"""Message-passing patterns built from channels: worker pool, pipeline, fan-out/fan-in, merge.

Every pattern shuts down by *disconnection*, never by a sentinel value or a flag:

1. The producer of a channel closes its Sender when it has nothing more to send.
2. The consumer's ``for x in rx`` loop drains what is left and ends; the consumer then closes
   its own Sender, so the end-of-stream travels down the pipeline stage by stage.
3. If a stage fails, it closes its Receiver: the stage upstream gets ``Disconnected`` from its
   next ``send`` and stops too, so an error shuts the whole pipeline down instead of hanging it.
   The first error is re-raised in the caller once every thread has finished.

Bounded channels between stages give back-pressure: a fast stage blocks in ``send`` when the
slow stage after it falls ``cap`` messages behind, so memory stays bounded.

Source: C. A. R. Hoare, "Communicating Sequential Processes" (1978); Rob Pike, "Go Concurrency
Patterns: Pipelines and cancellation" (go.dev/blog/pipelines, 2014); crossbeam-channel examples.
Thread safety: each helper owns its threads and joins them before returning.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from course_lib.channel.ends import Receiver, Sender
from course_lib.channel.errors import Disconnected
from course_lib.channel.select import select

__all__ = ["worker_pool", "pipeline", "fan_out_fan_in", "merge", "LengthSampler",
           "PipelineRun", "measure_pipeline"]


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _feed(items: Iterable[Any], tx: Sender, errors: list) -> None:
    """Send every item, then close ``tx``; stop early if the consumers are gone."""
    with tx:
        try:
            for item in items:
                tx.send(item)
        except Disconnected:
            pass
        except BaseException as exc:  # the source iterator itself failed
            errors.append(exc)


def _start(target: Callable, *args: Any) -> threading.Thread:
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def _map_stage(fn: Callable, rx: Receiver, tx: Sender, errors: list) -> None:
    """``for x in rx: tx.send(fn(x))``, closing both ends on the way out (step 2 and 3)."""
    with rx, tx:
        try:
            for x in rx:
                tx.send(fn(x))
        except Disconnected:
            pass  # downstream is gone: stop quietly, closing rx stops upstream in turn
        except BaseException as exc:
            errors.append(exc)


def _finish(threads: list, errors: list) -> None:
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def worker_pool(fn: Callable[[Any], Any], jobs: Iterable[Any], workers: int = 4,
                cap: Optional[int] = None) -> list:
    """Run ``fn`` on every job with ``workers`` threads fed by one bounded channel.

    Args:
        fn: the work for one job.
        jobs: the jobs (any iterable; consumed lazily, at most ``cap`` ahead of the workers).
        workers: number of worker threads (>= 1).
        cap: capacity of the job channel (default ``2 * workers``).

    Returns:
        ``[fn(job) for job in jobs]``, in job order.

    Raises:
        The first exception raised by ``fn`` (after every worker has stopped).

    Example:
        >>> worker_pool(lambda x: x * x, range(5), workers=2)
        [0, 1, 4, 9, 16]
    """
    from course_lib.channel import bounded, unbounded

    workers = _check_count("workers", workers, 1)
    job_tx, job_rx = bounded(2 * workers if cap is None else cap)
    res_tx, res_rx = unbounded()
    errors: list = []
    tagged = _map_stage_tagged(fn)
    threads = [_start(_map_stage, tagged, job_rx.clone(), res_tx.clone(), errors)
               for _ in range(workers)]
    job_rx.close()
    res_tx.close()
    threads.append(_start(_feed, enumerate(jobs), job_tx, errors))
    results: dict = dict(res_rx)  # (index, result) pairs until every worker has closed its clone
    res_rx.close()
    _finish(threads, errors)
    return [results[i] for i in range(len(results))]


def _map_stage_tagged(fn: Callable) -> Callable:
    def run(pair: tuple) -> tuple:
        index, job = pair
        return index, fn(job)
    return run


def pipeline(source: Iterable[Any], stages: Sequence[Callable[[Any], Any]], cap: int = 16) -> list:
    """Run ``source`` through ``stages``, one thread per stage, bounded channels in between.

    Args:
        source: the items fed into the first stage (by a feeder thread).
        stages: functions applied in order; stage k's output is stage k+1's input.
        cap: capacity of each channel between stages (0 = rendezvous).

    Returns:
        The outputs of the last stage, in source order.

    Raises:
        The first exception raised by a stage or by the source; the pipeline shuts down by
        disconnection first, so no thread is left blocked.

    Example:
        >>> pipeline(range(4), [lambda x: x + 1, lambda x: 10 * x], cap=2)
        [10, 20, 30, 40]
    """
    from course_lib.channel import bounded

    stages = list(stages)
    if not stages:
        raise ValueError("pipeline() needs at least one stage")
    errors: list = []
    tx, rx = bounded(cap)
    threads = [_start(_feed, source, tx, errors)]
    for fn in stages:
        next_tx, next_rx = bounded(cap)
        threads.append(_start(_map_stage, fn, rx, next_tx, errors))
        rx = next_rx
    with rx:
        out = list(rx)
    _finish(threads, errors)
    return out


def merge(receivers: Iterable[Receiver], timeout: Optional[float] = None) -> Iterator[Any]:
    """Fan-in: yield messages from all ``receivers`` as they arrive, until all are disconnected.

    Args:
        receivers: open Receivers (they are not closed by ``merge``).
        timeout: passed to each ``select``; ``Timeout`` propagates if nothing arrives in time.

    Yields:
        Messages in arrival order (FIFO per receiver, interleaved fairly across receivers).

    Example:
        >>> (t1, r1), (t2, r2) = unbounded(), unbounded()
        >>> t1.send(1); t2.send(2); t1.close(); t2.close()
        >>> sorted(merge([r1, r2]))
        [1, 2]
    """
    live = list(receivers)
    while live:
        try:
            _, value = select(live, timeout=timeout)
        except Disconnected as exc:
            live.remove(exc.receiver)
            continue
        yield value


def fan_out_fan_in(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = 4,
                   cap: int = 8) -> list:
    """Fan-out ``items`` to ``workers`` threads over one channel, fan-in their outputs with select.

    Each worker has its own output channel; ``merge`` (``select`` in a loop) combines them.

    Args:
        fn: the work for one item.
        items: the inputs.
        workers: number of worker threads (>= 1).
        cap: capacity of every channel.

    Returns:
        ``fn(x)`` for every item, in completion order (sort it if order matters).

    Raises:
        The first exception raised by ``fn``.

    Example:
        >>> sorted(fan_out_fan_in(lambda x: -x, range(4), workers=2))
        [-3, -2, -1, 0]
    """
    from course_lib.channel import bounded

    workers = _check_count("workers", workers, 1)
    errors: list = []
    in_tx, in_rx = bounded(cap)
    outs, threads = [], []
    for _ in range(workers):
        out_tx, out_rx = bounded(cap)
        threads.append(_start(_map_stage, fn, in_rx.clone(), out_tx, errors))
        outs.append(out_rx)
    in_rx.close()
    threads.append(_start(_feed, items, in_tx, errors))
    results = list(merge(outs))
    for r in outs:
        r.close()
    _finish(threads, errors)
    return results


class LengthSampler:
    """Record ``len()`` of some channels every ``interval`` seconds on a background thread.

    Use it to *see* back-pressure: plot ``times`` against each column of ``lengths``.

    Args:
        ends: channel ends (Sender or Receiver) to watch.
        interval: seconds between samples.

    Example:
        >>> tx, rx = unbounded()
        >>> with LengthSampler([rx], interval=0.001) as s:
        ...     tx.send(1)
        >>> s.lengths.shape[1]
        1
    """

    def __init__(self, ends: Sequence[Any], interval: float = 0.005) -> None:
        self._ends = list(ends)
        self._interval = interval
        self._stop = threading.Event()
        self._rows: list = []
        self._thread: Optional[threading.Thread] = None
        self.times = np.empty(0)
        self.lengths = np.empty((0, len(self._ends)), dtype=np.int64)

    def _run(self) -> None:
        t0 = time.perf_counter()
        while True:
            self._rows.append([time.perf_counter() - t0] + [len(e) for e in self._ends])
            if self._stop.wait(self._interval):
                break

    def __enter__(self) -> "LengthSampler":
        self._thread = _start(self._run)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        rows = np.array(self._rows, dtype=float).reshape(-1, 1 + len(self._ends))
        self.times = rows[:, 0]
        self.lengths = rows[:, 1:].astype(np.int64)


@dataclass(frozen=True)
class PipelineRun:
    """What ``measure_pipeline`` saw.

    Attributes:
        costs: seconds per item of each stage. cap: channel capacity (None: unbounded).
        times: sample instants (s). lengths: ``len()`` of channel k at each sample (column k;
            channel 0 feeds stage 0, channel k feeds stage k, the last one feeds the sink).
        seconds: wall time of the whole run. rate: items per second through the sink.
        item_bytes: size of one item's payload (to turn lengths into memory).
    """

    costs: tuple
    cap: Optional[int]
    times: np.ndarray
    lengths: np.ndarray
    seconds: float
    rate: float
    item_bytes: int

    def full_fraction(self) -> np.ndarray:
        """Fraction of samples in which each channel was full (all zeros when unbounded)."""
        if self.cap is None or len(self.times) == 0:
            return np.zeros(self.lengths.shape[1])
        return (self.lengths >= max(self.cap, 1)).mean(axis=0)


def measure_pipeline(costs: Sequence[float], n: int, cap: Optional[int] = 4,
                     item_bytes: int = 0, interval: float = 0.002) -> PipelineRun:
    """Run a pipeline whose stage k sleeps ``costs[k]`` per item and record channel lengths.

    A feeder pushes ``n`` items as fast as it can; a sink pulls them as fast as it can. Sleeping
    releases the GIL, so the stages really overlap, as real I/O or native code would.

    Args:
        costs: seconds of "work" per item for each stage.
        n: items to push through.
        cap: capacity of every channel; None for unbounded channels (no back-pressure).
        item_bytes: payload size per item (a bytes object), to make memory growth real.
        interval: seconds between length samples.

    Returns:
        A :class:`PipelineRun`.

    Example:
        >>> run = measure_pipeline([0.001, 0.003], n=50, cap=2)
        >>> run.full_fraction()[0] > 0.5     # the channel before the slow stage is full
        True
    """
    from course_lib.channel import bounded, unbounded

    make = unbounded if cap is None else (lambda: bounded(cap))
    chans = [make() for _ in range(len(costs) + 1)]
    errors: list = []

    def work(seconds: float) -> Callable:
        def stage(x: Any) -> Any:
            time.sleep(seconds)
            return x
        return stage

    payload = bytes(item_bytes)
    items = (payload if item_bytes else i for i in range(n))
    start = time.perf_counter()
    with LengthSampler([rx for _, rx in chans], interval=interval) as sampler:
        threads = [_start(_feed, items, chans[0][0], errors)]
        threads += [_start(_map_stage, work(c), chans[k][1], chans[k + 1][0], errors)
                    for k, c in enumerate(costs)]
        with chans[-1][1] as sink:
            count = sum(1 for _ in sink)
        _finish(threads, errors)
    seconds = time.perf_counter() - start
    return PipelineRun(tuple(costs), cap, sampler.times, sampler.lengths, seconds, count / seconds,
                       item_bytes)
