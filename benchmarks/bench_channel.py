"""Benchmarks for course_lib.channel and course_lib.channel.ring: messages per second through a channel.

For 1 producer / 1 consumer and 4 / 4, each transport moves N integers between threads (processes
for ``multiprocessing.Queue``); one measured call = start the threads, move N, join:

1. ``queue.Queue(1000)``: the standard library's lock + condition-variable queue (the baseline).
2. ``multiprocessing.Queue(1000)``: pickling through a pipe between processes.
3. ``course_lib.channel.bounded(1000)``: our Python channel (lock + conditions, like 1).
4. ``course_lib.channel.ring.bounded(1000)`` from Python, one call per message (``send``/``recv``) and in
   batches of 1000 (``send_many``/``recv_many``).
5. The same C ring from numba ``nogil`` kernels (``produce_range``/``consume_sum``).

Reference (from the chapter's brief, not measured here): Rust crossbeam ``bounded(1000)`` moved
about 31 million u64/s between two threads on this kind of machine, ``queue.Queue`` about 0.3 M.
Targets: the ring from numba >= 15 M messages/s 1p1c; from Python >= 3x ``queue.Queue``.

Run with ``python -m benchmarks channel``.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import threading

import numpy as np

from course_lib import channel
from course_lib.channel import ring
from course_lib.config import pick
from course_lib.measure import bench
from course_lib.measure.machine import usable_cores

CAP = 1000
CROSSBEAM_REFERENCE = 31e6


def _threads(producers, consumers):
    """Run producer/consumer callables on threads and join them (one measured call)."""
    ts = [threading.Thread(target=f) for f in list(producers) + list(consumers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def _queue_queue(p, c, n):
    def call():
        q = queue.Queue(CAP)

        def produce():
            put = q.put
            for i in range(n // p):
                put(i)

        def consume():
            get = q.get
            for _ in range(n // c):
                get()
        _threads([produce] * p, [consume] * c)
    return call


def _mp_put(q, k):
    for i in range(k):
        q.put(i)


def _mp_get(q, k):
    for _ in range(k):
        q.get()


def _mp_queue(p, c, n):
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")

    def call():
        q = ctx.Queue(CAP)
        procs = [ctx.Process(target=_mp_put, args=(q, n // p)) for _ in range(p)]
        procs += [ctx.Process(target=_mp_get, args=(q, n // c)) for _ in range(c)]
        for pr in procs:
            pr.start()
        for pr in procs:
            pr.join()
    return call


def _py_channel(make, p, c, n):
    def call():
        tx, rx = make(CAP)

        def produce():
            send = tx.send
            for i in range(n // p):
                send(i)

        def consume():
            recv = rx.recv
            for _ in range(n // c):
                recv()
        _threads([produce] * p, [consume] * c)
    return call


def _ring_batches(p, c, n):
    batch = np.arange(CAP, dtype=np.int64)

    def call():
        tx, rx = ring.bounded(CAP)

        def produce():
            for _ in range(n // p // CAP):
                tx.send_many(batch)

        def consume():
            left = n // c
            while left:
                left -= len(rx.recv_many(min(CAP, left)))
        _threads([produce] * p, [consume] * c)
    return call


def _ring_numba(p, c, n):
    def call():
        tx, rx = ring.bounded(CAP)
        _threads([lambda: ring.produce_range(tx.address, 0, n // p)] * p,
                 [lambda: ring.consume_sum(rx.address, n // c)] * c)
    return call


def run() -> None:
    """Measure and print messages/s for each transport, and the ratios the chapter asks for."""
    budget = pick(1.0, 0.15)
    sizes = {"python": pick(200_000, 20_000), "mp": pick(40_000, 4_000),
             "batch": pick(4_000_000, 400_000), "numba": pick(8_000_000, 800_000)}
    tx, rx = ring.bounded(4)  # compile/load the numba kernels outside the timing
    ring.produce_range(tx.address, 0, 2)
    ring.consume_sum(rx.address, 2)

    transports = [
        ("queue.Queue", "python", _queue_queue),
        ("multiprocessing.Queue", "mp", _mp_queue),
        ("course_lib.channel", "python", lambda p, c, n: _py_channel(channel.bounded, p, c, n)),
        ("C ring, Python per message", "python", lambda p, c, n: _py_channel(ring.bounded, p, c, n)),
        ("C ring, Python batches of 1000", "batch", _ring_batches),
        ("C ring, numba nogil", "numba", _ring_numba),
    ]
    print(f"messages/s through a bounded({CAP}) channel, {usable_cores()} usable cores "
          f"(4p/4c threads oversubscribe a 2-core machine)")
    rate: dict = {}
    for name, size, make in transports:
        for p, c in ((1, 1), (4, 4)):
            n = sizes[size] // (4 * CAP) * (4 * CAP)  # divisible by p, c and the batch size
            m = bench.measure(make(p, c, n), budget=budget, min_samples=3, max_samples=30,
                              label=f"{name} {p}p/{c}c")
            rate[name, p] = n / m.median
    width = max(len(name) for name, _, _ in transports)
    print(f"  {'transport':<{width}}  {'1p/1c':>12}  {'4p/4c':>12}")
    for name, _, _ in transports:
        print(f"  {name:<{width}}  {rate[name, 1] / 1e6:10.2f} M  {rate[name, 4] / 1e6:10.2f} M")
    print(f"  {'(Rust crossbeam bounded(1000), reference)':<{width}}  "
          f"{CROSSBEAM_REFERENCE / 1e6:10.2f} M")

    q = rate["queue.Queue", 1]
    print("\nratios (1p/1c unless noted)")
    nb = rate["C ring, numba nogil", 1]
    print(f"  C ring from numba                   {nb / 1e6:7.1f} M/s  (target >= 15 M/s: "
          f"{'met' if nb >= 15e6 else 'NOT met'})")
    print(f"  C ring numba / crossbeam reference  {nb / CROSSBEAM_REFERENCE:7.2f}x")
    per_msg = rate["C ring, Python per message", 1] / q
    print(f"  C ring Python per message / queue   {per_msg:7.2f}x  (target >= 3x: "
          f"{'met' if per_msg >= 3 else 'NOT met'})")
    print(f"  C ring Python batches / queue       {rate['C ring, Python batches of 1000', 1] / q:7.1f}x")
    print(f"  course_lib.channel / queue          {rate['course_lib.channel', 1] / q:7.2f}x")
    print(f"  multiprocessing.Queue / queue       {rate['multiprocessing.Queue', 1] / q:7.2f}x")
    print(f"  C ring numba / queue                {nb / q:7.0f}x")
    print(f"  4p/4c C ring Python per message / queue "
          f"{rate['C ring, Python per message', 4] / rate['queue.Queue', 4]:5.2f}x")
