from __future__ import annotations

from pathlib import Path

from gear_testing.config_contract import assert_config_matches_manifest

from dicom_to_nifti_app.parser import DicomToNiftiConfig


def test_the_config_model_says_what_the_manifest_says() -> None:
    assert_config_matches_manifest(
        DicomToNiftiConfig, Path("dicom_to_nifti/src/docker/manifest.json")
    )
