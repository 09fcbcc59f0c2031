"""Pants plugin: `ruff format` for Python sources and BUILD files."""

from __future__ import annotations

from typing import Any

from ruff_format import rules as ruff_format_rules


def rules() -> list[Any]:
    return ruff_format_rules.rules()
