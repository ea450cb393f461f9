"""Graded answers must be the learner's own: no calling course_lib's version, no peeking at the key.

An exercise asks a learner to write something that course_lib already has (a channel, a
``fetch_max``, a TTAS lock, Amdahl's law). A hidden test that only compares results would give
full marks to ``def amdahl(s, n): return amdahl_speedup(s, n)``. Two defences, both used by the
checkers in ``testing.exercises``:

1. :func:`check_own_work` reads the learner's function (its bytecode, and that of every
   notebook-defined function or numba function it calls, a few levels deep) and fails with
   "this exercise asks you to write it yourself" when it reaches one of the course_lib objects
   the exercise names, by any name: ``amdahl_speedup``, ``am.amdahl_speedup``, an alias
   ``my = amdahl_speedup``, or the object itself passed as the answer. Reading the code, rather
   than swapping functions at run time, also works for numba functions, which bind their
   callees when they are compiled.
2. :func:`unavailable` swaps those objects out of the learner's globals while the check runs,
   so that a lookup the bytecode does not show (``globals()["fetch" + "_max"]``) fails the same
   way. (Subtler games, such as reaching into a course_lib module by a computed name, are what
   the tamper scan of a graded class is for.)

:func:`install_guard` is for the grading kernel (nbgrader's ``Execute.extra_arguments`` in
``nbgrader_config.py`` runs it at kernel start): from then on, opening or running anything under
the course's ``solutions/`` folder raises ``PermissionError``, so an answer cannot read the key.
It uses a Python audit hook (PEP 578), which cannot be removed once added.
"""
from __future__ import annotations

import contextlib
import dis
import functools
import os
import sys
import types
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

__all__ = ["Delegated", "answers", "check_own_work", "unavailable", "own_work", "named", "replaced",
           "learner_scopes", "references", "install_guard"]


class Delegated(AssertionError):
    """The answer calls course_lib's own implementation of what the exercise asks for."""


def _code_of(obj: Any) -> types.CodeType | None:
    py = getattr(obj, "py_func", obj)  # a numba dispatcher keeps the Python function
    py = getattr(py, "__func__", py)   # a bound method
    return getattr(py, "__code__", None)


def _globals_of(obj: Any) -> dict:
    py = getattr(obj, "py_func", obj)
    py = getattr(py, "__func__", py)
    return getattr(py, "__globals__", {})


