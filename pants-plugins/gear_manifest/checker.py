"""Checks a gear's manifest.json against its docker_image target, Dockerfile and the gear spec.

Plain Python (standard library, plus fw-gear for Flywheel's manifest schema; with its sibling
modules dockerfile_reader and compatibility), so it runs both inside `pants lint` (one process
in a sandbox for every image linted) and from other tools:

    python pants-plugins/gear_manifest/checker.py REQUEST.json

where REQUEST.json is {"checks": [request, ...]}, a request being {"manifest": path,
"dockerfile": path or null, "target": {...}} with the fields of `ImageTarget`, and optionally
"upstream": [{"dockerfile": path, "names": [...]}], the Dockerfiles of images it is built
FROM, directly or not, each after those it is built FROM (by the names FROM may give them:
target address, image); "code": [path, ...], the files of the gear's code (for which image
ENV variables it uses); "released": {"tag", "version", "manifest": path}, its last release
(for the compatibility gate). It prints one line per problem (and per warning) and exits 1
if there is any problem."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
import shlex
import signal
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python pants-plugins/gear_manifest/checker.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gear_manifest import compatibility, dockerfile_reader

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
    # For each ENV variable, the variables its value was made from (`PATH=$FSLDIR/bin:$PATH`).
    env_references: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # What runs when a container starts: ("ENTRYPOINT" or "CMD", its arguments as written).
    runtime: tuple[tuple[str, str], ...] = ()
    # Whether the final image gets the manifest at /flywheel/v0/manifest.json (a COPY or ADD
    # of its final stage or of the image it is built from); None: not known.
    manifest_copied: bool | None = None


@dataclass
class _Report:
    manifest_path: str
    problems: list[str] = field(default_factory=list)
    # Printed, but lint passes.
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(bounded(f"{self.manifest_path}: warning: {message}"))

    def add(self, message: str) -> None:
        self.problems.append(bounded(f"{self.manifest_path}: {message}"))


# The longest value a message quotes whole; longer ones are cut, saying how much is left out.
MAX_QUOTED = 120
# No message is longer than this (a 400-value enum or a long string is summarised before).
MAX_MESSAGE = 1000
# What one manifest's problems and warnings print at most, in all: the rest is counted.
MAX_OUTPUT = 4096


def _quote(value: Any) -> str:
    """A value as JSON, cut to MAX_QUOTED characters."""
    text = json.dumps(value, default=str)
    if len(text) <= MAX_QUOTED:
        return text
    return f"{text[:MAX_QUOTED]}... ({len(text) - MAX_QUOTED:,} more characters)"


def bounded(message: str) -> str:
    """A message cut to MAX_MESSAGE characters."""
    if len(message) <= MAX_MESSAGE:
        return message
    return f"{message[:MAX_MESSAGE]}... ({len(message) - MAX_MESSAGE:,} more characters)"


def one_of(values: Sequence[Any], value: Any = None, *, shown: int = 5) -> str:
    """`values` in a few words: all of them when few, else how many, some, and the closest
    to `value`."""
    if len(values) <= shown:
        return f"one of {', '.join(_quote(v) for v in values)}"
    summary = f"one of {len(values)} values, e.g. {', '.join(_quote(v) for v in values[:3])}"
    if isinstance(value, str):
        import difflib

        texts = [v for v in values if isinstance(v, str)]
        closest = difflib.get_close_matches(value, texts, n=3, cutoff=0.5)
        if closest:
            summary += f"; closest: {', '.join(_quote(v) for v in closest)}"
    return summary


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

    def constant_hook(name: str) -> _NotJson:
        return _NotJson(name)

    def float_hook(number: str) -> float | _NotJson:
        value = float(number)
        if math.isinf(value):
            return _NotJson(
                f"{number}, beyond the largest number a JSON reader keeps (it reads as infinity)"
            )
        return value

    if not text.strip():
        return None, ["is empty; expected a JSON object (the gear manifest)"]
    if text.startswith("\ufeff"):
        return None, ["starts with a byte-order mark (U+FEFF); save it as UTF-8 without one"]
    try:
        manifest = json.loads(
            text,
            object_pairs_hook=pairs_hook,
            parse_constant=constant_hook,
            parse_float=float_hook,
        )
    except json.JSONDecodeError as exc:
        joiner = " " if exc.msg.endswith(" at") else " at "
        return None, [f"not valid JSON: {exc.msg}{joiner}line {exc.lineno} column {exc.colno}"]
    except RecursionError:
        return None, ["not a gear manifest: its JSON is nested too deeply to read"]
    except ValueError as exc:  # an integer beyond Python's integer-string conversion limit
        if "digits" in str(exc):
            return None, [
                "not a gear manifest: it has an integer of more than 4,300 digits, more than a "
                "JSON reader keeps"
            ]
        return None, [f"not a gear manifest: {bounded(str(exc))}"]
    if not isinstance(manifest, dict):
        return None, [f"expected a JSON object, found {_json_type(manifest)}"]
    depth = nesting_depth(manifest)
    if depth > MAX_DEPTH:
        return None, [
            f"not a gear manifest: its JSON is nested {depth} levels deep, more than the "
            f"{MAX_DEPTH} this linter reads (a manifest needs fewer than 10)"
        ]
    for section in ("inputs", "config"):
        entries = manifest.get(section)
        if isinstance(entries, dict) and len(entries) > MAX_KEYS:
            return None, [
                f"not a gear manifest: {section} has {len(entries):,} keys, more than the "
                f"{MAX_KEYS:,} this linter checks (a gear has tens)"
            ]
    problems = [
        f"key {_quote(key)} appears more than once (JSON keeps only the last value)"
        for key in dict.fromkeys(duplicates)
    ]
    not_json = list(_not_json(manifest, ()))
    problems += [
        f"{_schema_path(where) if where else '(manifest)'} is {constant.name}, which is not "
        "a finite JSON number (Python's json writes NaN and Infinity for floats that are not "
        "finite) and Flywheel refuses it; give a number or null"
        for where, constant in not_json
    ]
    return (None if not_json else manifest), problems


# How deeply a manifest may nest (a real one: under 10); deeper ones are not read further.
MAX_DEPTH = 64
# How many inputs, and how many config values, a manifest may have (a real one: tens); checking
# one with thousands takes fw-gear seconds a key.
MAX_KEYS = 500


def nesting_depth(value: Any) -> int:
    """How many arrays and objects deep a parsed JSON value goes (without recursion)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return deepest


