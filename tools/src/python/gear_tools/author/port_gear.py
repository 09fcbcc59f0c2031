"""Moves a gear's repository in: `bin/new-gear NAME --from-gear DIR`.

The gear's repository is taken as it is: its manifest, its top-level modules and packages (the
code, run.py included), its tests with their data files, its requirements and its Dockerfile.
Here they become

- `<gear>/src/python/<app>/`: the code, with its imports pointed at the app package
  (gear_tools.author.import_rewrite); the manifest's command's script is the pex's entry point;
- `<gear>/test/python/<app>_tests/`: the tests and their data (a `files` target), pytest
  plugins (`pytest-*` test requirements) as explicit dependencies;
- the gear's own resolve: its requirements (requirements files, setup.py/cfg, pyproject.toml,
  Pipfile, at the versions of its lock file: gear_tools.author.upstream_requirements), the pip
  installs of its Dockerfile (not installers such as pipenv or poetry) and the test
  requirements (those without their old versions, which predate pytest 8), each checked before
  anything is written (gear_tools.author.pins), with module mappings read from the wheels;
- `src/docker/Dockerfile`: the system packages of the upstream Dockerfile's apt lines, and a
  comment for each thing that cannot be carried (gear_tools.author.upstream_dockerfile).

Upstream code and tests keep their own style: ruff and mypy skip their targets (the BUILD
files say why). Upstream-only files (CI configs, tests/Dockerfile, bin/ scripts) are not
moved; each is named in the output.
"""

from __future__ import annotations

import ast
import configparser
import dataclasses
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from gear_tools.author import (
    from_manifest,
    gear_resolve,
    import_rewrite,
    lockfile,
    pin_resolution,
    pins,
    upstream_dockerfile,
    upstream_requirements,
)
from gear_tools.author.from_manifest import TODO_MARK
from gear_tools.author.pins import project_name
from gear_tools.repo import DEFAULT_RESOLVE, MANIFEST

TEST_DIRS = ("tests", "test")
# How far above a gear's directory its suite repository's tests are looked for.
SUITE_DEPTH = 3
# Top-level directories that are never gear code.
NOT_CODE_DIRS = {"docs", "doc", "examples", "example", "bin", "scripts", "build", "dist"}
NOT_CODE_FILES = {"setup.py", "conftest.py", "noxfile.py", "tasks.py", "fabfile.py"}
SKIPPED_NAMES = {"__pycache__", ".DS_Store", ".pytest_cache", ".mypy_cache", ".ipynb_checkpoints"}
# Test requirements this repository brings itself (pytest, coverage through Pants) or that are
# linters, not test dependencies.
NOT_TEST_PINS = {
    "pytest", "pytest-cov", "coverage", "flake8", "pylint", "black", "isort", "mypy", "ruff",
    "pre-commit", "pydocstyle", "bandit", "tox", "nox", "pycodestyle", "autopep8", "yapf",
}  # fmt: skip
# Projects gear_common brings in every resolve; an upstream pin of the old toolkit is replaced
# by gear_common.legacy_context where that is all the code uses.
TOOLKIT = "flywheel-gear-toolkit"


class PortError(Exception):
    """The gear's repository cannot be moved in as it is (the message says why); where the
    port can go on with more `--requirement`s, `requirements` names them and `next_what` what
    they are."""

    def __init__(self, message: str, requirements: list[str] | None = None) -> None:
        super().__init__(message)
        self.requirements = requirements or []
        self.next_what = ""


class PinChoiceError(PortError):
    """The gear's pins do not work here: what is wrong with each and, where applying the
    proposals led to a set that works, that set (`requirements`: the --requirement values)."""

    def __init__(
        self, pins_: list[str], settled: pins.Settled, how: str = "rounds of checks"
    ) -> None:
        requirements = [pin for pin in settled.pins if pin not in pins_]
        lines = ["these pins of the gear cannot be locked for CPython 3.11 here:"]
        lines += [f"  {problem}" for problem in settled.first_problems]
        if settled.problems:
            if requirements:
                lines.append(
                    f"With the proposals applied ({', '.join(requirements)}), checked "
                    f"together ({settled.rounds} {how}), these are left:"
                )
                lines += [f"  {problem}" for problem in settled.problems]
            lines.append(
                "Nothing was written. A person must choose a pin for each left (--requirement "
                "SPEC replaces the gear's pin of that project)."
            )
        else:
            lines.append(
                f"Nothing was written. Checked together ({settled.rounds} {how}), "
                "these pins work here: " + ", ".join(requirements)
            )
        super().__init__("\n".join(lines), requirements)
        self.next_what = "the proposals so far" if settled.problems else "those pins"


