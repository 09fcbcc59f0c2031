"""Checks a gear's manifest.json against its docker_image target, Dockerfile and the gear spec.

Plain Python (standard library, plus fw-gear for Flywheel's manifest schema), so it runs both
inside `pants lint` (as a process in a sandbox) and from other tools:

    python checker.py REQUEST.json

where REQUEST.json is {"manifest": path, "dockerfile": path or null, "target": {...}} with the
fields of `ImageTarget`. It prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

LATEST = "latest"
# Where Flywheel runs a gear whose manifest has no `command` (the gear spec's default).
DEFAULT_COMMAND = "/flywheel/v0/run"


@dataclass(frozen=True)
class ImageTarget:
    """What a `docker_image` target will build, as Pants computes it."""

    address: str
    name: str
    tags: tuple[str, ...]
    # Every repository the image is tagged in, placeholders expanded, registry included.
    repositories: tuple[str, ...]
    require_latest: bool = True

    @property
    def version_tags(self) -> tuple[str, ...]:
        return tuple(tag for tag in self.tags if tag != LATEST)

    def images(self, version: str) -> tuple[str, ...]:
        return tuple(f"{repository}:{version}" for repository in self.repositories)


@dataclass(frozen=True)
class DockerfileCommands:
    """What a Dockerfile says about how the gear starts."""

    path: str
    pex_destinations: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()


@dataclass
class _Report:
    manifest_path: str
    problems: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.problems.append(f"{self.manifest_path}: {message}")


def _quote(value: Any) -> str:
    return json.dumps(value)


def _alternatives(values: Sequence[str]) -> str:
    return " or ".join(_quote(value) for value in values)


# --- JSON with duplicate keys reported -------------------------------------------------------


def load_manifest(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """Parses the manifest; returns it (or None) and the problems found while parsing."""
    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                duplicates.append(key)
            result[key] = value
        return result

    try:
        manifest = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as exc:
        return None, [f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
    if not isinstance(manifest, dict):
        return None, [f"expected a JSON object, found {type(manifest).__name__}"]
    problems = [
        f"key {_quote(key)} appears more than once (JSON keeps only the last value)"
        for key in dict.fromkeys(duplicates)
    ]
    return manifest, problems


# --- Dockerfile ------------------------------------------------------------------------------


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        yield keyword.upper(), arguments.strip()
        logical = ""


def _expand(value: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)(?::-[^}]*)?\}|\$(\w+)", replace, value)


def _split(text: str) -> list[str]:
    """Shell-style words; plain whitespace splitting where the quoting is unbalanced."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _words(arguments: str) -> list[str]:
    if arguments.startswith("["):
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError:
            return _split(arguments)
        if isinstance(parsed, list):
            return [str(word) for word in parsed]
    return _split(arguments)


@dataclass
class _Stage:
    destinations: list[str] = field(default_factory=list)
    entrypoint: tuple[str, ...] = ()
    workdir: str = "/"


def _from_stage(arguments: str, variables: dict[str, str], stages: dict[str, _Stage]) -> _Stage:
    """A new build stage; one built `FROM` an earlier stage starts with what that one set."""
    words = _split(arguments)
    words = [word for word in words if not word.startswith("--")]
    base = _expand(words[0], variables).lower() if words else ""
    new = _Stage()
    if base in stages:
        parent = stages[base]
        new = _Stage(list(parent.destinations), parent.entrypoint, parent.workdir)
    if len(words) >= 3 and words[1].upper() == "AS":
        stages[words[2].lower()] = new
    return new


