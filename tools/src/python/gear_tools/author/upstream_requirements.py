"""A moved-in gear's Python requirements, read from wherever the gear keeps them.

Read, in this order (a later file's pin of a project replaces an earlier one's):

- `requirements.txt`, and the test requirements files of TEST_REQUIREMENTS_FILES;
- `setup.py` (a literal `install_requires=[...]`) and `setup.cfg` (`[options] install_requires`);
- `pyproject.toml`: PEP 621 `[project] dependencies` (`optional-dependencies` test/dev as test
  requirements) and Poetry's `[tool.poetry.dependencies]` (dev and group dependencies as test
  requirements), Poetry's `^` and `~` ranges written as PEP 440 ones;
- `Pipfile`: `[packages]`, and `[dev-packages]` as test requirements.

Lock files (`Pipfile.lock`, `poetry.lock`) hold the versions the gear was released with: each
direct requirement found in one is pinned to that version (the starting point the pin checks
judge). What cannot be read (a file that does not parse, an `install_requires` that is not a
literal list, a requirement from git or a path) is named in `unread`, for the author.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from gear_tools.author.pins import project_name

REQUIREMENTS_FILES = ("requirements.txt",)
TEST_REQUIREMENTS_FILES = (
    "tests/requirements.txt",
    "test/requirements.txt",
    "requirements-dev.txt",
    "requirements_dev.txt",
    "requirements-test.txt",
    "requirements_test.txt",
    "dev-requirements.txt",
    "test-requirements.txt",
    "test_requirements.txt",
)
# Files whose requirements this module reads (a port names them as read, not as left out).
READ_FILES = (
    *REQUIREMENTS_FILES,
    "setup.py",
    "setup.cfg",
    "pyproject.toml",
    "Pipfile",
    "Pipfile.lock",
    "poetry.lock",
)
# Extras and groups that hold test requirements.
TEST_GROUPS = {"test", "tests", "testing", "dev", "develop", "development"}
# Tools that install a gear's requirements: never requirements of the gear itself.
INSTALLERS = {"pip", "pipenv", "poetry", "poetry-core", "pip-tools", "uv", "setuptools", "wheel"}


@dataclass
class FoundRequirements:
    """Requirements and test requirements (PEP 508 strings), the files they came from, and
    what could not be read."""

    requirements: list[str] = field(default_factory=list)
    test_requirements: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)


def requirement_lines(path: Path) -> list[str]:
    """The requirements of a requirements file (comments and options left out)."""
    lines = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split(" #")[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines


def poetry_range(name: str, constraint: str) -> str:
    """A Poetry constraint (`^1.2`, `~1.2.3`, `*`, `>=1,<2`, `1.2.3`) as a PEP 508 string."""
    constraint = constraint.strip()
    if constraint in ("", "*"):
        return name
    parts = []
    for piece in constraint.split(","):
        piece = piece.strip()
        match = re.fullmatch(r"([\^~])\s*(\d+(?:\.\d+)*)", piece)
        if match:
            kind, version = match.groups()
            numbers = [int(part) for part in version.split(".")]
            if kind == "^":
                # The first non-zero part stays (^0.2.3 -> <0.3.0; ^0.0.3 -> <0.0.4).
                index = next((i for i, n in enumerate(numbers) if n), len(numbers) - 1)
            else:
                # ~1.2.3 and ~1.2 -> <1.3; ~1 -> <2.
                index = min(1, len(numbers) - 1)
            upper = [*numbers[:index], numbers[index] + 1]
            parts += [f">={version}", "<" + ".".join(map(str, upper))]
        elif re.fullmatch(r"\d[\w.]*", piece):
            parts.append(f"=={piece}")
        else:
            parts.append(piece.replace(" ", ""))
    return name + ",".join(parts)


def _table_requirement(name: str, spec: Any, where: str, found: FoundRequirements) -> str | None:
    """A Pipfile or Poetry entry (`"==1.2"`, `"^1.2"`, `{version = ..., extras = [...]}`)."""
    extras = ""
    if isinstance(spec, dict):
        origin = next((key for key in ("git", "path", "url", "file") if key in spec), None)
        if origin is not None:
            found.unread.append(
                f"{where}: {name} comes from {origin}, not the package index; give its release "
                "with --requirement"
            )
            return None
        if spec.get("extras"):
            extras = "[" + ",".join(spec["extras"]) + "]"
        spec = spec.get("version", "*")
    if not isinstance(spec, str):
        found.unread.append(f"{where}: {name} = {spec!r} is not a version")
        return None
    text = poetry_range(name + extras, spec)
    try:
        Requirement(text)
    except InvalidRequirement:
        found.unread.append(f"{where}: {name} = {spec!r} is not a version range pip can read")
        return None
    return text


def _setup_py(path: Path, found: FoundRequirements) -> list[str]:
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError) as exc:
        found.unread.append(f"setup.py: not readable Python ({exc})")
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                found.unread.append(
                    "setup.py: install_requires is computed, not a literal list; give the "
                    "gear's requirements with --requirement"
                )
                return []
            return [str(item) for item in value]
    return []


def _setup_cfg(path: Path, found: FoundRequirements) -> list[str]:
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8", errors="replace"))
    except configparser.Error as exc:
        found.unread.append(f"setup.cfg: not readable ({exc.__class__.__name__})")
        return []
    text = parser.get("options", "install_requires", fallback="")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _toml(path: Path, found: FoundRequirements) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8", errors="replace"))
    except tomllib.TOMLDecodeError as exc:
        found.unread.append(f"{path.name}: not valid TOML ({exc})")
        return {}


def _pyproject(path: Path, found: FoundRequirements) -> tuple[list[str], list[str]]:
    data = _toml(path, found)
    project = data.get("project") or {}
    requirements = [str(item) for item in project.get("dependencies") or []]
    tests = [
        str(item)
        for group, items in (project.get("optional-dependencies") or {}).items()
        if group in TEST_GROUPS
        for item in items
    ]
    poetry = (data.get("tool") or {}).get("poetry") or {}
    for name, spec in (poetry.get("dependencies") or {}).items():
        if name.lower() != "python":
            text = _table_requirement(name, spec, "pyproject.toml", found)
            requirements += [text] if text else []
    groups = [poetry.get("dev-dependencies") or {}] + [
        (group.get("dependencies") or {})
        for name, group in (poetry.get("group") or {}).items()
        if name in TEST_GROUPS
    ]
    for group in groups:
        for name, spec in group.items():
            text = _table_requirement(name, spec, "pyproject.toml", found)
            tests += [text] if text else []
    return requirements, tests


def _pipfile(path: Path, found: FoundRequirements) -> tuple[list[str], list[str]]:
    data = _toml(path, found)
    sections = []
    for section in ("packages", "dev-packages"):
        entries = []
        for name, spec in (data.get(section) or {}).items():
            text = _table_requirement(name, spec, "Pipfile", found)
            entries += [text] if text else []
        sections.append(entries)
    return sections[0], sections[1]


def locked_versions(root: Path, found: FoundRequirements) -> dict[str, str]:
    """Project -> version the gear's lock file (Pipfile.lock, poetry.lock) holds."""
    versions: dict[str, str] = {}
    pipfile_lock = root / "Pipfile.lock"
    if pipfile_lock.is_file():
        try:
            data = json.loads(pipfile_lock.read_text(encoding="utf-8"))
            for section in ("develop", "default"):
                for name, spec in (data.get(section) or {}).items():
                    version = str(spec.get("version") or "") if isinstance(spec, dict) else ""
                    if version.startswith("=="):
                        versions[canonicalize_name(name)] = version[2:]
        except (json.JSONDecodeError, AttributeError) as exc:
            found.unread.append(f"Pipfile.lock: not readable ({exc.__class__.__name__})")
    poetry_lock = root / "poetry.lock"
    if poetry_lock.is_file():
        for package in _toml(poetry_lock, found).get("package") or []:
            if isinstance(package, dict) and package.get("name") and package.get("version"):
                versions[canonicalize_name(str(package["name"]))] = str(package["version"])
    return versions


