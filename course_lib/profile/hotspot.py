"""A small program with one hot spot, for practising "which function?" before "why?".

It analyses a web server's log: generate lines, parse them, list the users in order of first
appearance, total each user's time. Run it under a profiler (``cProfile``, a sampler) and one
function takes almost all the time, though nothing in its code looks expensive: a membership
test ``u not in seen`` on a *list* scans the whole list, so the function is quadratic in the
number of users.

=======================  ============================================================
:func:`make_log`         ``n`` log lines (``"user=u0042 action=get ms=17"``), seeded
:func:`parse`            lines -> ``(user, action, ms)`` records
:func:`unique_users`     users in order of first appearance (the hot spot)
:func:`totals`           milliseconds per user
:func:`analyse`          the whole program
=======================  ============================================================
"""
from __future__ import annotations

import numpy as np

__all__ = ["make_log", "parse", "unique_users", "totals", "analyse"]

_ACTIONS = ("get", "put", "list", "delete")


def make_log(n: int, users: int | None = None, seed: int = 0) -> list[str]:
    """``n`` log lines from about ``users`` distinct users (default ``n // 4``)."""
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    users = max(1, int(users if users is not None else n // 4))
    rng = np.random.default_rng(seed)
    who = rng.integers(0, users, n)
    what = rng.integers(0, len(_ACTIONS), n)
    ms = rng.integers(1, 500, n)
    return [f"user=u{u:05d} action={_ACTIONS[a]} ms={t}" for u, a, t in zip(who, what, ms)]


def parse(lines: list[str]) -> list[tuple[str, str, int]]:
    """Split each line into ``(user, action, ms)``."""
    out = []
    for line in lines:
        user, action, ms = (field.split("=", 1)[1] for field in line.split())
        out.append((user, action, int(ms)))
    return out


def unique_users(records: list[tuple[str, str, int]]) -> list[str]:
    """The users, each once, in the order they first appear."""
    seen: list[str] = []
    for user, _, _ in records:
        if user not in seen:  # a scan of the whole list, every time
            seen.append(user)
    return seen


def totals(records: list[tuple[str, str, int]]) -> dict[str, int]:
    """Total milliseconds per user."""
    out: dict[str, int] = {}
    for user, _, ms in records:
        out[user] = out.get(user, 0) + ms
    return out


def analyse(n: int = 20_000, seed: int = 0) -> dict[str, int]:
    """The whole program: the users' totals, in order of first appearance."""
    records = parse(make_log(n, seed=seed))
    per_user = totals(records)
    return {u: per_user[u] for u in unique_users(records)}
