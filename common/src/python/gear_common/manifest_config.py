"""Whether a gear's config model and its manifest's `config` section say the same.

The manifest is what Flywheel shows and fills in; the pydantic model is what the gear parses
with. Each key's type, default, optionality, enum and bounds are compared, by the JSON schema
pydantic derives from the model (`Field(default=10, ge=0, le=1000)` is `"default": 10,
"minimum": 0, "maximum": 1000`, as in the manifest). Every gear's tests call
`gear_testing.config_contract.assert_config_matches_manifest`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

# Manifest keys compared with the model's JSON schema, besides type, default and optional.
CONSTRAINTS = (
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
)
_MISSING = object()
# A field typed `int | float` is the manifest's `number`; pydantic leaves the bounds of such a
# union under its own names, which are these JSON schema keywords.
_UNION_BOUNDS = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusiveMinimum",
    "lt": "exclusiveMaximum",
}


def _model_properties(model: type[BaseModel]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Each field's schema (references and `Optional` resolved) and the required fields."""
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.get("$defs", {})
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        resolved = dict(prop)
        variants = [
            definitions[v["$ref"].rsplit("/", 1)[1]] if "$ref" in v else v
            for v in prop.get("anyOf", [prop])
        ]
        nullable = any(variant.get("type") == "null" for variant in variants)
        concrete = [variant for variant in variants if variant.get("type") != "null"]
        if len(concrete) == 1:
            resolved.update({k: v for k, v in concrete[0].items() if k != "title"})
        elif sorted(variant.get("type") for variant in concrete) == ["integer", "number"]:
            resolved["type"] = "number"
            for bound, keyword in _UNION_BOUNDS.items():
                if bound in resolved:
                    resolved[keyword] = resolved.pop(bound)
        if "$ref" in prop:
            resolved.update(definitions[prop["$ref"].rsplit("/", 1)[1]])
        resolved["nullable"] = nullable
        properties[name] = resolved
    return properties, set(schema.get("required", []))


def _type_of(prop: Mapping[str, Any]) -> Any:
    if "type" in prop:
        return prop["type"]
    if "enum" in prop:
        kinds = {type(value) for value in prop["enum"]}
        return "string" if kinds == {str} else _MISSING
    return _MISSING


def _shown(value: Any) -> str:
    return "none" if value is _MISSING else json.dumps(value)


def config_mismatches(
    model: type[BaseModel], manifest_config: Mapping[str, Mapping[str, Any]], *, where: str
) -> list[str]:
    """Every difference between the model and the manifest's config, one line each.

    `where` names the manifest file and the model, e.g. `manifest.json (model Config)`.
    """
    properties, required = _model_properties(model)
    problems = []
    for key, spec in manifest_config.items():
        prop = properties.get(key)
        if prop is None:
            problems.append(f'{where}: config "{key}" is in the manifest but not in the model')
            continue
        if spec.get("type") != _type_of(prop):
            problems.append(
                f'{where}: config "{key}" type is {_shown(spec.get("type", _MISSING))} in the '
                f"manifest but {_shown(_type_of(prop))} in the model"
            )
        default = spec.get("default", _MISSING)
        model_default = prop.get("default", _MISSING)
        if spec.get("optional") and default is _MISSING and model_default is None:
            model_default = _MISSING  # optional with no default: None in the model
        if default != model_default or isinstance(default, bool) != isinstance(model_default, bool):
            problems.append(
                f'{where}: config "{key}" default is {_shown(default)} in the manifest but '
                f"{_shown(model_default)} in the model"
            )
        optional = bool(spec.get("optional", False))
        if optional and not prop["nullable"]:
            problems.append(
                f'{where}: config "{key}" is optional in the manifest, so the gear may get no '
                "value, but the model does not accept None (declare it `X | None = None`)"
            )
        manifest_required = default is _MISSING and not optional
        if manifest_required != (key in required):
            says = "required" if manifest_required else "not required"
            model_says = "required" if key in required else "not required"
            problems.append(
                f'{where}: config "{key}" is {says} in the manifest but {model_says} in the model'
            )
        for constraint in CONSTRAINTS:
            ours, theirs = spec.get(constraint, _MISSING), prop.get(constraint, _MISSING)
            if constraint == "enum" and ours is not _MISSING and theirs is not _MISSING:
                ours, theirs = sorted(map(str, ours)), sorted(map(str, theirs))
            if ours != theirs:
                problems.append(
                    f'{where}: config "{key}" {constraint} is {_shown(ours)} in the manifest '
                    f"but {_shown(theirs)} in the model"
                )
    for key in properties:
        if key not in manifest_config:
            problems.append(f'{where}: config "{key}" is in the model but not in the manifest')
    return problems


def manifest_config_of(manifest_path: Path) -> dict[str, Any]:
    """The `config` section of a manifest file."""
    config: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8")).get("config", {})
    return config
