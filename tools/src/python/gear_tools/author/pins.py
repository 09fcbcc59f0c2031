"""Checks a gear's pins before its resolve is locked, and proposes the nearest pin that works.

A pin works when the release pip would choose for it has a wheel for the gear's Python
(CPython 3.11) on the image's platform (Linux, glibc), or is pure Python, and when it agrees
with what common/'s libraries need (they are in every gear resolve); a compiled release that
needs numpy must have been built after numpy 2 existed when common/ makes every resolve install
numpy 2 (an older build fails at import, though its metadata resolves). Releases and their
dependencies are read from PyPI's JSON API (`GEAR_PYPI_URL`, default https://pypi.org).

    pandas~=1.0.1: pandas 1.0.5 has no wheel for CPython 3.11 on Linux x86_64 ...; nearest
    release with one: pandas~=1.5.0
    jsonschema~=3.2.0: conflicts with fw-gear 0.3.7 (needs jsonschema<5,>=4.0.0)
"""

from __future__ import annotations

import ast
import email.parser
import io
import json
import os
import platform
import re
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from gear_tools.author.lockfile import LockError, read_lock

PYPI_URL_ENV = "GEAR_PYPI_URL"
DEFAULT_PYPI_URL = "https://pypi.org"
PYTHON = (3, 11)
# A numpy 1 release: a specifier that excludes it makes a resolve install numpy 2.
NUMPY_1_LAST = "1.26.4"
# The oldest and newest glibc a manylinux wheel may ask for on the base image (Debian 12).
_GLIBC_MINORS = range(36, 4, -1)


class PinError(Exception):
    """A pin cannot be checked (not a requirement, or PyPI cannot be read)."""


def image_tags(machine: str | None = None) -> frozenset[Tag]:
    """The wheel tags CPython 3.11 accepts on the base image's platform."""
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(
        (machine or platform.machine()).lower(), (machine or platform.machine()).lower()
    )
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in _GLIBC_MINORS]
    platforms += [f"manylinux2014_{arch}"]
    if arch == "x86_64":
        platforms += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    platforms.append(f"linux_{arch}")
    tags = set(cpython_tags(PYTHON, abis=["cp311"], platforms=platforms))
    tags |= set(compatible_tags(PYTHON, "cp311", platforms))
    return frozenset(tags)


def platform_name(machine: str | None = None) -> str:
    return f"Linux {(machine or platform.machine()).lower()}"


@dataclass(frozen=True)
class Release:
    version: Version
    wheels: tuple[str, ...]
    has_sdist: bool
    # Each file's name and address (a wheel's core metadata is at `<address>.metadata`).
    urls: tuple[tuple[str, str], ...] = ()
    # When its first file was uploaded (ISO 8601, as the index says; "" if it does not).
    uploaded: str = ""


