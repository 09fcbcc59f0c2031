"""`.metadata.json`: what a gear tells Flywheel about its output files when the job ends.

Flywheel reads `<output>/.metadata.json` after a job and applies it to the files the gear
wrote: file type, modality, classification, info and tags. The document is checked against
the engine metadata schema that fw-gear ships (the one fw-gear's own `Metadata.write` uses)
before anything is written, so a bad value is reported by the gear, with the file and field,
instead of being refused by Flywheel after the job.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict

from gear_common.errors import GearError
from gear_common.problems import jsonschema_problems

METADATA_FILE = ".metadata.json"
# The container types a gear's output files can be attached to.
DESTINATION_TYPES = ("project", "subject", "session", "acquisition", "analysis")


class FileMetadata(BaseModel):
    """What Flywheel should record for one output file (unset fields are left as they are)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str | None = None
    modality: str | None = None
    classification: dict[str, list[str]] | None = None
    info: dict[str, Any] | None = None
    tags: list[str] | None = None


class DestinationMetadata(BaseModel):
    """What Flywheel should record on the destination container itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    info: dict[str, Any] | None = None
    tags: list[str] | None = None


def _engine_schema() -> dict[str, Any]:
    # Imported here (it is slow to import): fw-gear ships the schema as package data.
    import fw_gear

    schema_file = resources.files(fw_gear).joinpath("engine_metadata_schema.json")
    schema: dict[str, Any] = json.loads(schema_file.read_text(encoding="utf-8"))
    return schema


def metadata_document(
    destination_type: str,
    files: Sequence[FileMetadata],
    destination: DestinationMetadata | None = None,
) -> dict[str, Any]:
    """The `.metadata.json` document for output files on a destination of this type, and for
    the destination itself."""
    if destination_type not in DESTINATION_TYPES:
        raise GearError(
            f"output metadata: destination type {destination_type!r} is not one of "
            f"{', '.join(DESTINATION_TYPES)}"
        )
    return {
        destination_type: {
            **(destination.model_dump(exclude_none=True) if destination else {}),
            "files": [file.model_dump(exclude_none=True) for file in files],
        }
    }


def metadata_problems(document: dict[str, Any]) -> list[str]:
    """Where the document breaks fw-gear's engine metadata schema, one line per problem."""
    validator = jsonschema.Draft7Validator(_engine_schema())
    return jsonschema_problems(validator.iter_errors(document), lambda path: path or "(document)")


def write_metadata(
    output_dir: Path,
    destination_type: str,
    files: Sequence[FileMetadata],
    destination: DestinationMetadata | None = None,
) -> Path:
    """Validates, then writes `output_dir/.metadata.json` (all of it or nothing)."""
    document = metadata_document(destination_type, files, destination)
    problems = metadata_problems(document)
    if problems:
        raise GearError(f"{output_dir / METADATA_FILE} would be invalid: " + "; ".join(problems))
    target = output_dir / METADATA_FILE
    partial = target.with_name(f"{METADATA_FILE}.partial")
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, target)
    return target
