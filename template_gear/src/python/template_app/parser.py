"""Turns the job's config.json into the template gear's typed arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from gear_common.config import GearConfig
from gear_common.context import GearContext

TEXT_FILE_INPUT = "text_file"


class Config(GearConfig):
    """The gear's config values, as declared in its manifest."""

    top_words: int = Field(default=10, ge=0, le=1000)
    case_sensitive: bool = False
    debug: bool = False


@dataclass(frozen=True)
class Args:
    text_file: Path
    config: Config


def parse_args(context: GearContext) -> Args:
    """Reads and validates the config values and the text file input."""
    return Args(
        text_file=context.input_file(TEXT_FILE_INPUT),
        config=context.parse_config(Config),
    )
