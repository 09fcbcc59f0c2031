"""The dicom-to-nifti gear: config.json to parsed arguments to `main.run`."""

from __future__ import annotations

from gear_common.context import GearContext

from dicom_to_nifti_app import main
from dicom_to_nifti_app.parser import parse_args


def run_dicom_to_nifti(context: GearContext) -> None:
    args = parse_args(context)
    converted = main.run(
        dicom=args.dicom,
        options=main.ConversionOptions(
            filename=args.config.filename,
            compress=args.config.compress,
            bids_sidecar=args.config.bids_sidecar,
            merge_2d=args.config.merge_2d,
        ),
        work_dir=context.work_dir,
        output_dir=context.output_dir,
    )
    context.write_output_metadata(main.output_metadata(converted))
