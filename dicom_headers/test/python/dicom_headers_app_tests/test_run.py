"""End-to-end: the gear's run.py entry point, in its own process, on a prepared gear directory."""

from __future__ import annotations

import json
from pathlib import Path

from pydicom.data import get_testdata_file

from gear_common.gear_dir import prepare_gear_dir
from gear_testing.entry_point import run_entry_point

from dicom_headers_app import run as entry_point

CT_SMALL = Path(str(get_testdata_file("CT_small.dcm")))


def test_writes_the_header_and_exits_0(tmp_path: Path) -> None:
    gear = tmp_path / "v0"
    prepare_gear_dir(gear, config={}, inputs={"dicom": CT_SMALL})

    result = run_entry_point(entry_point.__name__, gear)

    assert result.returncode == 0, result.stdout + result.stderr
    written = json.loads((gear / "output" / "CT_small.dcm.header.json").read_text())
    assert written["pydicom_version"].startswith("2.")
    assert "CT_small.dcm: " in result.stdout and "read with pydicom 2." in result.stdout


def test_missing_input_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    gear = tmp_path / "v0"
    prepare_gear_dir(gear, config={})

    result = run_entry_point(entry_point.__name__, gear)

    assert result.returncode == 1
    assert 'input "dicom" is required but config.json has no such input' in result.stderr
    assert list((gear / "output").iterdir()) == []