def _walk_code(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _walk_code(const)


_LOADS = {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLOSURE"}
_ATTRS = {"LOAD_ATTR", "LOAD_METHOD"}


def references(fn: Any, depth: int = 4) -> list[Any]:
    """Objects that ``fn`` can reach by name: globals, closure cells, attributes of those.

    Notebook-defined functions among them (same globals as ``fn``) are followed ``depth`` levels
    deep. Names are resolved when this is called, which is when the checker runs.

    Example:
        >>> import math
        >>> def f(x): return math.sqrt(x)
        >>> math.sqrt in references(f)
        True
    """
    seen_code: set[int] = set()
    found: list[Any] = []
    todo: list[tuple[Any, int]] = [(fn, depth)]
    while todo:
        obj, left = todo.pop()
        code = _code_of(obj)
        if code is None or id(code) in seen_code:
            continue
        seen_code.add(id(code))
        scope = _globals_of(obj)
        py = getattr(getattr(obj, "py_func", obj), "__func__", getattr(obj, "py_func", obj))
        cells = {name: cell for name, cell in zip(code.co_freevars, getattr(py, "__closure__", None) or ())}
        builtins = scope.get("__builtins__", {})
        builtins = builtins if isinstance(builtins, dict) else vars(builtins)
        for c in _walk_code(code):
            current: Any = _MISSING
            module: Any = _MISSING
            local: dict[str, Any] = {}  # names bound by imports inside the function
            for ins in dis.get_instructions(c):
                if ins.opname == "IMPORT_NAME":
                    module = sys.modules.get(ins.argval, _MISSING)
                    top = sys.modules.get(ins.argval.split(".")[0], _MISSING)
                    current = module if ins.arg is not None and _fromlist(c, ins) else top
                elif ins.opname == "IMPORT_FROM" and module is not _MISSING:
                    current = _attribute(module, ins.argval)
                    if current is _MISSING:
                        current = sys.modules.get(f"{module.__name__}.{ins.argval}", _MISSING)
                elif ins.opname in ("STORE_FAST", "STORE_NAME", "STORE_DEREF"):
                    if current is not _MISSING:
                        local[ins.argval] = current
                    current = _MISSING
                    continue
                elif ins.opname == "LOAD_FAST" and ins.argval in local:
                    current = local[ins.argval]
                elif ins.opname in _LOADS:
                    name = ins.argval
                    if name in cells:
                        try:
                            current = cells[name].cell_contents
                        except ValueError:
                            current = _MISSING
                    else:
                        current = scope.get(name, builtins.get(name, _MISSING))
                elif ins.opname in _ATTRS and current is not _MISSING:
                    current = _attribute(current, ins.argval)
                else:
                    current = _MISSING
                    continue
                if current is _MISSING:
                    continue
                found.append(current)
                if left <= 0:
                    continue
                if _code_of(current) is not None and _globals_of(current) is scope:
                    todo.append((current, left - 1))
                elif isinstance(current, type) and current.__module__ == scope.get("__name__"):
                    todo.extend((m, left - 1) for m in vars(current).values()
                                if _code_of(m) is not None)  # a class of the notebook's
    return found


_MISSING = object()


def _attribute(obj: Any, name: str) -> Any:
    """``getattr`` that never raises: a learner's object may compute an attribute and fail."""
    try:
        return getattr(obj, name, _MISSING)
    except Exception:
        return _MISSING


def _fromlist(code: types.CodeType, ins: dis.Instruction) -> bool:
    """Is this IMPORT_NAME a ``from x import y`` (the fromlist constant before it is set)?"""
    previous = [i for i in dis.get_instructions(code) if i.offset < ins.offset]
    return bool(previous) and previous[-1].opname == "LOAD_CONST" and bool(previous[-1].argval)


def _same(a: Any, b: Any) -> bool:
    return a is b or (getattr(a, "py_func", None) is not None and getattr(a, "py_func") is getattr(b, "py_func", None))


def check_own_work(fn: Any, forbidden: Mapping[str, Any], what: str) -> None:
    """Fail when ``fn`` is, or calls, one of the course_lib objects in ``forbidden``.

    Args:
        fn: the learner's answer (a function, numba function, class or method).
        forbidden: ``{"course_lib.measure.amdahl.amdahl_speedup": amdahl_speedup, ...}``.
        what: the exercise's name for the answer, used in the message.

    Raises:
        Delegated: naming the course_lib object it reached.
    """
    targets = [fn]
    if isinstance(fn, type):  # a class: every function defined on it
        targets = [v for v in vars(fn).values() if _code_of(v) is not None]
    for name, obj in forbidden.items():
        if any(_same(t, obj) for t in targets):
            raise Delegated(f"{what} is {name} itself: this exercise asks you to write it "
                            "yourself (course_lib's version is there to compare with)")
    for t in targets:
        for ref in references(t):
            for name, obj in forbidden.items():
                if _same(ref, obj):
                    raise Delegated(f"{what} calls {name}: this exercise asks you to write it "
                                    "yourself (course_lib's version is there to compare with)")


@contextlib.contextmanager
def replaced(stand_ins: Mapping[int, tuple[Any, Any]], scopes: Iterable[dict]) -> Iterator[int]:
    """While the block runs, every name in ``scopes`` bound to a replaced object is rebound.

    Args:
        stand_ins: ``{id(real): (real, stand_in)}``.
        scopes: namespaces to edit: module dicts, a learner function's ``__globals__``.

    Yields:
        How many names were rebound. Everything is put back afterwards, even after an error.

    Example:
        >>> import math
        >>> with replaced({id(math.sqrt): (math.sqrt, abs)}, [vars(math)]):
        ...     math.sqrt(-4)
        4
    """
    swaps: list[tuple[dict, str, Any]] = []
    seen: set[int] = set()
    for scope in scopes:
        if id(scope) in seen:
            continue
        seen.add(id(scope))
        for key, value in list(scope.items()):
            hit = stand_ins.get(id(value))
            if hit is not None and hit[0] is value:
                swaps.append((scope, key, value))
                scope[key] = hit[1]
    try:
        yield len(swaps)
    finally:
        for scope, key, value in reversed(swaps):
            scope[key] = value


def learner_scopes(*functions: Any) -> list[dict]:
    """The global namespaces of the given learner functions (a notebook's ``__main__``)."""
    return [_globals_of(f) for f in functions]


@contextlib.contextmanager
def unavailable(forbidden: Mapping[str, Any], learner: Iterable[Any] = (),
                what: str = "this exercise") -> Iterator[None]:
    """While the block runs, each forbidden object is replaced by a stub that raises
    :class:`Delegated`, under every name the learner's globals bind it to.

    Only the learner's namespace is edited: course_lib's own modules keep their functions,
    because course_lib (and the checker) may call them internally, and a numba function that
    compiled against a stub would be broken for good. Everything is put back afterwards.
    """
    def stub_for(name: str) -> Callable:
        def stub(*args: Any, **kwargs: Any) -> Any:
            raise Delegated(f"{what} calls {name}: this exercise asks you to write it yourself")
        return stub

    stand_ins = {id(obj): (obj, stub_for(name)) for name, obj in forbidden.items()}
    with replaced(stand_ins, learner_scopes(*learner)):
        yield


def answers(what: str, *forbidden: Any, count: int = 1) -> Callable[[Callable], Callable]:
    """Decorator for a checker whose first ``count`` arguments are the learner's answers: the
    checks run inside :func:`own_work` with ``forbidden`` (course_lib or NumPy objects).

    Example:
        >>> from course_lib.measure.amdahl import amdahl_speedup
        >>> @answers("amdahl", amdahl_speedup)
        ... def check(fn):
        ...     return fn(0.5, 2)
        >>> check(lambda s, n: 1 / (s + (1 - s) / n))
        1.3333333333333333
    """
    table = named(*forbidden)

    def wrap(check: Callable) -> Callable:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Any:
            learner = args[:count]
            for answer in learner:
                check_own_work(answer, table, what)
            with unavailable(table, learner, what):
                return check(*args, **kwargs)
        return run
    return wrap


@contextlib.contextmanager
def own_work(fn: Any, forbidden: Mapping[str, Any], what: str) -> Iterator[None]:
    """The two defences together, for a checker's body: read the answer's code first
    (:func:`check_own_work`), then run the checks with the forbidden objects unavailable
    (:func:`unavailable`)."""
    check_own_work(fn, forbidden, what)
    with unavailable(forbidden, [fn], what):
        yield


def named(*objects: Any) -> dict[str, Any]:
    """``{"module.qualname": obj}`` for course_lib objects, the form :func:`own_work` takes."""
    out = {}
    for obj in objects:
        py = getattr(obj, "py_func", obj)
        out[f"{py.__module__}.{getattr(py, '__qualname__', getattr(py, '__name__', '?'))}"] = obj
    return out


# ----------------------------------------------------------------------------- the key
def _course_root(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / "nbgrader_config.py").exists() and (d / "solutions").is_dir():
            return d
    return None


def install_guard(start: str | os.PathLike | None = None) -> Path | None:
    """Make the course's ``solutions/`` folder unreadable for the rest of this process.

    Does nothing (and returns None) when no course folder is found above ``start`` (default:
    the working directory) or when the working directory is inside ``solutions/`` itself (the
    author is editing the source). Returns the guarded folder otherwise.
    """
    here = Path(start or os.getcwd()).resolve()
    root = _course_root(here)
    if root is None:
        return None
    key = (root / "solutions").resolve()
    if here == key or key in here.parents:
        return None
    prefix = str(key) + os.sep

    def touches_key(arg: Any) -> bool:
        if isinstance(arg, (bytes, os.PathLike)):
            arg = os.fsdecode(arg)
        if isinstance(arg, str):
            if "solutions" not in arg:
                return False
            try:
                path = os.path.realpath(arg if os.path.isabs(arg) else os.path.join(os.getcwd(), arg))
            except (OSError, ValueError):
                return False
            return path == str(key) or path.startswith(prefix) or (
                not os.path.isabs(arg) and "solutions" in arg.split(os.sep))
        if isinstance(arg, (list, tuple)):
            return any(touches_key(a) for a in arg)
        return False

    def hook(event: str, args: tuple) -> None:
        if event in ("open", "os.listdir", "os.scandir", "shutil.copyfile", "shutil.copytree",
                     "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn"):
            if any(touches_key(a) for a in args):
                raise PermissionError(f"{event}: the course's solutions/ folder is not available "
                                      "while a notebook is graded")

    sys.addaudithook(hook)
    return key
