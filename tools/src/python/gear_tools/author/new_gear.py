"""Creates a new gear from template_gear/, renamed consistently, or moves one in.

    bin/new-gear NAME [--label L] [--description D] [--category CATEGORY]
                 [--with-api-key] [--from-manifest PATH | --from-gear DIR]
                 [--resolve NAME] [--requirement SPEC]... [--directory DIR] [--repo DIR]
                 [--no-pants-checks] [--no-prove]

NAME is the gear name (the manifest `name` and the docker_image target): lower-case letters,
digits and '-', starting with a letter. The gear goes in <repo>/<name with '_' for '-'>/, its
app package is <that>_app, and its docs in docs/<that>/. With --resolve, the gear gets a
Python resolve of its own (gear_tools.author.gear_resolve); --from-gear moves a gear's
repository in (gear_tools.author.port_gear), in a resolve named after it when it has pins.
Nothing is written unless every check passes (pins included). Then, unless
--no-pants-checks, ./pants formats a ported gear's code, checks what new-gear wrote as CI does
(tailor, update-build-files, lint) and locks a new resolve, and for a gear moved in runs
what CI runs for it (check, test, package, its image's smoke cases) unless --no-prove; if
that fails, the gear stays written for the author to fix, with the commands that continue and
the one that removes exactly what new-gear added.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from gear_tools.author import from_manifest, gear_resolve, pins, port_gear, upstream_dockerfile
from gear_tools.author.from_manifest import TODO_MARK
from gear_tools.repo import DEFAULT_RESOLVE, DOCS_DIR, MANIFEST, RepoError, Repository, find_root

TEMPLATE_DIR = "template_gear"
TEMPLATE_APP = "template_app"
TEMPLATE_NAME = "template-gear"
FIRST_VERSION = "0.1.0"
# The gear spec allows ^[a-z0-9\-]+$ of at most 100 characters (fw-gear's manifest schema); the
# name here must also start with a letter, as its directory and Python package do.
MAX_NAME_LENGTH = 100
NAME_PATTERN = re.compile(rf"^[a-z][a-z0-9\-]{{0,{MAX_NAME_LENGTH - 1}}}$")
# The generated BUILD files and code name the gear's directory and package on one line
# (`pex="<dir>/src/python/<dir>_app:bin"`), which fits Ruff's line length for directories of up
# to MAX_DIRECTORY_LENGTH characters; a longer name gets a shorter directory (--directory).
MAX_DIRECTORY_LENGTH = 32
DIRECTORY_PATTERN = re.compile(rf"^[a-z][a-z0-9_]{{0,{MAX_DIRECTORY_LENGTH - 1}}}$")
# Where a moved-in gear keeps the files its image has under /flywheel/v0 (not code).
FLYWHEEL_FILES_DIR = "src/flywheel"
# The categories a Flywheel site accepts (flywheel.models.GearCategory).
CATEGORIES = ("utility", "analysis", "converter", "classifier", "qa")
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}
# template_gear/BUILD only exposes the template to this tool's tests.
TEMPLATE_ONLY = {Path("BUILD")}
# Files that hold the template's example (text statistics), and what the author does next.
TEMPLATE_EXAMPLES = {
    "main.py": "text statistics, copied as an example; write the gear's own work here.",
    "test_main.py": "tests of the example text statistics; test the gear's own work.",
    "parser.py": "the example's config model and inputs; make them the gear's manifest's own.",
    "gear.py": "runs the example (text statistics); call the gear's own work instead.",
    "test_parser.py": "tests of the example's config model; test the gear's own.",
    "test_run.py": "runs the example end to end; give it the gear's own inputs and checks.",
}


class NewGearError(Exception):
    """The gear cannot be created as asked; nothing was written."""


@dataclass(frozen=True)
class NewGear:
    name: str
    label: str
    description: str
    category: str
    with_api_key: bool
    # An existing gear's manifest to port (`--from-manifest`): its inputs and config are kept.
    source_manifest: Mapping[str, Any] | None = None
    # The gear's own Python resolve (`--resolve`), and pins for it (`--requirement`).
    resolve: str | None = None
    pins: tuple[str, ...] = ()
    # A gear's repository moved in (`--from-gear`): its code, tests and Dockerfile, read.
    upstream: port_gear.UpstreamGear | None = None
    # Module mappings for the gear's resolve (projects whose modules have other names).
    module_mapping: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The gear's directory (and `<directory>_app` package) when not the name with '_' for '-'.
    directory_name: str | None = None

    @property
    def version(self) -> str:
        """The first version: 0.1.0, or the ported manifest's own version if it is X.Y.Z."""
        version = (self.source_manifest or {}).get("version")
        if isinstance(version, str) and re.fullmatch(r"\d+\.\d+\.\d+", version):
            return version
        return FIRST_VERSION

    @property
    def own_resolve(self) -> str | None:
        """The resolve the gear has to itself (`--resolve`), None in the default one."""
        return None if self.resolve == DEFAULT_RESOLVE else self.resolve

    @property
    def directory(self) -> str:
        return self.directory_name or self.name.replace("-", "_")

    @property
    def app(self) -> str:
        return f"{self.directory}_app"

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("-"))


