"""A new gear's code, tests and docs from an existing gear's manifest (`new-gear --from-manifest`).

The manifest's inputs and config are kept. The config model is generated from the `config`
section (types, defaults, enums, bounds, optional), so it agrees with the manifest by
construction (and every gear's config contract test keeps it so). The gear's work is a stub
that logs what it got: `TODO(new-gear)` marks what to write, and `bin/release-gear` refuses a
gear that still has such a mark.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gear_common.errors import GearInputError
from gear_common.input_files import load_json_input

# What still needs the gear author; bin/release-gear refuses a gear that has it.
TODO_MARK = "TODO(new-gear)"
# A `number` may be whole or not: `int | float` keeps what config.json holds (6 stays 6, as the
# gear's code had it from the manifest; 6.5 is 6.5), where `float` would make 6 into 6.0.
_PYTHON_TYPES = {"string": "str", "integer": "int", "number": "int | float", "boolean": "bool"}
# Manifest bounds and the pydantic Field arguments that give the same JSON schema.
_BOUNDS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_length",
    "maxItems": "max_length",
    "pattern": "pattern",
}


class ManifestError(ValueError):
    """The source manifest cannot be ported as it is (the message says why)."""


def read_source_manifest(path: Path) -> dict[str, Any]:
    """The manifest to port: a JSON object whose `inputs` and `config` are objects, each config
    type one the model can take, and each required value one the tests can give."""
    try:
        manifest = load_json_input(path)
    except GearInputError as exc:
        raise ManifestError(str(exc)) from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: expected a gear manifest (a JSON object)")
    problems = [
        f"{path}: {section} is {type(manifest.get(section)).__name__}, expected an object"
        for section in ("inputs", "config")
        if not isinstance(manifest.get(section, {}), dict)
    ]
    for key, spec in manifest.get("config", {}).items() if not problems else ():
        if not isinstance(spec, dict) or _type_of(spec) is None:
            kind = spec.get("type") if isinstance(spec, dict) else spec
            problems.append(
                f"{path}: config {key!r} has type {kind!r}, expected one of "
                f"{', '.join([*_PYTHON_TYPES, 'array'])}"
            )
    if problems:
        raise ManifestError("\n  ".join(problems))
    sample_config(manifest)  # a required value the tests could not give is refused now
    return manifest


def _type_of(spec: Mapping[str, Any]) -> str | None:
    kind = spec.get("type")
    if kind in _PYTHON_TYPES:
        python = _PYTHON_TYPES[kind]
    elif kind == "array":
        items = spec.get("items", {})
        item_kind = items.get("type") if isinstance(items, dict) else None
        item_type = _PYTHON_TYPES.get(item_kind) if isinstance(item_kind, str) else None
        python = f"list[{item_type or 'Any'}]"
    else:
        return None
    if "enum" in spec and kind != "array":
        python = f"Literal[{', '.join(repr(value) for value in spec['enum'])}]"
    return python


def _field_name(key: str) -> tuple[str, bool]:
    """A Python name for a config key, and whether it needs the key as an alias."""
    name = re.sub(r"\W", "_", key)
    if not name or name[0].isdigit() or keyword.iskeyword(name):
        name = f"value_{name}"
    return name, name != key


def _constant(input_name: str) -> str:
    """The constant naming a file input: `dwi` -> `DWI_INPUT`, `dcm2niix_input` -> itself."""
    name = _field_name(input_name)[0].upper()
    return name if name.endswith("_INPUT") else f"{name}_INPUT"


def _default(spec: Mapping[str, Any]) -> Any:
    """The manifest's default, as it is (an integer-valued number default stays an int)."""
    return spec["default"]


def config_field(key: str, spec: Mapping[str, Any]) -> str:
    """One line of the config model: `name: type = default` or `= Field(...)`."""
    name, aliased = _field_name(key)
    python = _type_of(spec) or "Any"
    arguments = []
    if "default" in spec:
        arguments.append(f"default={_default(spec)!r}")
    elif spec.get("optional"):
        python = f"{python} | None"
        arguments.append("default=None")
    if aliased:
        arguments.append(f"alias={key!r}")
    for manifest_key, argument in _BOUNDS.items():
        if manifest_key in spec:
            arguments.append(f"{argument}={spec[manifest_key]!r}")
    if not arguments:
        return f"    {name}: {python}"
    if arguments == [arguments[0]] and arguments[0].startswith("default="):
        return f"    {name}: {python} = {arguments[0].removeprefix('default=')}"
    return f"    {name}: {python} = Field({', '.join(arguments)})"


def file_inputs(manifest: Mapping[str, Any]) -> dict[str, bool]:
    """The manifest's file inputs, each with whether it is optional."""
    return {
        name: bool(spec.get("optional"))
        for name, spec in manifest.get("inputs", {}).items()
        if isinstance(spec, dict) and spec.get("base") == "file"
    }


