"""Fixtures the way gear repositories write them: data files found beside the tests."""

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def config_json():
    """A job's config.json, as Flywheel wrote it."""
    return json.loads((DATA / "config.json").read_text())


@pytest.fixture
def sample_dicom():
    return DATA / "sample.dcm"
