"""Submitting: state file, retries on 500s and timeouts, crash and resume, dry run."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import flywheel
import pytest

from fake_flywheel.server import FakeFlywheel, Fault
from gear_batch import cli, commands
from gear_batch.commands import BatchSubmitError
from gear_batch.plan import Mode
from gear_batch.site import BatchSite
from gear_batch.state import StateFile
from gear_batch.submit import Submitter
from gear_common.flywheel_client import connect
from gear_testing.batch_project import BatchProject

from .conftest import MakeSpec

SUBMIT_PATH = r"/api/sessions/[0-9a-f]+/analyses"


def submissions_per_session(fake: FakeFlywheel) -> Counter[str]:
    return Counter(
        request.path.split("/")[3]
        for request in fake.requests
        if request.method == "POST" and request.path.endswith("/analyses")
    )


def jobs_per_session(fake: FakeFlywheel, run_tag: str) -> Counter[str]:
    return Counter(
        job["parents"]["session"] for job in fake.items["jobs"].values() if run_tag in job["tags"]
    )


def test_submit_records_every_destination_and_tags_the_jobs(
    fake_flywheel: FakeFlywheel, project: BatchProject, make_spec: MakeSpec, state_path: Path
) -> None:
    site = BatchSite(connect(fake_flywheel.api_key), page_size=500)
    fake_flywheel.reset_requests()
    result = commands.submit(site, make_spec(), state_path, out=io.StringIO())

    state = StateFile.read(state_path)
    submitted = state.submitted()
    assert result.submitted == len(submitted) > 0
    assert set(submitted) <= set(project.dwi_session_ids)
    job = next(j for j in fake_flywheel.items["jobs"].values() if state.run.run_tag in j["tags"])
    assert job["tags"] == ["vm-small", state.run.run_tag]
    assert job["config"]["config"] == {"threshold": 0.5, "mode": "fast", "debug": False}
    assert set(job["config"]["inputs"]) == {"dwi", "license"}
    analysis = fake_flywheel.items["analyses"][job["destination"]["id"]]
    assert analysis["label"].startswith("dwi-qa_1.2.0_20")
    # One request per job, plus a constant: auth, lookup, gear, three listings.
    assert len(fake_flywheel.requests) <= result.submitted + 6


def test_a_second_forced_submit_of_the_same_run_submits_nothing(
    fake_flywheel: FakeFlywheel, site: BatchSite, make_spec: MakeSpec, state_path: Path
) -> None:
    first = commands.submit(site, make_spec(), state_path, mode=Mode.FORCE, out=io.StringIO())
    assert first.submitted == 9
    fake_flywheel.reset_requests()
    result = commands.submit(site, make_spec(), state_path, mode=Mode.FORCE, out=io.StringIO())
    assert result.submitted == 0
    assert fake_flywheel.mutating_requests() == []


def test_dry_run_prints_the_plan_and_changes_nothing(
    fake_flywheel: FakeFlywheel, site: BatchSite, make_spec: MakeSpec, state_path: Path
) -> None:
    out = io.StringIO()
    fake_flywheel.reset_requests()
    commands.submit(site, make_spec(), state_path, dry_run=True, out=out)

    assert fake_flywheel.mutating_requests() == []
    assert not state_path.exists()
    lines = out.getvalue().splitlines()
    assert any(
        line.startswith("submit  session ses-") and "inputs: dwi=dwi.nii.gz" in line
        for line in lines
    )
    assert "to submit" in lines[-1] and "gear dwi-qa 1.2.0" in lines[-1]


def test_server_errors_are_retried_and_each_job_is_submitted_once(
    fake_flywheel: FakeFlywheel, site: BatchSite, make_spec: MakeSpec, state_path: Path
) -> None:
    for nth in (1, 2, 5):
        fake_flywheel.inject(Fault("POST", SUBMIT_PATH, nth=nth, status=500))
    result = commands.submit(site, make_spec(), state_path, out=io.StringIO())

    run_tag = StateFile.read(state_path).run.run_tag
    assert set(jobs_per_session(fake_flywheel, run_tag).values()) == {1}
    assert result.submitted == len(jobs_per_session(fake_flywheel, run_tag))


def test_a_timed_out_submission_that_went_through_is_not_repeated(
    fake_flywheel: FakeFlywheel, project: BatchProject, make_spec: MakeSpec, state_path: Path
) -> None:
    site = BatchSite(flywheel.Client(fake_flywheel.api_key, request_timeout=1), page_size=5)
    # The server creates the job but answers after the client gave up.
    fake_flywheel.inject(Fault("POST", SUBMIT_PATH, nth=2, status=0, delay=2.0))
    result = commands.submit(site, make_spec(), state_path, out=io.StringIO())

    run_tag = StateFile.read(state_path).run.run_tag
    per_session = jobs_per_session(fake_flywheel, run_tag)
    assert set(per_session.values()) == {1}
    assert result.submitted == len(per_session)


def test_a_bad_request_is_not_retried_and_is_recorded(
    fake_flywheel: FakeFlywheel, site: BatchSite, make_spec: MakeSpec, state_path: Path
) -> None:
    fake_flywheel.inject(Fault("POST", SUBMIT_PATH, nth=1, status=400))
    with pytest.raises(BatchSubmitError, match="1 destination.s. could not be submitted"):
        commands.submit(site, make_spec(), state_path, out=io.StringIO())
    failed = list(StateFile.read(state_path).of("failed"))
    assert len(failed) == 1 and failed[0]["error"].startswith("400")
    # Submitting again retries the failed destination only.
    fake_flywheel.reset_requests()
    assert commands.submit(site, make_spec(), state_path, out=io.StringIO()).submitted == 1


def test_a_crash_between_submissions_then_resume_submits_each_once(
    fake_flywheel: FakeFlywheel,
    site: BatchSite,
    make_spec: MakeSpec,
    state_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = Submitter._record
    calls = 0

    def crash_after_three(self: Submitter, *args: object) -> bool:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise KeyboardInterrupt
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Submitter, "_record", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        commands.submit(site, make_spec(), state_path, out=io.StringIO())
    monkeypatch.setattr(Submitter, "_record", original)
    assert len(StateFile.read(state_path).submitted()) == 3

    # Resume with --force: the run's own jobs still count as done.
    commands.submit(site, make_spec(), state_path, mode=Mode.FORCE, out=io.StringIO())

    state = StateFile.read(state_path)
    per_session = jobs_per_session(fake_flywheel, state.run.run_tag)
    assert set(per_session.values()) == {1}
    assert set(per_session) == set(state.submitted())
    assert len(per_session) == 9


def test_a_killed_process_resumes_without_duplicates(
    fake_flywheel: FakeFlywheel, make_spec: MakeSpec, tmp_path: Path
) -> None:
    """The CLI in its own process, killed (SIGKILL) half-way, then run again."""
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(make_spec().model_dump(mode="json", by_alias=True)))
    state_path = tmp_path / "spec.state.jsonl"
    fake_flywheel.latency = 0.05
    env = {**os.environ, "FW_KEY": fake_flywheel.api_key, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", cli.__name__, "submit", str(spec_path), "--force"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if state_path.exists() and state_path.read_text().count('"submitted"') >= 3:
            break
        time.sleep(0.01)
    assert process.poll() is None, f"the run ended before it was killed: {process.stderr.read()}"
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    first = len(StateFile.read(state_path).submitted())
    assert first >= 3

    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    assert finished.returncode == 0, finished.stderr
    state = StateFile.read(state_path)
    per_session = jobs_per_session(fake_flywheel, state.run.run_tag)
    assert set(per_session.values()) == {1}
    assert len(per_session) == 9
    assert "FW_KEY" not in finished.stderr and fake_flywheel.api_key not in finished.stderr


def test_a_state_file_of_another_spec_is_refused(
    site: BatchSite, make_spec: MakeSpec, state_path: Path
) -> None:
    commands.submit(site, make_spec(), state_path, out=io.StringIO())
    with pytest.raises(Exception, match="belongs to another batch spec"):
        commands.submit(site, make_spec(config={"mode": "full"}), state_path, out=io.StringIO())