class PyPI:
    """Releases and dependencies of projects, read from PyPI's JSON API (cached)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = (url or os.environ.get(PYPI_URL_ENV) or DEFAULT_PYPI_URL).rstrip("/")
        self._projects: dict[str, dict[str, Any] | None] = {}
        self._wheels: dict[str, zipfile.ZipFile | None] = {}
        self._requires: dict[str, list[Requirement]] = {}

    def _get(self, path: str) -> dict[str, Any] | None:
        address = f"{self.url}/pypi/{urllib.parse.quote(path)}/json"
        try:
            with urllib.request.urlopen(address, timeout=30) as response:
                document: dict[str, Any] = json.loads(response.read())
                return document
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise PinError(f"{address}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            raise PinError(f"cannot read {address}: {exc}") from None

    def releases(self, project: str) -> list[Release] | None:
        """Every release with files (yanked ones left out), oldest first; None: no project."""
        name = canonicalize_name(project)
        if name not in self._projects:
            self._projects[name] = self._get(name)
        document = self._projects[name]
        if document is None:
            return None
        found = []
        for text, files in (document.get("releases") or {}).items():
            try:
                version = Version(text)
            except InvalidVersion:
                continue
            files = [f for f in files if not f.get("yanked") and _admits_311(f)]
            if not files:
                continue
            wheels = tuple(f["filename"] for f in files if f["filename"].endswith(".whl"))
            sdist = any(f.get("packagetype") == "sdist" for f in files)
            urls = tuple(
                # Relative to the document (an index may answer `../../packages/...`).
                (f["filename"], urllib.parse.urljoin(f"{self.url}/pypi/{name}/json", f["url"]))
                for f in files
                if f.get("url")
            )
            times = [str(f["upload_time_iso_8601"]) for f in files if f.get("upload_time_iso_8601")]
            found.append(Release(version, wheels, sdist, urls, min(times, default="")))
        return sorted(found, key=lambda release: release.version)

    def wheel(self, project: str, version: Version) -> zipfile.ZipFile | None:
        """The release's wheel for the image (downloaded once), None if it has none or it
        cannot be read."""
        key = f"{canonicalize_name(project)}=={version}"
        if key not in self._wheels:
            release = next((r for r in self.releases(project) or [] if r.version == version), None)
            urls = [
                url for name, url in (release.urls if release else ()) if _fits(name, image_tags())
            ]
            try:
                self._wheels[key] = read_wheel(urls[0]) if urls else None
            except PinError:
                self._wheels[key] = None
        return self._wheels[key]

    def requires(self, project: str, version: Version) -> list[Requirement]:
        """The release's dependencies for CPython 3.11 on Linux (no extras), from a wheel's core
        metadata (PEP 658, `<wheel address>.metadata`); read once per release."""
        key = f"{canonicalize_name(project)}=={version}"
        if key not in self._requires:
            self._requires[key] = self._read_requires(project, version)
        return self._requires[key]

    def _read_requires(self, project: str, version: Version) -> list[Requirement]:
        release = next((r for r in self.releases(project) or [] if r.version == version), None)
        wheels = [
            (name, url) for name, url in (release.urls if release else ()) if name.endswith(".whl")
        ]
        if not wheels:
            return []
        fitting = [(name, url) for name, url in wheels if _fits(name, image_tags())]
        address = (fitting or wheels)[0][1]
        try:
            with urllib.request.urlopen(address + ".metadata", timeout=30) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise PinError(f"cannot read {address}.metadata: {exc}") from None
            # An old upload without separate core metadata: it is in the wheel.
            wheel = read_wheel(address)
            names = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
            text = wheel.read(names[0]) if names else b""
        except (urllib.error.URLError, OSError) as exc:
            raise PinError(f"cannot read {address}.metadata: {exc}") from None
        metadata = email.parser.BytesParser().parsebytes(text)
        environment = gear_environment()
        requirements = []
        for line in metadata.get_all("Requires-Dist") or []:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate(environment):
                requirements.append(requirement)
        return requirements


def read_wheel(address: str) -> zipfile.ZipFile:
    """A wheel, downloaded into memory."""
    try:
        with urllib.request.urlopen(address, timeout=120) as response:
            return zipfile.ZipFile(io.BytesIO(response.read()))
    except (urllib.error.URLError, OSError, zipfile.BadZipFile) as exc:
        raise PinError(f"cannot read {address}: {exc}") from None


def _admits_311(file: Mapping[str, Any]) -> bool:
    """Whether pip on CPython 3.11 considers the file (its `requires_python`)."""
    try:
        return SpecifierSet(file.get("requires_python") or "").contains("3.11.0")
    except InvalidSpecifier:
        return True


def project_name(pin: str) -> str:
    """The requirement's project, normalized (`PyYAML>=6` -> `pyyaml`); the text itself when
    it is not a requirement."""
    try:
        return canonicalize_name(Requirement(pin).name)
    except InvalidRequirement:
        return pin


def gear_environment(extra: str = "") -> dict[str, str]:
    """Marker values for the gear's Python: CPython 3.11 on Linux (with `extra` requested)."""
    environment = {key: str(value) for key, value in default_environment().items()}
    environment.update(
        python_version="3.11",
        python_full_version="3.11.0",
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        extra=extra,
    )
    return environment


def _fits(wheel: str, tags: frozenset[Tag]) -> bool:
    try:
        return bool(parse_wheel_filename(wheel)[3] & tags)
    except InvalidWheelFilename:
        return False


def _pure(wheel: str) -> bool:
    try:
        return all(tag.platform == "any" for tag in parse_wheel_filename(wheel)[3])
    except InvalidWheelFilename:
        return False


def _works(release: Release, compiled: bool, tags: frozenset[Tag]) -> bool:
    """A wheel for the image, or only an sdist of a project that never shipped compiled wheels."""
    if any(_fits(wheel, tags) for wheel in release.wheels):
        return True
    return release.has_sdist and not compiled