@dataclass(frozen=True)
class _NotJson:
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (and Flywheel) does not."""

    name: str


def _not_json(value: Any, where: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], _NotJson]]:
    if isinstance(value, _NotJson):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _not_json(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _not_json(item, (*where, index))


# --- Dockerfile ------------------------------------------------------------------------------


# $NAME, ${NAME}, ${NAME:-word} and ${NAME:+word}: Docker's forms of a variable.
_REFERENCE = re.compile(r"\$\{(\w+)(?::([-+])([^}]*))?\}|\$(\w+)")


def _expand(value: str, variables: dict[str, str]) -> str:
    """A Dockerfile word with the variables it names that are known replaced as Docker does:
    `${NAME:-word}` is the word when NAME is unset or empty, `${NAME:+word}` the word when
    NAME is set and not empty, else nothing. Unknown ones (the base image's) stay as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        if name not in variables:
            return match.group(0)
        known, form, word = variables[name], match.group(2), match.group(3) or ""
        if form == "-":
            return known or _expand(word, variables)
        if form == "+":
            return _expand(word, variables) if known else ""
        return known

    return _REFERENCE.sub(replace, value)


def _split(text: str, escape: str = "\\") -> list[str]:
    """Shell-style words (`escape` being the Dockerfile's escape character); plain whitespace
    splitting where the quoting is unbalanced."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = escape
    try:
        return list(lexer)
    except ValueError:
        return text.split()


def _words(arguments: str, escape: str = "\\") -> list[str]:
    if arguments.startswith("["):
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError:
            return _split(arguments, escape)
        if isinstance(parsed, list):
            return [str(word) for word in parsed]
    return _split(arguments, escape)


@dataclass
class _Stage:
    destinations: list[str] = field(default_factory=list)
    entrypoint: tuple[str, ...] = ()
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    references: dict[str, tuple[str, ...]] = field(default_factory=dict)
    runtime: dict[str, str] = field(default_factory=dict)
    manifest_copied: bool = False

    def copy(self) -> _Stage:
        return _Stage(
            list(self.destinations),
            self.entrypoint,
            self.workdir,
            dict(self.env),
            dict(self.references),
            dict(self.runtime),
            self.manifest_copied,
        )

    @classmethod
    def of(cls, image: DockerfileCommands) -> _Stage:
        return cls(
            list(image.pex_destinations),
            image.entrypoint,
            image.workdir,
            dict(image.env),
            dict(image.env_references),
            dict(image.runtime),
            bool(image.manifest_copied),
        )


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
        new = _Stage.of(upstream[base])
    if base.lower() in stages:
        new = stages[base.lower()].copy()
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
    text = text.removeprefix("\ufeff")  # BuildKit reads a Dockerfile past a byte-order mark
    variables: dict[str, str] = {}
    stages: dict[str, _Stage] = {}
    stage = _Stage()
    escape = dockerfile_reader.escape_character(text.splitlines())
    for instruction in dockerfile_reader.instructions(text):
        keyword, arguments = instruction.keyword, instruction.arguments
        if keyword == "FROM":
            stage = _from_stage(arguments, variables, stages, upstream or {})
        elif keyword in ("ENV", "ARG"):
            assignments = [a.partition("=") for a in _split(arguments, escape)]
            if keyword == "ENV" and "=" not in arguments and " " in arguments:
                name, value = arguments.split(None, 1)
                assignments = [(name, "=", " ".join(_split(value, escape)))]
            for name, equals, value in assignments:
                if not equals:
                    continue
                expanded = _expand(value, {**variables, **stage.env})
                variables[name] = expanded
                if keyword == "ENV":
                    stage.env[name] = expanded
                    stage.references[name] = tuple(_variable_names(value))
        elif keyword == "WORKDIR":
            stage.workdir = _join(stage.workdir, _expand(arguments, variables))
        elif keyword in ("COPY", "ADD"):
            heredocs = instruction.heredoc_words
            words = [
                w for w in _words(arguments, escape) if not w.startswith("--") and w not in heredocs
            ]
            if len(words) < 2 and not (heredocs and words):
                continue
            *sources, destination = (_expand(word, variables) for word in words)
            if _copies_manifest(stage.workdir, sources, destination, bool(heredocs)):
                stage.manifest_copied = True
            for source in sources:
                if source.endswith(".pex"):
                    target = _join(stage.workdir, destination)
                    if destination.endswith("/"):
                        target = _join(target, source.rsplit("/", 1)[-1])
                    stage.destinations.append(target)
        if keyword in ("ENTRYPOINT", "CMD"):
            stage.runtime[keyword] = arguments
        if keyword == "ENTRYPOINT":
            words = [_expand(word, variables) for word in _words(arguments, escape)]
            if words:
                stage.entrypoint = (_join(stage.workdir, words[0]), *words[1:])
    return DockerfileCommands(
        path,
        tuple(stage.destinations),
        stage.entrypoint,
        tuple(stage.env.items()),
        stage.workdir,
        tuple(stage.references.items()),
        tuple(stage.runtime.items()),
        stage.manifest_copied,
    )


# Where a gear's manifest must be in its image (the gear spec: /flywheel/v0 holds it).
MANIFEST_IN_IMAGE = "/flywheel/v0/manifest.json"


def _copies_manifest(workdir: str, sources: Sequence[str], destination: str, heredoc: bool) -> bool:
    """Whether a COPY or ADD may put the manifest at MANIFEST_IN_IMAGE: to that path, or into
    /flywheel/v0 (or a directory above it) a manifest.json, a directory or a wildcard."""
    target = _join(workdir, destination)
    if target.rstrip("/") == MANIFEST_IN_IMAGE:
        return True
    if heredoc or not MANIFEST_IN_IMAGE.startswith(target.rstrip("/") + "/"):
        return False
    inside = target.rstrip("/") == "/flywheel/v0"
    for source in sources:
        name = source.rstrip("/").rsplit("/", 1)[-1]
        if inside and name == "manifest.json":
            return True
        directory = name in ("", ".", "..") or source.endswith("/") or "." not in name
        if directory or any(c in source for c in "*?["):
            return True  # a directory or a wildcard: it may hold the manifest
    return False


_VARIABLE = re.compile(r"\$\{(\w+)(?::?[-+][^}]*)?\}|\$(\w+)")


def _variable_names(text: str) -> Iterator[str]:
    """The `$NAME` and `${NAME}` in a shell or Dockerfile word."""
    for match in _VARIABLE.finditer(text):
        yield match.group(1) or match.group(2)


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


def _schema_nodes(
    value: Any, where: tuple[Any, ...]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every object under `value` (an input's or config's schema), with where it is."""
    pending = [(value, where)]
    while pending:
        item, path = pending.pop()
        if isinstance(item, dict):
            yield path, item
            pending.extend((child, (*path, key)) for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((child, (*path, index)) for index, child in enumerate(item))


def _pattern_problems(manifest: dict[str, Any]) -> list[str]:
    """Config and input schemas' `pattern`s that are not regular expressions (jsonschema
    would crash on them), at any depth (an array's `items.pattern`), and any `$ref`: a
    manifest's schemas must be whole, and this linter never fetches or follows a reference."""
    problems = []
    for section in ("config", "inputs"):
        for path, node in sorted(
            _schema_nodes(manifest.get(section), (section,)), key=lambda found: str(found[0])
        ):
            if "$ref" in node:
                problems.append(
                    f"{_schema_path(path)}.$ref is {_quote(node['$ref'])}: a manifest's "
                    "schemas must be written out whole (Flywheel validates config against "
                    "the manifest alone), so no reference is followed or fetched"
                )
            pattern = node.get("pattern")
            if pattern is None or path[-1:] == ("properties",):
                continue
            if not isinstance(pattern, str):
                problems.append(
                    f"{_schema_path(path)}.pattern is {_quote(pattern)}; expected a string"
                )
                continue
            try:
                re.compile(pattern)
            except (re.error, RecursionError, OverflowError) as exc:
                problems.append(
                    f"{_schema_path(path)}.pattern is {_quote(pattern)}, not a regular "
                    f"expression: {exc}"
                )
    return problems


# How long all the checks of a manifest's config defaults may take together.
PATTERNS_BUDGET = 3.0
# How long the check of one config default against its schema may take: a pattern RE2 cannot
# run (a back-reference, a look-around) runs on Python's re, where nested quantifiers
# (`(a+)+\1`) backtrack for ever on some strings.
PATTERN_SECONDS = 1.5


@functools.lru_cache(maxsize=256)
def pattern_search(pattern: str) -> Callable[[str], bool]:
    """How a manifest's `pattern` is searched for: with RE2 (google-re2, in the linter's pex),
    in time linear in the text, where RE2 takes the pattern; else with Python's re, which the
    caller bounds with time_limit."""
    try:
        import re2  # pants: no-infer-dep
    except ImportError:
        re2 = None
    if re2 is not None:
        options = re2.Options()
        options.log_errors = False
        try:
            compiled = re2.compile(pattern, options)
        except Exception:  # re2's own error type: Python's re gets the pattern instead.
            compiled = None
        if compiled is not None:
            return lambda text: compiled.search(text) is not None
    fallback = re.compile(pattern)
    return lambda text: fallback.search(text) is not None


def _config_validator(schema: dict[str, Any]) -> Any:
    """A Draft 4 validator of `schema` whose `pattern` keyword uses pattern_search."""
    import jsonschema  # pants: no-infer-dep

    def pattern(validator: Any, wanted: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not pattern_search(wanted)(instance):
            # The value is quoted (cut) by the caller; the pattern is the manifest's own.
            yield jsonschema.ValidationError(f"does not match the pattern {_quote(wanted)}")

    validator_class = jsonschema.validators.extend(jsonschema.Draft4Validator, {"pattern": pattern})
    return validator_class(schema)


class _TooSlowError(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raises _TooSlowError in the block after `seconds` (a regular expression match included: it
    checks for signals). Without a limit outside the main thread, where no alarm can be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _TooSlowError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _spec_message(error: Any, schema: dict[str, Any]) -> str:
    """One jsonschema error of the gear spec, in this linter's words."""
    where = _schema_path(error.absolute_path)
    validator, expected, instance = error.validator, error.validator_value, error.instance
    if validator == "enum":
        return (
            f"{where} is {_quote(instance)}, which the gear spec does not allow; expected "
            f"{one_of(expected, instance)}"
        )
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
    return f"{where}: {_error_text(error)}"


def _error_text(error: Any) -> str:
    """jsonschema's message, with an enum summarised (its message repeats every value)."""
    if error.validator == "enum":
        return f"{_quote(error.instance)} is not {one_of(error.validator_value, error.instance)}"
    return bounded(error.message)


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
    problems = _pattern_problems(manifest)
    if problems:
        return problems
    # Present in the linter's own pex (fw-gear and its dependencies), not in Pants' environment.
    try:
        import jsonschema  # pants: no-infer-dep
        from fw_gear.manifest import Manifest  # pants: no-infer-dep
    except ImportError as exc:
        return [
            f"the gear spec cannot be checked here: {exc.name} is not installed (`pants lint` "
            "runs this checker with fw-gear; standalone, `pip install fw-gear` first)"
        ]

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
        validator = _config_validator(config_schema)
        try:
            with time_limit(PATTERN_SECONDS):
                errors = list(validator.iter_errors(defaults))
        except _TooSlowError:
            # Which default took too long: each alone, under a limit of its own, until the
            # checks' time is spent (a manifest's check never runs past the linter's bound).
            errors = []
            spent = PATTERN_SECONDS
            for key, default in defaults["config"].items():
                if spent >= PATTERNS_BUDGET:
                    problems.append(
                        f"config.{key}.default and the ones after it were not checked: the "
                        f"checks of this manifest's patterns took their {PATTERNS_BUDGET:g} s"
                    )
                    break
                started = time.monotonic()
                try:
                    with time_limit(min(PATTERN_SECONDS, PATTERNS_BUDGET - spent)):
                        list(validator.iter_errors({"config": {key: default}}))
                except _TooSlowError:
                    problems.append(
                        f"config.{key}.default: checking it against config.{key}'s schema took "
                        f"more than {PATTERN_SECONDS:g} s, so it was stopped; its pattern is "
                        "not one RE2 runs in linear time (a back-reference or look-around), and "
                        "with nested quantifiers (e.g. (a+)+\\1) Python's re backtracks without "
                        "end on some values: simplify it"
                    )
                spent += time.monotonic() - started
        for error in errors:
            key = list(error.absolute_path)[1:2]
            where = f"config.{key[0]}.default" if key else "config"
            if error.validator == "enum":
                allowed = one_of(error.validator_value, error.instance)
                problems.append(f"{where} is {_quote(error.instance)}, expected {allowed}")
            else:
                problems.append(f"{where} is {_quote(error.instance)}: {_error_text(error)}")
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
    code: Sequence[str] | None = None,
    released: compatibility.Release | None = None,
    warnings: list[str] | None = None,
) -> list[str]:
    """Every problem with the manifest, each message naming file, field, value and expectation.

    `code` is the text of the gear's code (for the environment check, `used_variables`);
    `released` the gear's last release (for the compatibility gate); `warnings` gets what
    is worth saying but does not fail.
    """
    report = _Report(manifest_path, warnings=warnings if warnings is not None else [])
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

    if isinstance(version, str) and not IMAGE_TAG.match(version):
        report.add(
            f"version is {_quote(version)}, which cannot be an image tag (Flywheel tags the "
            "gear's image with it): use letters, digits, '_', '.' and '-', at most 128, not "
            "starting with '.' or '-', e.g. 1.0.0-beta"
        )
    _check_keys(report, manifest)

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

    docker_image = _get(manifest, "custom.docker-image")
    if docker_image is not None and image is not None and docker_image != image:
        report.add(
            f"custom.docker-image is {_quote(docker_image)} but custom.gear-builder.image is "
            f"{_quote(image)}; fw-gear refuses a manifest where they differ: give one image "
            "(or drop custom.docker-image, the older name)"
        )

    if dockerfile is not None:
        if dockerfile.manifest_copied is False:
            report.add(
                f"{dockerfile.path}'s final image never gets the manifest at "
                f"{MANIFEST_IN_IMAGE} (the gear spec: /flywheel/v0 holds manifest.json); COPY it "
                "there in the last stage (a COPY in an earlier build stage does not count)"
            )
        _check_command(report, manifest, dockerfile)
        used = used_variables(dockerfile, manifest.get("command"), code)
        _check_environment(report, manifest, dockerfile, used)
    _check_programs(report, _get(manifest, "custom.programs"))

    if validate_spec:
        for problem in spec_problems(manifest):
            report.add(problem)
    if released is not None:
        for problem in compatibility.gate(released, manifest):
            report.add(problem)
    return report.problems


# What Docker allows in an image tag.
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# What the gear spec recommends for input and config names.
KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _check_keys(report: _Report, manifest: dict[str, Any]) -> None:
    """Input and config names: an input's name is a directory under /flywheel/v0/input and a
    config name a key of config.json, read by dotted paths. A slash, dot or other character
    outside `^[A-Za-z0-9_-]+$` fails; a space in a config name (which published gears have)
    is a warning, not a failure."""
    for section in ("inputs", "config"):
        names = manifest.get(section)
        for name in names if isinstance(names, dict) else ():
            if KEY.fullmatch(name):
                continue
            spaces_only = KEY.fullmatch(name.replace(" ", "_")) is not None
            if section == "config" and spaces_only:
                report.warn(
                    f"config name {_quote(name)} has a space; the gear spec recommends "
                    "letters, digits, '_' and '-' (^[A-Za-z0-9_-]+$)"
                )
                continue
            odd = sorted({c for c in name if not KEY.fullmatch(c)})
            report.add(
                f"{section} has {_quote(name)}, whose {_characters(odd)} the gear spec does "
                f"not allow in {section[:-1] if section == 'inputs' else 'config'} names: use "
                "letters, digits, '_' and '-' (^[A-Za-z0-9_-]+$)"
            )


def _characters(characters: Sequence[str]) -> str:
    """Characters as a reader can tell them apart: each by its code point and Unicode name
    (a Cyrillic letter can look like a Latin one; a newline or a space cannot be seen)."""
    shown = [
        f"U+{ord(c):04X} {unicodedata.name(c, 'control character').lower()}"
        if not c.isascii() or not c.isprintable() or c == " "
        else _quote(c)
        for c in characters[:8]
    ]
    more = f" and {len(characters) - 8} more" if len(characters) > 8 else ""
    return ", ".join(shown) + more


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
    parts = _REFERENCE.split(value)[:: _REFERENCE.groups + 1]
    return re.compile(".*".join(re.escape(part) for part in parts), re.DOTALL)


# Read at run time by the C library, the shell or Python whatever the gear's code says.
RUNTIME_VARIABLES = frozenset(
    {"PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "SHELL"}
)


def _read_at_run_time(name: str) -> bool:
    return name in RUNTIME_VARIABLES or name.startswith(("LC_", "PYTHON"))


def used_variables(
    dockerfile: DockerfileCommands, command: Any, code: Sequence[str] | None
) -> set[str]:
    """The image's ENV variables something uses when the gear runs: the C library, the shell
    or Python (PATH, LANG, PYTHON*...), the manifest's command, the image's ENTRYPOINT or CMD,
    the gear's code (`code`, the text of its files: a variable named on a line that is not a
    comment is used), and the software homes those run-time paths are made from
    (`PATH=$FSLDIR/bin:$PATH`: FSL's programs read FSLDIR). With no `code`, every variable.
    One set only for the build (`WORKDIR $BASE_DIR`, or `ENV OUT=$BASE_DIR/out`: expanded when
    the image is built) is not used."""
    names = [name for name, _ in dockerfile.env]
    if code is None:
        return set(names)
    runtime = " ".join([str(command or ""), *(text for _, text in dockerfile.runtime)])
    used = {n for n in names if _read_at_run_time(n) or n in set(_variable_names(runtime))}
    if code and names:
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
        for text in code:
            for line in text.splitlines():
                if not line.lstrip().startswith("#"):
                    used.update(pattern.findall(line))
    for name, references in dockerfile.env_references:
        if _read_at_run_time(name):
            used.update(reference for reference in references if reference in names)
    return used


def _check_environment(
    report: _Report, manifest: dict[str, Any], dockerfile: DockerfileCommands, used: set[str]
) -> None:
    """Flywheel runs the gear with the manifest's `environment`, not the image's ENV: every
    variable the image sets that is used at run time (`used_variables`) must be there, and
    every one there must have the value the image gives it."""
    environment = manifest.get("environment")
    if not dockerfile.env:
        return
    if environment is not None and not isinstance(environment, dict):
        return  # The spec check reports the type.
    environment = environment or {}
    for name, value in dockerfile.env:
        shown = f"{name}={value}"
        if name not in environment:
            if name in used:
                report.add(
                    f"environment has no {name}, but the image sets {shown} (ENV in "
                    f"{dockerfile.path} or the image it is built from) and the gear uses it; "
                    f"Flywheel runs the gear with the manifest's environment, so add "
                    f'"{name}": {_quote(value)}'
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
    chained = [word for word in words if word in ("&&", "||", ";", "|")]
    if chained:
        report.warn(
            f"command {_quote(command)} chains programs with {_quote(chained[0])}; Flywheel "
            "runs the command without a shell, so only the first program runs: put the steps "
            "in the gear's code"
        )
    if len(words) > 1 and INTERPRETER.fullmatch(words[0].rsplit("/", 1)[-1]):
        # `python3 -u /flywheel/v0/gear.pex`: the gear spec's own form, with the interpreter's
        # options; `-m module` and `-c code` run no file this linter can compare.
        words = words[1:]
        while words and words[0].startswith("-") and words[0] != "-":
            option = words.pop(0)
            if option in ("-m", "-c"):
                return
            if option in INTERPRETER_OPTIONS_WITH_VALUE and words:
                words.pop(0)
        if not words:
            return
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


# A Python interpreter that a command runs a pex or script with, and its options that take a
# value (`-W ignore`, `-X dev`).
INTERPRETER = re.compile(r"python(\d+(\.\d+)?)?")
INTERPRETER_OPTIONS_WITH_VALUE = ("-W", "-X", "--check-hash-based-pycs")

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
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (data[:2].count(b"\0") == 1):
        return (
            "",
            "is UTF-16 text (every other byte 0, or a UTF-16 byte-order mark); save it as UTF-8",
        )
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        return "", (
            f"is not UTF-8 text: byte {exc.start} is 0x{byte:02x} (save the file as UTF-8; "
            "0xe9 and the like are Latin-1)"
        )


def _read_released(released: dict[str, Any] | None) -> compatibility.Release | None:
    """The last release's manifest, when the gear has one that reads as a JSON object."""
    if not released:
        return None
    text, problem = read_text(released["manifest"])
    manifest, problems = (None, [problem]) if problem else load_manifest(text)
    if manifest is None or problems:
        return None
    return compatibility.Release(released["tag"], released["version"], manifest)


def check_request(
    request: dict[str, Any], *, validate_spec: bool = True
) -> tuple[list[str], list[str]]:
    """(problems, warnings) for one image's request (see the module's docstring)."""
    target_fields = dict(request["target"])
    target_fields["tags"] = tuple(target_fields["tags"])
    target_fields["repositories"] = tuple(target_fields["repositories"])
    target = ImageTarget(**target_fields)
    problems: list[str] = []
    warnings: list[str] = []
    dockerfile = None
    upstream: dict[str, DockerfileCommands] = {}
    try:
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
    except dockerfile_reader.DockerfileError as exc:
        problems.append(f"{request.get('dockerfile')}: {exc}")
    code = None
    if request.get("code") is not None:
        code = [text for path in request["code"] for text in [read_text(path)[0]] if text]
    text, problem = read_text(request["manifest"])
    if problem:
        problems.append(f"{request['manifest']}: {problem}")
        return problems, warnings
    try:
        problems += check_manifest(
            request["manifest"],
            text,
            target,
            dockerfile,
            validate_spec=validate_spec,
            code=code,
            released=_read_released(request.get("released")),
            warnings=warnings,
        )
    except (RecursionError, MemoryError, ValueError, TypeError, KeyError, _TooSlowError) as exc:
        # What the checks above do not foresee still fails lint with a line, not a traceback.
        problems.append(
            bounded(
                f"{request['manifest']}: could not be checked ({type(exc).__name__}: {exc}); "
                "this is the linter's fault as much as the manifest's: please report it"
            )
        )
    return within_output_limit(request["manifest"], problems, warnings)


def within_output_limit(
    manifest_path: str, problems: list[str], warnings: list[str]
) -> tuple[list[str], list[str]]:
    """The problems, then the warnings, that fit in MAX_OUTPUT characters, and a last line
    counting those left out (always a problem when a problem is left out)."""
    kept: tuple[list[str], list[str]] = ([], [])
    used, left_problems, left_warnings = 0, 0, 0
    reserve = 200  # for the line counting what is left out
    for index, lines in enumerate((problems, warnings)):
        for line in lines:
            if used + len(line) + 1 <= MAX_OUTPUT - reserve:
                kept[index].append(line)
                used += len(line) + 1
            elif index == 0:
                left_problems += 1
            else:
                left_warnings += 1
    if left_problems or left_warnings:
        summary = (
            f"{manifest_path}: {left_problems} more problems and {left_warnings} more warnings "
            f"not shown (at most {MAX_OUTPUT:,} characters a manifest): fix those above first"
        )
        (kept[0] if left_problems else kept[1]).append(summary)
    return kept


def main(argv: Sequence[str], *, validate_spec: bool = True) -> int:
    """Checks every request of REQUEST.json ({"checks": [...]}, or one request alone)."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as file:
        loaded = json.load(file)
    failed = False
    for request in loaded.get("checks", [loaded]):
        problems, warnings = check_request(request, validate_spec=validate_spec)
        for line in [*problems, *warnings]:
            print(bounded(line))
        if not problems:
            address = request["target"]["address"]
            print(f"{request['manifest']}: agrees with {address} and the gear spec")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
