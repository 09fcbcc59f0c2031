"""Which third-party packages (and versions) a gear's image holds, read from its lockfile.

A gear's image holds the requirements its code and common/'s code depend on (what Pants
infers for the gear's `<name>-deps` pex, `3rdparty/python:<target>#<project>`), and their
dependencies as the resolve's lockfile locks them (each locked project's `requires_dists`,
for CPython 3.11 on Linux, extras followed). Comparing a gear's closure under two lockfiles
tells whether a lockfile change changes that gear's image, and with which packages: the part
of a resolve's update that is the gear's.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from gear_tools.author import gear_resolve, pins
from gear_tools.author.lockfile import Locked, LockError, read_lock
from gear_tools.repo import Gear


def closure(lock: Mapping[str, Locked], roots: Iterable[str]) -> dict[str, str]:
    """Project -> version of the roots (requirement strings, extras included) and everything
    they require, as the lockfile locks them, for CPython 3.11 on Linux."""
    found: dict[str, str] = {}
    pending: list[tuple[str, frozenset[str]]] = []
    for root in roots:
        try:
            requirement = Requirement(root)
        except InvalidRequirement:
            continue
        pending.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen or name not in lock:
            continue
        seen.add((name, extras))
        locked = lock[name]
        found[name] = locked.version
        for text in locked.requires:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is not None and not any(
                requirement.marker.evaluate(pins.gear_environment(extra)) for extra in ("", *extras)
            ):
                continue
            pending.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return found


def lock_changes(
    old: Mapping[str, Locked], new: Mapping[str, Locked]
) -> dict[str, tuple[str | None, str | None]]:
    """Project -> (old version, new version) for each project added, removed or moved."""
    changes: dict[str, tuple[str | None, str | None]] = {}
    for name in sorted(set(old) | set(new)):
        before = old[name].version if name in old else None
        after = new[name].version if name in new else None
        if before != after:
            changes[name] = (before, after)
    return changes


def requirement_roots(repo: Path, target: str) -> list[str]:
    """The requirements a target depends on, transitively (`3rdparty/python:reqs#pydicom`
    becomes `pydicom`, with the requirement's extras as the requirements file has them)."""
    result = subprocess.run(
        [str(repo / "pants"), "-lwarn", "dependencies", "--transitive", target],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise LockError(f"`./pants dependencies --transitive {target}` failed: {result.stderr}")
    projects = [line.split("#", 1)[1] for line in result.stdout.split() if "#" in line]
    return sorted(set(projects))


def gear_roots(repo: Path, gear: Gear) -> list[str]:
    """What the gear's image installs from its resolve: its `<name>-deps` pex's requirements,
    as its resolve's requirements file writes them (extras included)."""
    names = requirement_roots(repo, f"{gear.directory}/src/docker:{gear.name}-deps")
    written: dict[str, str] = {}
    requirements = repo / gear_resolve.requirements_path(gear.resolve)
    if requirements.is_file():
        for line in requirements.read_text(encoding="utf-8").splitlines():
            try:
                requirement = Requirement(line.split("#")[0].strip())
            except InvalidRequirement:
                continue
            written[canonicalize_name(requirement.name)] = str(requirement)
    return [written.get(canonicalize_name(name), name) for name in names]


def gear_packages(repo: Path, gear: Gear, lock_text: str | None = None) -> dict[str, str]:
    """Project -> version of every third-party package in the gear's image (`lock_text`: the
    resolve's lockfile as given, else as it is on disk)."""
    lockfile = repo / "3rdparty/python" / f"{gear.resolve}.lock"
    text = lock_text if lock_text is not None else lockfile.read_text(encoding="utf-8")
    return closure(read_lock(text, str(lockfile)), gear_roots(repo, gear))


def closure_changes(
    old_lock: Mapping[str, Locked], new_lock: Mapping[str, Locked], roots: Iterable[str]
) -> dict[str, tuple[str | None, str | None]]:
    """The packages of the roots' closure that differ between two lockfiles."""
    listed = list(roots)
    old, new = closure(old_lock, listed), closure(new_lock, listed)
    return {
        name: (old.get(name), new.get(name))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    }


def gear_lock_changes(
    repo: Path, gear: Gear, old_text: str, new_text: str
) -> dict[str, tuple[str | None, str | None]]:
    """The packages of the gear's image that differ between two texts of its lockfile."""
    return closure_changes(read_lock(old_text), read_lock(new_text), gear_roots(repo, gear))


def describe(changes: Mapping[str, tuple[str | None, str | None]]) -> list[str]:
    """`pydicom 2.4.3 -> 2.4.4` lines (added and removed packages said so)."""
    lines = []
    for name, (before, after) in changes.items():
        if before is None:
            lines.append(f"{name} {after} (added)")
        elif after is None:
            lines.append(f"{name} {before} (removed)")
        else:
            lines.append(f"{name} {before} -> {after}")
    return lines