def chosen_release(releases: list[Release], specifier: SpecifierSet) -> Release | None:
    """The release pip would choose: the newest the specifier admits (final releases first)."""
    matching = [r for r in releases if specifier.contains(r.version, prereleases=False)]
    if not matching:
        matching = [r for r in releases if specifier.contains(r.version, prereleases=True)]
    return matching[-1] if matching else None


def _proposal(requirement: Requirement, release: Release) -> str:
    """A pin in the style of the original one (its extras kept), for `release`."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    operator = "~=" if any(spec.operator == "~=" for spec in requirement.specifier) else "=="
    return f"{requirement.name}{extras}{operator}{release.version}"


@dataclass(frozen=True)
class PinProblem:
    """Why a pin does not work, and the pin that would (None when there is none to propose)."""

    message: str
    proposal: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Constraint:
    """What common/ needs of a project, and which library needs it."""

    specifier: SpecifierSet
    source: str


def common_constraints(repo: Path, pinned: Iterable[str]) -> dict[str, list[Constraint]]:
    """What common/'s requirements and their locked dependencies (python-default) need of each
    project. A gear's pin replaces common/'s own line for that project (gear_resolve), and the
    dependencies of a project the gear pins are those of the pinned release (read from PyPI)."""
    skipped = {canonicalize_name(name) for name in pinned}
    constraints: dict[str, list[Constraint]] = {}

    def add(requirement: Requirement, source: str, *, replaced_by_pin: bool = False) -> None:
        name = canonicalize_name(requirement.name)
        if not (replaced_by_pin and name in skipped) and requirement.specifier:
            constraints.setdefault(name, []).append(Constraint(requirement.specifier, source))

    requirements = repo / "3rdparty/python/requirements.txt"
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            try:
                add(
                    Requirement(line),
                    "common/'s requirements (3rdparty/python/requirements.txt)",
                    replaced_by_pin=True,
                )
            except InvalidRequirement:
                continue
    lock = repo / "3rdparty/python/python-default.lock"
    if lock.is_file():
        environment = gear_environment()
        try:
            locked_projects = read_lock(lock.read_text(encoding="utf-8"), str(lock)).values()
        except LockError as exc:
            raise PinError(str(exc)) from None
        for locked in locked_projects:
            if locked.name in skipped:
                continue
            for line in locked.requires:
                requirement = Requirement(line)
                if requirement.marker is None or requirement.marker.evaluate(environment):
                    add(requirement, f"{locked.name} {locked.version}")
    return constraints


def tightest(specifiers: Iterable[SpecifierSet]) -> SpecifierSet:
    """The specifiers as one set with only the tightest lower and upper bound (`>=2.8.2,<3`,
    not `<3,>=2.1,>=2.7.0,>=2.8.2`); other kinds (`==`, `!=`, `~=`) are kept as they are."""
    lower: Specifier | None = None
    upper: Specifier | None = None
    others: list[str] = []
    for specifier in (spec for group in specifiers for spec in group):
        try:
            version = Version(specifier.version)
        except InvalidVersion:
            others.append(str(specifier))
            continue
        if specifier.operator in (">=", ">"):
            if lower is None or (version, specifier.operator == ">") > (
                Version(lower.version),
                lower.operator == ">",
            ):
                lower = specifier
        elif specifier.operator in ("<", "<="):
            if upper is None or (version, specifier.operator == "<=") < (
                Version(upper.version),
                upper.operator == "<=",
            ):
                upper = specifier
        else:
            others.append(str(specifier))
    kept = [str(bound) for bound in (lower, upper) if bound is not None]
    return SpecifierSet(",".join([*kept, *dict.fromkeys(others)]))


def _agree(releases: list[Release], first: SpecifierSet, second: SpecifierSet) -> bool:
    return any(
        first.contains(r.version, prereleases=True) and second.contains(r.version, prereleases=True)
        for r in releases
    )


def check_pins(
    pins: list[str],
    constraints: Mapping[str, list[Constraint]],
    *,
    pypi: PyPI | None = None,
    machine: str | None = None,
) -> list[PinProblem]:
    """One problem per pin that does not work (none when every pin works), each naming the pin
    and, where one exists, the nearest pin that works."""
    pypi = pypi or PyPI()
    tags = image_tags(machine)
    problems: list[PinProblem] = []
    own_pins = {}
    for pin in pins:
        try:
            own_pins[canonicalize_name(Requirement(pin).name)] = Requirement(pin)
        except InvalidRequirement:
            continue
    # Whether (and since when) numpy 2 is what the resolve installs: compiled pins need builds
    # for it.
    since = _numpy_2_since(pypi, constraints, own_pins.get(canonicalize_name("numpy")))
    for pin in pins:
        try:
            requirement = Requirement(pin)
        except InvalidRequirement as exc:
            problems.append(PinProblem(f"{pin}: not a requirement ({exc})"))
            continue
        name = canonicalize_name(requirement.name)
        releases = pypi.releases(name)
        if releases is None:
            problems.append(
                PinProblem(f"{pin}: there is no project {requirement.name!r} on {pypi.url}")
            )
            continue
        chosen = chosen_release(releases, requirement.specifier)
        compiled = any(not _pure(wheel) for r in releases for wheel in r.wheels)
        # Releases that work here and that common/'s libraries accept: what a proposal may be.
        working = [
            r
            for r in releases
            if _works(r, compiled, tags)
            and not r.version.is_prerelease
            and all(c.specifier.contains(r.version) for c in constraints.get(name, []))
        ]
        if chosen is None:
            latest = working[-1] if working else None
            problems.append(
                PinProblem(
                    f"{pin}: no release of {requirement.name} matches (latest that works here: "
                    f"{latest.version if latest else 'none'})",
                    f"{requirement.name}=={latest.version}" if latest else None,
                )
            )
            continue
        if not _works(chosen, compiled, tags):
            later = [r for r in working if r.version > chosen.version]
            earlier = [r for r in working if r.version < chosen.version]
            nearest = later[0] if later else (earlier[-1] if earlier else None)
            proposal = _proposal(requirement, nearest) if nearest else None
            problems.append(
                PinProblem(
                    f"{pin}: {requirement.name} {chosen.version} has no wheel for CPython 3.11 on "
                    f"{platform_name(machine)} (and its source builds compiled code)"
                    + (f"; nearest release with one: {proposal}" if proposal else ""),
                    proposal,
                )
            )
            continue
        removed = _removed_names(pypi, requirement.name, chosen)
        if removed:
            fixed = _first_without_removed_names(
                pypi, requirement.name, [r for r in working if r.version > chosen.version]
            )
            proposal = _proposal(requirement, fixed) if fixed else None
            problems.append(
                PinProblem(
                    f"{pin}: {requirement.name} {chosen.version} uses {removed}, which Python 3.10 "
                    "removed (it fails when that code runs)"
                    + (f"; nearest release without: {proposal}" if proposal else ""),
                    proposal,
                )
            )
            continue
        abi = _built_for_numpy_1(pypi, requirement, chosen, constraints, working, compiled, since)
        if abi is not None:
            problems.append(abi)
            continue
        conflicting = [
            c
            for c in constraints.get(name, [])
            if not _agree(releases, requirement.specifier, c.specifier)
        ]
        if conflicting:
            needs = "; ".join(
                f"{c.source} needs {requirement.name}{c.specifier}" for c in conflicting
            )
            combined = tightest(c.specifier for c in constraints[name])
            wanted = f"{requirement.name}{combined}"
            problems.append(
                PinProblem(
                    f"{pin}: conflicts with common/'s libraries ({needs}); pin {wanted} or drop "
                    "the pin",
                    wanted,
                )
            )
        for dependency in pypi.requires(name, chosen.version):
            dependency_name = canonicalize_name(dependency.name)
            other = own_pins.get(dependency_name)
            if other is not None and not _agree(
                pypi.releases(dependency_name) or [], dependency.specifier, other.specifier
            ):
                wanted = f"{dependency.name}{dependency.specifier}"
                problems.append(
                    PinProblem(
                        f"{other}: {requirement.name} {chosen.version} (the gear's pin {pin}) "
                        f"needs {wanted}; pin {wanted}",
                        wanted,
                    )
                )
        clashes = _clashes_with_common(pypi, requirement.name, chosen.version, constraints)
        if clashes:
            fixed = _first_agreeing(pypi, requirement.name, chosen, working, constraints)
            proposal = _proposal(requirement, fixed) if fixed else None
            problems.append(
                PinProblem(
                    f"{pin}: {requirement.name} {chosen.version} needs "
                    + ", and ".join(clashes)
                    + (
                        f"; nearest release that agrees: {proposal}"
                        if proposal
                        else f"; pin another release of {requirement.name}"
                    ),
                    proposal,
                )
            )
    return problems


@dataclass(frozen=True)
class Settled:
    """Where applying the proposals led: the pins reached, the problems they still have (none:
    they work together) and how many rounds of checks it took."""

    pins: list[str]
    problems: list[PinProblem]
    rounds: int
    # What the pins as given had.
    first_problems: list[PinProblem]


def with_proposals(current: list[str], proposals: Mapping[str, str]) -> list[str]:
    """`current` with each proposal (by project) in place of that project's pin, and the
    proposals for projects not pinned yet added."""
    pinned = {project_name(pin) for pin in current}
    changed = [proposals.get(project_name(pin), pin) for pin in current]
    return changed + [pin for name, pin in proposals.items() if name not in pinned]


def settle_pins(
    pins: list[str],
    constraints: Mapping[str, list[Constraint]],
    *,
    pypi: PyPI | None = None,
    machine: str | None = None,
    rounds: int = 6,
) -> Settled:
    """Applies every problem's proposal at once and checks the whole set again, until it works,
    a problem has no proposal (a person must decide) or nothing changes: one consistent set to
    suggest instead of one pin at a time."""
    pypi = pypi or PyPI()
    current = list(pins)
    first: list[PinProblem] | None = None
    for done in range(1, rounds + 1):
        problems = check_pins(current, constraints, pypi=pypi, machine=machine)
        first = problems if first is None else first
        proposals = {project_name(p.proposal): p.proposal for p in problems if p.proposal}
        if not proposals:
            return Settled(current, problems, done, first)
        changed = with_proposals(current, proposals)
        if changed == current:
            return Settled(current, problems, done, first)
        current = changed
    last = check_pins(current, constraints, pypi=pypi, machine=machine)
    return Settled(current, last, rounds, first or [])


# How many later releases are read (one metadata request each) looking for one that agrees.
AGREEING_SEARCH = 40


def _clashes_with_common(
    pypi: PyPI, project: str, version: Version, constraints: Mapping[str, list[Constraint]]
) -> list[str]:
    """The release's dependencies that no release can satisfy together with what common/'s
    libraries need, each with what needs the other range."""
    clashes = []
    for dependency in pypi.requires(project, version):
        dependency_name = canonicalize_name(dependency.name)
        for constraint in constraints.get(dependency_name, []):
            dependency_releases = pypi.releases(dependency_name) or []
            if not _agree(dependency_releases, dependency.specifier, constraint.specifier):
                clashes.append(
                    f"{dependency}, which conflicts with {constraint.source} (needs "
                    f"{dependency.name}{constraint.specifier})"
                )
    return clashes


def _first_agreeing(
    pypi: PyPI,
    project: str,
    chosen: Release,
    working: list[Release],
    constraints: Mapping[str, list[Constraint]],
) -> Release | None:
    """The first release after `chosen` that works here and whose dependencies agree with
    common/'s libraries (the newest one when none of the next AGREEING_SEARCH does)."""
    later = [r for r in working if r.version > chosen.version]
    for release in [*later[:AGREEING_SEARCH], *later[AGREEING_SEARCH:][-1:]]:
        if not _clashes_with_common(pypi, project, release.version, constraints):
            return release
    return None