def sample_config(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Values for the config keys that have no default and are not optional (for the tests)."""
    values: dict[str, Any] = {}
    for key, spec in manifest.get("config", {}).items():
        if "default" in spec or spec.get("optional"):
            continue
        values[key] = _sample(key, spec)
    return values


def _sample(key: str, spec: Mapping[str, Any]) -> Any:
    if "enum" in spec:
        return spec["enum"][0]
    kind = spec.get("type")
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        low = spec.get("minimum", spec.get("exclusiveMinimum", 0))
        value = max(0, low + (1 if "exclusiveMinimum" in spec else 0))
        return float(value) if kind == "number" else int(value)
    if kind == "array":
        return []
    text = "x" * max(1, int(spec.get("minLength", 1)))
    pattern = spec.get("pattern")
    for candidate in (text, "a", "A", "0", "a1", "a-1"):
        if not pattern or re.search(pattern, candidate):
            return candidate
    raise ManifestError(
        f"config {key!r} is required and must match {pattern!r}: give it a default in the "
        "manifest, or port the gear without --from-manifest"
    )


def parser_source(app: str, manifest: Mapping[str, Any]) -> str:
    fields = [config_field(key, spec) for key, spec in manifest.get("config", {}).items()]
    inputs = file_inputs(manifest)
    constants = [f"{_constant(n)} = {n!r}" for n in inputs]
    arg_fields = [
        f"    {_field_name(n)[0]}: Path | None" if optional else f"    {_field_name(n)[0]}: Path"
        for n, optional in inputs.items()
    ]
    readers = [
        f"        {_field_name(n)[0]}=context."
        f"{'optional_input_file' if optional else 'input_file'}({_constant(n)}),"
        for n, optional in inputs.items()
    ]
    typing_names = sorted(
        {"Any" for line in fields if "Any" in line}
        | {"Literal" for line in fields if "Literal[" in line}
    )
    return "\n".join(
        [
            '"""Turns the job\'s config.json into the gear\'s typed arguments.',
            "",
            "The config model was generated from the manifest's `config` section by",
            "`bin/new-gear --from-manifest`; the config contract test keeps the two in agreement.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "from dataclasses import dataclass",
            # Path types the file inputs' fields: a gear with none (an api-key-only gear) has none.
            *(["from pathlib import Path"] if inputs else []),
            *([f"from typing import {', '.join(typing_names)}"] if typing_names else []),
            "",
            *(["from pydantic import Field", ""] if any("Field(" in f for f in fields) else []),
            "from gear_common.config import GearConfig",
            "from gear_common.context import GearContext",
            "",
            *constants,
            *([""] if constants else []),
            "",
            "class Config(GearConfig):",
            '    """The gear\'s config values, as declared in its manifest."""',
            "",
            *(fields or ["    pass"]),
            "",
            "",
            "@dataclass(frozen=True)",
            "class Args:",
            "    config: Config",
            *arg_fields,
            "",
            "",
            "def parse_args(context: GearContext) -> Args:",
            '    """Reads and validates the config values and the file inputs."""',
            "    return Args(",
            "        config=context.parse_config(Config),",
            *readers,
            "    )",
            "",
        ]
    )


def has_api_key(manifest: Mapping[str, Any]) -> bool:
    """Whether the manifest has an api-key input (then the gear gets a Flywheel client)."""
    return any(
        isinstance(spec, dict) and spec.get("base") == "api-key"
        for spec in manifest.get("inputs", {}).values()
    )


def main_source(app: str, *, client: bool = False) -> str:
    client_import = "\nimport flywheel\n" if client else ""
    client_parameter = ", client: flywheel.Client" if client else ""
    client_doc = "\n\n    `client` acts on the site with the job's API key.\n    " if client else ""
    return f'''"""The work of the gear."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
{client_import}
from {app}.parser import Args

log = logging.getLogger(__name__)


def run(args: Args, output_dir: Path{client_parameter}) -> None:
    """{TODO_MARK}: the gear's work; for now it logs what it was given.{client_doc}"""
    for name, value in asdict(args).items():
        log.info("%s: %s", name, value)
    log.info("{TODO_MARK}: %s does nothing yet", __name__)
'''


def gear_source(app: str, *, client: bool = False) -> str:
    if not client:
        imports, call = "", "main.run(parse_args(context), context.output_dir)"
    else:
        imports = "from gear_common.flywheel_client import client_for\n"
        call = (
            "args = parse_args(context)\n"
            "    # The client of the job's api-key input (see gear_common.flywheel_client).\n"
            "    main.run(args, context.output_dir, client_for(context))"
        )
    return f'''"""The gear: config.json to parsed arguments to `main.run`."""

from __future__ import annotations

from gear_common.context import GearContext
{imports}
from {app} import main
from {app}.parser import parse_args


def run_job(context: GearContext) -> None:
    {call}
'''