@dataclass
class UpstreamGear:
    """A gear's repository, read: what is moved in and what is left out."""

    root: Path
    manifest: dict[str, Any]
    code: dict[PurePosixPath, bytes]
    tests: dict[PurePosixPath, bytes]
    tests_dir: str | None
    requirements: list[str]
    test_requirements: list[str]
    dockerfile: upstream_dockerfile.DockerfilePlan
    entry_point: PurePosixPath
    left_out: list[str] = field(default_factory=list)
    # Test files left out of the tests target, and why (an import nothing here provides).
    excluded_tests: dict[PurePosixPath, str] = field(default_factory=dict)
    # Files the upstream image has under /flywheel/v0 that are not code: path there -> content.
    flywheel_files: dict[PurePosixPath, bytes] = field(default_factory=dict)
    # Project -> the version the gear was released with (its exact pins and lock files).
    released: dict[str, str] = field(default_factory=dict)
    # Files beside a suite's tests directory that its tests read (its `tests/data/`), by their
    # path under the gear's `test/` directory, where they are at the same place relative to
    # the tests.
    test_support: dict[PurePosixPath, bytes] = field(default_factory=dict)
    # The gear's package in a suite repository (`gears.my_gear`), whose imports move too.
    package_prefix: str | None = None
    # The files the requirements were read from, and what to know about them.
    requirement_sources: list[str] = field(default_factory=list)
    read_notes: list[str] = field(default_factory=list)

    @property
    def top_level(self) -> set[str]:
        """The code's top-level module and package names (`run`, `utils`)."""
        return {
            (path.parts[0] if len(path.parts) > 1 else path.stem)
            for path in self.code
            if path.suffix == ".py"
        }


def _files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not SKIPPED_NAMES & set(path.relative_to(root).parts)
        and path.suffix != ".pyc"
    )


def _entry_point(manifest: Mapping[str, Any], code: Mapping[PurePosixPath, bytes]) -> PurePosixPath:
    """The script the manifest's command runs (relative to the code), e.g. `run.py`."""
    command = str(manifest.get("command") or "")
    for word in command.replace(";", " ").split():
        if word.endswith(".py"):
            path = word.removeprefix("/flywheel/v0/").removeprefix("./")
            path = re.sub(r"^\$\{?FLYWHEEL\}?/", "", path)
            if PurePosixPath(path) in code:
                return PurePosixPath(path)
    if PurePosixPath("run.py") in code:
        return PurePosixPath("run.py")
    raise PortError(
        f"{MANIFEST}: the command {command!r} names no Python script of the gear's code, and "
        "there is no run.py; the gear's entry point must be a Python script"
    )


def _flywheel_files(
    root: Path, dockerfile: upstream_dockerfile.DockerfilePlan, moved: set[PurePosixPath]
) -> tuple[dict[PurePosixPath, bytes], set[PurePosixPath]]:
    """The repository's files the upstream image COPYs or ADDs under /flywheel/v0, other than
    what is moved as code or read (the manifest, requirements): (path under /flywheel/v0 ->
    content, the repository paths carried)."""
    files: dict[PurePosixPath, bytes] = {}
    carried: set[PurePosixPath] = set()
    for sources, destination in dockerfile.flywheel_copies:
        into_directory = destination in ("",) or destination.endswith("/") or len(sources) > 1
        for source in sources:
            path = (root / source.removeprefix("./")).resolve()
            if not path.is_relative_to(root.resolve()) or any(c in source for c in "*?["):
                continue
            found = [path] if path.is_file() else _files(path) if path.is_dir() else []
            for file in found:
                relative = PurePosixPath(file.relative_to(root.resolve()).as_posix())
                if relative in moved or relative.name == "manifest.json":
                    continue
                if path.is_dir():
                    inside = PurePosixPath(destination) / file.relative_to(path).as_posix()
                elif into_directory:
                    inside = PurePosixPath(destination) / file.name
                else:
                    inside = PurePosixPath(destination)
                files[inside] = file.read_bytes()
                carried.add(relative)
    return files, carried


def _is_test_module(name: str) -> bool:
    """A pytest module by its name (test_*.py, *_test.py)."""
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _upstream_only_test_file(inner: PurePosixPath) -> bool:
    """A file of the tests directory that is the upstream's own machinery, not a test."""
    return (
        inner.name in ("Dockerfile", ".coveragerc")
        or inner.name.startswith("requirements")
        or inner.parts[0] == "bin"
        or inner.suffix == ".sh"
        or inner.name.startswith("~$")
    )


