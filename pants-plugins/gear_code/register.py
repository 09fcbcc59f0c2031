"""Pants plugin: `gear_code`, a gear's code and `common/`, compiled, for its image's last layer."""

from __future__ import annotations

from typing import Any

from gear_code import rules as gear_code_rules
from gear_code.rules import GearCodeTarget


def target_types() -> list[type]:
    return [GearCodeTarget]


def rules() -> list[Any]:
    return gear_code_rules.rules()
