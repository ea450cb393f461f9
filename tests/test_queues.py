"""Tests for course_lib.queues: the same battery over every queue, Python and numba threads."""
from __future__ import annotations

import queue as stdq
import threading
from collections import deque

import numpy as np
import pytest

from course_lib import queues as Q
from course_lib.config import stress
from course_lib.testing.exercises.c04_locks import check_numba_queue, check_queue

pytestmark = pytest.mark.timeout(120)

STRESS = stress()

# name -> (make, fifo, capacity)
PYTHON_QUEUES = {
    "array": (lambda: Q.ArrayQueue(32), True, 32),
    "array_cap2": (lambda: Q.ArrayQueue(2), True, 2),
    "array_cap3": (lambda: Q.ArrayQueue(3), True, 3),
    "seg": (lambda: Q.SegQueue(16), True, None),
    "treiber": (lambda: Q.TreiberStack(32), False, 32),
    "mutex": (lambda: Q.MutexQueue(32), True, 32),
}
NUMBA_QUEUES = {
    "array": (Q.array_queue_push, Q.array_queue_pop, lambda: Q.array_queue_new(64), True),
    "array_small": (Q.array_queue_push, Q.array_queue_pop, lambda: Q.array_queue_new(2), True),
    "seg": (Q.seg_queue_push, Q.seg_queue_pop, lambda: Q.seg_queue_new(64), True),
    "seg_small_pool": (Q.seg_queue_push, Q.seg_queue_pop, lambda: Q.seg_queue_new(3), True),
    "treiber": (Q.treiber_push, Q.treiber_pop, lambda: Q.treiber_new(64), False),
}


@pytest.mark.parametrize("name", sorted(PYTHON_QUEUES))
def test_battery_python_threads(name):
    make, fifo, cap = PYTHON_QUEUES[name]
    check_queue(make, fifo=fifo, capacity=cap, n=500 * STRESS)


@pytest.mark.parametrize("name", sorted(NUMBA_QUEUES))
@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 1)])
def test_battery_numba_threads(name, shape):
    push, pop, new, fifo = NUMBA_QUEUES[name]
    # Small queues with more threads than cores advance only when the OS preempts a spinner
    # (numba code cannot yield): fewer values there keep the test fast on a busy machine.
    n = (1000 if name.endswith("small") or name.endswith("pool") else 5000) * STRESS
    check_numba_queue(push, pop, new, fifo=fifo, producers=shape[0], consumers=shape[1], n=n)


# ----------------------------------------------------------------------------- smoke / ref
@pytest.mark.parametrize("make", [lambda: Q.ArrayQueue(7), lambda: Q.SegQueue(4),
                                  lambda: Q.MutexQueue(7)])
