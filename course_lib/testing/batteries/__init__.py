"""Batteries: checks of a whole primitive, shared by the library's tests and the exercises.

- ``channel``: ``run_battery`` / ``check_channel`` for anything with channel ends (smoke,
  capacity, SPSC, MPMC, disconnection, timeouts, linearizability, fairness, stress).
- ``lock``: ``check_mutual_exclusion`` (Python lock objects) and ``check_numba_lock``
  (``acquire(words, i)`` / ``release(words, i)`` in numba ``nogil`` threads).
- ``queue``: ``check_queue`` (Python threads) and ``check_numba_queue`` (numba threads).

A battery runs course_lib's own implementations in ``tests/`` and a learner's in the hidden tests
(through ``testing.exercises``), so the two are held to the same checks.
"""