def parse_dockerfile(path: str, text: str) -> DockerfileCommands:
    """Where the final stage copies the pex to, and its ENTRYPOINT (ENV/ARG defaults expanded).

    Only the last stage becomes the image, so pexes copied in earlier build stages (for
    example to build a virtual environment from) are not where the gear starts.
    """
    variables: dict[str, str] = {}
    stages: dict[str, _Stage] = {}
    stage = _Stage()
    for keyword, arguments in _instructions(text):
        if keyword == "FROM":
            stage = _from_stage(arguments, variables, stages)
        elif keyword in ("ENV", "ARG"):
            for assignment in _split(arguments):
                name, equals, value = assignment.partition("=")
                if equals:
                    variables[name] = _expand(value, variables)
            if keyword == "ENV" and "=" not in arguments and " " in arguments:
                name, value = arguments.split(None, 1)
                variables[name] = _expand(value, variables)
        elif keyword == "WORKDIR":
            stage.workdir = _join(stage.workdir, _expand(arguments, variables))
        elif keyword in ("COPY", "ADD"):
            words = [word for word in _words(arguments) if not word.startswith("--")]
            if len(words) < 2:
                continue
            *sources, destination = (_expand(word, variables) for word in words)
            for source in sources:
                if source.endswith(".pex"):
                    target = _join(stage.workdir, destination)
                    if destination.endswith("/"):
                        target = _join(target, source.rsplit("/", 1)[-1])
                    stage.destinations.append(target)
        elif keyword == "ENTRYPOINT":
            words = [_expand(word, variables) for word in _words(arguments)]
            if words:
                stage.entrypoint = (_join(stage.workdir, words[0]), *words[1:])
    return DockerfileCommands(path, tuple(stage.destinations), stage.entrypoint)


def _join(directory: str, path: str) -> str:
    joined = path if path.startswith("/") else directory.rstrip("/") + "/" + path
    parts: list[str] = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts) + ("/" if path.endswith("/") and parts else "")


# --- The gear spec (Flywheel's schema, as shipped by fw-gear) --------------------------------


def _schema_path(parts: Iterable[Any]) -> str:
    return ".".join(str(part) for part in parts) or "(manifest)"


def spec_problems(manifest: dict[str, Any]) -> list[str]:
    """Problems by Flywheel's manifest schema and rules as implemented by fw-gear."""
    # Present in the linter's own pex (fw-gear and its dependencies), not in Pants' environment.
    import jsonschema  # pants: no-infer-dep
    from fw_gear.manifest import Manifest  # pants: no-infer-dep

    fw_manifest = Manifest(manifest)
    schema = fw_manifest.schema
    problems = []
    validator = jsonschema.Draft4Validator(schema)
    for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path)):
        where = _schema_path(error.absolute_path)
        if error.validator == "enum":
            problems.append(
                f"{where} is {_quote(error.instance)}, which the gear spec does not allow"
            )
        elif (
            error.validator == "anyOf"
            and len(error.absolute_path) == 2
            and error.absolute_path[0] == "inputs"
        ):
            bases = [
                option["properties"]["base"]["enum"][0]
                for option in schema["properties"]["inputs"]["additionalProperties"]["anyOf"]
            ]
            base = error.instance.get("base") if isinstance(error.instance, dict) else None
            problems.append(
                f"{where} is not a valid input: base is {_quote(base)}, expected one of "
                f"{', '.join(_quote(b) for b in bases)} (with only the fields that base allows)"
            )
        else:
            problems.append(f"{where}: {error.message}")
    if not problems and isinstance(manifest.get("config"), dict):
        # Defaults must satisfy their own declared type, enum and range.
        config_schema = fw_manifest.derive_config_schema(full=False)
        defaults = {
            "config": {
                key: spec["default"]
                for key, spec in manifest["config"].items()
                if isinstance(spec, dict) and "default" in spec
            }
        }
        for error in jsonschema.Draft4Validator(config_schema).iter_errors(defaults):
            key = list(error.absolute_path)[1:2]
            where = f"config.{key[0]}.default" if key else "config"
            problems.append(f"{where} is {_quote(error.instance)}: {error.message}")
    return problems


# --- The checks ------------------------------------------------------------------------------


def _get(manifest: dict[str, Any], dotted: str) -> Any:
    value: Any = manifest
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def check_target(target: ImageTarget) -> list[str]:
    """Problems with the docker_image target's tags alone."""
    problems = []
    versions = target.version_tags
    if len(versions) != 1:
        found = ", ".join(_quote(tag) for tag in versions) or "none"
        problems.append(
            f"the docker_image target {target.address} must have exactly one image tag besides "
            f'"latest" (the gear version), found {found}'
        )
    if target.require_latest and LATEST not in target.tags:
        problems.append(
            f'the docker_image target {target.address} has no "latest" image tag; add it, or set '
            "gear_manifest_require_latest=False on the target"
        )
    return problems


