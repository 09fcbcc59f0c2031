"""The config model and the manifest are compared key by key, naming both values."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gear_common.config import GearConfig
from gear_common.manifest_config import config_mismatches


class Model(GearConfig):
    top_words: int = Field(default=10, ge=0, le=1000)
    mode: Literal["Append Tag", "Replace"] = "Append Tag"
    label: str | None = None
    threshold: float
    debug: bool = False


AGREEING: dict[str, dict[str, Any]] = {
    "top_words": {"type": "integer", "default": 10, "minimum": 0, "maximum": 1000},
    "mode": {"type": "string", "enum": ["Replace", "Append Tag"], "default": "Append Tag"},
    "label": {"type": "string", "optional": True},
    "threshold": {"type": "number"},
    "debug": {"type": "boolean", "default": False},
}


def mismatches(**changes: dict[str, Any] | None) -> list[str]:
    merged: dict[str, dict[str, Any] | None] = {**AGREEING, **changes}
    manifest = {key: spec for key, spec in merged.items() if spec is not None}
    return config_mismatches(Model, manifest, where="manifest.json")


def test_a_model_that_says_what_the_manifest_says_agrees() -> None:
    assert mismatches() == []


def test_defaults_types_and_bounds_are_compared_naming_both_values() -> None:
    assert mismatches(
        top_words={"type": "integer", "default": 11, "minimum": 1, "maximum": 1000}
    ) == [
        'manifest.json: config "top_words" default is 11 in the manifest but 10 in the model',
        'manifest.json: config "top_words" minimum is 1 in the manifest but 0 in the model',
    ]
    assert mismatches(debug={"type": "integer", "default": 0}) == [
        'manifest.json: config "debug" type is "integer" in the manifest but "boolean" in the '
        "model",
        'manifest.json: config "debug" default is 0 in the manifest but false in the model',
    ]


def test_enums_keep_their_exact_values() -> None:
    assert mismatches(mode={"type": "string", "enum": ["append tag", "Replace"]}) == [
        'manifest.json: config "mode" default is none in the manifest but "Append Tag" in the '
        "model",
        'manifest.json: config "mode" is required in the manifest but not required in the ' "model",
        'manifest.json: config "mode" enum is ["Replace", "append tag"] in the manifest but '
        '["Append Tag", "Replace"] in the model',
    ]


def test_optional_and_required_must_agree() -> None:
    assert mismatches(threshold={"type": "number", "optional": True}) == [
        'manifest.json: config "threshold" is optional in the manifest, so the gear may get no '
        "value, but the model does not accept None (declare it `X | None = None`)",
        'manifest.json: config "threshold" is not required in the manifest but required in '
        "the model",
    ]
    assert mismatches(label={"type": "string"}) == [
        'manifest.json: config "label" default is none in the manifest but null in the model',
        'manifest.json: config "label" is required in the manifest but not required in the '
        "model",
    ]


def test_keys_on_one_side_only_are_named() -> None:
    assert mismatches(debug=None, extra={"type": "string", "default": ""}) == [
        'manifest.json: config "extra" is in the manifest but not in the model',
        'manifest.json: config "debug" is in the model but not in the manifest',
    ]


class WholeOrNot(GearConfig):
    scale: int | float = Field(default=6, gt=0, le=100)
    offset: int | float | None = None


def test_a_number_may_be_int_or_float_in_the_model_bounds_and_all() -> None:
    spec: dict[str, dict[str, Any]] = {
        "scale": {"type": "number", "default": 6, "exclusiveMinimum": 0, "maximum": 100},
        "offset": {"type": "number", "optional": True},
    }
    assert config_mismatches(WholeOrNot, spec, where="manifest.json") == []
    narrower = {**spec, "scale": {**spec["scale"], "maximum": 10}}
    assert config_mismatches(WholeOrNot, narrower, where="manifest.json") == [
        'manifest.json: config "scale" maximum is 10 in the manifest but 100 in the model'
    ]
