"""Ping-pong: what one message costs, by size, over five ways of moving data.

Two parties bounce a message of ``s`` bytes back and forth; half a round trip is the one-way
time ``t(s)``. The simplest model of a link (Hockney's) is a fixed cost plus a cost per byte::

    t(s) = latency + s / bandwidth

The algorithm of every measurement:

1. Start the partner (a process, or a thread) and wait until it is ready.
2. For each size, a few warm-up round trips, then ``reps`` timed ones (fewer for large
   messages, so that each size moves about the same number of bytes); keep the median of the
   per-round-trip times, halved.
3. Fit the model by least squares with each point weighted by ``1 / t`` (:func:`fit_link`):
   unweighted, the large messages' absolute noise would swamp the latency.

The transports (:data:`TRANSPORTS`):

=================  ==========================================================================
``mpi-pickle``     mpi4py ``comm.send`` / ``comm.recv`` of a ``bytes`` object: pickled,
                   copied, unpickled
``mpi-buffer``     mpi4py ``comm.Send`` / ``comm.Recv`` of a NumPy array: the buffer goes as
                   it is, no pickling (MPICH's shared memory between ranks on one host)
``pipe``           ``multiprocessing.Pipe``: ``send_bytes`` / ``recv_bytes`` through the kernel
``shared-memory``  ``multiprocessing.shared_memory`` plus two semaphores: the sender copies
                   into the shared block and signals, the receiver copies out
``threads``        chapter 2's ``course_lib.channel.bounded(1)`` between two threads of one
                   process: only a reference moves, so the "bandwidth" is not a copy at all
=================  ==========================================================================

Source: R. W. Hockney, "The communication challenge for MPP: Intel Paragon and Meiko CS-2",
Parallel Computing 20(3), 1994 (the latency/bandwidth model); the OSU micro-benchmarks'
``osu_latency`` and ``osu_bw`` (the ping-pong method).
"""
from __future__ import annotations

import multiprocessing as mp
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Link", "PingPong", "fit_link", "pingpong", "TRANSPORTS", "SIZES", "plot_pingpong"]

#: Message sizes in bytes: 8 B to 4 MiB, by powers of 4.
SIZES = tuple(8 * 4 ** k for k in range(10))
#: Each size moves at most this many bytes per round of timing (so large messages get fewer reps).
_BYTES_PER_SIZE = 64 << 20


@dataclass(frozen=True)
class Link:
    """The fitted model of a link: ``latency`` in seconds, ``bandwidth`` in bytes per second
    (``inf`` when time does not grow with size)."""

    latency: float
    bandwidth: float

    def time(self, size) -> np.ndarray:
        """The model's one-way time for ``size`` bytes."""
        return self.latency + np.asarray(size, dtype=float) / self.bandwidth

    def __str__(self) -> str:
        bw = "unbounded" if not np.isfinite(self.bandwidth) else f"{self.bandwidth / 1e9:.2f} GB/s"
        return f"latency {self.latency * 1e6:.2f} us, bandwidth {bw}"


@dataclass(frozen=True)
class PingPong:
    """One transport's measurement: ``sizes`` (bytes) and ``seconds`` (one-way, median), and
    the :class:`Link` fitted to them."""

    transport: str
    sizes: np.ndarray
    seconds: np.ndarray

    @property
    def link(self) -> Link:
        return fit_link(self.sizes, self.seconds)


def fit_link(sizes: Sequence[float], seconds: Sequence[float]) -> Link:
    """Fit ``t = latency + size / bandwidth`` by least squares on relative errors.

    Minimises ``sum(((latency + size_i * c - t_i) / t_i) ** 2)`` over ``latency`` and
    ``c = 1 / bandwidth``: a linear least-squares problem whose rows are divided by ``t_i``.

    Args:
        sizes: message sizes in bytes (at least two different ones).
        seconds: one-way times in seconds, all positive.

    Returns:
        A :class:`Link`; ``bandwidth`` is ``inf`` when the fitted slope is not positive.

    Raises:
        ValueError: mismatched lengths, fewer than two distinct sizes, or a time <= 0.

    Example:
        >>> s = np.array([8, 1024, 1 << 20]); fit = fit_link(s, 2e-6 + s / 5e9)
        >>> round(fit.latency * 1e6, 3), round(fit.bandwidth / 1e9, 3)
        (2.0, 5.0)
    """
    s = np.asarray(sizes, dtype=float)
    t = np.asarray(seconds, dtype=float)
    if s.shape != t.shape or s.ndim != 1:
        raise ValueError(f"sizes and seconds must be 1-D of equal length, got {s.shape} and {t.shape}")
    if np.unique(s).size < 2:
        raise ValueError("fitting a latency and a bandwidth needs at least two different sizes")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("every time must be positive and finite")
    a = np.column_stack([np.ones_like(s), s]) / t[:, None]
    (latency, per_byte), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    return Link(float(latency), float(1.0 / per_byte) if per_byte > 0 else float("inf"))


