"""Checks a gear's manifest.json against its docker_image target, Dockerfile and the gear spec.

Plain Python (standard library, plus fw-gear for Flywheel's manifest schema), so it runs both
inside `pants lint` (as a process in a sandbox) and from other tools:

    python checker.py REQUEST.json

where REQUEST.json is {"manifest": path, "dockerfile": path or null, "target": {...}} with the
fields of `ImageTarget`, and optionally "upstream": [{"dockerfile": path, "names": [...]}], the
Dockerfiles of images it is built FROM, directly or not, each after those it is built FROM (by
the names FROM may give them: target address, image). It prints one line per problem and exits
1 if there is any.
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
    # What the image's ENV instructions set (its own and its upstream image's), in order.
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = "/"


@dataclass
class _Report:
    manifest_path: str
    problems: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.problems.append(f"{self.manifest_path}: {message}")


def _quote(value: Any) -> str:
    return json.dumps(value)


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type: null, boolean, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


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

    if not text.strip():
        return None, ["is empty; expected a JSON object (the gear manifest)"]
    if text.startswith("\ufeff"):
        return None, ["starts with a byte-order mark (U+FEFF); save it as UTF-8 without one"]
    try:
        manifest = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as exc:
        return None, [f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
    except RecursionError:
        return None, ["not a gear manifest: its JSON is nested too deeply to read"]
    if not isinstance(manifest, dict):
        return None, [f"expected a JSON object, found {_json_type(manifest)}"]
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
    env: dict[str, str] = field(default_factory=dict)


def _from_stage(
    arguments: str,
    variables: dict[str, str],
    stages: dict[str, _Stage],
    upstream: dict[str, DockerfileCommands],
) -> _Stage:
    """A new build stage; one built `FROM` an earlier stage starts with what that one set, and
    one built from an upstream image whose Dockerfile is known starts with what its image has."""
    words = _split(arguments)
    words = [word for word in words if not word.startswith("--")]
    base = _expand(words[0], variables) if words else ""
    new = _Stage()
    if base in upstream:
        image = upstream[base]
        new = _Stage(list(image.pex_destinations), image.entrypoint, image.workdir, dict(image.env))
    if base.lower() in stages:
        parent = stages[base.lower()]
        new = _Stage(list(parent.destinations), parent.entrypoint, parent.workdir, dict(parent.env))
    if len(words) >= 3 and words[1].upper() == "AS":
        stages[words[2].lower()] = new
    return new


def parse_dockerfile(
    path: str, text: str, upstream: dict[str, DockerfileCommands] | None = None
) -> DockerfileCommands:
    """Where the final stage copies the pex to, its ENTRYPOINT and ENV (ARG defaults expanded).

    Only the last stage becomes the image, so pexes copied in earlier build stages (for
    example to build a virtual environment from) are not where the gear starts.
    `upstream` is what the images this one is built FROM have, by the name FROM gives.
    """
    variables: dict[str, str] = {}
    stages: dict[str, _Stage] = {}
    stage = _Stage()
    for keyword, arguments in _instructions(text):
        if keyword == "FROM":
            stage = _from_stage(arguments, variables, stages, upstream or {})
        elif keyword in ("ENV", "ARG"):
            assignments = [a.partition("=") for a in _split(arguments)]
            if keyword == "ENV" and "=" not in arguments and " " in arguments:
                name, value = arguments.split(None, 1)
                assignments = [(name, "=", " ".join(_split(value)))]
            for name, equals, value in assignments:
                if not equals:
                    continue
                expanded = _expand(value, {**variables, **stage.env})
                variables[name] = expanded
                if keyword == "ENV":
                    stage.env[name] = expanded
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
    return DockerfileCommands(
        path, tuple(stage.destinations), stage.entrypoint, tuple(stage.env.items()), stage.workdir
    )


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


def _pattern_problems(manifest: dict[str, Any]) -> list[str]:
    """Config `pattern`s that are not regular expressions (jsonschema would crash on them)."""
    problems = []
    config = manifest.get("config")
    for key, spec in config.items() if isinstance(config, dict) else ():
        pattern = spec.get("pattern") if isinstance(spec, dict) else None
        if pattern is None:
            continue
        if not isinstance(pattern, str):
            problems.append(f"config.{key}.pattern is {_quote(pattern)}; expected a string")
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(
                f"config.{key}.pattern is {_quote(pattern)}, not a regular expression: {exc}"
            )
    return problems


def _spec_message(error: Any, schema: dict[str, Any]) -> str:
    """One jsonschema error of the gear spec, in this linter's words."""
    where = _schema_path(error.absolute_path)
    validator, expected, instance = error.validator, error.validator_value, error.instance
    if validator == "enum":
        return f"{where} is {_quote(instance)}, which the gear spec does not allow"
    if validator == "not" and set(expected.get("required", ())) == {"default", "optional"}:
        return (
            f"{where} has both default and optional; a value with a default is never missing, "
            "so give one of them"
        )
    if validator == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        return f"{where} is {_json_type(instance)}, expected {wanted}"
    if validator == "maxLength":
        return f"{where} is {len(instance)} characters long, more than the {expected} allowed"
    if validator == "minLength":
        return f"{where} is {len(instance)} characters long, fewer than the {expected} required"
    if validator == "required":
        missing = [key for key in expected if isinstance(instance, dict) and key not in instance]
        return f"{where} is missing {', '.join(_quote(key) for key in missing)}"
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(key for key in instance if key not in allowed)
        return f"{where} has fields the gear spec does not allow: {', '.join(map(_quote, extra))}"
    if validator in ("anyOf", "oneOf") and error.context:
        return _alternatives_message(error, schema)
    return f"{where}: {error.message}"


