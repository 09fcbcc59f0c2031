"""Typed models of a study file: the input of the project_management gear.

A study file holds one or more YAML documents, each a study:

    study: ADRC Program          # label
    study-id: adrc               # lower-case id, used in names
    study-type: primary          # primary or affiliated
    centers:
      - center-id: alpha         # Flywheel group id
        label: Alpha ADRC        # optional; defaults to the id
        active: true             # optional, default true
        new: false               # optional, default false
    datatypes: [form, dicom]
    published: false
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gear_common.errors import GearInputError
from gear_common.problems import pydantic_problems, summarize

# Flywheel group ids: lower-case letters, digits, - and _ (2 to 64 characters).
GROUP_ID_PATTERN = r"^[0-9a-z][0-9a-z._-]{1,63}$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


class StudyType(str, Enum):
    PRIMARY = "primary"
    AFFILIATED = "affiliated"


class Center(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    center_id: str = Field(alias="center-id", pattern=GROUP_ID_PATTERN)
    label: str | None = None
    active: bool = True
    new: bool = False

    @property
    def group_label(self) -> str:
        return self.label or self.center_id


class Study(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    label: str = Field(alias="study", min_length=1)
    study_id: str = Field(alias="study-id", pattern=NAME_PATTERN)
    study_type: StudyType = Field(alias="study-type", default=StudyType.PRIMARY)
    centers: list[Center] = Field(min_length=1)
    datatypes: list[str] = Field(min_length=1)
    published: bool = False

    @model_validator(mode="after")
    def _unique(self) -> Study:
        ids = [center.center_id for center in self.centers]
        duplicates = sorted({center_id for center_id in ids if ids.count(center_id) > 1})
        if duplicates:
            raise ValueError(f"centers listed more than once: {', '.join(duplicates)}")
        for datatype in self.datatypes:
            if not datatype or not all(c.isalnum() or c == "-" for c in datatype):
                raise ValueError(f"datatype {datatype!r} must be letters, digits and '-'")
        return self


def _in_document(number: int) -> Callable[[str], str]:
    """Names a field of the `number`th document: `document 2: centers[0].name`."""

    def label(path: str) -> str:
        return f"document {number}: {path}" if path else f"document {number}"

    return label


def parse_studies(documents: Sequence[Any], *, source: Path) -> list[Study]:
    """Validates every document; raises one error listing every problem in every document."""
    studies: list[Study] = []
    problems: list[str] = []
    for number, document in enumerate(documents, start=1):
        try:
            studies.append(Study.model_validate(document))
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc.errors(), _in_document(number), limit=None))
    if not documents:
        problems.append("no study documents")
    ids = [study.study_id for study in studies]
    for study_id in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"study-id {study_id!r} appears in more than one document")
    if problems:
        listing = "\n  ".join(summarize(problems))
        raise GearInputError(f"{source}: {len(problems)} problem(s):\n  {listing}")
    return studies