def _reps(size: int, reps: int) -> int:
    return max(3, min(reps, _BYTES_PER_SIZE // max(size, 1)))


def _timed(bounce, sizes: Sequence[int], reps: int) -> np.ndarray:
    """Median one-way seconds per size; ``bounce(size)`` makes one round trip."""
    out = []
    for size in sizes:
        k = _reps(size, reps)
        for _ in range(2):
            bounce(size)
        times = np.empty(k)
        for i in range(k):
            t0 = time.perf_counter()
            bounce(size)
            times[i] = time.perf_counter() - t0
        out.append(np.median(times) / 2)
    return np.array(out)


# ------------------------------------------------------------------------------ MPI
def _mpi_rank(comm, sizes, reps, buffers):
    """Rank 0 times round trips to rank 1, which echoes; returns rank 0's medians."""
    if comm.size != 2:
        raise ValueError("the MPI ping-pong runs on exactly 2 ranks")
    peer = 1 - comm.rank
    out = []
    for size in sizes:
        msg = np.zeros(size, dtype=np.uint8)
        k = _reps(size, reps) + 2
        comm.Barrier()
        times = np.empty(k)
        for i in range(k):
            t0 = time.perf_counter()
            if buffers:
                if comm.rank == 0:
                    comm.Send(msg, dest=peer)
                    comm.Recv(msg, source=peer)
                else:
                    comm.Recv(msg, source=peer)
                    comm.Send(msg, dest=peer)
            elif comm.rank == 0:
                comm.send(msg.tobytes(), dest=peer)
                comm.recv(source=peer)
            else:
                comm.send(comm.recv(source=peer), dest=peer)
            times[i] = time.perf_counter() - t0
        out.append(np.median(times[2:]) / 2)
    return np.array(out)


def _mpi(sizes, reps, buffers):
    from course_lib.dist.launch import mpirun

    return mpirun(_mpi_rank, 2, args=(list(sizes), reps, buffers), timeout=120).results[0]


# ------------------------------------------------------------------------------ processes
def _pipe_echo(conn):
    while True:
        data = conn.recv_bytes()
        if not data:
            return
        conn.send_bytes(data)


def _pipe(sizes, reps):
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_pipe_echo, args=(there,), daemon=True)
    proc.start()
    payloads = {s: bytes(s) for s in sizes}

    def bounce(size):
        here.send_bytes(payloads[size])
        here.recv_bytes()
    try:
        return _timed(bounce, sizes, reps)
    finally:
        here.send_bytes(b"")
        proc.join(10)


def _shm_echo(name, ping, pong, size_box):
    from multiprocessing import shared_memory

    block = shared_memory.SharedMemory(name=name)
    views = [np.ndarray((block.size,), np.uint8, block.buf)]  # dropped before close()
    try:
        while True:
            ping.acquire()
            n = size_box.value
            if n < 0:
                return
            local = views[0][:n].copy()        # receive: copy out of the shared block
            views[0][:n] = local               # reply: copy back in
            pong.release()
    finally:
        views.clear()
        block.close()


def _shared_memory(sizes, reps):
    from multiprocessing import shared_memory

    ctx = mp.get_context("spawn")
    block = shared_memory.SharedMemory(create=True, size=max(sizes))
    ping, pong, size_box = ctx.Semaphore(0), ctx.Semaphore(0), ctx.Value("q", 0, lock=False)
    proc = ctx.Process(target=_shm_echo, args=(block.name, ping, pong, size_box), daemon=True)
    proc.start()
    views = [np.ndarray((block.size,), np.uint8, block.buf)]  # dropped before close()
    payloads = {s: np.ones(s, np.uint8) for s in sizes}

    def bounce(size):
        views[0][:size] = payloads[size]
        size_box.value = size
        ping.release()
        pong.acquire()
        payloads[size][:] = views[0][:size]
    try:
        return _timed(bounce, sizes, reps)
    finally:
        size_box.value = -1
        ping.release()
        proc.join(10)
        views.clear()
        block.close()
        block.unlink()


def _threads(sizes, reps):
    from course_lib import channel

    to_tx, to_rx = channel.bounded(1)
    back_tx, back_rx = channel.bounded(1)

    def echo():
        for msg in to_rx:
            back_tx.send(msg)

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    payloads = {s: np.ones(s, np.uint8) for s in sizes}

    def bounce(size):
        to_tx.send(payloads[size])
        back_rx.recv()
    try:
        return _timed(bounce, sizes, reps)
    finally:
        to_tx.close()
        t.join(10)


TRANSPORTS = {
    "mpi-pickle": lambda sizes, reps: _mpi(sizes, reps, False),
    "mpi-buffer": lambda sizes, reps: _mpi(sizes, reps, True),
    "pipe": _pipe,
    "shared-memory": _shared_memory,
    "threads": _threads,
}


def pingpong(transport: str, sizes: Sequence[int] = SIZES, reps: int = 200) -> PingPong:
    """Measure one transport's one-way time for each message size.

    Args:
        transport: a key of :data:`TRANSPORTS`.
        sizes: message sizes in bytes, each >= 1.
        reps: timed round trips per size (fewer for large sizes; at least 3).

    Returns:
        A :class:`PingPong`; its ``.link`` is the fitted model.

    Raises:
        ValueError: an unknown transport, or a size below 1.
        course_lib.dist.MPIUnavailable: an MPI transport where MPI is missing.

    Example:
        >>> pp = pingpong("pipe", sizes=(8, 4096), reps=20)
        >>> pp.seconds.shape
        (2,)
    """
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}; choose from {sorted(TRANSPORTS)}")
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be whole numbers of bytes >= 1, got {sizes}")
    seconds = np.asarray(TRANSPORTS[transport](sizes, int(reps)), dtype=float)
    return PingPong(transport, np.array(sizes), seconds)


def plot_pingpong(results: Sequence[PingPong], ax=None):
    """Log-log plot of one-way time against size, one colour per transport, with each fitted
    model as a dashed line. Returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    for pp in results:
        line, = ax.loglog(pp.sizes, pp.seconds * 1e6, "o", label=f"{pp.transport}: {pp.link}")
        ax.loglog(pp.sizes, pp.link.time(pp.sizes) * 1e6, "--", color=line.get_color(), lw=1)
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("one-way time (us)")
    ax.set_title("Ping-pong: t(s) = latency + s / bandwidth")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return ax
