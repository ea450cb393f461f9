"""Memory orderings and the rules for which operation may use which (shared by Python and numba).

1. :class:`Ordering` names the five C11/Rust orderings, weakest first.
2. Each kind of operation accepts a subset: a load cannot release (it writes nothing to
   publish), a store cannot acquire (it reads nothing), a compare_exchange's failure path is
   only a load, and a fence must order something. A read-modify-write both reads and writes, so
   it accepts all five.
3. ``check_*`` raise ``ValueError`` with one message per mistake; the numba typing code raises a
   ``TypingError`` with the very same text, so a learner sees one explanation in both worlds.

Source: Rust ``std::sync::atomic`` (the same rules, checked at run time there with panics; since
Rust 1.64 a compare_exchange failure ordering may be stronger than the success ordering, and we
follow that rule); C11 7.17.3 and 7.17.7.
"""
from __future__ import annotations

import enum

__all__ = ["Ordering", "check_load", "check_store", "check_compare_exchange",
           "check_fence", "check_ordering"]


class _OrderingMeta(enum.EnumMeta):
    """Metaclass of :class:`Ordering`; numba's typing recognises the class by it."""


class Ordering(enum.IntEnum, metaclass=_OrderingMeta):
    """How much an atomic operation orders the memory accesses around it (Rust's names).

    ``Relaxed`` only makes the operation itself atomic. ``Release`` (on a write) makes every
    earlier access of this thread visible to a thread whose ``Acquire`` read (of the value
    written) comes before its later accesses: the pair creates a happens-before edge.
    ``AcqRel`` is both, for read-modify-writes. ``SeqCst`` adds one total order of all SeqCst
    operations that every thread agrees on.

    The numbers are stable (C code and numba's compiled caches rely on them).

    Example:
        >>> Ordering.Release, int(Ordering.SeqCst)
        (<Ordering.Release: 2>, 4)
    """

    Relaxed = 0
    Acquire = 1
    Release = 2
    AcqRel = 3
    SeqCst = 4


_LOAD_OK = (Ordering.Relaxed, Ordering.Acquire, Ordering.SeqCst)
_STORE_OK = (Ordering.Relaxed, Ordering.Release, Ordering.SeqCst)


def check_ordering(order: object, what: str = "order") -> Ordering:
    """Return ``order`` if it is an :class:`Ordering` member, else raise TypeError.

    Args:
        order: the value to check.
        what: the argument's name, for the message.
    Returns:
        The member.
    Raises:
        TypeError: for anything else, including a plain int (write ``Ordering.SeqCst``).
    Example:
        >>> check_ordering(Ordering.Acquire)
        <Ordering.Acquire: 1>
    """
    if type(order) is not Ordering:
        raise TypeError(f"{what} must be an Ordering member such as Ordering.SeqCst, "
                        f"got {order!r} of type {type(order).__name__}")
    return order


def check_load(order: Ordering) -> None:
    """Raise ValueError unless ``order`` suits a load (Relaxed, Acquire or SeqCst).

    Example:
        >>> check_load(Ordering.Acquire)
    """
    if order not in _LOAD_OK:
        raise ValueError(f"a load cannot use Ordering.{order.name}: a load writes nothing, so "
                         "there is nothing for it to release; use Relaxed, Acquire or SeqCst")


def check_store(order: Ordering) -> None:
    """Raise ValueError unless ``order`` suits a store (Relaxed, Release or SeqCst).

    Example:
        >>> check_store(Ordering.Release)
    """
    if order not in _STORE_OK:
        raise ValueError(f"a store cannot use Ordering.{order.name}: a store reads nothing, so "
                         "there is nothing for it to acquire; use Relaxed, Release or SeqCst")


def check_compare_exchange(success: Ordering, failure: Ordering) -> None:
    """Raise ValueError if ``failure`` is Release or AcqRel.

    A failed compare_exchange only loads, so its ordering follows the load rule. As in Rust
    since 1.64 (and LLVM since 13), ``failure`` may be stronger than ``success``.

    Example:
        >>> check_compare_exchange(Ordering.Release, Ordering.Acquire)
    """
    if failure not in _LOAD_OK:
        raise ValueError(f"a compare_exchange failure ordering cannot be "
                         f"Ordering.{failure.name}: a failed compare_exchange is only a load; "
                         "use Relaxed, Acquire or SeqCst")


def check_fence(order: Ordering) -> None:
    """Raise ValueError for a Relaxed fence (it would order nothing).

    Example:
        >>> check_fence(Ordering.SeqCst)
    """
    if order is Ordering.Relaxed:
        raise ValueError("a fence cannot be Ordering.Relaxed: a relaxed fence orders nothing; "
                         "use Acquire, Release, AcqRel or SeqCst")
