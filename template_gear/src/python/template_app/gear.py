"""The template gear: config.json to parsed arguments to `main.run`."""

from __future__ import annotations

from gear_common.context import GearContext

from template_app import main
from template_app.parser import parse_args


def run_job(context: GearContext) -> None:
    args = parse_args(context)
    main.run(
        text_file=args.text_file,
        top_words=args.config.top_words,
        case_sensitive=args.config.case_sensitive,
        output_dir=context.output_dir,
    )
