from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_common.config import parse_config
from gear_common.errors import GearConfigError

from dicom_to_nifti_app.parser import DicomToNiftiConfig

MANIFEST = Path("dicom_to_nifti/src/docker/manifest.json")


def test_defaults_are_the_manifests() -> None:
    manifest_defaults = {
        key: spec["default"] for key, spec in json.loads(MANIFEST.read_text())["config"].items()
    }
    parsed = parse_config(DicomToNiftiConfig, {}, source="config.json")
    assert parsed.model_dump() == manifest_defaults


def test_values_from_config_json() -> None:
    config = parse_config(
        DicomToNiftiConfig,
        {"filename": "%p", "compress": False, "merge_2d": "no"},
        source="config.json",
    )
    assert (config.filename, config.compress, config.merge_2d) == ("%p", False, "no")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"filename": ""}, "config \"filename\" is '' (str)"),
        ({"filename": "sub/%p"}, "without '/'"),
        ({"merge_2d": "always"}, "config \"merge_2d\" is 'always' (str)"),
        ({"compress": "yes"}, "config \"compress\" is 'yes' (str)"),
    ],
)
def test_wrong_values_are_refused(values: dict[str, object], expected: str) -> None:
    with pytest.raises(GearConfigError, match="^config.json: ") as error:
        parse_config(DicomToNiftiConfig, values, source="config.json")
    assert expected in str(error.value)
