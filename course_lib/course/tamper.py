"""Tamper flags: answer cells that change the grading instead of answering.

nbgrader runs a student's cells and the hidden tests in one kernel, so an answer cell can reach
the graders: replace a checker, a builtin, an entry of ``sys.modules``, or read the notebook's own
file. The checkers resist the plain cases (``testing.exercises`` modules refuse to have their
graders reassigned; a graded kernel cannot open ``solutions/``), and this scan finds the rest for
a teacher to look at. It reads the code, it runs nothing: each answer cell (nbgrader's
``solution`` cells) is parsed and its syntax tree searched for:

- assigning to or deleting an attribute of a course module (``course_lib...``, or a name bound
  by ``import course_lib...``), ``setattr``/``delattr`` on one, or writing its ``__dict__``;
- replacing a builtin (``builtins.X = ...``, ``__builtins__``, or shadowing ``AssertionError``,
  ``print``, ``isinstance`` and the few others a test decides with, at the top level);
- editing ``sys.modules``; installing ``sys.settrace``, ``sys.setprofile``, ``sys.addaudithook``;
- reading notebook files (a ``.ipynb`` path, ``nbformat``, ``__session__``) or ``solutions/``;
- defining or assigning a name the hidden tests import (``check_...``).

A flag is a reason to look, not a verdict: the score is not changed. Correct solutions are never
flagged (the test suite scans every solution notebook).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Flag", "scan_source", "scan_notebook", "scan_folder"]

# Builtins whose replacement changes how a test decides (what an assert raises, a type check,
# an import, what reaches the output). Shadowing ``sum`` or ``list`` is sloppy, not tampering.
_GUARDED_BUILTINS = {"AssertionError", "Exception", "BaseException", "isinstance", "issubclass",
                     "print", "open", "__import__", "getattr", "hasattr", "type", "exit", "quit"}
_HOOKS = {"settrace", "setprofile", "addaudithook", "setrecursionlimit"}


@dataclass(frozen=True)
class Flag:
    """Why a submission deserves a look: the cell, the line and what the code does there."""

    cell: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"cell {self.cell}, line {self.line}: {self.reason}"


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain (subscripts as ``[...]``), else ''."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            parts.append("[...]")
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts)).replace(".[...]", "[...]")
        else:
            return ""


class _Scanner(ast.NodeVisitor):
    def __init__(self, cell: str):
        self.cell = cell
        self.flags: list[Flag] = []
        self.course_names: set[str] = {"course_lib"}  # names bound to course modules
        self.sys_names: set[str] = {"sys"}
        self.builtins_names: set[str] = {"builtins", "__builtins__"}
        self.depth = 0

    def flag(self, node: ast.AST, reason: str) -> None:
        self.flags.append(Flag(self.cell, getattr(node, "lineno", 0), reason))

    # -- names bound by imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            if alias.name.split(".")[0] == "course_lib":
                self.course_names.add(bound)
            elif alias.name == "sys":
                self.sys_names.add(bound)
            elif alias.name == "builtins":
                self.builtins_names.add(bound)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            bound = alias.asname or alias.name
            if module.split(".")[0] == "course_lib" and not alias.name.startswith("check_"):
                self.course_names.add(bound)  # a course module (or object) under this name
            if module == "sys" and alias.name == "modules":
                self.flag(node, "imports sys.modules")
        self.generic_visit(node)

    # -- writes
    def _target(self, target: ast.AST, node: ast.AST, verb: str) -> None:
        name = _dotted(target)
        root = name.split(".")[0].split("[")[0]
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            if root in self.course_names and name != root:
                self.flag(node, f"{verb} {name}: changes a course module")
            elif root in self.builtins_names:
                self.flag(node, f"{verb} {name}: replaces a builtin")
            elif any(name.startswith((f"{s}.modules[", f"{s}.modules.")) or name == f"{s}.modules"
                     for s in self.sys_names):
                self.flag(node, f"{verb} {name}: edits sys.modules")
            elif "__dict__" in name.split("."):
                self.flag(node, f"{verb} {name}: writes a namespace directly")
        elif isinstance(target, ast.Name):
            if target.id.startswith("check_"):
                self.flag(node, f"{verb} {target.id}: a name the hidden tests use for a checker")
            elif target.id in _GUARDED_BUILTINS and self.depth == 0:
                self.flag(node, f"{verb} {target.id}: shadows the builtin the tests rely on")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._target(elt, node, verb)

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._target(t, node, "assigns")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node, "assigns")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target, node, "assigns")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._target(t, node, "deletes")
        self.generic_visit(node)

    def _scope(self, node: ast.AST, name: str) -> None:
        if name.startswith("check_"):
            self.flag(node, f"defines {name}: a name the hidden tests use for a checker")
        elif name in _GUARDED_BUILTINS and self.depth == 0:
            self.flag(node, f"defines {name}: shadows the builtin the tests rely on")
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scope(node, node.name)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scope(node, node.name)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scope(node, node.name)

    # -- calls
    def visit_Call(self, node: ast.Call) -> None:
        func = _dotted(node.func)
        root = func.split(".")[0]
        last = func.rsplit(".", 1)[-1]
        if last in ("setattr", "delattr") and node.args:
            target = _dotted(node.args[0]).split(".")[0]
            if target in self.course_names | self.builtins_names | self.sys_names:
                self.flag(node, f"calls {func} on {_dotted(node.args[0])}: changes a module")
        if root in self.sys_names and last in _HOOKS:
            self.flag(node, f"calls {func}: hooks into the interpreter")
        if root in self.sys_names and ".modules." in f".{func}.":
            self.flag(node, f"calls {func}: edits sys.modules")
        if last in ("reload", "invalidate_caches") and "importlib" in func:
            self.flag(node, f"calls {func}: reloads modules")
        if root == "nbformat" or func in ("json.load",) and self._mentions_notebook(node):
            self.flag(node, f"calls {func}: reads a notebook")
        if last in ("open", "read_text", "read_bytes", "glob", "listdir", "scandir", "popen",
                    "system", "run", "check_output", "Popen") and self._mentions_notebook(node):
            self.flag(node, f"calls {func} on a notebook file or solutions/")
        self.generic_visit(node)

    @staticmethod
    def _mentions_notebook(node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                if ".ipynb" in sub.value or "solutions" in sub.value:
                    return True
            if isinstance(sub, ast.Name) and sub.id in ("__session__", "__file__"):
                return True
        return False

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__session__":
            self.flag(node, "uses __session__: the notebook's own path")
        self.generic_visit(node)


def scan_source(source: str, cell: str = "?") -> list[Flag]:
    """Flags for one cell's code (IPython magics and shell lines are skipped, not parsed).

    Example:
        >>> [f.reason for f in scan_source("import course_lib.testing as t\\nt.check = None")]
        ['assigns t.check: changes a course module']
    """
    lines = [ln if not ln.lstrip().startswith(("%", "!")) else "" for ln in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []  # the cell fails on its own; nothing it could have changed
    scanner = _Scanner(cell)
    scanner.visit(tree)
    return scanner.flags


def scan_notebook(path: str | Path) -> list[Flag]:
    """Flags for every answer cell of a submitted notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    flags: list[Flag] = []
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            flags += scan_source(cell.source, meta.get("grade_id", str(i)))
    return flags


def scan_folder(folder: str | Path) -> list[Flag]:
    """Flags for every notebook in a submission folder."""
    out: list[Flag] = []
    for nb in sorted(Path(folder).glob("*.ipynb")):
        out += scan_notebook(nb)
    return out
