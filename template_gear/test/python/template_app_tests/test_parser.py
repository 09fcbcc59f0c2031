from __future__ import annotations

import re
from pathlib import Path

import pytest

from gear_common.config import parse_config
from gear_common.errors import GearConfigError
from gear_testing.config_contract import assert_config_matches_manifest

from template_app.parser import Config

MANIFEST = Path("template_gear/src/docker/manifest.json")


def test_the_config_model_says_what_the_manifest_says() -> None:
    assert_config_matches_manifest(Config, MANIFEST)


def test_values_from_config_json() -> None:
    values = {"top_words": 3, "case_sensitive": True}
    config = parse_config(Config, values, source="config.json")
    assert (config.top_words, config.case_sensitive) == (3, True)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"top_words": "5"}, "config \"top_words\" is '5' (str)"),
        ({"top_words": 1001}, 'config "top_words" is 1001 (int)'),
        ({"case_sensitive": 1}, 'config "case_sensitive" is 1 (int)'),
    ],
)
def test_wrong_values_are_refused(values: dict[str, object], expected: str) -> None:
    # match= is a regular expression: re.escape keeps "." and "(int)" literal.
    with pytest.raises(GearConfigError, match="^" + re.escape("config.json: ")) as error:
        parse_config(Config, values, source="config.json")
    assert expected in str(error.value)
