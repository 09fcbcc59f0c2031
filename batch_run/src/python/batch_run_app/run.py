"""Entry point of the batch-run gear (the image's /bin/run), and of the `batch-run` command.

With no arguments it runs as a gear (config.json under /flywheel/v0); with arguments it is the
command line of `gear_batch.cli` (e.g. `run submit spec.yaml --dry-run`).
"""

from __future__ import annotations

import sys

from batch_run_app import main
from batch_run_app.parser import parse_args
from gear_batch import cli
from gear_batch.site import BatchSite
from gear_common.context import GearContext
from gear_common.engine import run_gear
from gear_common.flywheel_client import client_for


def run_batch_run(context: GearContext) -> None:
    args = parse_args(context)
    client = client_for(context, args.config.apikey_path_prefix)
    site = BatchSite(client, args.spec.page_size)
    main.run(site=site, args=args, output_dir=context.output_dir)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(cli.main(sys.argv[1:]))
    run_gear(run_batch_run)
