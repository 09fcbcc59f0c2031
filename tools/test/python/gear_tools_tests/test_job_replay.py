"""Replaying a site's job locally: read through the real SDK from the fake Flywheel API."""

from __future__ import annotations

import json
from pathlib import Path

import flywheel
import pytest

from fake_flywheel.serve import seed
from fake_flywheel.server import FakeFlywheel
from gear_tools.run import run_gear
from gear_tools.run.job_replay import download_job, load_job

SEED = Path("docs/examples/replay-seed.json")
JOB_ID = "650000000000000000000005"
ACQUISITION = "650000000000000000000004"


@pytest.fixture
def site(fake_flywheel: FakeFlywheel) -> FakeFlywheel:
    """The example site (docs/running.md): the template gear's failed job on a file."""
    seed(fake_flywheel, json.loads(SEED.read_text()), SEED.parent)
    fake_flywheel.reset_requests()
    return fake_flywheel


def test_a_job_is_downloaded_with_its_inputs_records_and_parents(
    site: FakeFlywheel, tmp_path: Path
) -> None:
    client = flywheel.Client(site.api_key)
    job = download_job(client, JOB_ID, tmp_path / "job", site="127.0.0.1", progress=print)

    assert (job.gear_name, job.gear_version, job.state) == ("template-gear", "0.1.0", "failed")
    assert job.config == {"top_words": 2, "case_sensitive": False, "debug": False}
    assert job.destination == {"type": "acquisition", "id": ACQUISITION}
    assert job.inputs["text_file"].read_text().startswith("the scan ran late")
    assert job.input_objects["text_file"]["info"] == {"operator": "ada"}
    assert job.input_objects["text_file"]["type"] == "text"
    assert job.input_parents["text_file"] == {"type": "acquisition", "id": ACQUISITION}
    # Read back offline, the same job.
    assert load_job(tmp_path / "job") == job
    assert site.mutating_requests() == []


def test_a_job_made_through_the_sdk_names_its_files_as_the_site_does(
    fake_flywheel: FakeFlywheel, tmp_path: Path
) -> None:
    seed(fake_flywheel, json.loads(SEED.read_text()), SEED.parent)
    client = flywheel.Client(fake_flywheel.api_key)
    gear = client.lookup("gears/template-gear")
    ref = {"type": "acquisition", "id": ACQUISITION, "name": "notes.txt"}
    job_id = client.add_job(
        flywheel.Job(
            gear_id=gear.id,
            inputs={"text_file": ref},
            config={"top_words": 1},
            destination={"type": "acquisition", "id": ACQUISITION},
        )
    )
    config = client.get_job_config(job_id)
    assert config.inputs["text_file"]["location"]["name"] == "notes.txt"
    missing = {**ref, "name": "absent.txt"}
    with pytest.raises(flywheel.ApiException) as refused:
        client.add_job(
            flywheel.Job(gear_id=gear.id, inputs={"text_file": missing}, destination=ref)
        )
    assert refused.value.status == 404


def test_run_gear_replays_the_job_and_reruns_it_offline(
    site: FakeFlywheel, template_gear_pex: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["template_gear", "--repo", ".", "--api-key", site.api_key, "--job", JOB_ID]
    assert run_gear.main([*argv, "--job-dir", "kept", "--workdir", "run1"]) == 0
    result = json.loads((tmp_path / "run1/output/notes.statistics.json").read_text())
    assert result["top_words"] == [["the", 3], ["scan", 2]]
    config = json.loads((tmp_path / "run1/config.json").read_text())
    entry = config["inputs"]["text_file"]
    assert entry["hierarchy"] == {"type": "acquisition", "id": ACQUISITION}
    assert entry["object"]["info"] == {"operator": "ada"}
    assert config["destination"] == {"type": "acquisition", "id": ACQUISITION}
    printed = capsys.readouterr()
    assert "ran template-gear 0.1.0 (failed)" in printed.out
    assert "__force_insecure" not in printed.out + printed.err
    assert site.mutating_requests() == []

    # Offline, with the site gone: the kept job, one config value overridden.
    site.stop()
    offline = ["template_gear", "--repo", ".", "--job-dir", "kept", "--workdir", "run2"]
    assert run_gear.main([*offline, "--config", "top_words=1"]) == 0
    result = json.loads((tmp_path / "run2/output/notes.statistics.json").read_text())
    assert result["top_words"] == [["the", 3]]


def test_a_job_of_another_version_is_run_with_a_warning_and_another_gear_refused(
    site: FakeFlywheel, template_gear_pex: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = site.items["jobs"][JOB_ID]
    job["gear_info"]["version"] = "0.0.9"
    argv = ["template_gear", "--repo", ".", "--api-key", site.api_key, "--job", JOB_ID]
    assert run_gear.main(argv) == 0
    assert "the local template-gear is version 0.1.0, the job ran 0.0.9" in capsys.readouterr().err

    job["gear_info"]["name"] = "dicom-to-nifti"
    assert run_gear.main(argv) == run_gear.USAGE_ERROR
    assert "ran gear dicom-to-nifti, not template-gear" in capsys.readouterr().err


def test_problems_are_named_and_nothing_is_left_half_downloaded(
    site: FakeFlywheel, template_gear_pex: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["template_gear", "--repo", ".", "--api-key", site.api_key, "--job-dir", "kept"]
    assert run_gear.main([*argv, "--job", "650000000000000000000099"]) == run_gear.USAGE_ERROR
    err = capsys.readouterr().err
    assert "job 650000000000000000000099: not found on the site" in err
    assert site.api_key_secret not in err

    with site.fault("GET", r"/api/containers/.*/files/notes.txt", status=500):
        assert run_gear.main([*argv, "--job", JOB_ID]) == run_gear.USAGE_ERROR
    assert "input text_file (notes.txt in acquisition" in capsys.readouterr().err
    assert not (tmp_path / "kept").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".job-")] == []

    assert run_gear.main(["template_gear", "--repo", ".", "--job-dir", "kept"]) == 2
    assert "no downloaded job there; give --job JOB_ID" in capsys.readouterr().err
    assert run_gear.main(["template_gear", "--repo", ".", "--job", JOB_ID, "--api-key", ""]) == 2
    assert "give --api-key or set FW_KEY" in capsys.readouterr().err