def _alternatives_message(error: Any, schema: dict[str, Any]) -> str:
    """A value that fits none of the alternatives: why it fails the one it was meant to be.

    Alternatives told apart by `base` (the kinds of input) are chosen by the value's base;
    others by jsonschema's best match (e.g. a config `type` that is none of the types).
    """
    import jsonschema  # pants: no-infer-dep

    where = _schema_path(error.absolute_path)
    options = error.validator_value
    bases = [
        option.get("properties", {}).get("base", {}).get("enum", [None])[0] for option in options
    ]
    chosen = list(error.context)
    if all(bases):
        base = error.instance.get("base") if isinstance(error.instance, dict) else None
        if base not in bases:
            return f"{where} has base {_quote(base)}; expected one of {_alternatives(bases)}"
        index = bases.index(base)
        chosen = [e for e in error.context if e.relative_schema_path[0] == index] or chosen
    return _spec_message(jsonschema.exceptions.best_match(chosen), schema)


def spec_problems(manifest: dict[str, Any]) -> list[str]:
    """Problems by Flywheel's manifest schema and rules as implemented by fw-gear.

    Each place is reported once (its first problem): a bad config `type` fails several of the
    schema's alternatives, which would otherwise each say so.
    """
    # Present in the linter's own pex (fw-gear and its dependencies), not in Pants' environment.
    import jsonschema  # pants: no-infer-dep
    from fw_gear.manifest import Manifest  # pants: no-infer-dep

    problems = _pattern_problems(manifest)
    if problems:
        return problems
    fw_manifest = Manifest(manifest)
    schema = fw_manifest.schema
    validator = jsonschema.Draft4Validator(schema)
    reported: dict[str, str] = {}
    for error in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.path))):
        reported.setdefault(_schema_path(error.absolute_path), _spec_message(error, schema))
    problems = list(reported.values())
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
        _check_environment(report, manifest.get("environment"), dockerfile)
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


def _env_pattern(value: str) -> re.Pattern[str]:
    """An image ENV value as a pattern: `$VAR` it could not resolve (the base image's) is any."""
    parts = re.split(r"\$\{\w+(?::-[^}]*)?\}|\$\w+", value)
    return re.compile(".*".join(re.escape(part) for part in parts), re.DOTALL)


def _check_environment(report: _Report, environment: Any, dockerfile: DockerfileCommands) -> None:
    """Flywheel runs the gear with the manifest's `environment`, not the image's ENV: every
    variable the image definition sets must be there, with the value the image gives it."""
    if not dockerfile.env:
        return
    if environment is not None and not isinstance(environment, dict):
        return  # The spec check reports the type.
    environment = environment or {}
    for name, value in dockerfile.env:
        shown = f"{name}={value}"
        if name not in environment:
            report.add(
                f"environment has no {name}, but the image sets {shown} (ENV in "
                f"{dockerfile.path} or the image it is built from); Flywheel runs the gear with "
                f'the manifest\'s environment, so add "{name}": {_quote(value)}'
            )
        elif not isinstance(environment[name], str) or not _env_pattern(value).fullmatch(
            environment[name]
        ):
            report.add(
                f"environment.{name} is {_quote(environment[name])} but the image sets {shown} "
                f"(ENV in {dockerfile.path} or the image it is built from)"
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


# Far more than any manifest or Dockerfile; the linter reads no more than this.
MAX_FILE_BYTES = 4 * 1024 * 1024


def read_text(path: str) -> tuple[str, str | None]:
    """A file's text, or a problem saying why it cannot be read as UTF-8 text."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return "", f"cannot be read: {exc.strerror}"
    if len(data) > MAX_FILE_BYTES:
        return "", f"is larger than {MAX_FILE_BYTES:,} bytes; not a gear manifest or Dockerfile"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        return "", (
            f"is not UTF-8 text: byte {exc.start} is 0x{byte:02x} (save the file as UTF-8; "
            "0xe9 and the like are Latin-1)"
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
    problems = []
    dockerfile = None
    upstream: dict[str, DockerfileCommands] = {}
    for image in request.get("upstream", []):
        upstream_text, problem = read_text(image["dockerfile"])
        if problem:
            problems.append(f"{image['dockerfile']}: {problem}")
            continue
        parsed = parse_dockerfile(image["dockerfile"], upstream_text, upstream)
        for name in image["names"]:
            upstream[name] = parsed
    if request.get("dockerfile"):
        dockerfile_text, problem = read_text(request["dockerfile"])
        if problem:
            problems.append(f"{request['dockerfile']}: {problem}")
        else:
            dockerfile = parse_dockerfile(request["dockerfile"], dockerfile_text, upstream)
    text, problem = read_text(request["manifest"])
    if problem:
        problems.append(f"{request['manifest']}: {problem}")
    else:
        problems += check_manifest(
            request["manifest"], text, target, dockerfile, validate_spec=validate_spec
        )
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{request['manifest']}: agrees with {target.address} and the gear spec")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