def test_fifo_matches_deque_on_random_ops(make):
    q, ref = make(), deque()
    rng = np.random.default_rng(3)
    for step in range(3000):
        if rng.random() < 0.55:
            v = int(rng.integers(-2**62, 2**62))
            try:
                q.push(v)
                ref.append(v)
            except stdq.Full:
                assert len(ref) >= 7 * (1 if not isinstance(q, Q.SegQueue) else 3 * 31 // 7)
        else:
            try:
                assert q.pop() == ref.popleft()
            except stdq.Empty:
                assert not ref
        assert len(q) == len(ref)


def test_stack_matches_list_on_random_ops():
    s, ref = Q.TreiberStack(5), []
    rng = np.random.default_rng(4)
    for _ in range(2000):
        if rng.random() < 0.5:
            v = int(rng.integers(0, 100))
            try:
                s.push(v)
                ref.append(v)
            except stdq.Full:
                assert len(ref) == 5
        else:
            try:
                assert s.pop() == ref.pop()
            except stdq.Empty:
                assert not ref
        assert s.values() == ref[::-1] and len(s) == len(ref)


def test_array_queue_layout_pads_head_and_tail():
    from course_lib.queues.array_queue import HEAD, SLOTS, TAIL

    q = Q.ArrayQueue(4)
    assert q.state.ctypes.data % 128 == 0
    assert (TAIL - HEAD) * 8 >= 128 and (SLOTS - TAIL) * 8 >= 128


def test_seg_queue_grows_past_one_block_and_recycles():
    q = Q.SegQueue(3)  # 3 blocks: one in use, two in the pool
    for round_ in range(20):  # far more items in total than the pool could hold at once
        for v in range(50):
            q.push(round_ * 100 + v)
        assert len(q) == 50
        assert [q.pop() for _ in range(50)] == [round_ * 100 + v for v in range(50)]
    with pytest.raises(stdq.Empty):
        q.pop()


def test_seg_queue_full_only_when_pool_exhausted():
    q = Q.SegQueue(2)
    pushed = 0
    with pytest.raises(stdq.Full, match="pool of 2 blocks"):
        while pushed < 10_000:
            q.push(pushed)
            pushed += 1
    assert pushed >= Q.BLOCK_CAP
    assert [q.pop() for _ in range(pushed)] == list(range(pushed))


def test_errors_are_clear():
    for bad in (0, 1, 2.0, True):
        with pytest.raises(ValueError, match="capacity must be an integer >= 2"):
            Q.ArrayQueue(bad)
    with pytest.raises(ValueError, match="blocks must be an integer >= 2"):
        Q.SegQueue(1)
    with pytest.raises(ValueError, match="capacity"):
        Q.TreiberStack(0)
    q = Q.ArrayQueue(2)
    with pytest.raises(TypeError, match="int64 values"):
        q.push(1.5)
    with pytest.raises(OverflowError):
        q.push(1 << 64)
    with pytest.raises(stdq.Empty):
        Q.MutexQueue().pop()


def test_numba_status_codes():
    st = Q.array_queue_new(2)
    assert Q.array_queue_push(st, 4) == Q.OK and Q.array_queue_push(st, 5) == Q.OK
    assert Q.array_queue_push(st, 6) == Q.FULL
    assert Q.array_queue_pop(st) == (Q.OK, 4) and Q.array_queue_pop(st) == (Q.OK, 5)
    assert Q.array_queue_pop(st)[0] == Q.EMPTY
    st = Q.treiber_new(1)
    assert Q.treiber_push(st, 1) == Q.OK and Q.treiber_push(st, 2) == Q.FULL
    assert Q.treiber_pop(st) == (Q.OK, 1) and Q.treiber_pop(st)[0] == Q.EMPTY


def test_python_and_numba_share_one_queue():
    q = Q.ArrayQueue(1000)
    Q.produce(Q.array_queue_push, q.state, 10, 100, 1)
    assert [q.pop() for _ in range(100)] == list(range(10, 110))
    q.push(7)
    out, stop = np.zeros(1, np.int64), np.zeros(1, np.int64)
    assert Q.consume(Q.array_queue_pop, q.state, out, 0, 1, stop) == 1 and out[0] == 7


# ----------------------------------------------------------------------------- Treiber / ABA
def test_head_packing_round_trips():
    for idx, tag in [(-1, 0), (0, 0), (5, 7), (2**31 - 3, 2**32 - 1), (3, 2**32 + 5)]:
        w = Q.pack_head(idx, tag)
        assert Q.head_index(w) == idx and Q.head_tag(w) == tag % 2**32


def test_aba_schedule_corrupts_untagged_and_tagged_survives():
    bad = Q.aba_schedule(tagged=False)
    assert bad.corrupted and bad.lost == [1] and bad.duplicated == [2]
    assert "CORRUPTED" in str(bad)
    good = Q.aba_schedule(tagged=True)
    assert not good.corrupted and sorted(good.popped) == sorted(good.pushed)
    assert any("fails" in s for s in good.steps) and "consistent" in str(good)


def test_tagged_stack_many_threads_python():
    s = Q.TreiberStack(16)
    errors = []

    def body(k):
        try:
            for i in range(300 * STRESS):
                try:
                    s.push(k * 10_000 + i)
                except stdq.Full:
                    pass
                try:
                    s.pop()
                except stdq.Empty:
                    pass
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ts = [threading.Thread(target=body, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not errors
    stack, free = s.nodes()
    assert sorted(stack + free) == list(range(16)), "every node on exactly one list"
