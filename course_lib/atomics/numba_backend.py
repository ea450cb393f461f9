"""Atomic operations in numba nopython code, compiled to LLVM ``atomicrmw``/``cmpxchg``/fences.

1. Each :class:`~course_lib.atomics.ordering.Ordering` member gets its own numba type
   (``OrderingType``), so an ordering written in a jitted function (``Ordering.Acquire``, a
   global holding one, or an argument passed from Python) is known at compile time, as LLVM
   requires. A function that takes the ordering as an argument is compiled once per ordering.
2. The Python functions of ``c_backend`` (``fetch_add``...) get a numba ``@overload`` that checks
   the types and the ordering rules (the same messages as the ``ValueError`` in Python, raised
   as a ``TypingError``) and calls an ``@intrinsic`` that emits one LLVM atomic instruction on
   the address of ``array[index]``.
3. Checked variants wrap negative indices and raise ``IndexError`` when out of range (inside a
   ``prange`` loop numba reports it as ``SystemError`` caused by the IndexError, as it does for
   its own bounds checks); ``*_unchecked`` variants compute the address only, for hot loops
   whose indices are correct by construction.

Source: LLVM Language Reference ("atomicrmw", "cmpxchg", "fence", "Atomic Memory Ordering
Constraints"); numba "High-level extension API" (``overload``, ``intrinsic``, custom types).

Everything here is inlined by LLVM (no call per operation) and cacheable (``cache=True``):
the ordering lives in the type, no Python object is captured.
"""
from __future__ import annotations

import platform

from llvmlite import ir
from numba.core import cgutils, errors, types
from numba.core.imputils import lower_constant
from numba.core.typing.templates import AttributeTemplate
from numba.extending import (NativeValue, infer_getattr, intrinsic, lower_getattr_generic, models,
                             overload, register_model, typeof_impl, unbox)

from course_lib.atomics import c_backend as _c
from course_lib.atomics.ordering import (Ordering, _OrderingMeta, check_compare_exchange,
                                         check_fence, check_load, check_store)

__all__ = ["OrderingType", "UNCHECKED"]

_LLVM_ORDER = {Ordering.Relaxed: "monotonic", Ordering.Acquire: "acquire",
               Ordering.Release: "release", Ordering.AcqRel: "acq_rel",
               Ordering.SeqCst: "seq_cst"}
# The orderings for LLVM need the failure ordering no stronger than... nothing: LLVM >= 13
# accepts any valid failure ordering with any success ordering, as Rust does.


# ----------------------------------------------------------------------------- Ordering types
class OrderingType(types.Type):
    """The numba type of one Ordering member; the member itself is part of the type."""

    def __init__(self, member: Ordering) -> None:
        self.member = Ordering(member)
        super().__init__(name=f"Ordering.{self.member.name}")

    @property
    def key(self) -> int:
        return int(self.member)


class _OrderingClassType(types.Type):
    """The numba type of the ``Ordering`` class itself (so ``Ordering.X`` works in jit code)."""

    def __init__(self) -> None:
        super().__init__(name="OrderingClass")


_ORDERING_CLASS = _OrderingClassType()


@typeof_impl.register(Ordering)
def _typeof_ordering(val: Ordering, c: object) -> OrderingType:
    return OrderingType(val)


@typeof_impl.register(_OrderingMeta)
def _typeof_ordering_class(val: object, c: object) -> _OrderingClassType:
    return _ORDERING_CLASS


# The value lives in the type: at run time an ordering is a dummy pointer that is never read.
register_model(OrderingType)(models.OpaqueModel)
register_model(_OrderingClassType)(models.OpaqueModel)


@unbox(OrderingType)
@unbox(_OrderingClassType)
def _unbox_dummy(typ: types.Type, obj: object, c: object) -> NativeValue:
    return NativeValue(c.context.get_dummy_value())


@lower_constant(OrderingType)
@lower_constant(_OrderingClassType)
def _constant_dummy(context: object, builder: object, ty: types.Type, pyval: object) -> object:
    return context.get_dummy_value()


@infer_getattr
class _OrderingClassAttributes(AttributeTemplate):
    key = _ORDERING_CLASS

    def generic_resolve(self, typ: types.Type, attr: str) -> OrderingType | None:
        if attr in Ordering.__members__:
            return OrderingType(Ordering[attr])
        return None


@lower_getattr_generic(_OrderingClassType)
def _ordering_attribute(context: object, builder: object, typ: object, value: object,
                        attr: str) -> object:
    return context.get_dummy_value()


# ----------------------------------------------------------------------------- typing checks
_CELL_TYPES = (types.int32, types.uint32, types.int64, types.uint64, types.uint8)


def _ordering_of(ty: types.Type, what: str = "order") -> Ordering:
    if isinstance(ty, OrderingType):
        return ty.member
    raise errors.TypingError(
        f"{what} must be an Ordering member such as Ordering.SeqCst, known when the function "
        f"is compiled (write it in the code, or pass it as an argument from Python); got {ty}")


def _rule(check: object, *orders: Ordering) -> None:
    try:
        check(*orders)  # type: ignore[operator]
    except ValueError as exc:  # one message for Python and numba
        raise errors.TypingError(str(exc)) from None


