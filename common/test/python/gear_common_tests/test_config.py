from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field

from gear_common.config import GearConfig, parse_config
from gear_common.errors import GearConfigError


class ExampleConfig(GearConfig):
    threshold: int = Field(default=3, ge=0)
    label: str
    verbose: bool = False


def test_valid_values_are_typed_and_defaults_applied() -> None:
    config = parse_config(ExampleConfig, {"label": "x", "gear-extra": 1}, source="config.json")
    assert config == ExampleConfig(threshold=3, label="x", verbose=False)


def test_wrong_type_names_field_value_and_source() -> None:
    with pytest.raises(GearConfigError) as error:
        parse_config(ExampleConfig, {"label": "x", "threshold": "ten"}, source="/x/config.json")
    message = str(error.value)
    assert message.startswith("/x/config.json: ")
    assert "config \"threshold\" is 'ten' (str)" in message
    assert "integer" in message


def test_bool_is_not_accepted_as_integer() -> None:
    with pytest.raises(GearConfigError, match=r'"threshold" is True \(bool\)'):
        parse_config(ExampleConfig, {"label": "x", "threshold": True}, source="config.json")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(GearConfigError) as error:
        parse_config(ExampleConfig, {"threshold": -1, "verbose": "yes"}, source="config.json")
    message = str(error.value)
    assert 'config "label" is required but missing' in message
    assert 'config "threshold" is -1 (int)' in message
    assert "greater than or equal to 0" in message
    assert "config \"verbose\" is 'yes' (str)" in message


def test_enum_values_keep_their_case_in_the_message() -> None:
    class TagConfig(GearConfig):
        action: Literal["Append Tag", "Replace Tags"] = "Append Tag"

    with pytest.raises(GearConfigError) as error:
        parse_config(TagConfig, {"action": "append tag"}, source="config.json")
    assert str(error.value) == (
        "config.json: config \"action\" is 'append tag' (str): Input should be 'Append Tag' or "
        "'Replace Tags'"
    )
