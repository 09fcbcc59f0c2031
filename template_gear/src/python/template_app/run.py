"""Entry point of the template gear (the image's /bin/run).

The gear logs its first line before it imports its own code (gear.py) and with it pydantic,
fw-gear and the Flywheel SDK, which take most of a second; so a job's log starts at once.
"""

from __future__ import annotations

from gear_common.job_runner import run_gear, start_gear

if __name__ == "__main__":
    start_gear()
    from template_app.gear import run_job

    run_gear(run_job)
