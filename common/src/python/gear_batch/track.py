"""Following a run: job states with a summary table, and cancelling what has not finished."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TextIO

from gear_batch.site import OPEN_STATES, BatchSite, Job
from gear_batch.state import StateFile

log = logging.getLogger(__name__)

STATES = ("pending", "running", "complete", "failed", "cancelled")
FINISHED_STATES = frozenset({"complete", "failed", "cancelled"})


@dataclass(frozen=True)
class RunStatus:
    jobs: tuple[Job, ...]
    not_submitted: int

    @property
    def counts(self) -> Counter[str]:
        return Counter(job.state for job in self.jobs)

    @property
    def finished(self) -> bool:
        return all(job.state in FINISHED_STATES for job in self.jobs)


def run_jobs(site: BatchSite, state: StateFile) -> list[Job]:
    """The run's jobs, found by the run's tag (one listing, not one request per job)."""
    run = state.run
    return site.jobs(run.project_id, run.gear_name, f"tags={run.run_tag}")


def run_status(site: BatchSite, state: StateFile) -> RunStatus:
    jobs = run_jobs(site, state)
    failed_submissions = {r["destination"]["id"] for r in state.of("failed")}
    submitted = {job.destination_id for job in jobs}
    return RunStatus(tuple(jobs), len(failed_submissions - submitted))


def progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    percent = 100 * done // total if total else 100
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} finished ({percent}%)"


def format_status(status: RunStatus) -> str:
    """A table of job counts per state."""
    counts = status.counts
    rows = [(state, counts.get(state, 0)) for state in STATES]
    rows += [(state, n) for state, n in sorted(counts.items()) if state not in STATES]
    rows.append(("total", len(status.jobs)))
    if status.not_submitted:
        rows.append(("not submitted", status.not_submitted))
    width = max(len(name) for name, _ in rows)
    lines = [f"{'state':<{width}}  jobs", f"{'-' * width}  ----"]
    lines += [f"{name:<{width}}  {count:>4}" for name, count in rows]
    return "\n".join(lines)


def print_status(status: RunStatus, out: TextIO) -> None:
    print(format_status(status), file=out)
    done = sum(1 for job in status.jobs if job.state in FINISHED_STATES)
    if out.isatty():
        print(progress_bar(done, len(status.jobs)), file=out)


def cancel_run(site: BatchSite, state: StateFile, *, dry_run: bool) -> list[Job]:
    """Cancels the run's pending and running jobs; returns them."""
    open_jobs = [job for job in run_jobs(site, state) if job.state in OPEN_STATES]
    for job in open_jobs:
        if dry_run:
            log.info("Dry run: would cancel job %s (%s)", job.id, job.state)
            continue
        site.cancel(job.id)
        state.record("cancelled", job_id=job.id, destination_id=job.destination_id)
        log.info("Cancelled job %s (was %s)", job.id, job.state)
    log.info("%s %d job(s)", "Would cancel" if dry_run else "Cancelled", len(open_jobs))
    return open_jobs
