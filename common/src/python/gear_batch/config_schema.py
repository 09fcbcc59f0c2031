"""A gear's config, checked against its manifest before any job is submitted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft7Validator

from gear_common.errors import GearConfigError
from gear_common.problems import jsonschema_problems

# Manifest keys that describe a config option rather than constrain its value.
_DESCRIPTIVE_KEYS = frozenset({"default", "description", "optional", "id"})


def manifest_config_schema(config: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema of config values that a manifest's `config` section describes."""
    properties = {
        name: {k: v for k, v in option.items() if k not in _DESCRIPTIVE_KEYS}
        for name, option in config.items()
    }
    required = [
        name
        for name, option in config.items()
        if "default" not in option and not option.get("optional", False)
    ]
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def gear_config(
    manifest_config: Mapping[str, Any], overrides: Mapping[str, Any], *, gear: str
) -> dict[str, Any]:
    """Manifest defaults updated with `overrides`, validated; every problem in one error."""
    values = {
        name: option["default"] for name, option in manifest_config.items() if "default" in option
    }
    values.update(overrides)
    validator = Draft7Validator(manifest_config_schema(manifest_config))
    problems = jsonschema_problems(
        validator.iter_errors(values), lambda path: f"config.{path}" if path else "config"
    )
    if problems:
        raise GearConfigError(f"config for gear {gear}: " + "; ".join(problems))
    return values
