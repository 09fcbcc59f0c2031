"""Entry point of the batch-run gear (the image's /bin/run), and of the `batch-run` command.

With no arguments it runs as a gear (config.json under /flywheel/v0); with arguments it is the
command line of `gear_batch.cli` (e.g. `run submit spec.yaml --dry-run`). As a gear it logs
its first line before it imports its own code (gear.py) and its dependencies.
"""

from __future__ import annotations

import sys

from gear_common.job_runner import run_gear, start_gear

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from gear_batch import cli

        sys.exit(cli.main(sys.argv[1:]))
    start_gear()
    from batch_run_app.gear import run_batch_run

    run_gear(run_batch_run)
