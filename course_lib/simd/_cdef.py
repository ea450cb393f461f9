"""Reading cffi's declarations (the *cdef*) out of C source, for :mod:`course_lib.simd.snippet`.

:func:`derive_cdef` finds the top-level, non-static function definitions whose types are plain
C scalars or pointers to them, and writes their prototypes the way cffi's parser wants them
(no ``restrict``, ``inline`` or ``__attribute__``; ``x[]`` as ``*x``). It is a reader of
simple code, not a C parser: what it does not understand it names, so that the caller can ask
for ``cdef=...``. Import it from :mod:`course_lib.simd.snippet`.
"""
from __future__ import annotations

import re

__all__ = ["derive_cdef"]

_TYPE_WORDS = {
    "void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "const",
    "volatile", "restrict", "__restrict", "__restrict__", "_Bool", "bool", "size_t", "ssize_t",
    "ptrdiff_t", "intptr_t", "uintptr_t", "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t",
    "uint16_t", "uint32_t", "uint64_t"}
_DROP_WORDS = {"inline", "__inline", "__inline__", "extern"}
_NOT_FOR_CFFI = re.compile(r"\b(restrict|__restrict|__restrict__|inline|__inline|__inline__|extern)\b")


def _strip_comments_and_strings(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    text = re.sub(r"'(\\.|[^'\\\n])*'", "' '", text)
    text = re.sub(r"^[ \t]*#[^\n]*(\\\n[^\n]*)*", "", text, flags=re.M)  # preprocessor lines
    return text


def _drop_attributes(head: str) -> str:
    """Remove ``__attribute__((...))`` and ``__declspec(...)`` (balanced parentheses)."""
    while True:
        m = re.search(r"\b(__attribute__|__declspec)\s*\(", head)
        if not m:
            return head
        depth, i = 0, m.end() - 1
        while i < len(head):
            depth += {"(": 1, ")": -1}.get(head[i], 0)
            i += 1
            if depth == 0:
                break
        head = head[:m.start()] + " " + head[i:]


def _top_level_heads(text: str) -> list[str]:
    """The text before each ``{`` found at brace depth 0 (since the last ``;`` or ``}``)."""
    heads, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                heads.append(text[start:i])
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
            if depth == 0:
                start = i + 1
        elif ch == ";" and depth == 0:
            start = i + 1
    return heads


def _plain_type(words: list[str]) -> bool:
    return bool(words) and all(w in _TYPE_WORDS for w in words)


def derive_cdef(source: str) -> tuple[str, list[str]]:
    """Read the prototypes of the non-static functions defined in ``source``.

    Returns:
        ``(cdef, skipped)``: the prototypes, one per line, ready for cffi; and the names of
        non-static functions whose types are beyond this simple reader (pass ``cdef=`` for them).

    Example:
        >>> derive_cdef("static int h(int x) { return x; }\\n"
        ...             "float total(const float *restrict x, long n[]) { return 0; }")
        ('float total(const float * x, long *n);', [])
    """
    cdefs, skipped = [], []
    for head in _top_level_heads(_strip_comments_and_strings(source)):
        head = " ".join(_drop_attributes(head).split())
        m = re.match(r"^(?P<ret>[\w\s*]*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*\((?P<params>[^()]*)\)$", head)
        if not m or re.match(r"(typedef|struct|union|enum)\b[^(]*$", head):
            other = re.match(r"^(?P<pre>[\w\s*]*?)\b(?P<name>[A-Za-z_]\w*)\s*\(", head)
            if other and other["pre"].strip() and "static" not in other["pre"].split():
                skipped.append(other["name"])  # a function, with types beyond this reader
            continue
        ret_words = [w for w in re.findall(r"\w+", m["ret"]) if w not in _DROP_WORDS]
        if "static" in ret_words or not ret_words:
            continue
        name, params = m["name"], m["params"].strip()
        ok = _plain_type(ret_words)
        fixed = []
        for p in ([] if params in ("", "void") else [p.strip() for p in params.split(",")]):
            p = re.sub(r"(\w+)\s*\[[^\]]*\]$", r"*\1", p)  # float x[] -> float *x
            words = re.findall(r"\w+", p)
            named = len(words) > 1 and words[-1] not in _TYPE_WORDS
            ok = ok and p != "..." and _plain_type(words[:-1] if named else words)
            fixed.append(p)
        if not ok:
            skipped.append(name)
            continue
        ret = _NOT_FOR_CFFI.sub("", m["ret"])
        proto = f"{ret} {name}({', '.join(fixed) or 'void'});"
        proto = _NOT_FOR_CFFI.sub("", proto)
        cdefs.append(re.sub(r"\s+", " ", proto).replace("( ", "(").strip())
    return "\n".join(cdefs), skipped
