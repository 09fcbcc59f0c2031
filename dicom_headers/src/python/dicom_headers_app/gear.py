"""The dicom-headers gear: config.json to parsed arguments to `main.run`."""

from __future__ import annotations

from gear_common.context import GearContext

from dicom_headers_app import main
from dicom_headers_app.parser import parse_args


def run_job(context: GearContext) -> None:
    args = parse_args(context)
    main.run(
        dicom=args.dicom,
        include_private=args.config.include_private,
        output_dir=context.output_dir,
    )