def short_directory(name: str) -> str:
    """A directory name of at most MAX_DIRECTORY_LENGTH characters for a long gear name: its
    words from the first, as many as fit, else the name cut."""
    words = name.split("-")
    kept: list[str] = []
    for word in words:
        if len("_".join([*kept, word])) > MAX_DIRECTORY_LENGTH:
            break
        kept.append(word)
    return "_".join(kept) or name[:MAX_DIRECTORY_LENGTH]


def name_problems(name: str, directory: str) -> list[str]:
    """What is wrong with a gear name and its directory (empty when both are right)."""
    problems = []
    if not NAME_PATTERN.match(name):
        problems.append(
            f"{name!r} is not a valid gear name: use lower-case letters, digits and '-', "
            f"starting with a letter (at most {MAX_NAME_LENGTH} characters, Flywheel's limit)"
        )
    elif not DIRECTORY_PATTERN.match(directory):
        problems.append(
            f"the gear's directory and package name {directory!r} "
            + (
                f"is {len(directory)} characters, longer than the {MAX_DIRECTORY_LENGTH} "
                "that generated code fits on one line: give a shorter one with --directory, "
                f"e.g. --directory {short_directory(name)} (the gear keeps its name)"
                if len(directory) > MAX_DIRECTORY_LENGTH
                else "is not valid: use lower-case letters, digits and '_', starting with a letter"
            )
        )
    return problems


def check(repo: Path, gear: NewGear) -> None:
    """Raises NewGearError listing every reason the gear cannot be created."""
    problems = name_problems(gear.name, gear.directory)
    if not problems:
        for path in (repo / gear.directory, repo / DOCS_DIR / gear.directory):
            if path.exists():
                problems.append(f"{path} already exists")
        taken = Repository(repo).gear_names()
        if gear.name in taken:
            problems.append(
                f"the gear name {gear.name!r} is taken by {taken[gear.name].manifest_path}"
            )
    if gear.category not in CATEGORIES:
        problems.append(f"category must be one of {', '.join(CATEGORIES)}, not {gear.category!r}")
    if gear.resolve is not None:
        problems += gear_resolve.check(repo, gear.resolve, list(gear.pins))
    elif gear.pins:
        problems.append("--requirement pins a gear's own resolve: give --resolve NAME too")
    if not Repository(repo).is_gear(TEMPLATE_DIR):
        problems.append(f"{repo / TEMPLATE_DIR} is not a gear template (no {MANIFEST})")
    if problems:
        raise NewGearError("cannot create the gear:\n  " + "\n  ".join(problems))


def _rename(text: str, gear: NewGear) -> str:
    text = re.sub(r"\bTemplate(?=[A-Z])", gear.camel, text)  # TemplateConfig -> DicomQcConfig
    return (
        text.replace(TEMPLATE_APP, gear.app)
        .replace(TEMPLATE_DIR, gear.directory)
        .replace(TEMPLATE_NAME, gear.name)
        .replace("Template gear", gear.label)
        .replace("template gear", _gear_words(gear))
    )


def _gear_words(gear: NewGear) -> str:
    """How the renamed text names the gear: by its name, or "gear" when that is longer than a
    generated line can hold beside the rest."""
    return gear.name if len(gear.name) <= MAX_DIRECTORY_LENGTH else "gear"


# What a ported manifest keeps besides inputs and config (the rest is the repository's own).
PORTED_FIELDS = (
    "author",
    "maintainer",
    "cite",
    "license",
    "source",
    "url",
    "capabilities",
    "inputs",
    "config",
)


# What the repository owns in a gear's manifest: how its image is built, named and started.
OWNED_FIELDS = ("command", "environment")


def _manifest(template: dict[str, Any], gear: NewGear, repository: str) -> dict[str, Any]:
    source = gear.source_manifest or {}
    if gear.upstream is not None:
        # A gear moved in keeps its manifest but for what the repository owns.
        manifest = copy.deepcopy(dict(source))
        manifest.update({key: template[key] for key in OWNED_FIELDS if key in template})
    else:
        manifest = dict(template)
        manifest.update({key: source[key] for key in PORTED_FIELDS if key in source})
    manifest.update(name=gear.name, label=gear.label, description=gear.description)
    manifest["version"] = gear.version
    # A port keeps every `custom` key of its own (suite, flywheel settings, ...).
    custom = {**template.get("custom", {}), **copy.deepcopy(source.get("custom", {}))}
    image = f"{repository.format(name=gear.name)}:{gear.version}"
    custom["gear-builder"] = {
        **custom.get("gear-builder", {}),
        "category": gear.category,
        "image": image,
    }
    if "docker-image" in custom:
        # The older name of the same field: fw-gear refuses a manifest where the two differ.
        custom["docker-image"] = image
    manifest["custom"] = custom
    if not source:
        # The template's example input and config, marked until the author replaces them.
        for section in ("inputs", "config"):
            manifest[section] = {
                key: {**spec, "description": f"{TODO_MARK}: example; {spec.get('description')}"}
                for key, spec in manifest.get(section, {}).items()
            }
    if gear.with_api_key:
        manifest["inputs"] = {**manifest.get("inputs", {}), "api-key": {"base": "api-key"}}
    return manifest


