"""status, cancel and collect against the fake API."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fake_flywheel.server import FakeFlywheel
from gear_batch import commands
from gear_batch.site import BatchSite
from gear_batch.state import StateFile
from gear_batch.track import progress_bar
from gear_testing.batch_project import DEFAULT_CONFIG, BatchProject

from .conftest import MakeSpec


def _run_job_ids(fake: FakeFlywheel, state_path: Path) -> list[str]:
    tag = StateFile.read(state_path).run.run_tag
    return sorted(job["_id"] for job in fake.items["jobs"].values() if tag in job["tags"])


def test_status_counts_states_in_a_few_requests(
    fake_flywheel: FakeFlywheel, site: BatchSite, make_spec: MakeSpec, state_path: Path
) -> None:
    commands.submit(site, make_spec(), state_path, out=io.StringIO())
    jobs = _run_job_ids(fake_flywheel, state_path)
    fake_flywheel.set_job_state(jobs[0], "complete")
    fake_flywheel.set_job_state(jobs[1], "failed")
    fake_flywheel.set_job_state(jobs[2], "running")
    out = io.StringIO()
    fake_flywheel.reset_requests()

    status = commands.status(site, state_path, out=out)

    assert status.counts == {"complete": 1, "failed": 1, "running": 1, "pending": len(jobs) - 3}
    table = out.getvalue()
    assert "complete      1" in table and f"total         {len(jobs)}" in table
    assert len(fake_flywheel.requests) <= 1 + len(jobs) // 5 + 1


def test_cancel_cancels_only_pending_and_running_jobs(
    fake_flywheel: FakeFlywheel, site: BatchSite, make_spec: MakeSpec, state_path: Path
) -> None:
    commands.submit(site, make_spec(), state_path, out=io.StringIO())
    jobs = _run_job_ids(fake_flywheel, state_path)
    fake_flywheel.set_job_state(jobs[0], "complete")
    fake_flywheel.set_job_state(jobs[1], "running")

    fake_flywheel.reset_requests()
    assert commands.cancel(site, state_path, dry_run=True) == len(jobs) - 1
    assert fake_flywheel.mutating_requests() == []

    assert commands.cancel(site, state_path) == len(jobs) - 1
    states = {fake_flywheel.items["jobs"][j]["state"] for j in jobs[1:]}
    assert states == {"cancelled"}
    assert fake_flywheel.items["jobs"][jobs[0]]["state"] == "complete"
    assert len(list(StateFile.read(state_path).of("cancelled"))) == len(jobs) - 1


def test_collect_takes_the_latest_complete_analysis_per_destination(
    fake_flywheel: FakeFlywheel,
    site: BatchSite,
    project: BatchProject,
    make_spec: MakeSpec,
    tmp_path: Path,
) -> None:
    fake = fake_flywheel
    session = project.dwi_session_ids[0]
    fake.items["analyses"].clear()
    fake.items["jobs"].clear()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    made = {}
    for label, state, days in (
        ("old", "complete", 0),
        ("new", "complete", 2),
        ("newest", "failed", 3),
    ):
        analysis_id, _ = fake.add_analysis(
            "session", session, project.gear_id, label, config=DEFAULT_CONFIG, state=state
        )
        fake.items["analyses"][analysis_id]["created"] = (start + timedelta(days=days)).isoformat()
        fake.add_file("analyses", analysis_id, "report.html", label.encode())
        fake.add_file("analyses", analysis_id, "work.zip", b"big")
        made[label] = analysis_id

    spec = make_spec(collect={"outputs": ["*.html"]})
    summary = commands.collect_outputs(site, spec, tmp_path / "results")

    rows = {row["destination_id"]: row for row in csv.DictReader(summary.open())}
    assert len(rows) == len(project.dwi_session_ids)
    row = rows[session]
    assert (row["analysis_id"], row["analysis_label"]) == (made["new"], "new")
    assert row["files"] == "ses-0000/report.html"
    assert (tmp_path / "results" / "ses-0000" / "report.html").read_bytes() == b"new"
    assert not (tmp_path / "results" / "ses-0000" / "work.zip").exists()
    other = rows[project.dwi_session_ids[1]]
    assert other["analysis_id"] == "" and other["files"] == ""


def test_progress_bar() -> None:
    assert progress_bar(5, 20, width=10) == "[##........] 5/20 finished (25%)"
    assert progress_bar(0, 0, width=4) == "[####] 0/0 finished (100%)"
