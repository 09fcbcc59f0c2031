"""Pants plugin: `ruff format` for Python sources (fmt/lint) and BUILD files (update-build-files)."""

from ruff_format import rules as ruff_format_rules


def rules():  # type: ignore[no-untyped-def]
    return ruff_format_rules.rules()