def port_changes(source: Mapping[str, Any], ported: Mapping[str, Any]) -> list[str]:
    """One line per change the port made to the source manifest, and why."""
    lines = []
    builder = (source.get("custom") or {}).get("gear-builder") or {}
    image = ported["custom"]["gear-builder"]["image"]
    if builder.get("image") != image:
        lines.append(
            f"custom.gear-builder.image: {builder.get('image')!r} -> {image!r} (this repository "
            "builds and names the image)"
        )
    old_image = (source.get("custom") or {}).get("docker-image")
    if old_image is not None and old_image != image:
        lines.append(
            f"custom.docker-image: {old_image!r} -> {image!r} (the older name of "
            "custom.gear-builder.image; the two must agree)"
        )
    for key in ("name", "version", "label", "description"):
        if key in source and source[key] != ported.get(key):
            why = {
                "name": "the name given to new-gear",
                "version": "a version here is X.Y.Z, the image's tag",
            }.get(key, "given to new-gear")
            lines.append(f"{key}: {source[key]!r} -> {ported[key]!r} ({why})")
    for key in OWNED_FIELDS:
        if source.get(key) != ported.get(key):
            lines.append(
                f"{key}: {source.get(key)!r} -> {ported.get(key)!r} (this repository's image "
                "starts the gear and sets its environment)"
            )
    for key in sorted(set(ported) - set(source) - set(OWNED_FIELDS) - {"custom"}):
        lines.append(f"{key}: added as {ported[key]!r} (the template's; the source had none)")
    for key in sorted(set(source) - set(ported)):
        lines.append(f"{key}: dropped (not a gear manifest field here)")
    if not lines:
        return ["new-gear: the manifest is kept as it was"]
    return [f"new-gear: manifest {line}" for line in lines] + [
        "new-gear: manifest: everything else is kept as it was"
    ]


def next_argv(argv: list[str], requirements: list[str]) -> list[str]:
    """`argv` with a `--requirement` for each of `requirements`, in place of any it gave for
    the same project."""
    replaced = {pins.project_name(pin) for pin in requirements}
    kept: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--requirement":
            value = next(words, "")
            if _requirement_project(value) not in replaced:
                kept += [word, value]
        elif word.startswith("--requirement="):
            if _requirement_project(word.partition("=")[2]) not in replaced:
                kept.append(word)
        else:
            kept.append(word)
    return [*kept, *(word for pin in requirements for word in ("--requirement", pin))]


def _requirement_project(text: str) -> str | None:
    try:
        return pins.project_name(text)
    except InvalidRequirement:
        return None


def _package_docstring(gear: NewGear) -> str:
    """The app package's docstring: the gear's label and description (not the template's)."""
    line = f'"""{gear.label}: {gear.description.rstrip(".")}."""\n'
    if len(line) <= 100:
        return line
    summary = textwrap.fill(f"{gear.label}.", 96)
    body = textwrap.fill(gear.description, 96)
    return f'"""{summary}\n\n{body}\n"""\n'


def _docker_build(text: str, version: str, resolve: str | None) -> str:
    """The gear_image() call with the gear's first version (and its own resolve)."""
    text = re.sub(r'\bversion="[^"]*"', f'version="{version}"', text)
    if resolve is not None:
        text = re.sub(r'(?m)^(\s*pex="[^"]*",\n)', rf'\1    resolve="{resolve}",\n', text)
    return text


def _copied_trees(repo: Path, gear: NewGear) -> list[tuple[Path, Path]]:
    """(template directory, new directory relative to the repository) pairs."""
    trees = [(repo / TEMPLATE_DIR, Path(gear.directory))]
    if (repo / DOCS_DIR / TEMPLATE_DIR).is_dir():
        trees.append((repo / DOCS_DIR / TEMPLATE_DIR, Path(DOCS_DIR) / gear.directory))
    return trees


