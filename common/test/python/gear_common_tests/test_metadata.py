"""`.metadata.json` for outputs and the destination, checked by fw-gear's engine schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_common.errors import GearError
from gear_common.metadata import DestinationMetadata, FileMetadata, write_metadata


def test_outputs_and_the_destination_are_written_after_validation(tmp_path: Path) -> None:
    target = write_metadata(
        tmp_path,
        "session",
        [FileMetadata(name="t1.nii.gz", type="nifti", modality="MR", tags=["converted"])],
        DestinationMetadata(info={"qc": {"passed": True}}, tags=["converted"]),
    )
    assert json.loads(target.read_text()) == {
        "session": {
            "info": {"qc": {"passed": True}},
            "tags": ["converted"],
            "files": [
                {"name": "t1.nii.gz", "type": "nifti", "modality": "MR", "tags": ["converted"]}
            ],
        }
    }


def test_an_invalid_document_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    bad = FileMetadata(name="x.txt", modality="M")  # the schema wants 2 to 64 characters
    with pytest.raises(GearError) as error:
        write_metadata(tmp_path, "acquisition", [bad])
    assert f"{tmp_path / '.metadata.json'} would be invalid: " in str(error.value)
    assert "acquisition.files[0].modality is 'M' (str)" in str(error.value)
    assert list(tmp_path.iterdir()) == []
