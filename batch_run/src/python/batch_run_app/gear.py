"""The batch-run gear: config.json to parsed arguments to `main.run`."""

from __future__ import annotations

from gear_batch.site import BatchSite
from gear_common.context import GearContext
from gear_common.flywheel_client import client_for

from batch_run_app import main
from batch_run_app.parser import parse_args


def run_batch_run(context: GearContext) -> None:
    args = parse_args(context)
    client = client_for(context, args.config.apikey_path_prefix)
    site = BatchSite(client, args.spec.page_size)
    main.run(site=site, args=args, output_dir=context.output_dir)
