"""Tests that came with the gear: pytest, a conftest.py and data files, run unchanged."""

from gear_common.config import parse_config

from dicom_headers_app.main import read_header
from dicom_headers_app.parser import Config


def test_config_json_parses(config_json):
    config = parse_config(Config, config_json["config"], source="config.json")
    assert config.include_private is True


def test_sample_header(sample_dicom):
    header = read_header(sample_dicom, include_private=False)
    assert header["00100010"]["Value"] == [{"Alphabetic": "Upstream^Sample"}]
    assert header["00080060"]["Value"] == ["MR"]
    assert "00091010" not in header


def test_sample_private_element_kept_when_asked(sample_dicom, config_json):
    header = read_header(sample_dicom, include_private=config_json["config"]["include_private"])
    assert header["00091010"]["Value"] == ["private value"]