def render(repo: Path, gear: NewGear) -> dict[Path, bytes]:
    """Every file of the new gear (paths relative to the repository) and its content."""
    files: dict[Path, bytes] = {}
    repository = Repository(repo).settings.default_repository
    for source_root, target_root in _copied_trees(repo, gear):
        for source in sorted(source_root.rglob("*")):
            relative = source.relative_to(source_root)
            if source.is_dir() or SKIPPED_PARTS & set(relative.parts):
                continue
            if source_root.name == TEMPLATE_DIR and relative in TEMPLATE_ONLY:
                continue
            target = target_root / Path(*(_rename(part, gear) for part in relative.parts))
            data = source.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                files[target] = data
                continue
            if relative == Path(MANIFEST):
                text = json.dumps(_manifest(json.loads(text), gear, repository), indent=2) + "\n"
            elif relative == Path("src/docker/BUILD"):
                text = _docker_build(_rename(text, gear), gear.version, gear.own_resolve)
            elif target_root.parts[0] == DOCS_DIR and relative.name == "CHANGELOG.md":
                origin = "ported from its manifest" if gear.source_manifest else "created"
                text = (
                    f"# {gear.name} changelog\n\n## Unreleased\n\n## {gear.version}\n\n"
                    f"- First version in this repository, {origin} from {TEMPLATE_DIR}.\n"
                )
            elif target_root.parts[0] == DOCS_DIR and relative.name == "README.md":
                text = _rename(text, gear).replace(
                    "\n",
                    f"\n\n> {TODO_MARK}: created from {TEMPLATE_DIR}; describe {gear.name} "
                    "here.\n",
                    1,
                )
            elif relative.name == "__init__.py" and relative.parent.name == TEMPLATE_APP:
                text = _package_docstring(gear)
            elif relative.name in TEMPLATE_EXAMPLES:
                # The example the gear was copied with (text statistics): marked until replaced.
                text = f"# {TODO_MARK}: {TEMPLATE_EXAMPLES[relative.name]}\n" + _rename(text, gear)
            elif relative.name == "case.json" and relative.parts[:2] == ("test", "smoke"):
                case = json.loads(_rename(text, gear))
                case["description"] = f"{TODO_MARK}: an example case; {case['description']}"
                text = json.dumps(case, indent=2) + "\n"
            else:
                text = _rename(text, gear)
            files[target] = text.encode("utf-8")
    if gear.upstream is not None:
        _move_in(files, gear, repository)
    elif gear.source_manifest is not None:
        _port(files, gear, repository)
    if gear.own_resolve is not None:
        files[Path(gear.directory) / "BUILD"] = gear_resolve.gear_build(gear.own_resolve).encode()
    return files


def _port(files: dict[Path, bytes], gear: NewGear, repository: str) -> None:
    """Replaces the template's text-statistics code, tests, smoke cases and docs with a gear
    built on the ported manifest: a generated config model and a stub that logs its inputs."""
    manifest = gear.source_manifest or {}
    app_dir = Path(gear.directory) / "src/python" / gear.app
    tests_dir = Path(gear.directory) / "test/python" / f"{gear.app}_tests"
    smoke_dir = Path(gear.directory) / "test/smoke"
    for path in list(files):
        kept = path.name in ("BUILD", "__init__.py", "run.py", "conftest.py")
        if (path.parent in (app_dir, tests_dir) and not kept) or smoke_dir in path.parents:
            del files[path]
    inputs = from_manifest.file_inputs(manifest)
    config = from_manifest.sample_config(manifest)
    client = from_manifest.has_api_key(manifest)
    generated = {
        app_dir / "parser.py": from_manifest.parser_source(gear.app, manifest),
        app_dir / "main.py": from_manifest.main_source(gear.app, client=client),
        app_dir / "gear.py": from_manifest.gear_source(gear.app, client=client),
        tests_dir / "test_parser.py": from_manifest.test_parser_source(
            gear.app, gear.directory, config
        ),
        tests_dir / "test_run.py": from_manifest.test_run_source(
            gear.app, inputs, config, client=client
        ),
        Path(DOCS_DIR) / gear.directory / "README.md": from_manifest.docs_readme(
            gear.name, manifest, f"{repository.format(name=gear.name)}:{gear.version}"
        ),
    }
    files.update({path: text.encode("utf-8") for path, text in generated.items()})
    for name, content in from_manifest.smoke_case(inputs, config, client=client).items():
        files[smoke_dir / "runs" / name] = content


