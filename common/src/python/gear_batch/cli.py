"""`batch-run`: the batch-run actions from a shell, against any site an API key names.

    FW_KEY=... batch-run submit spec.yaml --dry-run
    FW_KEY=... batch-run submit spec.yaml            # state in spec.state.jsonl
    FW_KEY=... batch-run status spec.yaml --watch 30
    FW_KEY=... batch-run cancel spec.yaml
    FW_KEY=... batch-run collect spec.yaml --output results/

The API key is read from $FW_KEY or from the file given with --api-key-file, never from the
command line (where other users could see it), and is never printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import flywheel

from gear_batch import commands
from gear_batch.plan import Mode
from gear_batch.site import BatchSite
from gear_batch.spec import load_batch_spec
from gear_common.errors import GearError
from gear_common.flywheel_client import connect

API_KEY_ENV = "FW_KEY"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batch-run",
        description="Run a Flywheel gear over many containers: submit, status, cancel, collect.",
        epilog=f"The API key comes from ${API_KEY_ENV} or --api-key-file.",
    )
    parser.add_argument("--api-key-file", type=Path, help="a file holding the API key")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("spec", type=Path, help="the batch spec (YAML or JSON)")
        sub.add_argument(
            "--state",
            type=Path,
            help="the run's state file (default: <spec>.state.jsonl beside the spec)",
        )
        return sub

    submit = action("submit", "plan and submit jobs (resumes a run that stopped)")
    submit.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    again = submit.add_mutually_exclusive_group()
    again.add_argument(
        "--rerun-failed", action="store_true", help="also resubmit where the last job failed"
    )
    again.add_argument("--force", action="store_true", help="resubmit even where work was done")
    status = action("status", "print the run's job states")
    status.add_argument(
        "--watch", type=float, default=0.0, metavar="SECONDS", help="poll until all finished"
    )
    cancel = action("cancel", "cancel the run's pending and running jobs")
    cancel.add_argument("--dry-run", action="store_true", help="list what would be cancelled")
    collect = action("collect", "download outputs of the latest complete analyses + a CSV")
    collect.add_argument("--output", type=Path, default=Path("batch-results"), help="directory")
    return parser


def read_api_key(api_key_file: Path | None) -> str:
    if api_key_file is not None:
        try:
            key = api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise GearError(f"--api-key-file {api_key_file}: {exc.strerror}") from None
        if not key:
            raise GearError(f"--api-key-file {api_key_file}: the file is empty")
        return key
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise GearError(f"no API key: set ${API_KEY_ENV} or pass --api-key-file")
    return key


def run(args: argparse.Namespace) -> int:
    spec = load_batch_spec(args.spec)
    state_path = args.state or args.spec.with_name(f"{args.spec.stem}.state.jsonl")
    site = BatchSite(connect(read_api_key(args.api_key_file)), spec.page_size)
    if args.action == "submit":
        mode = (
            Mode.FORCE if args.force else Mode.RERUN_FAILED if args.rerun_failed else Mode.DEFAULT
        )
        commands.submit(site, spec, state_path, mode=mode, dry_run=args.dry_run)
    elif args.action == "status":
        commands.status(site, state_path, watch=args.watch)
    elif args.action == "cancel":
        commands.cancel(site, state_path, dry_run=args.dry_run)
    else:
        commands.collect_outputs(site, spec, args.output)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        return run(args)
    except GearError as exc:
        print(f"batch-run: error: {exc}", file=sys.stderr)
        return 1
    except flywheel.ApiException as exc:
        print(
            f"batch-run: error: the Flywheel API answered {exc.status} {exc.reason}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
