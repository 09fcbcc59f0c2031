"""Reading files a user gives a gear or a tool: clear messages for bad paths, and limits.

Every YAML or JSON file read from a user (study files, batch specs, config.json, manifests)
goes through `read_input_text` (and `load_json_input` or `yaml_input.load_yaml_documents`),
which refuse, with one line naming the file and the limit, what no real file needs:

- more than 16 MiB;
- values nested more than 64 levels deep;
- more than 1,000,000 values (YAML: counted with every alias expanded, so a few lines of
  anchors and aliases cannot stand for millions of values), or more than 1,000 aliases;
- more than 1,000 YAML documents.

A 10,000-center study file is about 1 MB, 60,000 values and 4 levels deep.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gear_common.errors import GearInputError


@dataclass(frozen=True)
class InputLimits:
    """What a user's file may hold (see the module doc)."""

    max_bytes: int = 16 * 1024 * 1024
    max_depth: int = 64
    max_values: int = 1_000_000
    max_aliases: int = 1_000
    max_documents: int = 1_000


LIMITS = InputLimits()


def path_problem(path: Path) -> str | None:
    """Why `path` is not a readable regular file, in words, or None when it is one."""
    try:
        link = path.lstat()
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISLNK(link.st_mode):
        try:
            path.stat()
        except FileNotFoundError:
            return f"is a broken symbolic link (to {os.readlink(path)}, which does not exist)"
        except OSError as exc:
            return f"is a symbolic link that cannot be followed: {exc.strerror}"
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else None
        kind = kind or ("a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special")
        return f"is not a regular file ({kind})"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def read_input_text(path: Path, *, limits: InputLimits = LIMITS) -> str:
    """The text of a user's file (UTF-8, a byte-order mark allowed), within the size limit."""
    problem = path_problem(path)
    if problem:
        raise GearInputError(f"{path}: {problem}")
    try:
        with path.open("rb") as file:
            data = file.read(limits.max_bytes + 1)
    except OSError as exc:
        raise GearInputError(f"{path}: cannot be read: {exc.strerror}") from None
    if len(data) > limits.max_bytes:
        raise GearInputError(
            f"{path}: larger than {limits.max_bytes:,} bytes, the most an input file may have"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GearInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def check_shape(value: Any, *, source: Path, limits: InputLimits = LIMITS) -> None:
    """Refuses values nested deeper, or more of them, than the limits allow (no recursion)."""
    count = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        count += 1
        if count > limits.max_values:
            raise GearInputError(f"{source}: more than {limits.max_values:,} values")
        if depth > limits.max_depth:
            raise GearInputError(f"{source}: nested more than {limits.max_depth} levels deep")
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)


def load_json_input(path: Path, *, limits: InputLimits = LIMITS) -> Any:
    """A user's JSON file, parsed, within the limits; errors name the file and the line."""
    text = read_input_text(path, limits=limits)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        if not text.strip():
            raise GearInputError(f"{path}: empty, expected a JSON document") from None
        raise GearInputError(f"{path}: not valid JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise GearInputError(f"{path}: nested more than {limits.max_depth} levels deep") from None
    check_shape(value, source=path, limits=limits)
    return value
