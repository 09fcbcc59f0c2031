"""Parsing a gear's config values into a typed, validated object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from gear_common.errors import GearConfigError
from gear_common.problems import pydantic_problems

ModelT = TypeVar("ModelT", bound=BaseModel)


class GearConfig(BaseModel):
    """Base for a gear's config model: strict types, unknown keys allowed (Flywheel adds some)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def parse_config(model: type[ModelT], values: Mapping[str, Any], *, source: str) -> ModelT:
    """Validates config `values` against `model`, reporting every problem at once.

    `source` names where the values came from (e.g. the config.json path) in the message.
    """
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = pydantic_problems(
            exc.errors(), lambda path: f'config "{path}"' if path else "config"
        )
        raise GearConfigError(f"{source}: " + "; ".join(problems)) from None