def _suite_tests(root: Path) -> tuple[Path, Path] | None:
    """(the suite repository, the directory of this gear's tests) when the gear is one
    directory of a suite whose tests are at its top (`tests/unit_tests/<gear>/`)."""
    names = {root.name, root.name.replace("_", "-"), root.name.replace("-", "_")}
    for suite in list(root.resolve().parents)[:SUITE_DEPTH]:
        for tests_name in TEST_DIRS:
            base = suite / tests_name
            if not base.is_dir():
                continue
            found = sorted(
                directory
                for directory in base.rglob("*")
                if directory.is_dir()
                and directory.name in names
                and not SKIPPED_NAMES & set(directory.parts)
                and any(directory.rglob("*.py"))
            )
            if found:
                return suite, found[0]
    return None


# Where moved-in tests are, under the gear's test/ directory: python/<app>_tests/.
MOVED_TESTS_DEPTH = 2


def _suite_test_support(suite_tests: Path) -> tuple[dict[PurePosixPath, bytes], list[str]]:
    """The suite's test data beside its tests (the directories of its tests root that hold no
    Python, e.g. `tests/data/`), placed under the gear's test/ directory, and a note. Tests
    that find them relative to their own file (`Path(__file__).parents[2] / "data"`) find them
    there when the suite's tests are as deep under its tests root as here."""
    base = next(parent for parent in suite_tests.parents if parent.name in TEST_DIRS)
    depth = len(suite_tests.relative_to(base).parts)
    data_dirs = [
        child
        for child in sorted(base.iterdir())
        if child.is_dir()
        and child.name not in SKIPPED_NAMES | {"bin"}  # bin/: the suite's own scripts
        and not any(child.rglob("*.py"))
    ]
    if not data_dirs:
        return {}, []
    names = ", ".join(f"{base.name}/{child.name}/" for child in data_dirs)
    if depth != MOVED_TESTS_DEPTH:
        return {}, [
            f"{names}: the suite's test data, not moved (its tests are {depth} levels below "
            f"{base.name}/, here {MOVED_TESTS_DEPTH}: paths relative to them would differ)"
        ]
    support = {
        PurePosixPath(child.name) / path.relative_to(child).as_posix(): path.read_bytes()
        for child in data_dirs
        for path in _files(child)
    }
    return support, [f"{names}: the suite's test data, moved to test/ beside the tests"]


