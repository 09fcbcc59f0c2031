"""The header of real DICOM files that pydicom 2 ships, read with the resolve's pydicom."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from gear_common.errors import GearInputError

from dicom_headers_app.main import read_header, run

CT_SMALL = Path(str(get_testdata_file("CT_small.dcm")))
PATIENT_NAME = "00100010"


def test_the_gear_runs_with_the_pydicom_its_resolve_pins() -> None:
    # The default resolve has pydicom 3; this gear's resolve pins pydicom 2.
    assert pydicom.__version__.startswith("2."), pydicom.__version__


def test_header_of_a_real_ct_file(tmp_path: Path) -> None:
    output = run(dicom=CT_SMALL, include_private=False, output_dir=tmp_path)

    written = json.loads(output.read_text())
    assert output.name == "CT_small.dcm.header.json"
    assert written["pydicom_version"] == pydicom.__version__
    header = written["header"]
    assert header[PATIENT_NAME]["Value"] == [{"Alphabetic": "CompressedSamples^CT1"}]
    assert header["00080060"]["Value"] == ["CT"]
    assert "7FE00010" not in header  # no pixel data
    assert not any(int(tag[:4], 16) % 2 for tag in header)


def test_private_elements_are_kept_when_asked() -> None:
    private = [tag for tag in read_header(CT_SMALL, include_private=True) if int(tag[:4], 16) % 2]
    assert len(private) > 10


def test_a_file_that_is_not_dicom_is_refused_naming_it(tmp_path: Path) -> None:
    text = tmp_path / "notes.dcm"
    text.write_text("not a DICOM file\n")
    with pytest.raises(GearInputError, match=f"input file {text} is not a DICOM file"):
        read_header(text, include_private=False)
