"""End-to-end: the gear's run.py entry point, in its own process, on a prepared gear directory."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np

from gear_common.gear_dir import prepare_gear_dir
from gear_testing.entry_point import run_entry_point

from dicom_to_nifti_app_tests.dicom_inputs import MR_SLICE, mr_series, pydicom_file, zip_files


def run_gear(gear_path: Path) -> subprocess.CompletedProcess[str]:
    return run_entry_point("dicom_to_nifti_app.run", gear_path)


def test_converts_a_zipped_series_and_writes_metadata_for_flywheel(tmp_path: Path) -> None:
    mr_series(tmp_path / "series", 2)
    archive = zip_files(tmp_path / "mr.dicom.zip", sorted((tmp_path / "series").iterdir()))
    gear = tmp_path / "v0"
    prepare_gear_dir(
        gear,
        config={"filename": "mr_%s"},
        inputs={"dicom": archive},
        destination={"type": "acquisition", "id": "acq-1"},
    )

    result = run_gear(gear)

    assert result.returncode == 0, result.stdout + result.stderr
    output = gear / "output"
    assert sorted(p.name for p in output.iterdir()) == [
        ".metadata.json",
        "mr_1.json",
        "mr_1.nii.gz",
    ]
    assert np.asarray(nib.Nifti1Image.from_filename(output / "mr_1.nii.gz").dataobj).shape == (
        64,
        64,
        2,
    )
    metadata = json.loads((output / ".metadata.json").read_text())
    (entry,) = metadata["acquisition"]["files"]
    assert (entry["name"], entry["type"], entry["modality"]) == ("mr_1.nii.gz", "nifti", "MR")
    assert entry["info"]["SeriesNumber"] == 1
    assert "mr.dicom.zip: 2 file(s); converting with dcm2niix" in result.stdout
    assert "Wrote mr_1.nii.gz and mr_1.json" in result.stdout


def test_a_zip_without_dicom_exits_1_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "notes.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("notes/readme.txt", "no images here")
    gear = tmp_path / "v0"
    prepare_gear_dir(gear, config={}, inputs={"dicom": archive})

    result = run_gear(gear)

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert "input notes.zip: dcm2niix converted nothing (exit code 2)" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert list((gear / "output").iterdir()) == []


def test_a_single_file_input_with_debug_logs_dcm2niixs_output(tmp_path: Path) -> None:
    gear = tmp_path / "v0"
    prepare_gear_dir(
        gear, config={"debug": True, "filename": "mr"}, inputs={"dicom": pydicom_file(MR_SLICE)}
    )

    result = run_gear(gear)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "dcm2niix: Found 1 DICOM file(s)" in result.stdout + result.stderr
    assert (gear / "output/mr.nii.gz").is_file()