def test_parser_source(app: str, directory: str, config: dict[str, Any]) -> str:
    return f"""from __future__ import annotations

from pathlib import Path

from gear_common.config import parse_config
from gear_testing.config_contract import assert_config_matches_manifest

from {app}.parser import Config

MANIFEST = Path("{directory}/src/docker/manifest.json")
# Values for the config keys the manifest requires (no default, not optional).
REQUIRED: dict[str, object] = {config!r}


def test_the_config_model_says_what_the_manifest_says() -> None:
    assert_config_matches_manifest(Config, MANIFEST)


def test_the_manifest_defaults_and_required_values_parse() -> None:
    assert isinstance(parse_config(Config, REQUIRED, source="config.json"), Config)
"""


def test_run_source(
    app: str, inputs: dict[str, bool], config: dict[str, Any], *, client: bool = False
) -> str:
    required = [name for name, optional in inputs.items() if not optional]
    if client:
        site_import = "\nfrom fake_flywheel.server import FakeFlywheel"
        run = (
            "    # The gear connects with the job's API key: a fake site on 127.0.0.1.\n"
            "    with FakeFlywheel() as site:\n"
            "        prepare_gear_dir(gear, config=REQUIRED_CONFIG, inputs=inputs, "
            "api_key=site.api_key)\n"
            "        result = run_entry_point(entry_point.__name__, gear)\n"
        )
        connected = '\n    assert "Connected to Flywheel as" in result.stdout + result.stderr'
    else:
        site_import = ""
        run = (
            "    prepare_gear_dir(gear, config=REQUIRED_CONFIG, inputs=inputs)\n\n"
            "    result = run_entry_point(entry_point.__name__, gear)\n"
        )
        connected = ""
    return f'''"""End-to-end: the gear's run.py in its own process, with its required inputs."""

from __future__ import annotations

from pathlib import Path
{site_import}
from gear_common.gear_dir import prepare_gear_dir
from gear_testing.entry_point import run_entry_point

from {app} import run as entry_point

REQUIRED_INPUTS: list[str] = {required!r}
REQUIRED_CONFIG: dict[str, object] = {config!r}


def test_runs_with_its_required_inputs_and_config(tmp_path: Path) -> None:
    inputs: dict[str, Path] = {{}}
    for name in REQUIRED_INPUTS:
        inputs[name] = tmp_path / f"{{name}}.dat"
        inputs[name].write_text("placeholder\\n")
    gear = tmp_path / "v0"
{run}
    assert result.returncode == 0, result.stdout + result.stderr
    assert "{TODO_MARK}" in result.stdout + result.stderr{connected}
'''


def smoke_case(
    inputs: dict[str, bool], config: dict[str, Any], *, client: bool = False
) -> dict[str, bytes]:
    """A smoke case (case.json and its input files) that runs the gear as generated; a gear
    with an api-key input is given a fake Flywheel API to connect to."""
    required = [name for name, optional in inputs.items() if not optional]
    case: dict[str, Any] = {
        "description": f"{TODO_MARK}: the gear runs with placeholder inputs; use real ones.",
        "config": config,
        "inputs": {name: f"{name}.dat" for name in required},
        "exit_code": 0,
        "log_contains": [f"{TODO_MARK}"],
    }
    if client:
        case["flywheel"] = {"expect_mutating_requests": 0}
        case["log_contains"].append("Connected to Flywheel as")
    files = {"case.json": (json.dumps(case, indent=2) + "\n").encode()}
    for name in required:
        files[f"{name}.dat"] = b"placeholder\n"
    return files


def docs_readme(
    name: str, manifest: Mapping[str, Any], image: str, how: str = "--from-manifest"
) -> str:
    """The gear's docs page, saying how it was ported (`how`: bin/new-gear's option)."""
    inputs = manifest.get("inputs", {})
    config = manifest.get("config", {})
    lines = [
        f"# {name}",
        "",
        str(manifest.get("description") or ""),
        "",
        f"> {TODO_MARK}: ported with `bin/new-gear {how}`; describe what the gear does,",
        "> its outputs and its errors here, and write its work in `main.py`.",
        "",
        f"Image: `{image}`",
        "",
        "## Inputs",
        "",
        "| name | base | required | description |",
        "|---|---|---|---|",
        *(
            f"| `{key}` | {spec.get('base')} | {'no' if spec.get('optional') else 'yes'} | "
            f"{spec.get('description', '')} |"
            for key, spec in inputs.items()
        ),
        "",
        "## Config",
        "",
        "| name | type | default | description |",
        "|---|---|---|---|",
        *(
            f"| `{key}` | {spec.get('type')} | "
            f"{json.dumps(spec['default']) if 'default' in spec else '(none)'} | "
            f"{spec.get('description', '')} |"
            for key, spec in config.items()
        ),
        "",
    ]
    return "\n".join(lines)
