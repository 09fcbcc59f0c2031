"""Lays out a /flywheel/v0-shaped gear directory: config.json, input/<name>/, output/, work/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_DESTINATION = {"type": "analysis", "id": "000000000000000000000000"}


def file_input_entry(
    file: Path,
    seen_at: Path,
    *,
    file_object: Mapping[str, Any] | None = None,
    parent: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The config.json entry Flywheel writes for a file input; the gear sees `file` at `seen_at`.

    `file_object` sets fields of the file record (type, modality, classification, info, tags);
    `parent` is the container the file belongs to (`{"type": "acquisition", "id": "..."}`),
    which Flywheel writes as the input's `hierarchy`.
    """
    entry: dict[str, Any] = {
        "base": "file",
        "location": {"path": str(seen_at), "name": file.name},
        "object": {
            "size": file.stat().st_size,
            "type": None,
            "mimetype": "application/octet-stream",
            "modality": None,
            "classification": {},
            "tags": [],
            "info": {},
            **(file_object or {}),
        },
    }
    if parent is not None:
        entry["hierarchy"] = {"type": parent["type"], "id": parent["id"]}
    return entry


def prepare_gear_dir(
    gear_path: Path,
    *,
    config: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Path] | None = None,
    destination: Mapping[str, Any] | None = None,
    manifest: Path | None = None,
    location_root: Path | None = None,
    api_key: str | None = None,
    input_objects: Mapping[str, Mapping[str, Any]] | None = None,
    input_parents: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Creates the gear directory and returns the path of its config.json.

    Each input file is copied to `input/<name>/`. `location_root` is the path the gear will see
    the directory at (default: `gear_path` itself), e.g. /flywheel/v0 inside an image.
    `api_key` adds an `api-key` input holding it. `input_objects` and `input_parents` give an
    input's file record and parent container (see `file_input_entry`).
    """
    seen_at = location_root or gear_path
    for sub in ("input", "output", "work"):
        (gear_path / sub).mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        shutil.copyfile(manifest, gear_path / "manifest.json")
    input_entries: dict[str, Any] = {}
    for name, source in (inputs or {}).items():
        target_dir = gear_path / "input" / name
        target_dir.mkdir(parents=True, exist_ok=True)
        copied = Path(shutil.copyfile(source, target_dir / source.name))
        input_entries[name] = file_input_entry(
            copied,
            seen_at / "input" / name / source.name,
            file_object=(input_objects or {}).get(name),
            parent=(input_parents or {}).get(name),
        )
    if api_key is not None:
        input_entries["api-key"] = {"base": "api-key", "key": api_key}
    config_json = {
        "config": dict(config or {}),
        "inputs": input_entries,
        "destination": dict(destination or DEFAULT_DESTINATION),
    }
    config_path = gear_path / "config.json"
    config_path.write_text(json.dumps(config_json, indent=2) + "\n", encoding="utf-8")
    return config_path