def check_manifest(
    manifest_path: str,
    text: str,
    target: ImageTarget,
    dockerfile: DockerfileCommands | None = None,
    *,
    validate_spec: bool = True,
) -> list[str]:
    """Every problem with the manifest, each message naming file, field, value and expectation."""
    report = _Report(manifest_path)
    for problem in check_target(target):
        report.add(problem)
    manifest, parse_problems = load_manifest(text)
    for problem in parse_problems:
        report.add(problem)
    if manifest is None:
        return report.problems

    name = manifest.get("name")
    if name != target.name:
        report.add(
            f"name is {_quote(name)} but the docker_image target {target.address} is named "
            f"{_quote(target.name)}"
        )

    version = manifest.get("version")
    versions = target.version_tags
    if len(versions) == 1 and version != versions[0]:
        report.add(
            f"version is {_quote(version)} but the docker_image target {target.address} is "
            f"tagged {_quote(versions[0])}"
        )

    image = _get(manifest, "custom.gear-builder.image")
    if len(versions) == 1:
        expected = target.images(versions[0])
        if image is None:
            report.add(
                "custom.gear-builder.image is missing; the docker_image target "
                f"{target.address} builds {_alternatives(expected)}"
            )
        elif image not in expected:
            report.add(
                f"custom.gear-builder.image is {_quote(image)} but the docker_image target "
                f"{target.address} builds {_alternatives(expected)}"
            )

    if dockerfile is not None:
        _check_command(report, manifest, dockerfile)
    _check_programs(report, _get(manifest, "custom.programs"))

    if validate_spec:
        for problem in spec_problems(manifest):
            report.add(problem)
    return report.problems


_PROGRAM_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$")


def _check_programs(report: _Report, programs: Any) -> None:
    """`custom.programs`: the system programs the gear runs, each with its Debian package."""
    if programs is None:
        return
    if not isinstance(programs, dict):
        report.add(
            f"custom.programs is {_quote(programs)}; expected an object mapping each program the "
            'gear runs to the Debian package that provides it, e.g. {"dcm2niix": "dcm2niix"}'
        )
        return
    for program, package in programs.items():
        if not _PROGRAM_WORD.match(program):
            report.add(f"custom.programs has {_quote(program)}, which is not a program name")
        if not isinstance(package, str) or not _PROGRAM_WORD.match(package):
            report.add(
                f"custom.programs.{program} is {_quote(package)}; expected the name of the "
                "Debian package that provides it"
            )


def _check_command(
    report: _Report, manifest: dict[str, Any], dockerfile: DockerfileCommands
) -> None:
    command = manifest.get("command")
    if command is not None and not isinstance(command, str):
        return  # The spec check reports the type.
    words = _split(command) if command else []
    program = _join("/flywheel/v0", words[0]) if words else DEFAULT_COMMAND
    shown = _quote(command) if command else f"not set (so Flywheel runs {_quote(DEFAULT_COMMAND)})"
    if dockerfile.pex_destinations:
        if program not in dockerfile.pex_destinations:
            report.add(
                f"command is {shown} but {dockerfile.path} copies the pex to "
                f"{_alternatives(dockerfile.pex_destinations)}"
            )
    elif dockerfile.entrypoint and program != dockerfile.entrypoint[0]:
        report.add(
            f"command is {shown} but the ENTRYPOINT of {dockerfile.path} runs "
            f"{_quote(dockerfile.entrypoint[0])}"
        )


def main(argv: Sequence[str], *, validate_spec: bool = True) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as file:
        request = json.load(file)
    target_fields = dict(request["target"])
    target_fields["tags"] = tuple(target_fields["tags"])
    target_fields["repositories"] = tuple(target_fields["repositories"])
    target = ImageTarget(**target_fields)
    dockerfile = None
    if request.get("dockerfile"):
        with open(request["dockerfile"], encoding="utf-8") as file:
            dockerfile = parse_dockerfile(request["dockerfile"], file.read())
    with open(request["manifest"], encoding="utf-8") as file:
        text = file.read()
    problems = check_manifest(
        request["manifest"], text, target, dockerfile, validate_spec=validate_spec
    )
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{request['manifest']}: agrees with {target.address} and the gear spec")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