def _check_cell(array: types.Type, index: types.Type, writes: bool) -> None:
    if not isinstance(array, types.Array):
        raise errors.TypingError(f"atomics work on a NumPy array, got {array}")
    if array.ndim != 1 or array.dtype not in _CELL_TYPES:
        names = ", ".join(str(t) for t in _CELL_TYPES)
        raise errors.TypingError(f"atomics work on 1-D arrays of {names}; got {array}")
    if not array.aligned:
        raise errors.TypingError("atomics need an aligned array; this one is not")
    if writes and not array.mutable:
        raise errors.TypingError("an atomic write needs a writeable array; this one is "
                                 "read-only")
    if not isinstance(index, types.Integer):
        raise errors.TypingError(f"index must be an integer, got {index}")


def _check_value(value: types.Type, name: str = "value") -> None:
    if not isinstance(value, (types.Integer, types.Boolean)):
        raise errors.TypingError(f"{name} must be an integer, got {value}")


# ----------------------------------------------------------------------------- code generation
def _cell_pointer(context: object, builder: ir.IRBuilder, aryty: types.Array, ary: object,
                  index: object, indexty: types.Type, checked: bool) -> ir.Value:
    """The address of ``ary[index]``; with ``checked``: wrap negatives, raise IndexError."""
    arr = context.make_array(aryty)(context, builder, ary)
    i = context.cast(builder, index, indexty, types.intp)
    n = cgutils.unpack_tuple(builder, arr.shape, 1)[0]
    if checked:
        i = builder.select(builder.icmp_signed("<", i, i.type(0)), builder.add(i, n), i)
        outside = builder.icmp_unsigned(">=", i, n)  # unsigned: also catches i < 0
        with cgutils.if_unlikely(builder, outside):
            context.call_conv.return_user_exc(
                builder, IndexError, ("atomic operation: index out of range for the array",))
    return cgutils.get_item_pointer(context, builder, aryty, arr, [i], wraparound=False,
                                    boundscheck=False)


def _align(aryty: types.Array) -> int:
    return aryty.dtype.bitwidth // 8


class _CmpXchgWeak(ir.instructions.CmpXchg):
    """``cmpxchg weak``: may fail spuriously; on LL/SC machines (ARM) no inner retry loop."""

    def descr(self, buf: list) -> None:
        before = len(buf)
        super().descr(buf)
        buf[before] = buf[before].replace("cmpxchg ", "cmpxchg weak ", 1)


def _make_load(checked: bool) -> object:
    @intrinsic
    def _load(typingctx, array, index, order):  # noqa: ANN001, ANN202
        mo = _LLVM_ORDER[order.member]

        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            ptr = _cell_pointer(context, builder, sig.args[0], args[0], args[1], sig.args[1],
                                checked)
            return builder.load_atomic(ptr, mo, _align(sig.args[0]))
        return array.dtype(array, index, order), codegen
    return _load


def _make_store(checked: bool) -> object:
    @intrinsic
    def _store(typingctx, array, index, value, order):  # noqa: ANN001, ANN202
        mo = _LLVM_ORDER[order.member]

        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            aryty = sig.args[0]
            ptr = _cell_pointer(context, builder, aryty, args[0], args[1], sig.args[1], checked)
            v = context.cast(builder, args[2], sig.args[2], aryty.dtype)
            builder.store_atomic(v, ptr, mo, _align(aryty))
            return context.get_dummy_value()
        return types.none(array, index, value, order), codegen
    return _store


def _make_rmw(op_signed: str, op_unsigned: str, checked: bool) -> object:
    @intrinsic
    def _rmw(typingctx, array, index, value, order):  # noqa: ANN001, ANN202
        mo = _LLVM_ORDER[order.member]
        op = op_signed if array.dtype.signed else op_unsigned

        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            aryty = sig.args[0]
            ptr = _cell_pointer(context, builder, aryty, args[0], args[1], sig.args[1], checked)
            v = context.cast(builder, args[2], sig.args[2], aryty.dtype)
            return builder.atomic_rmw(op, ptr, v, mo)
        return array.dtype(array, index, value, order), codegen
    return _rmw


def _make_cas(weak: bool, checked: bool) -> object:
    @intrinsic
    def _cas(typingctx, array, index, current, new, success, failure):  # noqa: ANN001, ANN202
        smo, fmo = _LLVM_ORDER[success.member], _LLVM_ORDER[failure.member]
        result = types.Tuple((types.boolean, array.dtype))

        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            aryty = sig.args[0]
            ptr = _cell_pointer(context, builder, aryty, args[0], args[1], sig.args[1], checked)
            cur = context.cast(builder, args[2], sig.args[2], aryty.dtype)
            new_ = context.cast(builder, args[3], sig.args[3], aryty.dtype)
            if weak:
                inst = _CmpXchgWeak(builder.block, ptr, cur, new_, smo, fmo, name="")
                builder._insert(inst)
            else:
                inst = builder.cmpxchg(ptr, cur, new_, smo, fmo)
            seen = builder.extract_value(inst, 0)
            ok = builder.extract_value(inst, 1)
            return context.make_tuple(builder, sig.return_type, [ok, seen])
        return result(array, index, current, new, success, failure), codegen
    return _cas