def _submodule_notes(root: Path) -> list[str]:
    """A note for each git submodule (.gitmodules) the checkout does not hold."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string((root / ".gitmodules").read_text(encoding="utf-8", errors="replace"))
    except (FileNotFoundError, configparser.Error):
        return []
    notes = []
    for section in parser.sections():
        path = parser.get(section, "path", fallback="")
        url = parser.get(section, "url", fallback="?")
        if path and not any((root / path).rglob("*")):
            notes.append(
                f"{path}: a git submodule ({url}) this checkout does not hold, so nothing of it "
                "is moved; if the gear or its tests need it, run `git submodule update --init` "
                "in the gear's repository and move it in again"
            )
    return notes


def _released_versions(requirements: list[str]) -> dict[str, str]:
    """Project -> version, for each requirement pinned to one version (`pandas==1.5.0`)."""
    released: dict[str, str] = {}
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        specs = list(requirement.specifier)
        if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
            released[canonicalize_name(requirement.name)] = specs[0].version
    return released


def major_jumps(upstream: UpstreamGear, pins_: list[str], pypi: pins.PyPI) -> list[str]:
    """A note for each pin whose release here has another major version than the one the gear
    was released with: its code may rely on what that major version changed."""
    notes = []
    for pin in pins_:
        requirement = Requirement(pin)
        name = canonicalize_name(requirement.name)
        released = upstream.released.get(name)
        chosen = pins.chosen_release(pypi.releases(name) or [], requirement.specifier)
        if released is None or chosen is None:
            continue
        try:
            before = Version(released)
        except InvalidVersion:
            continue
        if chosen.version.major != before.major:
            notes.append(
                f"{requirement.name} moves from {released} (what the gear was released with) to "
                f"{chosen.version}, another major version: check the gear's code against "
                f"{requirement.name} {chosen.version.major}'s changes (its tests and smoke case "
                "run it)"
            )
    return notes


def _carried(entry: str, carried: set[PurePosixPath], root: Path) -> bool:
    """Whether a left-out entry (a file, or `dir/`) is wholly carried to /flywheel/v0."""
    if not entry.endswith("/"):
        return PurePosixPath(entry) in carried
    inside = [PurePosixPath(f.relative_to(root).as_posix()) for f in _files(root / entry)]
    return bool(inside) and all(path in carried for path in inside)


def read_upstream(root: Path) -> UpstreamGear:
    """Reads a gear's repository; PortError when it is not one."""
    if not root.is_dir():
        raise PortError(f"{root}: not a directory (give the gear repository's top directory)")
    if not (root / "manifest.json").is_file():
        raise PortError(f"{root}: no manifest.json (a gear's repository has one at its top)")
    try:
        manifest = from_manifest.read_source_manifest(root / "manifest.json")
    except from_manifest.ManifestError as exc:
        raise PortError(str(exc)) from None
    code: dict[PurePosixPath, bytes] = {}
    tests: dict[PurePosixPath, bytes] = {}
    left_out: list[str] = []
    tests_dir = next((name for name in TEST_DIRS if (root / name).is_dir()), None)
    for path in _files(root):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        top = relative.parts[0]
        if top.startswith("."):
            continue
        if top == tests_dir and len(relative.parts) > 1:
            inner = PurePosixPath(*relative.parts[1:])
            if _upstream_only_test_file(inner):
                left_out.append(str(relative))
            else:
                tests[inner] = path.read_bytes()
        elif len(relative.parts) == 1:
            if relative.suffix == ".py" and _is_test_module(relative.name):
                # A test at the repository's top (test_export.py beside run.py).
                tests[relative] = path.read_bytes()
            elif relative.suffix == ".py" and relative.name not in NOT_CODE_FILES:
                code[relative] = path.read_bytes()
            elif relative.name != "manifest.json":
                left_out.append(str(relative))
        elif top not in NOT_CODE_DIRS and any((root / top).rglob("*.py")):
            code[relative] = path.read_bytes()
        else:
            left_out.append(f"{top}/" if f"{top}/" not in left_out else "")
    if tests_dir is None and tests:
        tests_dir = TEST_DIRS[0]
    notes = _submodule_notes(root)
    package_prefix = None
    test_support: dict[PurePosixPath, bytes] = {}
    suite = _suite_tests(root) if tests_dir is None else None
    if suite is not None:
        suite_root, suite_tests = suite
        for path in _files(suite_tests):
            inner = PurePosixPath(path.relative_to(suite_tests).as_posix())
            if not _upstream_only_test_file(inner):
                tests[inner] = path.read_bytes()
        tests_dir = TEST_DIRS[0]
        test_support, support_note = _suite_test_support(suite_tests)
        notes += support_note
        parts = root.resolve().relative_to(suite_root).parts
        if all(part.isidentifier() for part in parts):
            package_prefix = ".".join(parts)
        notes.append(
            f"tests: {len(tests)} files of the suite's tests for this gear, "
            f"{suite_tests.relative_to(suite_root)}/ in {suite_root}, moved with the gear"
            + (
                f" (imports of {package_prefix} pointed at the app package)"
                if package_prefix
                else ""
            )
        )
    found = upstream_requirements.read_requirements(root, suite[0] if suite else None)
    requirements = list(found.requirements)
    dockerfile = upstream_dockerfile.read_dockerfile(root / "Dockerfile")
    requirements += [
        r
        for r in dockerfile.pip_requirements
        if r not in requirements and project_name(r) not in upstream_requirements.INSTALLERS
    ]
    # Read, not dropped: their requirements and system packages are carried.
    read = {*found.sources, *upstream_requirements.READ_FILES, "Dockerfile"}
    moved = set(code) | {PurePosixPath(name) for name in read}
    flywheel_files, carried = _flywheel_files(root, dockerfile, moved)
    left_out = [entry for entry in left_out if not _carried(entry, carried, root)]
    return UpstreamGear(
        root=root,
        manifest=manifest,
        code=code,
        tests=tests,
        tests_dir=tests_dir,
        requirements=requirements,
        test_requirements=found.test_requirements,
        dockerfile=dockerfile,
        entry_point=_entry_point(manifest, code),
        left_out=sorted({entry for entry in left_out if entry and entry not in read}),
        flywheel_files=flywheel_files,
        released=_released_versions(requirements),
        requirement_sources=found.sources,
        read_notes=[
            *(f"pinned to the version its lock file holds: {pin}" for pin in found.locked),
            *(f"requirements not read: {entry}" for entry in found.unread),
            *notes,
        ],
        package_prefix=package_prefix,
        test_support=test_support,
    )


