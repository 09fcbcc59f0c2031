"""The batch-run actions, shared by the command line and the batch_run gear."""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from gear_batch.collect import collect, write_summary
from gear_batch.plan import BatchPlan, Mode, plan_batch
from gear_batch.select import Target, select_targets
from gear_batch.site import BatchSite, Container, Gear
from gear_batch.spec import BatchSpec
from gear_batch.state import RunInfo, StateFile, new_run_id
from gear_batch.submit import SubmitResult, Submitter
from gear_batch.track import RunStatus, cancel_run, print_status, run_status
from gear_common.errors import GearError

log = logging.getLogger(__name__)


class BatchSubmitError(GearError):
    """Some destinations could not be submitted (they are in the state file)."""


def _resolve(site: BatchSite, spec: BatchSpec) -> tuple[Container, Gear, list[Target]]:
    """The spec's project, gear and selected destinations."""
    project = site.find_project(spec.group_id, spec.project_label)
    gear = site.find_gear(spec.gear.name, spec.gear.version)
    return project, gear, select_targets(site, spec, project)


def make_plan(
    site: BatchSite, spec: BatchSpec, *, mode: Mode, state: StateFile | None
) -> BatchPlan:
    """Selects destinations and plans them; `state` (if any) names this run's earlier work."""
    project, gear, targets = _resolve(site, spec)
    existing = site.jobs(project.id, gear.name)
    recorded = {}
    if state is not None:
        recorded = {
            dest: str(record.get("job_id") or record.get("analysis_id"))
            for dest, record in state.submitted().items()
        }
    run_tag = state.run.run_tag if state is not None else ""
    return plan_batch(
        spec, project, gear, targets, existing, mode=mode, run_tag=run_tag, recorded=recorded
    )


def print_plan(plan: BatchPlan, out: TextIO) -> None:
    """One line per destination: what would happen and why."""
    now = datetime.now(timezone.utc)
    for item in plan.items:
        destination = item.destination
        where = f"{destination.level} {destination.label} ({destination.id})"
        line = f"{'submit' if item.submit else 'skip':<6}  {where}: {item.reason}"
        if item.submit:
            inputs = ", ".join(f"{name}={ref['name']}" for name, ref in sorted(item.inputs.items()))
            line += f"; inputs: {inputs or 'none'}"
            if plan.gear.is_analysis:
                line += f"; analysis label: {plan.analysis_label(destination, now)}"
        print(line, file=out)
    skipped = len(plan.items) - len(plan.to_submit)
    print(
        f"{len(plan.to_submit)} to submit, {skipped} skipped;"
        f" gear {plan.gear.name} {plan.gear.version}; config {plan.config}",
        file=out,
    )


def submit(
    site: BatchSite,
    spec: BatchSpec,
    state_path: Path,
    *,
    mode: Mode = Mode.DEFAULT,
    dry_run: bool = False,
    out: TextIO | None = None,
) -> SubmitResult:
    """Plans and submits; a dry run prints the plan and changes nothing (not even the state)."""
    existing = StateFile.read_if_exists(state_path)
    if existing is not None:
        existing.ensure_spec(spec.fingerprint())
    plan = make_plan(site, spec, mode=mode, state=existing)
    if dry_run:
        print_plan(plan, out or sys.stdout)
        return SubmitResult(submitted=0, failed=0)
    state = existing or StateFile.start(
        state_path, _run_info(spec, plan.project.id, plan.gear.name, plan.gear.version)
    )
    if state.run.gear_version != plan.gear.version:
        raise GearError(
            f"{state_path}: the run was started with {plan.gear.name} {state.run.gear_version},"
            f" the site now resolves {plan.gear.version}; pin gear.version or use a new state file"
        )
    result = Submitter(site, plan, state).run()
    log.info(
        "Submitted %d job(s), %d failed; state in %s", result.submitted, result.failed, state_path
    )
    if result.failed:
        raise BatchSubmitError(
            f"{result.failed} destination(s) could not be submitted (see {state_path});"
            " run submit again to retry them"
        )
    return result


def _run_info(spec: BatchSpec, project_id: str, gear_name: str, gear_version: str) -> RunInfo:
    return RunInfo(
        run_id=new_run_id(),
        spec_fingerprint=spec.fingerprint(),
        project_id=project_id,
        gear_name=gear_name,
        gear_version=gear_version,
        level=spec.select.level.value,
    )


def status(
    site: BatchSite, state_path: Path, *, watch: float = 0.0, out: TextIO | None = None
) -> RunStatus:
    """Prints the run's job states; with `watch`, polls until every job has finished."""
    state = StateFile.read(state_path)
    while True:
        current = run_status(site, state)
        print_status(current, out or sys.stdout)
        if not watch or current.finished:
            return current
        time.sleep(watch)


def cancel(site: BatchSite, state_path: Path, *, dry_run: bool = False) -> int:
    return len(cancel_run(site, StateFile.read(state_path), dry_run=dry_run))


def collect_outputs(site: BatchSite, spec: BatchSpec, output_dir: Path) -> Path:
    """Downloads the chosen outputs and writes `batch-summary.csv` in `output_dir`."""
    project, gear, targets = _resolve(site, spec)
    results = collect(site, project, gear, targets, spec.collect.outputs, output_dir)
    summary = output_dir / "batch-summary.csv"
    write_summary(results, summary)
    log.info("Summary written to %s", summary)
    return summary
