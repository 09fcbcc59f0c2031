"""The project management gear: config.json to parsed arguments to `main.run`."""

from __future__ import annotations

from gear_common.context import GearContext
from gear_common.flywheel_adaptor import FlywheelProxy
from gear_common.flywheel_client import client_for

from project_app import main
from project_app.parser import parse_args


def run_project_management(context: GearContext) -> None:
    args = parse_args(context)
    client = client_for(context, args.config.apikey_path_prefix)
    proxy = FlywheelProxy(client, dry_run=args.config.dry_run)
    main.run(
        proxy=proxy,
        studies=args.studies,
        admin_group=args.config.admin_group,
        new_only=args.config.new_only,
    )
