"""The batch-run gear's work: one batch action, with the state file kept in the output."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from gear_batch import commands
from gear_batch.site import BatchSite
from gear_common.errors import GearInputError

from batch_run_app.parser import BatchRunArgs

log = logging.getLogger(__name__)

STATE_FILE_NAME = "batch-state.jsonl"


def run(*, site: BatchSite, args: BatchRunArgs, output_dir: Path) -> None:
    """Runs the configured action; the (continued) state file is written to `output_dir`."""
    state_path = output_dir / STATE_FILE_NAME
    if args.state_file is not None:
        shutil.copyfile(args.state_file, state_path)
    action = args.config.action
    if action in ("status", "cancel") and args.state_file is None:
        raise GearInputError(f"action {action} needs the state_file input of an earlier run")
    if action == "submit":
        commands.submit(site, args.spec, state_path, mode=args.mode, dry_run=args.config.dry_run)
    elif action == "status":
        commands.status(site, state_path)
    elif action == "cancel":
        commands.cancel(site, state_path, dry_run=args.config.dry_run)
    else:
        commands.collect_outputs(site, args.spec, output_dir)
