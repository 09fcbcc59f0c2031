"""A Pants lockfile's locked projects: each one's version and what it requires."""

from __future__ import annotations

import json
from dataclasses import dataclass

from packaging.utils import canonicalize_name


class LockError(Exception):
    """A lockfile or the gear's dependencies cannot be read (the message says which)."""


@dataclass(frozen=True)
class Locked:
    """One locked project: its version and what it requires."""

    name: str
    version: str
    requires: tuple[str, ...]


def read_lock(text: str, where: str = "lockfile") -> dict[str, Locked]:
    """Project -> Locked, from a Pants lockfile's text (its `//` header left out)."""
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("//"))
    try:
        document = json.loads(body)
        found: dict[str, Locked] = {}
        for resolve in document.get("locked_resolves", []):
            for entry in resolve.get("locked_requirements", []):
                name = canonicalize_name(entry["project_name"])
                found[name] = Locked(name, str(entry["version"]), tuple(entry["requires_dists"]))
        return found
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LockError(f"{where}: not a Pants lockfile ({exc})") from None
