"""Finds a moved-in gear's pins by resolving them for real: pip's resolver, for CPython 3.11 on
Linux (the interpreter running this), against the package index, constrained by what common/'s
libraries need (their requirements and what their locked releases require: `pins.Constraint`).

The pin checks (`pins`) judge the pins one by one and settle their proposals; here the whole set
is resolved as the gear's resolve will install it, and every release the resolver picks (the
pins' own dependencies too) is judged again: a compiled release built against numpy 1 where the
set installs numpy 2, one pip would build from source, one using what Python 3.10 removed. A
proposal for such a release is added as a pin and the set resolved again; when the resolver
reports a conflict, the gear's pins it names are widened (`==1.0` becomes `>=1.0`) and the
resolver picks their versions. Last, what pip picked is installed and each pin imported: a pin
that fails at import (requests-toolbelt 0.10 beside urllib3 2) is widened too. What it settles
on is pinned exactly (`name==version`).

    requests-toolbelt==0.10.0: requests-toolbelt 0.10.0 fails at import beside the releases
    pip picked (import requests_toolbelt: ImportError: cannot import name 'appengine' ...)
    ... Checked together (2 rounds of resolving with pip), these pins work here:
    requests-toolbelt==1.0.0
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from gear_tools.author import pins
from gear_tools.author.pins import Constraint, PinError, PinProblem, project_name

# How long one resolve may take (pip may prepare an sdist's metadata).
RESOLVE_SECONDS = 600
# Rounds of resolving after the pin checks settled.
RESOLVE_ROUNDS = 5


@dataclass(frozen=True)
class Resolution:
    """The releases pip picked (canonical name -> version, and what each requires), or pip's
    account of why no set satisfies the requirements (`conflict`)."""

    versions: dict[str, str]
    requires: dict[str, list[str]]
    conflict: str = ""

    def dependencies(self, name: str) -> set[str]:
        """The picked projects `name` needs, directly or not (markers not evaluated)."""
        found: set[str] = set()
        pending = [name]
        while pending:
            for line in self.requires.get(pending.pop(), []):
                try:
                    needed = canonicalize_name(Requirement(line).name)
                except InvalidRequirement:
                    continue
                if needed in self.versions and needed not in found:
                    found.add(needed)
                    pending.append(needed)
        return found

    def conflicting_projects(self) -> set[str]:
        """The projects pip names in its conflict (who requested or needs what)."""
        named = set()
        for line in self.conflict.splitlines():
            words = line.split()
            if line.strip().startswith("The user requested") and len(words) > 3:
                if words[3] != "(constraint)":
                    named.add(project_name(words[3]))
            elif "depends on" in line and words:
                named.add(canonicalize_name(words[0]))
        return named


# Requirements, and constraints (lines that restrict a project without requiring it).
Resolver = Callable[[Sequence[str], Sequence[str]], Resolution]


def pip_resolver(index_url: str, *, python: str = sys.executable) -> Resolver:
    """Resolves requirements with pip (`install --dry-run --report`) against `index_url` (a
    PyPI-like server: its simple API at <url>/simple/), for `python`."""

    def resolve(requirements: Sequence[str], constraints: Sequence[str] = ()) -> Resolution:
        return _pip_resolve(list(requirements), list(constraints), index_url, python)

    return resolve


def pip_environment() -> dict[str, str]:
    """The environment pip runs in: this one without pex's settings and without pip's own
    configuration (its indexes, find-links and constraints are not the index judged here; a
    certificate bundle is kept), with pip importable."""
    spec = find_spec("pip")
    if spec is None or spec.origin is None:
        raise PinError("pip is not installed with the tools (3rdparty/python/gear-tools-*)")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PEX_", "PIP_")) or k == "PIP_CERT"
    }
    env["PYTHONPATH"] = str(Path(spec.origin).parent.parent)
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _pip_install(
    python: str,
    index_url: str,
    options: list[str],
    requirements: list[str],
    cwd: str,
    seconds: int,
    what: str,
) -> subprocess.CompletedProcess[str]:
    """`pip install OPTIONS -- REQUIREMENTS` against the index, its output in one stream (pip's
    account of a conflict follows its error line)."""
    command = [python, "-m", "pip", "install", "--no-input", *options]
    command += ["--index-url", index_url.rstrip("/") + "/simple/", "--", *requirements]
    try:
        return subprocess.run(
            command,
            env=pip_environment(),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PinError(f"pip did not {what} within {seconds} s") from None


def _pip_resolve(
    requirements: list[str], constraints: list[str], index_url: str, python: str
) -> Resolution:
    with tempfile.TemporaryDirectory(prefix="pin-resolve-") as tmp:
        report = Path(tmp) / "report.json"
        constraints_file = Path(tmp) / "constraints.txt"
        constraints_file.write_text("".join(f"{line}\n" for line in constraints), "utf-8")
        done = _pip_install(
            python,
            index_url,
            [
                "--dry-run",
                "--ignore-installed",
                "--retries",
                "2",
                "--report",
                str(report),
                "--constraint",
                str(constraints_file),
            ],
            # Each its own argument: pip's account of a conflict then names them as given.
            requirements,
            tmp,
            RESOLVE_SECONDS,
            "resolve the pins",
        )
        if done.returncode != 0:
            conflict = _conflict(done.stdout)
            if conflict:
                return Resolution({}, {}, conflict)
            raise PinError(f"pip could not resolve the pins: {_last_lines(done.stdout)}")
        installed = json.loads(report.read_text(encoding="utf-8")).get("install", [])
    versions: dict[str, str] = {}
    requires: dict[str, list[str]] = {}
    for item in installed:
        name = canonicalize_name(item["metadata"]["name"])
        versions[name] = item["metadata"]["version"]
        requires[name] = list(item["metadata"].get("requires_dist", []))
    return Resolution(versions, requires)


# pip's words for an index it could not read: then a missing release says nothing.
_UNREACHABLE = ("Could not fetch URL", "NewConnectionError", "Connection refused", "ProxyError")


def _conflict(output: str) -> str:
    """pip's explanation of a resolve that cannot succeed ("" for another failure, such as an
    index it could not reach)."""
    if any(word in output for word in _UNREACHABLE):
        return ""
    lines = output.splitlines()
    if "ResolutionImpossible" in output:
        start = next(i for i, line in enumerate(lines) if line.startswith("ERROR: Cannot install"))
    else:
        found = [i for i, line in enumerate(lines) if "No matching distribution found" in line]
        if not found:
            return ""
        start = (
            found[0] - 1
            if found[0] and "ERROR: Could not find" in lines[found[0] - 1]
            else found[0]
        )
    kept = []
    for line in lines[start:]:
        if line.startswith("To fix this") or "ResolutionImpossible" in line:
            break
        if line.strip() and not line.startswith(("Collecting", "Looking in", "WARNING")):
            kept.append(line.rstrip())
    return "\n".join(kept)


def _last_lines(text: str, count: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-count:])


# Installing what pip picked, and importing one pin's modules.
INSTALL_SECONDS = 900
IMPORT_SECONDS = 120

ImportCheck = Callable[[Resolution, Sequence[str]], list[PinProblem]]


def pip_import_check(index_url: str, *, python: str = sys.executable) -> ImportCheck:
    """Installs the releases pip picked (no dependencies: they are the whole set) from
    `index_url` into a directory of their own, and imports each pin's top-level modules with
    `python` (isolated from this environment): a pin that fails at import is named, unless
    what fails is another failing pin it needs."""

    def check(resolution: Resolution, gear_pins: Sequence[str]) -> list[PinProblem]:
        return _import_problems(resolution, list(gear_pins), index_url, python)

    return check


def _import_problems(
    resolution: Resolution, gear_pins: list[str], index_url: str, python: str
) -> list[PinProblem]:
    with tempfile.TemporaryDirectory(prefix="pin-import-") as tmp:
        site = Path(tmp) / "site"
        done = _pip_install(
            python,
            index_url,
            ["--no-deps", "--quiet", "--target", str(site)],
            [f"{name}=={version}" for name, version in sorted(resolution.versions.items())],
            tmp,
            INSTALL_SECONDS,
            "install the releases it picked",
        )
        if done.returncode != 0:
            raise PinError(
                f"pip could not install the releases it picked: {_last_lines(done.stdout)}"
            )
        failures: dict[str, str] = {}
        for pin in gear_pins:
            name = project_name(pin)
            if name not in resolution.versions:
                continue
            for module in top_level_modules(site, name):
                error = _import_error(python, site, module, Path(tmp))
                if error:
                    failures[pin] = f"import {module}: {error}"
                    break
    failing = {project_name(pin) for pin in failures}
    return [
        PinProblem(
            f"{pin}: {project_name(pin)} {resolution.versions[project_name(pin)]} fails at "
            f"import beside the releases pip picked ({error})",
            widened(pin) if widened(pin) != pin else None,
        )
        for pin, error in failures.items()
        # Another failing pin it needs is what fails.
        if not resolution.dependencies(project_name(pin)) & failing
    ]


def top_level_modules(site: Path, name: str) -> list[str]:
    """The importable top-level modules an installed project holds (its top_level.txt, else
    its RECORD's top directories and modules)."""
    for info in site.glob("*.dist-info"):
        metadata = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        named = next(
            (line[5:].strip() for line in metadata.splitlines() if line.startswith("Name:")), ""
        )
        if canonicalize_name(named) != name:
            continue
        top_level = info / "top_level.txt"
        if top_level.is_file():
            names = top_level.read_text(encoding="utf-8").split()
        else:
            record = (
                (info / "RECORD").read_text(encoding="utf-8") if (info / "RECORD").is_file() else ""
            )
            names = sorted(
                {
                    line.split(",")[0].split("/")[0].removesuffix(".py")
                    for line in record.splitlines()
                    if line and not line.split("/")[0].endswith((".dist-info", ".data"))
                }
            )
        return [n for n in names if n.isidentifier() and not n.startswith("_")]
    return []


def _import_error(python: str, site: Path, module: str, cwd: Path) -> str:
    """The last line of what importing `module` from `site` printed when it failed ("" when it
    imports). Only the standard library and `site` are importable (`-S`: not this interpreter's
    site-packages, which would hide a missing dependency); `site`'s .pth files are read."""
    code = f"import site; site.addsitedir({str(site)!r}); import {module}"
    try:
        ran = subprocess.run(
            [python, "-I", "-S", "-c", code],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=IMPORT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"took more than {IMPORT_SECONDS} s"
    if ran.returncode == 0:
        return ""
    lines = ran.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit {ran.returncode}"


def widened(pin: str) -> str:
    """The pin with its upper bounds dropped: `pkga==1.0` and `pkga~=1.0` become `pkga>=1.0`,
    `pkga>=1,<2` becomes `pkga>=1` (extras and markers kept)."""
    requirement = Requirement(pin)
    lower = [
        f">={s.version}" if s.operator in ("==", "~=", "===") else str(s)
        for s in requirement.specifier
        if s.operator in ("==", "~=", "===", ">=", ">")
    ]
    return _respecified(requirement, ",".join(lower))


def _exact(pin: str, version: str) -> str:
    return _respecified(Requirement(pin), f"=={version}")


def _respecified(requirement: Requirement, specifier: str) -> str:
    """The requirement with `specifier` in place of its own (extras and marker kept)."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    marker = f"; {requirement.marker}" if requirement.marker else ""
    return f"{requirement.name}{extras}{specifier}{marker}"


def judge_resolution(
    resolution: Resolution,
    constraints: Mapping[str, list[Constraint]],
    known_good: Mapping[str, str],
    pypi: pins.PyPI,
) -> list[PinProblem]:
    """The pin checks on every release the resolver picked that is not `known_good` (what
    python-default's lockfile already installs in every gear), as if it were pinned exactly."""
    picked = [
        f"{name}=={version}"
        for name, version in sorted(resolution.versions.items())
        if known_good.get(name) != version
    ]
    problems = pins.check_pins(picked, constraints, pypi=pypi)
    return [
        problem
        for problem in problems
        # A pin's conflict with common/ is the resolver's to judge: it just resolved them.
        if "conflicts with common/'s libraries" not in problem.message
    ]


@dataclass(frozen=True)
class Resolved:
    """The pins the resolver settled on (exact where it chose), what is still wrong (none: the
    set resolves and every release works), and the rounds of resolving it took."""

    pins: list[str]
    problems: list[PinProblem]
    rounds: int
    # What the first resolve found wrong with the pins as given.
    first_problems: list[PinProblem]


def constraint_lines(constraints: Mapping[str, list[Constraint]]) -> list[str]:
    """What common/'s libraries need of each project, as pip constraints."""
    return [f"{name}{c.specifier}" for name, found in sorted(constraints.items()) for c in found]


def resolve_pins(
    gear_pins: list[str],
    constraints: Mapping[str, list[Constraint]],
    *,
    resolver: Resolver,
    pypi: pins.PyPI,
    known_good: Mapping[str, str] | None = None,
    import_check: ImportCheck | None = None,
    rounds: int = RESOLVE_ROUNDS,
) -> Resolved:
    """Resolves the gear's pins, constrained by what common/'s libraries need, judges what was
    picked, and applies proposals and widenings until the set resolves and works, a problem has
    no proposal (a person must decide) or nothing changes."""
    current = list(gear_pins)
    widen_done: set[str] = set()
    known_good = known_good or {}
    first: list[PinProblem] | None = None
    common = constraint_lines(constraints)
    for done in range(1, rounds + 1):
        resolution = resolver(current, common)
        if resolution.conflict:
            conflict = PinProblem(_conflict_text(resolution))
            first = [conflict] if first is None else first
            names = resolution.conflicting_projects()
            to_widen = [
                pin
                for pin in current
                if project_name(pin) in names and project_name(pin) not in widen_done
            ]
            if not to_widen:
                return Resolved(current, [conflict], done, first)
            widen_done |= {project_name(pin) for pin in to_widen}
            current = [widened(pin) if pin in to_widen else pin for pin in current]
            continue
        problems = judge_resolution(resolution, constraints, known_good, pypi)
        if not problems and import_check is not None:
            problems = import_check(resolution, current)
            # A pin widened for its import is pinned to what pip picks for it next.
            widen_done |= {project_name(p.proposal) for p in problems if p.proposal}
        first = problems if first is None else first
        proposals = {project_name(p.proposal): p.proposal for p in problems if p.proposal}
        if not problems:
            exact = [
                _exact(pin, resolution.versions[project_name(pin)])
                if project_name(pin) in widen_done and project_name(pin) in resolution.versions
                else pin
                for pin in current
            ]
            return Resolved(exact, [], done, first)
        if len(proposals) < len(problems):
            return Resolved(current, problems, done, first)
        changed = pins.with_proposals(current, proposals)
        if changed == current:
            return Resolved(current, problems, done, first)
        current = changed
    left = PinProblem(f"no set that resolves and works within {rounds} rounds of resolving")
    return Resolved(current, [left], rounds, first or [])


def _conflict_text(resolution: Resolution) -> str:
    return "pip finds no set of releases that satisfies them all: " + " | ".join(
        line.strip() for line in resolution.conflict.splitlines()
    )