def _move_in(files: dict[Path, bytes], gear: NewGear, repository: str) -> None:
    """Replaces the template's code, tests, smoke cases and Dockerfile with the gear's own,
    moved in from its repository (gear_tools.author.port_gear)."""
    upstream = gear.upstream
    assert upstream is not None
    app_dir = Path(gear.directory) / "src/python" / gear.app
    tests_dir = Path(gear.directory) / "test/python" / f"{gear.app}_tests"
    smoke_dir = Path(gear.directory) / "test/smoke"
    for path in list(files):
        if app_dir in path.parents or tests_dir in path.parents or smoke_dir in path.parents:
            del files[path]
    code, tests = upstream.code, upstream.tests
    data = sorted(path for path in code if path.suffix != ".py")
    for code_path, content in code.items():
        files[app_dir / code_path] = content
    files[app_dir / "__init__.py"] = _package_docstring(gear).encode()
    target = gear_resolve.requirements_target(gear.resolve or DEFAULT_RESOLVE)
    undeclared = [
        f"{target}#setuptools" for pin in gear.pins if pins.project_name(pin) == "setuptools"
    ]
    files[app_dir / "BUILD"] = port_gear.app_build(
        gear.app, upstream.entry_point, data, undeclared
    ).encode()
    if tests:
        for test_path, content in tests.items():
            files[tests_dir / test_path] = content
        plugins = sorted(
            Requirement(pin).name
            for pin in gear.pins
            if Requirement(pin).name.lower().startswith("pytest-")
        )
        has_data = any(path.suffix != ".py" for path in tests)
        support_dirs = sorted({path.parts[0] for path in upstream.test_support})
        for support_path, content in upstream.test_support.items():
            files[Path(gear.directory) / "test" / support_path] = content
        for top in support_dirs:
            files[Path(gear.directory) / "test" / top / "BUILD"] = (
                b"# Test data of the suite the gear came from, beside its tests as there.\n"
                b'files(name="data", sources=["**/*", "!BUILD"])\n'
            )
        files[tests_dir / "BUILD"] = port_gear.tests_build(
            target,
            plugins,
            sorted(tests),
            upstream.excluded_tests,
            has_data,
            [f"{gear.directory}/test/{top}:data" for top in support_dirs],
        ).encode()
    if upstream.flywheel_files:
        # What the upstream image has under /flywheel/v0 besides code: data the gear opens.
        flywheel_dir = Path(gear.directory) / FLYWHEEL_FILES_DIR
        for inside, content in upstream.flywheel_files.items():
            files[flywheel_dir / inside] = content
        files[flywheel_dir / "BUILD"] = (
            b"# The files the gear's image has under /flywheel/v0 (gear_image(flywheel_files=)).\n"
            b'files(name="flywheel", sources=["**/*", "!BUILD"])\n'
        )
        docker_build = Path(gear.directory) / "src/docker/BUILD"
        files[docker_build] = re.sub(
            r'(?m)^(\s*pex="[^"]*",\n)',
            rf'\1    flywheel_files="{flywheel_dir.as_posix()}:flywheel",\n',
            files[docker_build].decode(),
        ).encode()
    plan = upstream.dockerfile
    files[Path(gear.directory) / "src/docker/Dockerfile"] = upstream_dockerfile.dockerfile_text(
        plan.apt_packages, plan.notes, plan.base_image
    ).encode()
    for name, content in port_gear.smoke_case(gear.source_manifest or {}).items():
        files[smoke_dir / "starts" / name] = content
    files[Path(DOCS_DIR) / gear.directory / "README.md"] = from_manifest.docs_readme(
        gear.name,
        gear.source_manifest or {},
        f"{repository.format(name=gear.name)}:{gear.version}",
        how="--from-gear",
    ).encode()


def create(repo: Path, gear: NewGear) -> list[Path]:
    """Checks, then writes the gear; on any failure nothing is left behind."""
    check(repo, gear)
    files = render(repo, gear)
    # Written to a staging directory in the repository first, then moved into place.
    with tempfile.TemporaryDirectory(dir=repo, prefix=".new-gear-") as staging:
        for path, content in files.items():
            target = Path(staging) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        moved: list[Path] = []
        try:
            for _, root in _copied_trees(repo, gear):
                (repo / root).parent.mkdir(parents=True, exist_ok=True)
                (Path(staging) / root).rename(repo / root)
                moved.append(repo / root)
        except OSError as exc:
            for path in moved:
                shutil.rmtree(path, ignore_errors=True)
            raise NewGearError(f"cannot write the gear: {exc}") from None
    add_to_readme(repo, gear)
    if gear.own_resolve is not None:
        gear_resolve.add_resolve(repo, gear.own_resolve, list(gear.pins), dict(gear.module_mapping))
    return sorted(repo / path for path in files)


README_TABLE_HEADER = "| gear | what it does | docs |"


def add_to_readme(repo: Path, gear: NewGear) -> None:
    """Adds the gear's row to the README's table of gears (if the README has that table)."""
    readme = repo / "README.md"
    if not readme.is_file():
        return
    lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [index for index, line in enumerate(lines) if line.strip() == README_TABLE_HEADER]
    if not starts:
        return
    end = starts[0] + 1
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    summary = gear.description.replace("|", "\\|").replace("\n", " ")
    row = (
        f"| `{gear.name}` | {summary} | "
        f"[docs/{gear.directory}](docs/{gear.directory}/README.md) |\n"
    )
    partial = readme.with_name("README.md.partial")
    partial.write_text("".join([*lines[:end], row, *lines[end:]]), encoding="utf-8")
    partial.replace(readme)