def _numpy_2_since(
    pypi: PyPI, constraints: Mapping[str, list[Constraint]], own_pin: Requirement | None
) -> str | None:
    """When numpy 2's first release (a pre-release) was uploaded, if the gear's resolve installs
    numpy 2 (the newest release its pin, or else common/'s libraries, allow); None if it
    installs numpy 1 (or the index cannot say)."""
    releases = pypi.releases("numpy") or []
    own = [str(own_pin.specifier)] if own_pin is not None else []
    wanted = SpecifierSet(",".join(own + [str(c.specifier) for c in constraints.get("numpy", [])]))
    installed = chosen_release(releases, wanted)
    if installed is None or installed.version.major < 2:
        return None
    first = next((r for r in releases if r.version.major >= 2), None)
    return first.uploaded if first is not None and first.uploaded else None


def _built_for_numpy_1(
    pypi: PyPI,
    requirement: Requirement,
    chosen: Release,
    constraints: Mapping[str, list[Constraint]],
    working: list[Release],
    compiled: bool,
    since: str | None,
) -> PinProblem | None:
    """A compiled release that needs numpy and was uploaded before numpy 2 existed was built
    against numpy 1, whose binary interface numpy 2 changed: with numpy 2 installed it fails at
    import (`numpy.dtype size changed, may indicate binary incompatibility`)."""
    if (
        not compiled
        or not chosen.uploaded
        or not any(
            canonicalize_name(dependency.name) == "numpy"
            for dependency in pypi.requires(requirement.name, chosen.version)
        )
    ):
        return None
    if since is None or chosen.uploaded >= since:
        return None
    later = [r for r in working if r.version > chosen.version and r.uploaded >= since]
    proposal = _proposal(requirement, later[0]) if later else None
    needs = (
        "; ".join(f"{c.source} needs numpy{c.specifier}" for c in constraints.get("numpy", []))
        or "the gear's own numpy pin"
    )
    return PinProblem(
        f"{requirement}: {requirement.name} {chosen.version} is compiled against numpy 1 (its "
        f"files were uploaded {chosen.uploaded[:10]}, before numpy 2 existed, {since[:10]}) and "
        f"every gear here installs numpy 2 ({needs}): it fails at import (numpy.dtype size "
        "changed)" + (f"; nearest release built for numpy 2: {proposal}" if proposal else ""),
        proposal,
    )


