"""The batch spec: which containers a gear runs on, with which inputs, config and label.

A YAML or JSON file (JSON is YAML), for example:

    project: my-group/My Project      # <group id>/<project label>
    gear: {name: dcm2niix, version: 1.4.0}
    select:
      level: session                  # session, subject, acquisition or project
      label: "^ses-"                  # regex on the destination's label
      tags: [ready]                   # every tag must be present
      exclude_tags: [skip]            # none may be present
      acquisition_label: "dwi"        # regex: an acquisition below must match (or be the target)
      file: {type: dicom, name: "*.dcm.zip"}   # a file that must be present
    inputs:
      dicom: {from: acquisition, acquisition_label: "dwi", type: dicom, name: "*.zip"}
      license: {from: project, name: license.txt}
    config: {threads: 2}
    analysis_label: "{gear}_{version}_{date}"
    tags: [vm-small]
    concurrency: 8
    collect: {outputs: ["*.html", "*.csv"]}
"""

from __future__ import annotations

import hashlib
import json
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gear_common.errors import GearInputError
from gear_common.problems import pydantic_problems
from gear_common.yaml_input import load_yaml_documents

LABEL_PLACEHOLDERS = ("gear", "version", "date", "time", "destination")


class Level(str, Enum):
    PROJECT = "project"
    SUBJECT = "subject"
    SESSION = "session"
    ACQUISITION = "acquisition"


class InputSource(str, Enum):
    DESTINATION = "destination"
    ACQUISITION = "acquisition"
    PROJECT = "project"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FileMatch(_Model):
    """A file chosen by its Flywheel type and/or a glob on its name."""

    type: str | None = None
    name: str | None = None


class Selection(_Model):
    level: Level = Level.SESSION
    label: str | None = Field(default=None, description="regex on the destination label")
    tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    acquisition_label: str | None = None
    file: FileMatch | None = None


class InputSpec(FileMatch):
    source: InputSource = Field(default=InputSource.DESTINATION, alias="from")
    acquisition_label: str | None = None


class GearRef(_Model):
    name: str = Field(min_length=1)
    version: str | None = None


class CollectSpec(_Model):
    outputs: tuple[str, ...] = ("*",)


class BatchSpec(_Model):
    project: str = Field(pattern=r"^[^/]+/.+$", description="<group id>/<project label>")
    gear: GearRef
    select: Selection = Selection()
    inputs: dict[str, InputSpec] = {}
    config: dict[str, Any] = {}
    analysis_label: str = "{gear}_{version}_{date}"
    tags: tuple[str, ...] = ()
    concurrency: int = Field(default=4, ge=1, le=32)
    retries: int = Field(default=4, ge=0, le=10)
    retry_backoff_seconds: float = Field(default=1.0, ge=0)
    page_size: int = Field(default=500, ge=1, le=10000)
    collect: CollectSpec = CollectSpec()

    @field_validator("analysis_label")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            value.format(**{name: "x" for name in LABEL_PLACEHOLDERS})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"unknown placeholder {exc} (known: {', '.join(LABEL_PLACEHOLDERS)})"
            ) from None
        return value

    @property
    def group_id(self) -> str:
        return self.project.split("/", 1)[0]

    @property
    def project_label(self) -> str:
        return self.project.split("/", 1)[1]

    def fingerprint(self) -> str:
        """A digest of what the spec asks for, so a state file is not reused for another spec."""
        text = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_batch_spec(document: Any, *, source: str) -> BatchSpec:
    """A validated spec; every problem named with its field, in one error."""
    if not isinstance(document, dict):
        raise GearInputError(f"{source}: expected a mapping, found {type(document).__name__}")
    try:
        return BatchSpec.model_validate(document)
    except ValidationError as exc:
        problems = pydantic_problems(exc.errors(), lambda path: path or "the spec")
        raise GearInputError(f"{source}: " + "; ".join(problems)) from None


def load_batch_spec(path: Path) -> BatchSpec:
    """Reads a batch spec from a YAML or JSON file (one document)."""
    documents = load_yaml_documents(path)
    if len(documents) != 1:
        raise GearInputError(f"{path}: expected one batch spec document, found {len(documents)}")
    return parse_batch_spec(documents[0], source=str(path))
