"""Assembly as text, for :mod:`course_lib.simd.snippet`: trimming ``cc -S`` output, reading back.

Here are the rules for labels (a function's label against the compiler's local ``.L3:`` ones,
ELF and Mach-O spellings) and comments (x86 ``#``, ARM ``//``, Apple ARM ``;``),
:func:`trim_asm`, which keeps one function's instructions without the assembler's directives,
and the reading of a built module with ``objdump -d``. The public names are re-exported by
:mod:`course_lib.simd.snippet`; import them from there.
"""
from __future__ import annotations

import platform
import re
import shutil
import sys
from pathlib import Path

from course_lib.simd._compiler import CompileError, _run

__all__ = ["trim_asm", "strip_asm_comment"]

# Local (non-function) labels: .L3 on ELF; L/l prefixed on Mach-O, where C names get a "_".
_LOCAL_LABEL = re.compile(r"^\.L[\w$.]*:$" if sys.platform != "darwin" else r"^(\.L|L|l)[\w$.]*:$")
_ANY_LABEL = re.compile(r"^([\w$.]+):")


# A comment: "# text" (x86; not ARM's "#16" immediates), "// text" (ARM), "; text" (Apple ARM).
_COMMENT_TAIL = re.compile(r"\s*(#\s.*|#$|//.*|;.*)$")


def strip_asm_comment(line: str) -> str:
    """``line`` without a trailing assembler comment (``# @total``, ``// =>This Loop``)."""
    return _COMMENT_TAIL.sub("", line) if not line.lstrip().startswith(("#", "//", ";")) else ""


def _is_function_label(line: str) -> bool:
    s = strip_asm_comment(line).strip()
    return bool(_ANY_LABEL.fullmatch(s)) and not _LOCAL_LABEL.match(s) and not line[:1].isspace()


def _asm_functions(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        if _is_function_label(line):
            name = strip_asm_comment(line).strip()[:-1]
            names.append(name[1:] if sys.platform == "darwin" and name.startswith("_") else name)
    return names


def trim_asm(text: str, function_name: str | None = None) -> str:
    """Keep the instructions (of one function, when named), without assembler directives.

    Args:
        text: what ``cc -S`` wrote.
        function_name: a C function's name (its Mach-O spelling ``_name`` is found too); None
            keeps every function.
    Returns:
        The label and instructions, one per line, comments and unused labels removed; ``""``
        when the function is not there.
    """
    lines = [strip_asm_comment(ln).rstrip() for ln in text.splitlines()]
    if function_name is not None:
        wanted = {f"{function_name}:", f"_{function_name}:"}
        start = next((i for i, ln in enumerate(lines)
                      if ln.strip() in wanted and _is_function_label(ln)), None)
        if start is None:
            return ""
        end = len(lines)
        for j in range(start + 1, len(lines)):
            s = lines[j].strip()
            if _is_function_label(lines[j]) or s.startswith(
                    (".size", ".section", ".text", ".globl", ".cfi_endproc", ".ident", ".type")):
                end = j
                break
        lines = lines[start:end]
    kept = []
    for ln in lines:
        s = ln.strip()
        if not s or (s.startswith(".") and not s.endswith(":")):
            continue
        kept.append(s if s.endswith(":") else "\t" + s)
    # drop labels no instruction jumps to (.LFB0:, .Lfunc_end0: ...)
    used = set(re.findall(r"[\w$.]+", " ".join(k for k in kept if not k.endswith(":"))))
    kept = [k for k in kept if not (_LOCAL_LABEL.match(k) and k[:-1] not in used)]
    return "\n".join(kept)


def _disassemble(path: str, function_name: str | None) -> str:
    """``objdump -d`` of the file at ``path``, as ``name:`` blocks of instructions (one function
    when named), without addresses and raw bytes; jump targets become ``name+0x53:`` labels."""
    tool = shutil.which("objdump") or shutil.which("llvm-objdump")
    if tool is None:
        raise CompileError("objdump is not installed (it comes with binutils on Linux and with "
                           "the Xcode command line tools on macOS): cannot read the built code")
    arch = platform.machine().lower()
    base = [tool, "-d", "--no-show-raw-insn"]
    result = None
    if arch in ("x86_64", "amd64"):
        result = _run(base + ["-M", "intel", path])
    if result is None or result.returncode != 0:
        result = _run(base + [path])
    if result.returncode != 0:
        raise CompileError(f"objdump failed on {path}:\n{result.stderr.strip()}")
    blocks: dict[str, list[tuple[int, str]]] = {}
    current: list[tuple[int, str]] | None = None
    for line in result.stdout.splitlines():
        m = re.match(r"^[0-9a-fA-F]+ <([^>]+)>:$", line)
        if m:
            name = m.group(1)
            if sys.platform == "darwin" and name.startswith("_"):
                name = name[1:]
            current = blocks.setdefault(name, [])
            continue
        if current is None:
            continue
        m = re.match(r"^\s*([0-9a-fA-F]+):\s+(.*)$", line)
        if m:
            insn = re.sub(r"\s*(#|//|;).*$", "", m.group(2)).strip()
            insn = re.sub(r"\b(0x)?[0-9a-f]+ <([^>]+)>", r"<\2>", insn)
            if insn:
                current.append((int(m.group(1), 16), re.sub(r"\s+", " ", insn)))
        elif not line.strip():
            current = None
    padding = re.compile(r"^(nop|data16|cs nop|xchg\s+ax,\s*ax|int3|udf|\.word)\b")
    for body in blocks.values():  # the alignment filler after the last instruction
        while body and padding.match(body[-1][1]):
            body.pop()

    def render(name: str) -> str:
        body = blocks[name]
        # jump targets inside the function become labels: "apply+0x53:" before that instruction
        targets = {int(off, 16) for off in re.findall(rf"<{re.escape(name)}\+0x([0-9a-f]+)>",
                                                      " ".join(i for _, i in body))}
        start = body[0][0] if body else 0
        lines = [f"{name}:"]
        for addr, insn in body:
            if addr - start in targets:
                lines.append(f"{name}+0x{addr - start:x}:")
            lines.append("\t" + insn)
        return "\n".join(lines)

    if function_name is None:
        return "\n\n".join(render(k) for k in blocks)
    if function_name not in blocks:
        raise KeyError(f"no function {function_name!r} in {Path(path).name}")
    return render(function_name)