_PKG_RESOURCES = re.compile(rb"^\s*(import pkg_resources|from pkg_resources import)", re.MULTILINE)
# The last setuptools with pkg_resources.
SETUPTOOLS_PIN = "setuptools<81"


def undeclared_setuptools(pins: list[str], pypi: PyPI) -> list[str]:
    """The pins whose release imports pkg_resources (setuptools') without requiring setuptools:
    such a gear needs a setuptools pin of its own (SETUPTOOLS_PIN)."""
    found = []
    for pin in pins:
        requirement = Requirement(pin)
        release = chosen_release(pypi.releases(requirement.name) or [], requirement.specifier)
        if release is None:
            continue
        wheel = pypi.wheel(requirement.name, release.version)
        if wheel is None:
            continue
        imports = any(
            _PKG_RESOURCES.search(wheel.read(name))
            for name in wheel.namelist()
            if name.endswith(".py")
        )
        declared = any(
            canonicalize_name(r.name) == "setuptools"
            for r in pypi.requires(requirement.name, release.version)
        )
        if imports and not declared:
            found.append(f"{requirement.name} {release.version}")
    return found


# Aliases of collections.abc that Python 3.10 removed from collections, used as attributes.
_REMOVED_COLLECTIONS = re.compile(
    rb"\bcollections\.(MutableMapping|Mapping|MutableSequence|Sequence|MutableSet|Iterable|"
    rb"Callable|Hashable|Sized|Container|Iterator|Generator)\b"
)


