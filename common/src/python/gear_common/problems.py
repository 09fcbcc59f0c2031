"""One way to report bad values: pydantic and jsonschema errors as short, bounded lines.

Each problem is one line: where (a field path the caller labels), the value found (a short
repr, cut with an ellipsis, with its type and size) and what was expected. Values and
messages never carry raw control characters (an ANSI escape in a value cannot reach a
terminal), each problem is listed once, and at most MAX_PROBLEMS are listed, then "and K
more". A value of megabytes, or an alias bomb's expansion, stays a few dozen characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

MAX_PROBLEMS = 20
MAX_VALUE_CHARS = 40
MAX_TEXT_CHARS = 200
# C0 and C1 control characters (ANSI escapes start with ESC), and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Label = Callable[[str], str]


def clean_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text` with control characters escaped (`\\x1b`), cut to `limit` characters with `…`."""
    escaped = _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def show_value(value: Any) -> str:
    """A short, safe description of a value: `'ten' (str)`, `[1, 2, 3, …] (list of 9 items)`."""
    shown = clean_text(_short_repr(value), MAX_VALUE_CHARS)
    kind = type(value).__name__
    if isinstance(value, (str, bytes)) and len(value) > MAX_VALUE_CHARS // 2:
        return f"{shown} ({kind} of {len(value):,} characters)"
    if isinstance(value, (list, tuple, dict, set)):
        noun = "key" if isinstance(value, dict) else "item"
        return f"{shown} ({kind} of {len(value):,} {noun}{'' if len(value) == 1 else 's'})"
    return f"{shown} ({kind})"


def _short_repr(value: Any) -> str:
    """A repr that never builds more than about MAX_VALUE_CHARS of a large value."""
    if isinstance(value, (str, bytes)):
        return repr(value[: MAX_VALUE_CHARS + 1])
    more = ", …" if isinstance(value, (list, tuple, dict)) and len(value) > 3 else ""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short_repr(item) for item in value[:3]) + more + "]"
    if isinstance(value, dict):
        items = list(value.items())[:3]
        return "{" + ", ".join(f"{_short_repr(k)}: {_short_repr(v)}" for k, v in items) + more + "}"
    return repr(value)


def field_path(location: Iterable[int | str]) -> str:
    """`("centers", 0, "name")` -> `centers[0].name` (keys cleaned and cut)."""
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + clean_text(str(part), MAX_VALUE_CHARS))
    return "".join(parts)


def pydantic_problems(
    errors: Iterable[Any], label: Label, *, limit: int | None = MAX_PROBLEMS
) -> list[str]:
    """pydantic's `ValidationError.errors()` as lines; `label(path)` names a field for the user.

    `limit=None` leaves the count to the caller (who joins several lists, then summarizes).
    """
    problems = []
    for error in errors:
        where = label(field_path(error["loc"]))
        message = clean_text(error["msg"])
        if error["type"] == "missing":
            problems.append(f"{where} is required but missing")
        elif error["type"] == "extra_forbidden":
            problems.append(f"{where} is not a known field")
        elif isinstance(error.get("input"), dict):
            # A check of a whole mapping: the message says what is wrong with it.
            problems.append(f"{where}: {message}")
        else:
            problems.append(f"{where} is {show_value(error['input'])}: {message}")
    return problems if limit is None else summarize(problems, limit)


def jsonschema_problems(errors: Iterable[Any], label: Label) -> list[str]:
    """jsonschema `ValidationError`s as lines, the value shown short instead of in full."""
    problems = []
    for error in sorted(errors, key=lambda e: [str(part) for part in e.absolute_path]):
        error = _deepest(error)
        where = label(field_path(error.absolute_path))
        found = repr(error.instance)
        if error.message.startswith(found):
            rest = error.message[len(found) :].strip().removeprefix("is ").strip()
            problems.append(f"{where} is {show_value(error.instance)}: {clean_text(rest)}")
        else:
            problems.append(f"{where}: {clean_text(error.message)}")
    return summarize(problems)


def _deepest(error: Any) -> Any:
    """For a value that fits none of several alternatives (anyOf, oneOf), the reason found
    deepest inside it, ignoring "or null" alternatives: the one that says what is wrong."""
    while error.context:
        candidates = [
            e for e in error.context if not (e.validator == "type" and e.validator_value == "null")
        ] or list(error.context)
        error = max(candidates, key=lambda e: len(e.absolute_path))
    return error


def summarize(problems: Sequence[str], limit: int = MAX_PROBLEMS) -> list[str]:
    """Each problem once, in order; past `limit`, one line saying how many more there are."""
    unique = list(dict.fromkeys(problems))
    if len(unique) <= limit:
        return unique
    return [*unique[:limit], f"and {len(unique) - limit} more problems"]
