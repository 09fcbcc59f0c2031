"""Turns the job's config.json into the dicom-to-nifti gear's typed arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from gear_common.config import GearConfig
from gear_common.context import GearContext

DICOM_INPUT = "dicom"


class DicomToNiftiConfig(GearConfig):
    """The gear's config values, as declared in its manifest."""

    filename: str = Field(default="%f_%p_%t_%s", min_length=1)
    compress: bool = True
    bids_sidecar: bool = True
    merge_2d: Literal["auto", "yes", "no"] = "auto"
    debug: bool = False

    @field_validator("filename")
    @classmethod
    def _no_directories(cls, value: str) -> str:
        if "/" in value or "\\" in value:
            raise ValueError("must be a file name pattern without '/' or '\\'")
        return value


@dataclass(frozen=True)
class DicomToNiftiArgs:
    dicom: Path
    config: DicomToNiftiConfig


def parse_args(context: GearContext) -> DicomToNiftiArgs:
    """Reads and validates the config values and the DICOM input."""
    return DicomToNiftiArgs(
        dicom=context.input_file(DICOM_INPUT),
        config=context.parse_config(DicomToNiftiConfig),
    )
