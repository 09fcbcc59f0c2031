"""Planning a batch run: per destination the inputs, config, label and whether to submit."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from gear_batch.config_schema import gear_config
from gear_batch.select import Target
from gear_batch.site import OPEN_STATES, Container, Gear, Job
from gear_batch.spec import BatchSpec, InputSource, InputSpec
from gear_common.errors import GearInputError

log = logging.getLogger(__name__)

DONE_OR_UNDERWAY = OPEN_STATES | {"complete"}


class Mode(str, Enum):
    """Which destinations with earlier jobs of the same gear, version and config run again."""

    DEFAULT = "default"  # none that are pending, running, complete or failed
    RERUN_FAILED = "rerun-failed"  # also those whose latest such job failed
    FORCE = "force"  # all


@dataclass(frozen=True)
class PlannedJob:
    target: Target
    submit: bool
    reason: str
    inputs: dict[str, dict[str, str]]
    existing_job: Job | None = None
    # A job of this run that the state file does not hold yet (the run stopped before writing).
    unrecorded: bool = False

    @property
    def destination(self) -> Container:
        return self.target.container


@dataclass(frozen=True)
class BatchPlan:
    spec: BatchSpec
    project: Container
    gear: Gear
    config: dict[str, Any]
    items: tuple[PlannedJob, ...]

    def analysis_label(self, destination: Container, now: datetime) -> str:
        return self.spec.analysis_label.format(
            gear=self.gear.name,
            version=self.gear.version,
            date=now.strftime("%Y-%m-%d"),
            time=now.strftime("%H-%M-%S"),
            destination=destination.label,
        )

    @property
    def to_submit(self) -> list[PlannedJob]:
        return [item for item in self.items if item.submit]


def check_inputs(spec: BatchSpec, gear: Gear) -> None:
    """The spec's inputs against the gear's: unknown names and missing required files."""
    problems = [
        f"inputs.{name}: the gear {gear.name} {gear.version} has no such input"
        f" (it has: {', '.join(sorted(gear.inputs)) or 'none'})"
        for name in spec.inputs
        if name not in gear.inputs
    ]
    for name, entry in gear.inputs.items():
        if entry.get("base") == "file" and not entry.get("optional") and name not in spec.inputs:
            problems.append(f"inputs.{name}: required by the gear but not given")
    if problems:
        raise GearInputError("batch spec: " + "; ".join(problems))


def _resolve_input(
    name: str, entry: InputSpec, target: Target, project: Container
) -> dict[str, str] | str:
    """A file reference for one input, or the reason there is none."""
    if entry.source is InputSource.PROJECT:
        holders: tuple[Container, ...] = (project,)
    elif entry.source is InputSource.DESTINATION:
        holders = (target.container,)
    else:
        holders = target.acquisitions
        if entry.acquisition_label:
            holders = tuple(a for a in holders if re.search(entry.acquisition_label, a.label))
    found = [(h, f) for h in holders for f in h.files if f.matches(entry)]
    if len(found) != 1:
        wanted = " ".join(
            part for part in (entry.type and f"type {entry.type}", entry.name) if part
        )
        count = "no file" if not found else f"{len(found)} files"
        return f"input {name}: {count} matching {wanted or 'any file'} in the {entry.source.value}"
    holder, file = found[0]
    return {"type": holder.level, "id": holder.id, "name": file.name}


def _jobs_by_destination(
    jobs: list[Job], gear: Gear, config: dict[str, Any]
) -> dict[str, list[Job]]:
    same: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        if job.gear_version == gear.version and job.config == config:
            same[job.destination_id].append(job)
    for entries in same.values():
        entries.sort(key=lambda job: (job.created or datetime.min, job.id))
    return same


def _decide(
    earlier: list[Job], mode: Mode, run_tag: str, recorded: str | None
) -> tuple[bool, str, Job | None]:
    """Whether to submit to one destination, why, and the earlier job that decided it."""
    ours = [job for job in earlier if run_tag and run_tag in job.tags]
    if recorded is not None:
        return False, f"submitted earlier in this run ({recorded})", None
    if ours:
        return False, f"submitted earlier in this run (job {ours[-1].id})", ours[-1]
    if mode is Mode.FORCE or not earlier:
        return True, "forced" if earlier else "new", None
    underway = [job for job in earlier if job.state in DONE_OR_UNDERWAY]
    if underway:
        latest = underway[-1]
        return False, f"already {latest.state} (job {latest.id})", latest
    latest = earlier[-1]
    if latest.state == "failed" and mode is not Mode.RERUN_FAILED:
        return False, f"failed earlier (job {latest.id}); use --rerun-failed", latest
    return True, f"earlier job {latest.id} {latest.state}", latest


def plan_batch(
    spec: BatchSpec,
    project: Container,
    gear: Gear,
    targets: list[Target],
    existing_jobs: list[Job],
    *,
    mode: Mode,
    run_tag: str,
    recorded: Mapping[str, str] | None = None,
) -> BatchPlan:
    """The plan; raises before anything is submitted if the config or inputs are wrong.

    `recorded` maps destination ids the state file says were submitted to their job/analysis.
    """
    recorded = recorded or {}
    config = gear_config(gear.config, spec.config, gear=f"{gear.name} {gear.version}")
    check_inputs(spec, gear)
    earlier = _jobs_by_destination(existing_jobs, gear, config)
    items = []
    for target in targets:
        resolved = {
            name: _resolve_input(name, entry, target, project)
            for name, entry in spec.inputs.items()
        }
        missing = [reason for reason in resolved.values() if isinstance(reason, str)]
        inputs = {name: ref for name, ref in resolved.items() if isinstance(ref, dict)}
        container_id = target.container.id
        submit, reason, job = _decide(
            earlier.get(container_id, []), mode, run_tag, recorded.get(container_id)
        )
        if missing and submit:
            submit, reason = False, "; ".join(missing)
        unrecorded = job is not None and bool(run_tag) and run_tag in job.tags
        items.append(PlannedJob(target, submit, reason, inputs, job, unrecorded))
    plan = BatchPlan(spec, project, gear, config, tuple(items))
    log.info(
        "Plan: %d to submit, %d skipped (gear %s %s)",
        len(plan.to_submit),
        len(items) - len(plan.to_submit),
        gear.name,
        gear.version,
    )
    return plan