@intrinsic
def _fence(typingctx, order):  # noqa: ANN001, ANN202
    mo = _LLVM_ORDER[order.member]

    def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
        builder.fence(mo)
        return context.get_dummy_value()
    return types.none(order), codegen


_MACHINE = platform.machine().lower()
_X86 = _MACHINE in ("x86_64", "amd64", "i686", "x86")
_ARM64 = _MACHINE in ("aarch64", "arm64")


@intrinsic
def _spin_loop(typingctx):  # noqa: ANN001, ANN202
    def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
        # LLVM intrinsics rather than inline asm (numba's JIT has no assembler parser):
        # x86 "pause" (eases the spinning core, avoids a memory-order mis-speculation flush on
        # exit), ARM64 "yield" (hint 1). Elsewhere nothing.
        module = builder.module
        if _X86:
            fn = cgutils.get_or_insert_function(module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
        elif _ARM64:
            fn = cgutils.get_or_insert_function(
                module, ir.FunctionType(ir.VoidType(), [ir.IntType(32)]), "llvm.aarch64.hint")
            builder.call(fn, [ir.Constant(ir.IntType(32), 1)])
        return context.get_dummy_value()
    return types.none(), codegen


# ----------------------------------------------------------------------------- overloads
def _unchecked_twin(fn: object, name: str) -> object:
    """A Python function ``<name>_unchecked`` that behaves like ``fn`` (always checked in Python)."""
    def twin(*args: object) -> object:
        return fn(*args)  # type: ignore[operator]
    twin.__name__ = twin.__qualname__ = name + "_unchecked"
    twin.__doc__ = (f"Like :func:`{name}`, without the index check in numba code (an index out "
                    f"of range reads or writes wild memory there: only for indices correct by "
                    f"construction in hot loops). From Python it is checked like :func:`{name}`.")
    return twin


UNCHECKED: dict[str, object] = {}


def _typer(kind: str, impl: object) -> object:
    """The @overload typing function for one operation; ``impl`` is its intrinsic."""
    if kind == "load":
        def typer(array, index, order):  # noqa: ANN001, ANN202
            _check_cell(array, index, writes=False)
            _rule(check_load, _ordering_of(order))
            return lambda array, index, order: impl(array, index, order)
    elif kind == "store":
        def typer(array, index, value, order):  # noqa: ANN001, ANN202
            _check_cell(array, index, writes=True)
            _check_value(value)
            _rule(check_store, _ordering_of(order))
            return lambda array, index, value, order: impl(array, index, value, order)
    elif kind == "rmw":
        def typer(array, index, value, order):  # noqa: ANN001, ANN202
            _check_cell(array, index, writes=True)
            _check_value(value)
            _ordering_of(order)  # any ordering suits a read-modify-write
            return lambda array, index, value, order: impl(array, index, value, order)
    else:  # compare_exchange, strong or weak
        def typer(array, index, current, new, success, failure):  # noqa: ANN001, ANN202
            _check_cell(array, index, writes=True)
            _check_value(current, "current")
            _check_value(new, "new")
            _rule(check_compare_exchange, _ordering_of(success, "success"),
                  _ordering_of(failure, "failure"))
            return (lambda array, index, current, new, success, failure:
                    impl(array, index, current, new, success, failure))
    return typer


def _register(name: str, py_fn: object, kind: str, ops: tuple[str, str] = ("", "")) -> None:
    """Give ``py_fn`` and its ``_unchecked`` twin their numba implementations."""
    for checked in (True, False):
        target = py_fn if checked else _unchecked_twin(py_fn, name)
        if not checked:
            UNCHECKED[name + "_unchecked"] = target
        if kind == "load":
            impl = _make_load(checked)
        elif kind == "store":
            impl = _make_store(checked)
        elif kind == "rmw":
            impl = _make_rmw(ops[0], ops[1], checked)
        else:
            impl = _make_cas(kind == "cas_weak", checked)
        overload(target)(_typer(kind, impl))


_register("load", _c.load, "load")
_register("store", _c.store, "store")
for _name, _ops in {"swap": ("xchg", "xchg"), "fetch_add": ("add", "add"),
                    "fetch_sub": ("sub", "sub"), "fetch_and": ("and", "and"),
                    "fetch_or": ("or", "or"), "fetch_xor": ("xor", "xor"),
                    "fetch_max": ("max", "umax"), "fetch_min": ("min", "umin")}.items():
    _register(_name, getattr(_c, _name), "rmw", _ops)
_register("compare_exchange", _c.compare_exchange, "cas")
_register("compare_exchange_weak", _c.compare_exchange_weak, "cas_weak")


@overload(_c.fence)
def _ol_fence(order):  # noqa: ANN001, ANN202
    _rule(check_fence, _ordering_of(order))
    return lambda order: _fence(order)


@overload(_c.spin_loop)
def _ol_spin_loop():  # noqa: ANN202
    return lambda: _spin_loop()