def _pinned(requirement: str, versions: dict[str, str], found: FoundRequirements) -> str:
    """`requirement` pinned to its locked version, if the lock has one its range admits."""
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return requirement
    version = versions.get(canonicalize_name(parsed.name))
    if version is None or not parsed.specifier.contains(version, prereleases=True):
        return requirement
    extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
    marker = f"; {parsed.marker}" if parsed.marker else ""
    pinned = f"{parsed.name}{extras}=={version}{marker}"
    if pinned != requirement:
        found.locked.append(f"{parsed.name}=={version}")
    return pinned


def _merge(into: list[str], more: list[str]) -> None:
    """Adds `more` to `into`, a later pin of a project replacing an earlier one."""
    for requirement in more:
        name = project_name(requirement)
        into[:] = [item for item in into if project_name(item) != name]
        into.append(requirement)


def _from_index(requirement: str) -> bool:
    """False for a requirement by URL or path (`git+https://...`, `./lib`)."""
    return "://" not in requirement and not requirement.startswith(("git+", ".", "/"))


def read_requirements(root: Path, suite: Path | None = None) -> FoundRequirements:
    """Every requirement the gear's repository declares (see the module doc); with `suite`,
    the suite repository's test requirements too (its tests are the gear's)."""
    found = FoundRequirements()
    for name in REQUIREMENTS_FILES:
        if (root / name).is_file():
            _merge(found.requirements, requirement_lines(root / name))
            found.sources.append(name)
    for top in [root, *([suite] if suite is not None else [])]:
        for name in TEST_REQUIREMENTS_FILES:
            if (top / name).is_file():
                _merge(found.test_requirements, requirement_lines(top / name))
                found.sources.append(name if top == root else str(top / name))
    readers = {"setup.py": _setup_py, "setup.cfg": _setup_cfg}
    for name, read in readers.items():
        if (root / name).is_file():
            _merge(found.requirements, read(root / name, found))
            found.sources.append(name)
    for name, read_both in (("pyproject.toml", _pyproject), ("Pipfile", _pipfile)):
        if (root / name).is_file():
            requirements, tests = read_both(root / name, found)
            _merge(found.requirements, requirements)
            _merge(found.test_requirements, tests)
            found.sources.append(name)
    for requirement in [*found.requirements, *found.test_requirements]:
        if not _from_index(requirement):
            found.unread.append(
                f"{requirement}: not from the package index; give its release with --requirement"
            )
    found.requirements = [r for r in found.requirements if _from_index(r)]
    found.test_requirements = [r for r in found.test_requirements if _from_index(r)]
    versions = locked_versions(root, found)
    if versions:
        found.sources += [
            name for name in ("Pipfile.lock", "poetry.lock") if (root / name).is_file()
        ]
        found.requirements = [_pinned(r, versions, found) for r in found.requirements]
    found.requirements = [r for r in found.requirements if project_name(r) not in INSTALLERS]
    found.test_requirements = [
        r for r in found.test_requirements if project_name(r) not in INSTALLERS
    ]
    return found
