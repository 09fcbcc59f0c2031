"""The test every gear carries: its config model and its manifest agree (see manifest_config)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from gear_common.manifest_config import config_mismatches, manifest_config_of


def assert_config_matches_manifest(model: type[BaseModel], manifest: Path) -> None:
    """Fails listing every key whose type, default, optionality, enum or bounds differ."""
    where = f"{manifest} (model {model.__module__}.{model.__qualname__})"
    problems = config_mismatches(model, manifest_config_of(manifest), where=where)
    assert not problems, "the config model and the manifest disagree:\n" + "\n".join(problems)
