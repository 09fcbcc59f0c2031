"""Collecting results: per destination the latest complete analysis, its outputs and a CSV."""

from __future__ import annotations

import csv
import fnmatch
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gear_batch.select import Target
from gear_batch.site import Analysis, BatchSite, Container, Gear, Job

log = logging.getLogger(__name__)

CSV_FIELDS = (
    "destination_type",
    "destination_id",
    "destination_label",
    "job_id",
    "state",
    "analysis_id",
    "analysis_label",
    "files",
)


@dataclass(frozen=True)
class Collected:
    destination: Container
    latest_job: Job | None
    analysis: Analysis | None
    files: tuple[str, ...]


def _directory_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "unlabelled"


def _newest_first(created: datetime | None) -> float:
    return -(created.timestamp() if created else 0.0)


def collect(
    site: BatchSite,
    project: Container,
    gear: Gear,
    targets: list[Target],
    patterns: tuple[str, ...],
    output_dir: Path,
) -> list[Collected]:
    """Downloads matching outputs of each destination's most recent complete analysis."""
    jobs = [job for job in site.jobs(project.id, gear.name) if job.gear_version == gear.version]
    state_of = {job.id: job.state for job in jobs}
    latest_job: dict[str, Job] = {}
    for job in sorted(jobs, key=lambda job: -_newest_first(job.created)):
        latest_job[job.destination_id] = job
    by_parent: dict[str, list[Analysis]] = defaultdict(list)
    if gear.is_analysis:
        for analysis in site.analyses(project.id, gear.name):
            if analysis.job_id in state_of:
                by_parent[analysis.parent_id].append(analysis)
    labels = [t.container.label for t in targets]
    results = []
    for target in targets:
        destination = target.container
        complete = sorted(
            (
                a
                for a in by_parent.get(destination.id, [])
                if state_of[a.job_id or ""] == "complete"
            ),
            key=lambda a: _newest_first(a.created),
        )
        chosen = complete[0] if complete else None
        names: list[str] = []
        if chosen is not None:
            folder = _directory_name(destination.label)
            if labels.count(destination.label) > 1:
                folder = f"{folder}-{destination.id}"
            for file in chosen.files:
                if any(fnmatch.fnmatchcase(file.name, pattern) for pattern in patterns):
                    site.download_analysis_file(
                        chosen.id, file.name, output_dir / folder / file.name
                    )
                    names.append(f"{folder}/{file.name}")
        results.append(Collected(destination, latest_job.get(destination.id), chosen, tuple(names)))
    found = sum(1 for r in results if r.analysis is not None)
    log.info("Collected %d of %d destination(s) with a complete analysis", found, len(results))
    return results


def write_summary(results: list[Collected], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerow(
                {
                    "destination_type": result.destination.level,
                    "destination_id": result.destination.id,
                    "destination_label": result.destination.label,
                    "job_id": result.latest_job.id if result.latest_job else "",
                    "state": result.latest_job.state if result.latest_job else "",
                    "analysis_id": result.analysis.id if result.analysis else "",
                    "analysis_label": result.analysis.label if result.analysis else "",
                    "files": ";".join(result.files),
                }
            )
