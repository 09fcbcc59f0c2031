from __future__ import annotations

from pathlib import Path

import pytest

from gear_common.config import parse_config
from gear_common.errors import GearConfigError
from gear_testing.config_contract import assert_config_matches_manifest

from dicom_headers_app.parser import Config

MANIFEST = Path("dicom_headers/src/docker/manifest.json")


def test_the_config_model_says_what_the_manifest_says() -> None:
    assert_config_matches_manifest(Config, MANIFEST)


def test_a_wrong_type_is_refused_naming_the_key() -> None:
    with pytest.raises(GearConfigError, match='config "include_private" is 1 \\(int\\)'):
        parse_config(Config, {"include_private": 1}, source="config.json")