def gear_pins(upstream: UpstreamGear, overrides: list[str], notes: list[str]) -> list[str]:
    """The gear resolve's pins: upstream's requirements and (unversioned) test requirements,
    with `overrides` (`--requirement`) in place of the same projects' pins."""
    chosen: dict[str, str] = {}
    for pin in upstream.requirements:
        chosen[project_name(pin)] = pin
    for pin in upstream.test_requirements:
        name = project_name(pin)
        if name in NOT_TEST_PINS or name in chosen:
            continue
        try:
            requirement = Requirement(pin)
        except InvalidRequirement:
            continue
        chosen[name] = requirement.name
        if str(requirement.specifier):
            notes.append(
                f"test requirement {pin} taken as {requirement.name} (old test pins predate "
                "pytest 8, which this repository runs)"
            )
    for pin in overrides:
        chosen[project_name(pin)] = pin
    return list(chosen.values())


def parsed_modules(
    files: Mapping[PurePosixPath, bytes],
) -> Iterator[tuple[PurePosixPath, ast.Module]]:
    """Each Python file's syntax tree (files that do not parse are left out)."""
    for path, content in sorted(files.items()):
        if path.suffix != ".py":
            continue
        try:
            yield path, ast.parse(content)
        except (SyntaxError, ValueError):
            continue


def imported_names(files: Mapping[PurePosixPath, bytes]) -> set[str]:
    """Top-level names of the absolute imports in the Python files."""
    names = set()
    for _, tree in parsed_modules(files):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names


def _wheel_top_level(pypi: pins.PyPI, project: str, pin: str) -> list[str]:
    """The top-level modules of the wheel pip would install for `pin` (empty if unknown)."""
    try:
        requirement = Requirement(pin)
    except InvalidRequirement:
        return []
    release = pins.chosen_release(pypi.releases(project) or [], requirement.specifier)
    if release is None:
        return []
    wheel = pypi.wheel(project, release.version)
    if wheel is not None:
        names = wheel.namelist()
        top_level = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        if top_level:
            text = wheel.read(top_level[0]).decode()
            return sorted(
                {line.strip().split("/")[0] for line in text.splitlines() if line.strip()}
            )
        return sorted(
            {
                n.split("/")[0].removesuffix(".py")
                for n in names
                if not n.split("/")[0].endswith((".dist-info", ".data"))
            }
        )
    return []


