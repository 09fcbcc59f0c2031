"""A job's .metadata.json as Flywheel takes it: fw-gear's schema, files that exist, and
classifications the site's modalities allow (read through the SDK from the fake site)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import flywheel
import pytest

from fake_flywheel import FakeFlywheel
from gear_common.metadata import FileMetadata, write_metadata
from gear_tools.run.output_contract import metadata_failures, site_modalities
from gear_tools.run.run_gear import report

MR = {"Intent": ["Structural", "Functional"], "Measurement": ["T1", "T2"]}
SHOWN = "output/.metadata.json"


def job_output(tmp_path: Path, document: dict[str, Any] | str, *files: str) -> Path:
    output = tmp_path / "output"
    output.mkdir()
    for name in files:
        (output / name).parent.mkdir(parents=True, exist_ok=True)
        (output / name).write_bytes(b"data")
    text = document if isinstance(document, str) else json.dumps(document)
    (output / ".metadata.json").write_text(text)
    return output


def test_what_write_metadata_writes_passes(tmp_path: Path) -> None:
    output = tmp_path / "output"
    output.mkdir()
    (output / "t1.nii.gz").write_bytes(b"nifti")
    entry = FileMetadata(
        name="t1.nii.gz", type="nifti", modality="MR", classification={"Intent": ["Structural"]}
    )
    write_metadata(output, "acquisition", [entry])
    assert metadata_failures(output, {"MR": MR}) == []
    assert metadata_failures(tmp_path / "none") == []  # no .metadata.json: nothing to check


def test_a_file_entry_the_job_did_not_write_is_named(tmp_path: Path) -> None:
    document = {"acquisition": {"files": [{"name": "a.nii.gz"}, {"name": "b.nii.gz"}]}}
    output = job_output(tmp_path, document, "a.nii.gz", "sub/c.txt")
    assert metadata_failures(output) == [
        f"{SHOWN}: acquisition.files[1] names 'b.nii.gz', which the job did not write to "
        "output/ (it wrote: a.nii.gz, sub/c.txt)"
    ]


def test_the_engine_schema_of_fw_gear_is_applied(tmp_path: Path) -> None:
    document = {"acquisition": {"files": [{"name": "a", "tags": "one"}]}, "sesion": {}}
    failures = metadata_failures(job_output(tmp_path, document, "a"))
    assert any("sesion" in failure for failure in failures), failures
    assert any("acquisition.files.0.tags" in f or "tags" in f for f in failures), failures


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "{",
            f"{SHOWN}: not valid JSON: Expecting property name enclosed in double quotes at "
            "line 1 column 2",
        ),
        (
            '{"acquisition": {"info": {"x": NaN}}}',
            f"{SHOWN}: NaN is not JSON (Python's json writes it for a float that is not finite)",
        ),
        ("[]", f"{SHOWN}: expected a JSON object"),
    ],
)
def test_a_document_flywheel_cannot_read(tmp_path: Path, text: str, expected: str) -> None:
    assert metadata_failures(job_output(tmp_path, text)) == [expected]


def test_classifications_are_checked_against_the_sites_modalities(
    tmp_path: Path, fake_flywheel: FakeFlywheel
) -> None:
    fake_flywheel.add("modalities", {"_id": "MR", "classification": MR})
    fake_flywheel.add("modalities", {"_id": "CT", "classification": {"Contrast": ["Yes", "No"]}})
    modalities = site_modalities(flywheel.Client(fake_flywheel.api_key))
    assert modalities == {"MR": MR, "CT": {"Contrast": ["Yes", "No"]}}
    files = [
        {
            "name": "ok",
            "modality": "MR",
            "classification": {"Intent": ["Functional"], "Custom": ["mine"]},
        },
        {"name": "value", "modality": "MR", "classification": {"Measurement": ["T3"]}},
        {"name": "key", "modality": "CT", "classification": {"Intent": ["Structural"]}},
        {"name": "modality", "modality": "PET", "classification": {"Intent": ["Structural"]}},
    ]
    output = job_output(tmp_path, {"session": {"files": files}}, "ok", "value", "key", "modality")
    assert metadata_failures(output, modalities) == [
        f"{SHOWN}: session.files[1] (value): classification Measurement 'T3' is not one modality "
        "MR allows (T1, T2)",
        f"{SHOWN}: session.files[2] (key): modality CT has no classification 'Intent' (it has: "
        "Contrast, Custom)",
        f"{SHOWN}: session.files[3] (modality) has modality 'PET', which the site has not (it "
        "has: CT, MR)",
    ]
    # Without a site, classifications are not checked.
    assert metadata_failures(output) == []


def test_run_gear_fails_a_job_whose_metadata_flywheel_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_output(tmp_path, {"acquisition": {"files": [{"name": "missing.txt"}]}})
    assert report(tmp_path, 0) == 1
    err = capsys.readouterr().err
    assert "acquisition.files[0] names 'missing.txt'" in err
    assert "Flywheel would fail this job: 1 problem(s) in .metadata.json" in err
    assert report(tmp_path, 3) == 3  # the gear's own failure stays its exit code