def _removed_names(pypi: PyPI, project: str, release: Release) -> str | None:
    """`collections.X` (the first such name) if the release's pure-Python wheel uses an alias
    Python 3.10 removed; None otherwise (or for compiled wheels, which are built per Python)."""
    if not any(_pure(wheel) for wheel in release.wheels):
        return None
    wheel = pypi.wheel(project, release.version)
    if wheel is None:
        return None
    for name in wheel.namelist():
        if not name.endswith(".py"):
            continue
        source = wheel.read(name)
        if not _REMOVED_COLLECTIONS.search(source):
            continue
        # In code, not in a comment or docstring.
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "collections"
                and _REMOVED_COLLECTIONS.fullmatch(f"collections.{node.attr}".encode())
            ):
                return f"collections.{node.attr}"
    return None


def _first_without_removed_names(
    pypi: PyPI, project: str, candidates: list[Release]
) -> Release | None:
    """The oldest of `candidates` (oldest first) with a pure-Python wheel and without such
    names, found by bisection (a project that drops them does not take them up again)."""
    candidates = [r for r in candidates if any(_pure(wheel) for wheel in r.wheels)]
    low, high = 0, len(candidates)
    while low < high:
        middle = (low + high) // 2
        if _removed_names(pypi, project, candidates[middle]):
            low = middle + 1
        else:
            high = middle
    return candidates[low] if low < len(candidates) else None
