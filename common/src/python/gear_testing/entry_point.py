"""Running a gear's run.py as its own process, as the image does, on a gear directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gear_common.job_runner import GEAR_PATH_ENV


def run_entry_point(
    module: str, gear_path: Path, *, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m <module>` against `gear_path` (in `cwd`, default this process's working
    directory); returns exit code and output."""
    env = {
        **os.environ,
        GEAR_PATH_ENV: str(gear_path),
        # Absolute, so that a gear run from another working directory finds the same code.
        "PYTHONPATH": os.pathsep.join(str(Path(entry).resolve()) for entry in sys.path if entry),
        "FLYWHEEL_SDK_TOTAL_RETRIES": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", module],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
