"""Turns the job's config.json into the batch-run gear's typed arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gear_batch.plan import Mode
from gear_batch.spec import BatchSpec, load_batch_spec
from gear_common.config import GearConfig
from gear_common.context import GearContext
from gear_common.errors import GearConfigError

SPEC_INPUT = "batch_spec"
STATE_INPUT = "state_file"


Action = Literal["submit", "status", "cancel", "collect"]


class BatchRunConfig(GearConfig):
    """The gear's config values, as declared in its manifest."""

    action: Action = "submit"
    dry_run: bool = False
    rerun_failed: bool = False
    force: bool = False
    apikey_path_prefix: str = ""
    debug: bool = False


@dataclass(frozen=True)
class BatchRunArgs:
    spec: BatchSpec
    state_file: Path | None
    config: BatchRunConfig

    @property
    def mode(self) -> Mode:
        if self.config.force:
            return Mode.FORCE
        return Mode.RERUN_FAILED if self.config.rerun_failed else Mode.DEFAULT


def parse_args(context: GearContext) -> BatchRunArgs:
    """Reads and validates the config values, the batch spec and the optional state file."""
    config = context.parse_config(BatchRunConfig)
    if config.force and config.rerun_failed:
        raise GearConfigError(
            f"{context.config_path}: config force and rerun_failed cannot both be true"
        )
    return BatchRunArgs(
        spec=load_batch_spec(context.input_file(SPEC_INPUT)),
        state_file=context.optional_input_file(STATE_INPUT),
        config=config,
    )
