"""Points a moved-in gear's imports at where its code now lives.

A gear's repository has its modules at the top (`run.py`, `utils/`), imported as `import
utils` or `from utils.x import y`. Here they live in the gear's app package, so each such
import becomes `from <app> import utils` or `from <app>.utils.x import y`, and a string naming
such a module in a patch call (`mocker.patch("utils.x.y")`) becomes `"<app>.utils.x.y"`. Imports
of flywheel-gear-toolkit's GearToolkitContext and uses of the SDK's old `flywheel.GearContext`
go to gear_common.legacy_context. Every other line is kept as it was (line numbers included).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LEGACY_MODULE = "gear_common.legacy_context"
TOOLKIT = "flywheel_gear_toolkit"
# Calls whose first argument names a module attribute by a dotted string.
_PATCH_CALLS = {"patch", "setattr", "delattr", "import_module", "dict"}


@dataclass
class Rewrite:
    """A rewritten module's text and what changed in it."""

    text: str
    changes: list[str] = field(default_factory=list)
    # Imports of flywheel-gear-toolkit left as they were (not the context).
    toolkit_left: list[str] = field(default_factory=list)


def _alias(name: str, asname: str | None) -> str:
    return f"{name} as {asname}" if asname else name


class _Edits:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)
        self.offsets = [0]
        for line in self.lines:
            self.offsets.append(self.offsets[-1] + len(line))
        self.text = text
        self.edits: list[tuple[int, int, str]] = []

    def span(self, node: Any) -> tuple[int, int]:
        start = self.offsets[node.lineno - 1] + _column(
            self.lines[node.lineno - 1], node.col_offset
        )
        end_line = node.end_lineno or node.lineno
        end_col = node.end_col_offset if node.end_col_offset is not None else 0
        return start, self.offsets[end_line - 1] + _column(self.lines[end_line - 1], end_col)

    def replace(self, node: Any, new: str) -> None:
        self.edits.append((*self.span(node), new))

    def apply(self) -> str:
        text = self.text
        for start, end, new in sorted(self.edits, reverse=True):
            text = text[:start] + new + text[end:]
        return text