def module_mapping(
    pypi: pins.PyPI, pins_: list[str], imported: set[str], known: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """Module mappings for the pins whose import names differ from their project names, for
    the names the code imports that no pin is named after."""
    unmatched = {
        name
        for name in imported
        if canonicalize_name(name) not in {project_name(pin) for pin in pins_}
        and name not in sys.stdlib_module_names
        and name not in {m for modules in known.values() for m in modules}
    }
    mapping: dict[str, list[str]] = {}
    for pin in pins_:
        project = project_name(pin)
        if not unmatched or project in known or project.replace("-", "_") in imported:
            continue
        modules = [m for m in _wheel_top_level(pypi, project, pin) if m in unmatched]
        if modules:
            mapping[Requirement(pin).name] = modules
            unmatched -= set(modules)
    return mapping


def rewrite_sources(
    files: Mapping[PurePosixPath, bytes], own: Mapping[str, str], notes: list[str], where: str
) -> dict[PurePosixPath, bytes]:
    """The Python files with their imports moved (others as they are)."""
    moved = {}
    for path, content in files.items():
        if path.suffix != ".py":
            moved[path] = content
            continue
        text = content.decode("utf-8", errors="replace")
        try:
            result = import_rewrite.rewrite(text, own, where=f"{where}/{path}")
        except SyntaxError as exc:
            raise PortError(
                f"{where}/{path}, line {exc.lineno}: not Python 3 ({exc.msg}); gears here run "
                "CPython 3.11: port the code to Python 3 first"
            ) from None
        if result.changes:
            notes.append(
                f"{where}/{path}: {len(result.changes)} imports or patch targets pointed at "
                "this repository's packages"
            )
        for left in result.toolkit_left:
            notes.append(f"{where}/{path}: `{left}` still needs {TOOLKIT}")
        moved[path] = result.text.encode("utf-8")
    return moved


def app_build(
    app: str, entry_point: PurePosixPath, data: list[PurePosixPath], requirements: list[str]
) -> str:
    """The app package's BUILD for moved-in code."""
    entry = entry_point.as_posix()
    if len(entry_point.parts) > 1:
        entry = f"{app}.{entry_point.with_suffix('').as_posix().replace('/', '.')}"
    lines = [
        "# The gear's code, moved in from its repository by bin/new-gear --from-gear (imports",
        "# pointed at this package). Ruff and mypy skip it: it keeps its repository's own style",
        "# and has no type hints. New code here can leave the skips out (its own target).",
        "python_sources(",
        f'    name="{app}",',
        '    sources=["**/*.py"],',
    ]
    dependencies = ([":data"] if data else []) + requirements
    if dependencies:
        lines.append(
            "    # Requirements the code needs but does not import (a library's undeclared one)."
        )
        lines.append(f"    dependencies={dependencies!r},".replace("'", '"'))
    lines += ["    skip_ruff=True,", "    skip_mypy=True,", ")", ""]
    if data:
        globs = ", ".join(f'"{path.as_posix()}"' for path in data)
        lines += [f'resources(name="data", sources=[{globs}])', ""]
    lines.append(f'pex_binary(name="bin", entry_point="{entry}")')
    return "\n".join(lines) + "\n"


def tests_build(
    resolve_target: str,
    plugins: list[str],
    tests: list[PurePosixPath],
    excluded: Mapping[PurePosixPath, str],
    data: bool,
    more_data: Sequence[str] = (),
) -> str:
    """The tests' BUILD for moved-in tests (`more_data`: other `files` targets they read)."""
    dependencies = [":data"] if data else []
    dependencies += list(more_data)
    dependencies += [f"{resolve_target}#{plugin}" for plugin in plugins]
    deps = "".join(f'        "{dep}",\n' for dep in dependencies)
    patterns = [p for p in ("test_*.py", "*_test.py") if any(t.match(p) for t in tests)]
    sources = [f"**/{pattern}" for pattern in patterns]
    left_out = "".join(
        f"# {path.as_posix()} is skipped: {why}.\n" for path, why in sorted(excluded.items())
    )
    skipped = "".join(
        f'        "{path.as_posix()}": {{"skip_tests": True}},\n' for path in sorted(excluded)
    )
    listed = ", ".join(f'"{source}"' for source in sources)
    text = (
        "# The gear's own tests, moved in from its repository by bin/new-gear --from-gear\n"
        "# (imports pointed at the gear's package). Ruff and mypy skip them: they keep their\n"
        "# repository's own style. pytest plugins are listed (they are not imported, so Pants\n"
        "# cannot infer them).\n" + left_out
    )
    if patterns:
        text += (
            "python_tests(\n"
            '    name="tests",\n'
            f"    sources=[{listed}],\n"
            + (f"    dependencies=[\n{deps}    ],\n" if dependencies else "")
            + (f"    overrides={{\n{skipped}    }},\n" if skipped else "")
            + "    skip_ruff=True,\n"
            "    skip_mypy=True,\n"
            ")\n\n"
        )
    text += (
        "python_test_utils(\n"
        '    name="test_utils",\n'
        '    sources=["**/*.py", "!**/test_*.py", "!**/*_test.py"],\n'
        "    skip_ruff=True,\n"
        "    skip_mypy=True,\n"
        ")\n"
    )
    if data:
        text += '\nfiles(name="data", sources=["**/*", "!**/*.py", "!BUILD"])\n'
    return text


# Import names of well-known projects whose names differ (Pants knows these too).
KNOWN_MODULES = {
    "yaml": "pyyaml", "dateutil": "python-dateutil", "PIL": "pillow", "sklearn": "scikit-learn",
    "skimage": "scikit-image", "cv2": "opencv-python", "bs4": "beautifulsoup4",
    "jwt": "pyjwt", "attr": "attrs", "dotenv": "python-dotenv", "pkg_resources": "setuptools",
    "flywheel": "flywheel-sdk", "fw_gear": "fw-gear", "google": "protobuf", "magic": "python-magic",
}  # fmt: skip
# What common/ offers gear code and tests.
COMMON_MODULES = {"gear_common", "gear_batch", "gear_testing", "fake_flywheel", "pytest", "_pytest"}


def provided_modules(
    repo: Path, pypi: pins.PyPI, pins_: list[str], mapping: Mapping[str, list[str]]
) -> set[str]:
    """Import names the gear's resolve provides, as far as can be told before it is locked:
    the standard library, common/'s, each pin's and its dependencies' project names, the module
    mappings, and python-default's projects."""
    projects = set()
    for pin in pins_:
        requirement = Requirement(pin)
        projects.add(canonicalize_name(requirement.name))
        releases = pypi.releases(requirement.name) or []
        chosen = pins.chosen_release(releases, requirement.specifier)
        if chosen is not None:
            projects |= {
                canonicalize_name(dependency.name)
                for dependency in pypi.requires(requirement.name, chosen.version)
            }
    lock = repo / "3rdparty/python/python-default.lock"
    if lock.is_file():
        projects |= set(re.findall(r'"project_name": "([^"]+)"', lock.read_text(encoding="utf-8")))
    provided = set(sys.stdlib_module_names) | COMMON_MODULES
    provided |= {name for name, project in KNOWN_MODULES.items() if project in projects}
    provided |= projects | {project.replace("-", "_") for project in projects}
    provided |= {module for modules in mapping.values() for module in modules}
    return provided


class UnprovidedImportError(PortError):
    """The gear's code imports modules nothing here provides: it would fail at import."""

    def __init__(self, missing: Mapping[str, list[str]]) -> None:
        super().__init__(
            "the gear's code imports modules that no requirement provides (it would fail at "
            "import):\n  "
            + "\n  ".join(
                f"{name} (imported by {', '.join(files[:3])}"
                + (" ..." if len(files) > 3 else "")
                + f"): give the project that provides it with --requirement, e.g. "
                f"--requirement {KNOWN_MODULES.get(name, name)}"
                for name, files in sorted(missing.items())
            )
            + "\nNothing was written.",
            [KNOWN_MODULES.get(name, name) for name in sorted(missing)],
        )
        self.next_what = "a requirement for each (check each is the project that provides it)"


def _imports_outside_try(tree: ast.AST) -> set[str]:
    """Top-level names of the absolute imports not inside a `try` (an import a `try` guards is
    optional: the code goes on without it)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Try):
            for statement in [*node.orelse, *node.finalbody]:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def unprovided_code_imports(
    upstream: UpstreamGear, app: str, provided: set[str]
) -> dict[str, list[str]]:
    """Module -> the code files importing it (outside a `try`), for modules nothing here
    provides: neither the gear's code, the standard library, common/ nor a requirement."""
    provided = provided | upstream.top_level | {app}
    missing: dict[str, list[str]] = {}
    for path, tree in parsed_modules(upstream.code):
        for name in sorted(_imports_outside_try(tree)):
            if name not in provided and canonicalize_name(name) not in provided:
                missing.setdefault(name, []).append(str(path))
    return missing


def exclude_unrunnable_tests(
    upstream: UpstreamGear, app: str, provided: set[str], notes: list[str]
) -> UpstreamGear:
    """The upstream gear with test files that import a module nothing here provides (neither
    the gear's code, the standard library, common/ nor a requirement) left out of its tests."""
    provided = provided | upstream.top_level | {upstream.tests_dir or "", app, f"{app}_tests"}
    provided |= {path.stem for path in upstream.tests if path.suffix == ".py"}
    excluded = {}
    for path, content in upstream.tests.items():
        if path.suffix != ".py" or not (
            path.name.startswith("test_") or path.stem.endswith("_test")
        ):
            continue
        missing = sorted(
            name
            for name in imported_names({path: content})
            if name not in provided and canonicalize_name(name) not in provided
        )
        if missing:
            why = (
                f"it imports {', '.join(missing)}, which neither the gear's code nor its "
                "requirements provide"
            )
            excluded[path] = why
            notes.append(f"{upstream.tests_dir}/{path}: {why}; skipped (skip_tests in its BUILD)")
    return dataclasses.replace(upstream, excluded_tests=excluded)


def smoke_case(manifest: Mapping[str, Any]) -> dict[str, bytes]:
    """A first smoke case: the image runs the moved-in code with placeholder inputs and gets
    past its imports (a fake Flywheel API for a gear with an api-key input)."""
    inputs = from_manifest.file_inputs(manifest)
    required = [name for name, optional in inputs.items() if not optional]
    case: dict[str, Any] = {
        "description": (
            f"{TODO_MARK}: the moved-in code starts in its image with placeholder inputs and "
            "gets past its imports; give it real inputs, its exit code and its outputs."
        ),
        "config": from_manifest.sample_config(manifest),
        "inputs": {name: f"{name}.dat" for name in required},
        "exit_code": None,
        # A file the image should have (data the gear opens at /flywheel/v0/...) is missing.
        "log_excludes": [
            "ModuleNotFoundError",
            "ImportError",
            "SyntaxError",
            "No such file or directory: '/flywheel/v0/",
        ],
    }
    if from_manifest.has_api_key(manifest):
        case["flywheel"] = {}
    files = {"case.json": (json.dumps(case, indent=2) + "\n").encode()}
    for name in required:
        files[f"{name}.dat"] = b"placeholder\n"
    return files


def moved(upstream: UpstreamGear, app: str, notes: list[str]) -> UpstreamGear:
    """The gear's code and tests with their imports pointed at `app` and `<app>_tests`, and
    its Dockerfile's apt packages those this Debian has; what changed is added to `notes`."""
    own = {name: f"{app}.{name}" for name in upstream.top_level}
    if upstream.package_prefix:
        own[upstream.package_prefix] = app
    if upstream.tests_dir:
        own[upstream.tests_dir] = f"{app}_tests"
    code = rewrite_sources(upstream.code, own, notes, "code")
    tests = rewrite_sources(upstream.tests, own, notes, upstream.tests_dir or "tests")
    plan = upstream.dockerfile
    packages, unknown = upstream_dockerfile.available_packages(plan.apt_packages)
    plan = dataclasses.replace(
        plan,
        apt_packages=packages,
        notes=[
            *plan.notes,
            *(f"apt package {name}: not in Debian's package lists" for name in unknown),
        ],
    )
    return dataclasses.replace(upstream, code=code, tests=tests, dockerfile=plan)


def resolve_for_real(
    repo: Path,
    pins_: list[str],
    constraints: Mapping[str, list[pins.Constraint]],
    pypi: pins.PyPI,
    notes: list[str],
) -> None:
    """The pins resolved by pip with what common/'s libraries need, every release it picks
    judged (PinChoiceError with the set pip settles on when that is not the pins as given)."""
    lock = repo / gear_resolve.lockfile(DEFAULT_RESOLVE)
    try:
        known_good = {
            name: locked.version
            for name, locked in lockfile.read_lock(lock.read_text(encoding="utf-8")).items()
        }
    except (OSError, lockfile.LockError):
        known_good = {}
    try:
        resolved = pin_resolution.resolve_pins(
            pins_,
            constraints,
            resolver=pin_resolution.pip_resolver(pypi.url),
            pypi=pypi,
            known_good=known_good,
            import_check=pin_resolution.pip_import_check(pypi.url),
        )
    except pins.PinError as exc:
        notes.append(f"the pins were not resolved by pip ({exc}); the lock will tell")
        return
    if resolved.problems or resolved.pins != pins_:
        settled = pins.Settled(
            resolved.pins, resolved.problems, resolved.rounds, resolved.first_problems
        )
        raise PinChoiceError(pins_, settled, "rounds of resolving with pip")
    notes.append(
        f"the pins resolve with what common/'s libraries need (pip, against {pypi.url}), every "
        "release pip picks works here, and each pin imports beside them"
    )


def resolve_pins(
    repo: Path,
    upstream: UpstreamGear,
    app: str,
    overrides: list[str],
    notes: list[str],
) -> tuple[list[str], dict[str, list[str]], set[str] | None]:
    """The moved-in gear's pins, checked (PortError naming each that does not work), the
    module mappings its imports need and the modules its resolve provides (None: unknown)."""
    pins_ = gear_pins(upstream, overrides, notes)
    toolkit_needed = any("still needs" in note for note in notes)
    if not toolkit_needed:
        dropped = [pin for pin in pins_ if project_name(pin) == TOOLKIT]
        pins_ = [pin for pin in pins_ if pin not in dropped]
        notes += [
            f"requirement {pin} dropped: the code's GearToolkitContext is "
            "gear_common.legacy_context's"
            for pin in dropped
        ]
    pypi = pins.PyPI()
    try:
        constraints = pins.common_constraints(repo, [project_name(pin) for pin in pins_])
        settled = pins.settle_pins(pins_, constraints, pypi=pypi)
    except pins.PinError as exc:
        notes.append(f"the pins were not checked ({exc}); the lock will tell")
        return pins_, {}, None
    if settled.rounds > 1 or settled.problems:
        raise PinChoiceError(pins_, settled)
    notes += major_jumps(upstream, pins_, pypi)
    # What the wheels say (best effort: a wheel that cannot be read is left out).
    needing = pins.undeclared_setuptools(pins_, pypi)
    if needing and not any(project_name(pin) == "setuptools" for pin in pins_):
        pins_.append(pins.SETUPTOOLS_PIN)
        notes.append(
            f"requirement {pins.SETUPTOOLS_PIN} added: {', '.join(needing)} imports "
            "pkg_resources without requiring setuptools"
        )
    resolve_for_real(repo, pins_, constraints, pypi, notes)
    mapping = module_mapping(
        pypi,
        pins_,
        imported_names({**upstream.code, **upstream.tests})
        - upstream.top_level
        - {app, f"{app}_tests"},
        {"fw-gear": ["fw_gear"], "flywheel-sdk": ["flywheel"]},
    )
    try:
        provided = provided_modules(repo, pypi, pins_, mapping)
    except pins.PinError as exc:
        notes.append(f"test files were not checked for imports nothing provides ({exc})")
        provided = None
    return pins_, mapping, provided
