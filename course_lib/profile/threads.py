"""Where threads spend their time: running, or waiting (off-CPU), on a timeline.

A sampling profiler sees what a thread executes. A thread that waits (on a lock, on a full or
empty channel, on I/O) executes nothing, so it is invisible there, yet waiting is where a
threaded program loses its time. Sysprof, perf's ``sched`` events and Intel VTune's "thread
timeline" show it as *off-CPU time*. This module records it by hand, which works everywhere:
each thread marks the spans in which it is busy, waiting to send, or waiting to receive, and the
timeline draws one row per thread.

=====================  ===============================================================
:class:`Recorder`      ``with rec.span("parse", "busy"): ...`` from any thread;
                       ``rec.summary()`` (seconds and shares per thread and state),
                       ``rec.plot()`` (the timeline)
:func:`run_pipeline`   a pipeline of stages joined by bounded channels (chapter 2),
                       each stage a thread, every send and receive recorded
=====================  ===============================================================

Reading a pipeline's timeline: the **bottleneck** stage is busy nearly all the time; the stages
before it wait to *send* (the channel in front of the bottleneck is full: back-pressure), the
stages after it wait to *receive* (starved).
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

__all__ = ["Span", "Recorder", "run_pipeline", "STATES", "LOG_STAGES", "log_blocks", "log_pipeline"]

#: The states a span can have, and their colours on the timeline.
STATES = {"busy": "tab:green", "wait send": "tab:red", "wait recv": "tab:orange", "other": "0.6"}


@dataclass(frozen=True)
class Span:
    """One interval of one thread in one state (seconds since the recorder started)."""

    thread: str
    state: str
    start: float
    end: float


class Recorder:
    """Collects :class:`Span` records from many threads (an append under a lock per span).

    Example:
        >>> rec = Recorder()
        >>> with rec.span("main", "busy"):
        ...     _ = sum(range(1000))
        >>> [s.state for s in rec.spans]
        ['busy']
    """

    def __init__(self) -> None:
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()
        self.spans: list[Span] = []

    def span(self, thread: str, state: str) -> "_SpanContext":
        """A context manager recording the time spent inside it as ``state`` of ``thread``."""
        if state not in STATES:
            raise ValueError(f"state must be one of {sorted(STATES)}, got {state!r}")
        return _SpanContext(self, str(thread), state)

    def _add(self, span: Span) -> None:
        with self._lock:
            self.spans.append(span)

    def threads(self) -> list[str]:
        """Thread names in the order they first recorded."""
        seen: dict[str, None] = {}
        for s in self.spans:
            seen.setdefault(s.thread, None)
        return list(seen)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per thread: seconds in each state, plus ``"share busy"`` (busy / recorded time)."""
        out: dict[str, dict[str, float]] = {}
        for name in self.threads():
            totals: dict[str, float] = defaultdict(float)
            for s in self.spans:
                if s.thread == name:
                    totals[s.state] += s.end - s.start
            recorded = sum(totals.values())
            row = {state: totals.get(state, 0.0) for state in STATES}
            row["share busy"] = totals.get("busy", 0.0) / recorded if recorded > 0 else 0.0
            out[name] = row
        return out

    def table(self) -> str:
        """The summary as text, one row per thread."""
        lines = [f"{'thread':<12}" + "".join(f"{s:>11}" for s in STATES) + f"{'busy %':>8}"]
        for name, row in self.summary().items():
            lines.append(f"{name:<12}" + "".join(f"{row[s] * 1e3:9.1f}ms" for s in STATES)
                         + f"{row['share busy']:8.0%}")
        return "\n".join(lines)

    __repr__ = table

    def plot(self, ax=None, title: str | None = None):
        """One row per thread, one bar per span coloured by state. Returns the Axes."""
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch

        if ax is None:
            _, ax = plt.subplots(figsize=(7.5, 0.6 + 0.5 * max(1, len(self.threads()))))
        names = self.threads()
        for row, name in enumerate(names):
            bars = [(s.start * 1e3, (s.end - s.start) * 1e3, STATES[s.state])
                    for s in self.spans if s.thread == name]
            if bars:
                ax.broken_barh([(b[0], b[1]) for b in bars], (row - 0.4, 0.8),
                               facecolors=[b[2] for b in bars], linewidth=0)
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_xlabel("ms since start")
        ax.legend(handles=[Patch(color=c, label=s) for s, c in STATES.items() if s != "other"],
                  loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, fontsize="small",
                  frameon=False)
        ax.set_title(title or "thread timeline: busy and waiting", fontsize=10)
        return ax