# What a new gear may change besides its own directories: put back if it fails its checks.
SHARED_FILES = ("README.md", "pants.toml", "3rdparty/python/BUILD", str(gear_resolve.PRELUDE))


def _shared_files(gear: NewGear) -> list[Path]:
    files = [Path(name) for name in SHARED_FILES]
    if gear.own_resolve is not None:
        files += [
            gear_resolve.requirements_file(gear.own_resolve),
            gear_resolve.lockfile(gear.own_resolve),
        ]
    return files


def _pants(repo: Path, *args: str) -> None:
    """Runs ./pants quietly; raises NewGearError with its output when it fails."""
    result = subprocess.run(
        [str(repo / "pants"), "-lwarn", *args], cwd=repo, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise NewGearError(f"{result.stdout}{result.stderr}`./pants {' '.join(args)}` failed")


def check_with_pants(repo: Path, gear: NewGear, *, ported: bool) -> None:
    """Formats the gear's generated code, locks its new resolve (lint reads the lockfile),
    then checks it as CI does (tailor, update-build-files, lint); raises NewGearError with
    what failed."""
    # Every file new-gear wrote or changed: a new resolve changes 3rdparty/python/BUILD and the
    # prelude (pants-plugins/gear_macros/gear_image.py), which CI checks too.
    specs = [f"{gear.directory}::"]
    if gear.own_resolve is not None:
        specs += [f"{gear_resolve.REQUIREMENTS_DIR}::", f"{gear_resolve.PRELUDE.parent}::"]
    if ported:
        _pants(repo, "update-build-files", "fmt", *specs)
    resolve = gear.own_resolve
    if resolve is not None:
        lock = repo / gear_resolve.lockfile(resolve)
        requirements = repo / gear_resolve.requirements_file(resolve)
        if not lock.is_file() or requirements.stat().st_mtime > lock.stat().st_mtime:
            print(
                f"Locking the {resolve} resolve (./pants generate-lockfiles --resolve={resolve};"
                " about a minute)...",
                flush=True,
            )
            _pants(repo, "generate-lockfiles", f"--resolve={resolve}")
    _pants(repo, "tailor", "--check", "update-build-files", "--check", "lint", *specs)


def undo_patch_path(repo: Path, gear: NewGear) -> Path:
    """Where the reverse of new-gear's edits to shared files is kept: inside .git (never
    committed), or the system's temporary directory outside a git checkout."""
    name = f"new-gear-undo-{gear.directory}.patch"
    return repo / ".git" / name if (repo / ".git").is_dir() else Path(tempfile.gettempdir()) / name


def _edits(repo: Path, backup: Mapping[Path, bytes], paths: list[Path]) -> str:
    """new-gear's edits of `paths` as a unified diff without context: only its own lines."""
    hunks: list[str] = []
    for path in paths:
        before = backup[path].decode("utf-8").splitlines(keepends=True)
        after = (repo / path).read_text(encoding="utf-8").splitlines(keepends=True)
        hunks += difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", n=0)
    return "".join(hunks)


SMOKE_IMAGES = "tools/src/python/gear_tools/images/smoke_images.py"


def proof_commands(gear: NewGear) -> list[tuple[str, ...]]:
    """What CI runs for a gear, as ./pants arguments: its checks, tests (the upstream ones
    too), its image, and the image's smoke cases (it starts and gets past its imports)."""
    return [
        ("check", "test", "package", f"{gear.directory}::"),
        ("run", SMOKE_IMAGES, "--", "--gear", gear.directory),
    ]


def prove(repo: Path, gear: NewGear) -> None:
    """Runs proof_commands in order, saying each; NewGearError with the output of the one
    that failed."""
    for args in proof_commands(gear):
        print(f"Proving: ./pants {' '.join(args)} ...", flush=True)
        _pants(repo, *args)


def removal_command(repo: Path, gear: NewGear, backup: Mapping[Path, bytes]) -> str:
    """The shell command that removes exactly what new-gear added: its directories, the files
    it made (the new resolve's lockfile too, which a later lock makes), and its own lines in
    shared files (a reverse patch, so other uncommitted work in them stays)."""
    written = [str(root) for _, root in _copied_trees(repo, gear)]
    lock = [gear_resolve.lockfile(gear.own_resolve)] if gear.own_resolve is not None else []
    created = [
        str(path)
        for path in _shared_files(gear)
        if path not in backup and ((repo / path).exists() or path in lock)
    ]
    command = f"rm -rf {' '.join(written + created)}"
    changed = [path for path in _shared_files(gear) if path in backup and (repo / path).is_file()]
    edits = _edits(repo, backup, changed)
    if edits:
        # The patch first: it refuses (and nothing is removed) if those lines were edited since.
        path = undo_patch_path(repo, gear)
        path.write_text(edits, encoding="utf-8")
        patch = shlex.quote(str(path))
        command = f"git apply -R --unidiff-zero {patch} && {command} && rm {patch}"
    return command


def _read_port(args: argparse.Namespace, notes: list[str]) -> port_gear.UpstreamGear | None:
    if args.from_gear is None:
        return None
    upstream = port_gear.read_upstream(args.from_gear)
    return port_gear.moved(upstream, _app(args), notes)


def _app(args: argparse.Namespace) -> str:
    """The gear's app package, as NewGear.app names it, from the command line."""
    return f"{args.directory or args.name.replace('-', '_')}_app"


def _print_port(gear: NewGear, upstream: port_gear.UpstreamGear, notes: list[str]) -> None:
    """What the port moved, changed and left out, one line each."""
    print(
        f"new-gear: moved in {len(upstream.code)} code files to {gear.directory}/src/python/"
        f"{gear.app}/ (entry point {upstream.entry_point}) and {len(upstream.tests)} test "
        f"files to {gear.directory}/test/python/{gear.app}_tests/"
    )
    if upstream.requirement_sources:
        print(f"new-gear: requirements read from {', '.join(upstream.requirement_sources)}")
    for note in upstream.read_notes:
        print(f"new-gear: {note}")
    if gear.pins:
        print(f"new-gear: the {gear.resolve} resolve pins {', '.join(gear.pins)}")
    for name, modules in gear.module_mapping:
        print(f"new-gear: module mapping {name} -> {', '.join(modules)} (from its wheel)")
    for package in upstream.dockerfile.apt_packages:
        print(f"new-gear: Dockerfile installs {package} (from the gear's Dockerfile)")
    for note in [*notes, *upstream.dockerfile.notes]:
        print(f"new-gear: {note}")
    if upstream.flywheel_files:
        print(
            f"new-gear: {len(upstream.flywheel_files)} files the upstream image has under "
            f"/flywheel/v0 moved to {gear.directory}/{FLYWHEEL_FILES_DIR}/ (the image has them "
            "there too): "
            + ", ".join(sorted(map(str, upstream.flywheel_files))[:5])
            + (" ..." if len(upstream.flywheel_files) > 5 else "")
        )
    for path in upstream.left_out:
        print(
            f"new-gear: not moved: {path} (not gear code or tests, and the upstream image does "
            "not COPY it under /flywheel/v0)"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bin/new-gear",
        description="Create a new gear from template_gear/, or move one in (--from-gear).",
    )
    parser.add_argument("name", help="gear name, e.g. dicom-qc")
    parser.add_argument("--label", help="human-readable label (default: from the name)")
    parser.add_argument("--description", help="one-line description")
    parser.add_argument(
        "--category",
        help=f"one of {', '.join(CATEGORIES)} (default: the ported manifest's, or utility)",
    )
    parser.add_argument("--with-api-key", action="store_true", help="add an api-key input")
    parser.add_argument(
        "--from-manifest",
        type=Path,
        metavar="PATH",
        help="port an existing gear: keep its manifest's inputs and config (and label, "
        "description, category, version) and generate the config model from it",
    )
    parser.add_argument(
        "--from-gear",
        type=Path,
        metavar="DIR",
        help="move a gear's repository in as it is: its manifest, code, tests, requirements "
        "and Dockerfile's system packages (docs/porting.md)",
    )
    parser.add_argument(
        "--resolve",
        metavar="NAME",
        help="put the gear in a Python resolve of its own (made if new, with common/'s "
        "requirements); bin/new-gear then locks it",
    )
    parser.add_argument(
        "--requirement",
        action="append",
        default=[],
        metavar="SPEC",
        help="a pin of the gear's resolve, e.g. 'pydicom>=2.4,<3' (repeatable; with "
        "--from-gear it replaces the gear's own pin of that project)",
    )
    parser.add_argument(
        "--directory",
        metavar="DIR",
        help="the gear's directory (and DIR_app package) when not the name with '_' for '-'; "
        f"at most {MAX_DIRECTORY_LENGTH} characters",
    )
    parser.add_argument("--repo", type=Path, help="repository root (default: this one)")
    parser.add_argument(
        "--no-pants-checks",
        dest="pants_checks",
        action="store_false",
        help="write the gear only: no lock, fmt, tailor or lint with ./pants",
    )
    parser.add_argument(
        "--no-prove",
        dest="prove",
        action="store_false",
        help="with --from-gear: do not run what CI runs for the gear after the checks (check, "
        "test, package and its image's smoke cases)",
    )
    args = parser.parse_args(argv)
    if args.from_gear is not None and args.from_manifest is not None:
        parser.error("give --from-gear or --from-manifest, not both")
    # Checked before a port reads the gear and its pins (which can take a while).
    naming = name_problems(args.name, args.directory or args.name.replace("-", "_"))
    if naming:
        print("new-gear: cannot create the gear:\n  " + "\n  ".join(naming), file=sys.stderr)
        return 1
    notes: list[str] = []
    source: dict[str, Any] | None = None
    try:
        upstream = _read_port(args, notes)
        if upstream is not None:
            source = upstream.manifest
        elif args.from_manifest is not None:
            source = from_manifest.read_source_manifest(args.from_manifest)
    except (from_manifest.ManifestError, port_gear.PortError) as exc:
        print(f"new-gear: cannot port the gear:\n  {exc}", file=sys.stderr)
        return 1
    ported = source or {}
    pins_: list[str] = list(args.requirement)
    mapping: dict[str, list[str]] = {}
    resolve = args.resolve
    try:
        repo = find_root(args.repo)
        if upstream is not None:
            app = _app(args)
            pins_, mapping, provided = port_gear.resolve_pins(
                repo, upstream, app, args.requirement, notes
            )
            if provided is not None:
                missing = port_gear.unprovided_code_imports(upstream, app, provided)
                if missing:
                    raise port_gear.UnprovidedImportError(missing)
                upstream = port_gear.exclude_unrunnable_tests(upstream, app, provided, notes)
            resolve = resolve or (args.name if pins_ else None)
    except (NewGearError, RepoError, port_gear.PortError) as exc:
        print(f"new-gear: {exc}", file=sys.stderr)
        if isinstance(exc, port_gear.PortError) and exc.requirements:
            print(
                f"Next (the same port with {exc.next_what}):\n  bin/new-gear "
                + shlex.join(next_argv(argv, exc.requirements)),
                file=sys.stderr,
            )
        return 1
    gear = NewGear(
        name=args.name,
        label=args.label or ported.get("label") or args.name.replace("-", " ").capitalize(),
        description=args.description
        or ported.get("description")
        or f"{args.name} (created from {TEMPLATE_DIR}).",
        category=args.category
        or ported.get("custom", {}).get("gear-builder", {}).get("category")
        or "utility",
        with_api_key=args.with_api_key,
        source_manifest=source,
        resolve=resolve,
        pins=tuple(pins_),
        upstream=upstream,
        module_mapping=tuple((name, tuple(modules)) for name, modules in mapping.items()),
        directory_name=args.directory,
    )
    try:
        backup = {
            path: (repo / path).read_bytes()
            for path in _shared_files(gear)
            if (repo / path).is_file()
        }
        created = create(repo, gear)
    except (NewGearError, RepoError) as exc:
        print(f"new-gear: {exc}", file=sys.stderr)
        return 1
    print(f"Created gear {gear.name} in {gear.directory}/ ({len(created)} files).")
    if source is not None:
        manifest = Repository(repo).gear(gear.directory).manifest()
        print("\n".join(port_changes(source, manifest)))
    if upstream is not None:
        _print_port(gear, upstream, notes)
    if args.pants_checks:
        try:
            check_with_pants(repo, gear, ported=source is not None)
        except (NewGearError, KeyboardInterrupt) as exc:
            print(
                f"{exc}\nnew-gear: {gear.directory}/ is written but does not pass the checks "
                "above; fix what they name and run them again (the lock first: lint reads it):\n"
                + (
                    f"  ./pants generate-lockfiles --resolve={gear.own_resolve}\n"
                    if gear.own_resolve
                    else ""
                )
                + f"  ./pants tailor --check update-build-files --check lint {gear.directory}::\n"
                + "or remove everything new-gear wrote:\n  "
                + removal_command(repo, gear, backup),
                file=sys.stderr,
            )
            return 1
        print(
            f"Checked: {gear.directory}:: passes tailor, update-build-files and lint as written"
            + (f"; the {gear.own_resolve} resolve is locked." if gear.own_resolve else ".")
        )
        if upstream is not None and args.prove:
            try:
                prove(repo, gear)
            except (NewGearError, KeyboardInterrupt) as exc:
                commands = " && ".join(f"./pants {shlex.join(a)}" for a in proof_commands(gear))
                print(
                    f"{exc}\nnew-gear: {gear.directory}/ is moved in, locked and lint-clean, but "
                    "does not yet pass what CI runs for it; fix what the output above names, "
                    f"then run it again:\n  {commands}\nor remove everything new-gear wrote:\n  "
                    + removal_command(repo, gear, backup),
                    file=sys.stderr,
                )
                return 1
            print(
                f"Proved: {gear.directory}:: passes check, test and package, and its image "
                "passes its smoke cases (starts, gets past its imports) as CI runs them."
            )
    print("Next:")
    print(f"  ./pants lint check test package {gear.directory}::")
    if upstream is not None:
        print(f"  give {gear.directory}/test/smoke/starts/case.json real inputs and checks")
    if upstream is None:
        print(
            f"  edit {gear.directory}/src/python/{gear.app}/main.py and "
            f"docs/{gear.directory}/README.md"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
