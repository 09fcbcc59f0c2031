"""End-to-end: the gear's run.py in its own process, against the fake Flywheel API."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from fake_flywheel.server import FakeFlywheel
from gear_common.gear_dir import prepare_gear_dir
from gear_testing.batch_project import BatchProject, build_batch_project
from gear_testing.entry_point import run_entry_point


def write_spec(tmp_path: Path, project: BatchProject, **overrides: Any) -> Path:
    spec = {
        "project": project.path,
        "gear": {"name": "dwi-qa", "version": "1.2.0"},
        "select": {"level": "session", "acquisition_label": "^dwi$"},
        "inputs": {"dwi": {"from": "acquisition", "acquisition_label": "^dwi$", "type": "nifti"}},
        "config": {"mode": "full"},
        "collect": {"outputs": ["*.html"]},
        **overrides,
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def run_gear(
    fake: FakeFlywheel, gear: Path, config: dict[str, Any], inputs: dict[str, Path]
) -> subprocess.CompletedProcess[str]:
    prepare_gear_dir(gear, config=config, inputs=inputs, api_key=fake.api_key)
    return run_entry_point("batch_run_app.run", gear)


def test_submit_status_cancel_and_collect_as_gear_jobs(
    fake_flywheel: FakeFlywheel, tmp_path: Path
) -> None:
    project = build_batch_project(fake_flywheel, sessions=8, earlier_analyses=False)
    spec = write_spec(tmp_path, project)

    submit = run_gear(fake_flywheel, tmp_path / "submit", {}, {"batch_spec": spec})
    assert submit.returncode == 0, submit.stderr
    state = tmp_path / "submit" / "output" / "batch-state.jsonl"
    submitted = [json.loads(line) for line in state.read_text().splitlines()[1:]]
    assert len(submitted) == len(project.dwi_session_ids) == 6
    assert fake_flywheel.api_key not in submit.stdout + submit.stderr

    jobs = [job["_id"] for job in fake_flywheel.items["jobs"].values()]
    fake_flywheel.set_job_state(jobs[0], "complete")
    analysis_id = fake_flywheel.items["jobs"][jobs[0]]["destination"]["id"]
    fake_flywheel.add_file("analyses", analysis_id, "qa.html", b"<p>ok</p>")

    status = run_gear(
        fake_flywheel,
        tmp_path / "status",
        {"action": "status"},
        {"batch_spec": spec, "state_file": state},
    )
    assert status.returncode == 0, status.stderr
    assert "complete      1" in status.stdout and "pending       5" in status.stdout

    cancel = run_gear(
        fake_flywheel,
        tmp_path / "cancel",
        {"action": "cancel"},
        {"batch_spec": spec, "state_file": state},
    )
    assert cancel.returncode == 0, cancel.stderr
    assert sorted(j["state"] for j in fake_flywheel.items["jobs"].values()) == ["cancelled"] * 5 + [
        "complete"
    ]

    collect = run_gear(
        fake_flywheel, tmp_path / "collect", {"action": "collect"}, {"batch_spec": spec}
    )
    assert collect.returncode == 0, collect.stderr
    output = tmp_path / "collect" / "output"
    rows = list(csv.DictReader((output / "batch-summary.csv").open()))
    assert sorted(row["state"] for row in rows) == ["cancelled"] * 5 + ["complete"]
    done = [row for row in rows if row["analysis_id"]]
    assert [row["analysis_id"] for row in done] == [analysis_id]
    assert (output / done[0]["files"]).read_bytes() == b"<p>ok</p>"


def test_status_without_a_state_file_is_a_clear_error(
    fake_flywheel: FakeFlywheel, tmp_path: Path
) -> None:
    project = build_batch_project(fake_flywheel, sessions=2, earlier_analyses=False)
    result = run_gear(
        fake_flywheel,
        tmp_path / "v0",
        {"action": "status"},
        {"batch_spec": write_spec(tmp_path, project)},
    )
    assert result.returncode == 1
    assert "action status needs the state_file input of an earlier run" in result.stderr


def test_an_unknown_gear_input_stops_before_any_change(
    fake_flywheel: FakeFlywheel, tmp_path: Path
) -> None:
    project = build_batch_project(fake_flywheel, sessions=2, earlier_analyses=False)
    spec = write_spec(tmp_path, project, inputs={"t1": {"from": "destination"}})
    fake_flywheel.reset_requests()

    result = run_gear(fake_flywheel, tmp_path / "v0", {}, {"batch_spec": spec})

    assert result.returncode == 1
    assert "inputs.t1: the gear dwi-qa 1.2.0 has no such input" in result.stderr
    assert "inputs.dwi: required by the gear but not given" in result.stderr
    assert fake_flywheel.mutating_requests() == []


def test_with_arguments_it_is_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "batch_run_app.run", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "usage: batch-run" in result.stdout
