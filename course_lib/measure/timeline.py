"""Pictures of a thread pool at work: which worker ran which task when, and who stole what.

How a picture is made from ``ThreadPool(..., record_timeline=True).statistics().timeline``:

1. Group the events by worker. A worker's events nest like its call stack (a ``join`` task
   contains the tasks it forked and ran itself), so the work actually done is the *leaves*:
   events that contain no other event of the same worker.
2. A leaf is "stolen work" if it, or any event around it on the same worker, was stolen; it is
   coloured by that steal so that one stolen subtree is one colour.
3. Draw one row per worker, one bar per leaf; a steal is an arrow from the victim's row to the
   thief's row at the moment the thief started the stolen task. Blank space is idle time.

Source:
    The Gantt charts of Cilk and TBB profilers (e.g. Intel VTune's "thread timeline"); the
    events are this course's own (see :class:`course_lib.par.TimelineEvent`).

Thread-safety: pure functions of a finished list of events.
"""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["Leaf", "leaves", "plot_timeline"]


class Leaf(NamedTuple):
    """A piece of work a worker really ran (an event containing no other event of its worker)."""

    worker: int
    start: float
    end: float
    task: str
    steal: int | None  # index (in the timeline) of the innermost steal this leaf belongs to


def _events_of(timeline):
    events = getattr(timeline, "timeline", timeline)  # PoolStatistics or a list of events
    return list(events)


def leaves(timeline) -> list[Leaf]:
    """Return the leaf events of a timeline, each with the steal it belongs to.

    Args:
        timeline: a :class:`~course_lib.par.PoolStatistics` or a sequence of
            :class:`~course_lib.par.TimelineEvent`.

    Returns:
        Leaves sorted by worker, then start time.

    Example:
        >>> from course_lib.par import TimelineEvent
        >>> ev = [TimelineEvent(0, 0.0, 1.0, "outer"), TimelineEvent(0, 0.1, 0.5, "0:4")]
        >>> [leaf.task for leaf in leaves(ev)]
        ['0:4']
    """
    events = _events_of(timeline)
    out: list[Leaf] = []
    by_worker: dict[int, list[int]] = {}
    for i, e in enumerate(events):
        by_worker.setdefault(e.worker, []).append(i)
    for worker in sorted(by_worker):
        order = sorted(by_worker[worker], key=lambda i: (events[i].start, -events[i].end))
        stack: list[int] = []  # enclosing events, outermost first
        for pos, i in enumerate(order):
            e = events[i]
            while stack and events[stack[-1]].end <= e.start:
                stack.pop()
            stack.append(i)
            nxt = events[order[pos + 1]] if pos + 1 < len(order) else None
            if nxt is None or nxt.start >= e.end:  # nothing starts inside e: a leaf
                steal = next((j for j in reversed(stack) if events[j].stolen_from is not None), None)
                out.append(Leaf(worker, e.start, e.end, e.task, steal))
    return out


def plot_timeline(timeline, ax=None, *, title: str | None = None, show_steals: bool = True,
                  labels: bool = False):
    """Draw a Gantt chart of a pool's run: one row per worker, a bar per task, steal arrows.

    Args:
        timeline: a :class:`~course_lib.par.PoolStatistics` (from a pool created with
            ``record_timeline=True``) or a sequence of events.
        ax: matplotlib axes to draw on; a new figure if None.
        title: axes title.
        show_steals: draw an arrow from victim to thief for every steal.
        labels: write each leaf's task label in its bar (readable for a few dozen leaves).

    Returns:
        The matplotlib axes.

    Raises:
        ValueError: if the timeline is empty (was the pool created with record_timeline=True?).

    Example:
        >>> from course_lib import par
        >>> with par.ThreadPool(2, record_timeline=True) as pool:
        ...     _ = pool.install(lambda: par.par_range(1000).sum())
        ...     ax = plot_timeline(pool.statistics())
    """
    import matplotlib.pyplot as plt

    events = _events_of(timeline)
    if not events:
        raise ValueError("the timeline is empty: create the pool with ThreadPool(n, "
                         "record_timeline=True) and run something on it first")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.6 + 0.55 * (1 + max(e.worker for e in events))))
    workers = sorted({e.worker for e in events} | set(range(1 + max(e.worker for e in events))))
    scale, unit = (1e3, "ms") if max(e.end for e in events) < 2 else (1.0, "s")
    palette = plt.get_cmap("tab20").colors
    found = leaves(events)
    steal_ids = sorted({leaf.steal for leaf in found if leaf.steal is not None})
    colour_of = {s: palette[(2 + k) % len(palette)] for k, s in enumerate(steal_ids)}
    for leaf in found:
        colour = "0.55" if leaf.steal is None else colour_of[leaf.steal]
        width = (leaf.end - leaf.start) * scale
        ax.broken_barh([(leaf.start * scale, max(width, 1e-9))], (leaf.worker - 0.35, 0.7),
                       facecolors=colour, edgecolors="white", linewidth=0.3)
        if labels:
            ax.text((leaf.start + leaf.end) / 2 * scale, leaf.worker, leaf.task, ha="center",
                    va="center", fontsize=6, clip_on=True)
    if show_steals:
        for e in events:
            if e.stolen_from is not None:
                ax.annotate("", xy=(e.start * scale, e.worker), xytext=(e.start * scale, e.stolen_from),
                            arrowprops=dict(arrowstyle="->", color="crimson", lw=0.8, alpha=0.7))
    ax.set_yticks(workers)
    ax.set_yticklabels([f"worker {w}" for w in workers])
    ax.set_ylim(-0.6, max(workers) + 0.6)
    ax.invert_yaxis()
    ax.set_xlabel(f"time ({unit})")
    steals = sum(e.stolen_from is not None for e in events)
    ax.set_title(title or f"{len(found)} leaf tasks, {steals} steals (grey: never stolen)")
    return ax
