"""Turns the job's config.json into the dicom-headers gear's typed arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gear_common.config import GearConfig
from gear_common.context import GearContext

DICOM_INPUT = "dicom"


class Config(GearConfig):
    """The gear's config values, as declared in its manifest."""

    include_private: bool = False
    debug: bool = False


@dataclass(frozen=True)
class Args:
    dicom: Path
    config: Config


def parse_args(context: GearContext) -> Args:
    """Reads and validates the config values and the DICOM input."""
    return Args(dicom=context.input_file(DICOM_INPUT), config=context.parse_config(Config))