def _column(line: str, byte_offset: int) -> int:
    """ast gives columns in UTF-8 bytes; the text is indexed by characters."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="replace"))


def _bind(module: str, name: str, asname: str | None) -> str:
    """A statement that binds `asname or name` to `module` (a dotted name)."""
    parent, _, last = module.rpartition(".")
    if not parent:
        return (
            f"import {module}"
            if module == (asname or name)
            else f"import {module} as {asname or name}"
        )
    bound = asname if asname else (None if last == name else name)
    return f"from {parent} import {_alias(last, bound)}"


def _moved_module(module: str, own: Mapping[str, str]) -> str | None:
    """Where `module` is here: the longest name of `own` it is or is inside, replaced."""
    for name in sorted(own, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return own[name] + module[len(name) :]
    return None


def rewrite(text: str, own: Mapping[str, str], *, where: str = "") -> Rewrite:
    """`text` with imports of the modules in `own` moved: `own` maps an upstream top-level name
    (`utils`) to the dotted name it has here (`my_gear_app.utils`); a dotted name (a suite's
    `gears.my_gear`) is moved in `from ... import` statements and patch strings."""
    tree = ast.parse(text, filename=where or "<module>")
    edits = _Edits(text)
    result = Rewrite(text)
    uses_gear_context = False
    toolkit_only_context = _uses_only_the_context(tree)
    node: Any
    for node in ast.walk(tree):
        new: str | None = None
        if isinstance(node, ast.Import):
            statements, changed = [], False
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top in own:
                    changed = True
                    moved = f"{own[top]}.{rest}" if rest else own[top]
                    if not rest or alias.asname:
                        statements.append(
                            _bind(moved, alias.asname or top, None)
                            if not alias.asname
                            else _bind(moved, alias.asname, alias.asname)
                        )
                    else:
                        statements.append(f"import {moved}")
                        statements.append(_bind(own[top], top, None))
                elif alias.name == TOOLKIT and toolkit_only_context:
                    changed = True
                    statements.append(
                        f"from gear_common import legacy_context as {alias.asname or TOOLKIT}"
                    )
                else:
                    if alias.name.partition(".")[0] == TOOLKIT:
                        result.toolkit_left.append(f"import {alias.name}")
                    statements.append(f"import {_alias(alias.name, alias.asname)}")
            if changed:
                new = "; ".join(statements)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top, _, rest = node.module.partition(".")
            names = ", ".join(_alias(a.name, a.asname) for a in node.names)
            moved_module = _moved_module(node.module, own)
            if moved_module is not None:
                new = f"from {moved_module} import {names}"
            elif top == TOOLKIT and {a.name for a in node.names} == {"GearToolkitContext"}:
                new = f"from {LEGACY_MODULE} import {names}"
            elif top == TOOLKIT:
                result.toolkit_left.append(f"from {node.module} import {names}")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "GearContext"
            and isinstance(node.value, ast.Name)
            and node.value.id == "flywheel"
        ):
            edits.replace(node, "_legacy_context.GearContext")
            uses_gear_context = True
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            name = (
                function.attr
                if isinstance(function, ast.Attribute)
                else getattr(function, "id", "")
            )
            first = node.args[0]
            if (
                name in _PATCH_CALLS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and "." in first.value
                and _moved_module(first.value, own) is not None
                and all(part.isidentifier() for part in first.value.split("."))
            ):
                moved = repr(_moved_module(first.value, own))
                edits.replace(first, moved)
                result.changes.append(f"line {first.lineno}: {first.value!r} -> {moved}")
            elif name in _PATCH_CALLS and isinstance(first, ast.JoinedStr):
                moved_fstring = _moved_fstring(text, first, own)
                if moved_fstring is not None:
                    edits.replace(first, moved_fstring)
                    result.changes.append(f"line {first.lineno}: {moved_fstring}")
        if new is not None:
            # As many lines as the statement had, so that every later line keeps its number.
            lines = (node.end_lineno or node.lineno) - node.lineno
            edits.replace(node, new + "\n" * lines)
            result.changes.append(f"line {node.lineno}: {new}")
    text = edits.apply()
    if uses_gear_context:
        text = _add_legacy_import(text, tree)
        result.changes.append(f"flywheel.GearContext -> {LEGACY_MODULE}.GearContext")
    result.text = text
    return result


def _add_legacy_import(text: str, tree: ast.Module) -> str:
    """Adds the legacy context's import on the line of the first top-level import (so that the
    other lines keep their numbers)."""
    statement = "from gear_common import legacy_context as _legacy_context"
    lines = text.splitlines(keepends=True)
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not (
            isinstance(node, ast.ImportFrom) and node.module == "__future__"
        ):
            index = node.lineno - 1
            lines[index] = f"{statement}; {lines[index]}"
            return "".join(lines)
    return f"{statement}\n{text}"


def _uses_only_the_context(tree: ast.Module) -> bool:
    """True when `import flywheel_gear_toolkit` is used only for its GearToolkitContext."""
    bound = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == TOOLKIT
    }
    if not bound:
        return False
    attributes = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in bound
    }
    return attributes <= {"GearToolkitContext"}


def _moved_fstring(text: str, node: ast.JoinedStr, own: Mapping[str, str]) -> str | None:
    """An f-string patch target (`f"utils.{name}"`) with its module moved, or None."""
    head = node.values[0] if node.values else None
    if not (isinstance(head, ast.Constant) and isinstance(head.value, str)):
        return None
    top = head.value.partition(".")[0]
    if top not in own or "." not in head.value:
        return None
    segment = ast.get_source_segment(text, node) or ""
    opening = re.match("[rRfF]*(\"\"\"|'''|\"|')", segment)
    if opening is None or not segment[opening.end() :].startswith(f"{top}."):
        return None
    return segment[: opening.end()] + own[top] + segment[opening.end() + len(top) :]
