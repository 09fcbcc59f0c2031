"""One formatter for bad values: short, safe, each problem once, and a bounded count."""

from __future__ import annotations

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from gear_common.problems import (
    MAX_PROBLEMS,
    clean_text,
    jsonschema_problems,
    pydantic_problems,
    show_value,
    summarize,
)


class Row(BaseModel):
    name: str
    count: int


def test_values_are_shown_short_with_type_and_size() -> None:
    assert show_value("ten") == "'ten' (str)"
    assert show_value(True) == "True (bool)"
    huge = "x" * 10_000_000
    shown = show_value(huge)
    assert shown.endswith("… (str of 10,000,000 characters)")
    assert len(shown) < 90
    nested = [[["x"] * 9] * 9] * 9
    assert show_value(nested).endswith("(list of 9 items)")
    assert len(show_value(nested)) < 90
    assert show_value([]) == "[] (list of 0 items)"


def test_control_characters_and_ansi_escapes_never_reach_the_terminal_raw() -> None:
    value = "\x1b[31mred\x1b[0m\r\nnext\x07"
    shown = show_value(value)
    assert "\x1b" not in shown and "\r" not in shown and "\x07" not in shown
    assert "\\x1b[31mred" in shown
    assert clean_text("a\x9bb") == "a\\x9bb"
    with pytest.raises(ValidationError) as error:
        Row.model_validate({"name": 1, "count": "\x1b]0;title\x07"})
    lines = pydantic_problems(error.value.errors(), lambda path: path)
    assert all("\x1b" not in line and "\x07" not in line for line in lines)
    assert "count is '\\x1b]0;title\\x07' (str): Input should be a valid integer" in lines[1]


def test_pydantic_problems_in_our_words() -> None:
    with pytest.raises(ValidationError) as error:
        Row.model_validate({"count": "x" * 5000})
    lines = pydantic_problems(error.value.errors(), lambda path: f'field "{path}"')
    assert lines[0] == 'field "name" is required but missing'
    assert lines[1].startswith(f'field "count" is \'{"x" * 30}')
    assert "(str of 5,000 characters): Input should be a valid integer" in lines[1]


def test_jsonschema_problems_show_the_value_short() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}
    errors = jsonschema.Draft7Validator(schema).iter_errors({"n": "y" * 100_000})
    (line,) = jsonschema_problems(errors, lambda path: f"config.{path}")
    assert line.startswith("config.n is 'yyy")
    assert line.endswith("(str of 100,000 characters): not of type 'integer'")
    assert len(line) < 200


def test_each_problem_once_and_at_most_a_limit_then_how_many_more() -> None:
    assert summarize(["a", "b", "a"]) == ["a", "b"]
    many = [f"problem {index}" for index in range(MAX_PROBLEMS + 7)]
    summary = summarize(many)
    assert summary[:MAX_PROBLEMS] == many[:MAX_PROBLEMS]
    assert summary[-1] == "and 7 more problems"