class _SpanContext:
    __slots__ = ("rec", "thread", "state", "t")

    def __init__(self, rec: Recorder, thread: str, state: str):
        self.rec, self.thread, self.state = rec, thread, state

    def __enter__(self) -> None:
        self.t = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        end = time.perf_counter()
        self.rec._add(Span(self.thread, self.state, self.t - self.rec._t0, end - self.rec._t0))


def run_pipeline(stages: Sequence[tuple[str, Callable]], items: Iterable, capacity: int = 4,
                 timeout: float = 60.0) -> tuple[list, Recorder]:
    """Run ``items`` through ``stages`` (each ``(name, fn)``, one thread per stage, joined by
    ``bounded(capacity)`` channels) and record every thread's busy and waiting spans.

    The feeder thread (``"source"``) sends the items; each stage receives, applies its function
    (a busy span), sends the result on; the caller's thread collects (``"sink"``).

    Returns:
        ``(results in order, recorder)``.

    Raises:
        ValueError: no stages, or a capacity below 1.
        TimeoutError: the pipeline did not finish within ``timeout`` seconds (a stage that
            never returns); its threads are daemons and are left behind.
        Exception: the first exception a stage function raised, re-raised here.
    """
    from course_lib.channel import Disconnected, Timeout, bounded

    stages = list(stages)
    if not stages:
        raise ValueError("run_pipeline needs at least one (name, function) stage")
    if int(capacity) < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    rec = Recorder()
    ends = [bounded(int(capacity)) for _ in range(len(stages) + 1)]
    errors: list[BaseException] = []

    def source() -> None:
        tx = ends[0][0]
        try:
            for item in items:
                with rec.span("source", "wait send"):
                    tx.send(item)
        finally:
            tx.close()

    def stage(k: int, name: str, fn: Callable) -> None:
        rx, tx = ends[k][1], ends[k + 1][0]
        try:
            while True:
                try:
                    with rec.span(name, "wait recv"):
                        item = rx.recv()
                except Disconnected:
                    return
                with rec.span(name, "busy"):
                    out = fn(item)
                with rec.span(name, "wait send"):
                    tx.send(out)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)
            rx.close()
        finally:
            tx.close()

    threads = [threading.Thread(target=source, name="source", daemon=True)]
    threads += [threading.Thread(target=stage, args=(k, name, fn), name=name, daemon=True)
                for k, (name, fn) in enumerate(stages)]
    for t in threads:
        t.start()
    results, rx = [], ends[-1][1]
    deadline = time.monotonic() + float(timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the pipeline did not finish within {timeout} s")
        try:
            with rec.span("sink", "wait recv"):
                results.append(rx.recv(timeout=left))
        except Disconnected:
            break
        except Timeout:
            raise TimeoutError(f"the pipeline did not finish within {timeout} s") from None
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    return results, rec


# ------------------------------------------------------------------------------- the chapter's pipeline
def _decode(block: bytes) -> bytes:
    return block.decode().upper().encode()


def _compress(block: bytes) -> bytes:
    import zlib

    return zlib.compress(block, 6)


def _checksum(block: bytes) -> str:
    import hashlib

    return hashlib.sha256(block).hexdigest()


#: The chapter's pipeline: three stages of very different cost (which one is slow is for the
#: timeline to tell).
LOG_STAGES = (("decode", _decode), ("compress", _compress), ("checksum", _checksum))


def log_blocks(count: int = 40, size: int = 200_000, seed: int = 0) -> list[bytes]:
    """``count`` blocks of about ``size`` bytes of log-like text (compressible, seeded)."""
    import numpy as np

    if int(count) < 0 or int(size) < 1:
        raise ValueError(f"count must be >= 0 and size >= 1, got {count} and {size}")
    rng = np.random.default_rng(seed)
    words = np.array([b"user", b"get", b"put", b"list", b"ms=17", b"ok", b"404", b"u0042"])
    per_block = max(1, int(size) // 5)
    return [b" ".join(rng.choice(words, per_block)) for _ in range(int(count))]


def log_pipeline(count: int | None = None, capacity: int = 4, seed: int = 0) -> tuple[list, Recorder]:
    """Run :data:`LOG_STAGES` over :func:`log_blocks` and record the timeline."""
    from course_lib.config import pick

    return run_pipeline(LOG_STAGES, log_blocks(count or pick(40, 16), seed=seed), capacity=capacity)
