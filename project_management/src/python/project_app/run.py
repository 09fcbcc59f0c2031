"""Entry point of the project management gear (the image's /bin/run).

The gear logs its first line before it imports its own code (gear.py) and its dependencies.
"""

from __future__ import annotations

from gear_common.job_runner import run_gear, start_gear

if __name__ == "__main__":
    start_gear()
    from project_app.gear import run_project_management

    run_gear(run_project_management)
