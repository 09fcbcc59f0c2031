from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_common.context import GearContext
from gear_common.engine import GearEngine
from gear_common.errors import GearInputError
from gear_common.gear_dir import prepare_gear_dir


@pytest.fixture
def gear_path(tmp_path: Path) -> Path:
    source = tmp_path / "in.txt"
    source.write_text("content")
    path = tmp_path / "v0"
    prepare_gear_dir(path, config={"n": 1}, inputs={"infile": source})
    return path


def test_success_gives_exit_code_0_and_body_sees_the_job(gear_path: Path) -> None:
    seen: dict[str, object] = {}

    def body(context: GearContext) -> None:
        seen["config"] = dict(context.config_values)
        seen["input"] = context.input_file("infile").read_text()
        (context.output_dir / "result.txt").write_text("done")

    assert GearEngine(gear_path).run(body) == 0
    assert seen == {"config": {"n": 1}, "input": "content"}
    assert (gear_path / "output" / "result.txt").read_text() == "done"


def test_gear_error_is_one_clear_line_and_exit_code_1(
    gear_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body(context: GearContext) -> None:
        raise GearInputError("input file x.txt is empty")

    assert GearEngine(gear_path).run(body) == 1
    stderr = capsys.readouterr().err
    assert stderr.count("input file x.txt is empty") == 1
    assert "ERROR" in stderr
    assert "Traceback" not in stderr


def test_unexpected_error_is_logged_with_traceback(
    gear_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body(context: GearContext) -> None:
        raise KeyError("boom")

    assert GearEngine(gear_path).run(body) == 1
    stderr = capsys.readouterr().err
    assert "The gear failed with an unexpected error" in stderr
    assert "Traceback" in stderr and "KeyError: 'boom'" in stderr


def test_missing_config_json_names_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert GearEngine(tmp_path).run(lambda context: None) == 1
    assert f"{tmp_path / 'config.json'}: not found" in caplog.text


def test_invalid_config_json_names_line_and_column(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "config.json").write_text('{"config": {\n  "n": ,\n}}')
    assert GearEngine(tmp_path).run(lambda context: None) == 1
    assert "config.json: not valid JSON: Expecting value at line 2 column 8" in caplog.text


def test_config_json_must_be_an_object(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "config.json").write_text(json.dumps([1, 2]))
    assert GearEngine(tmp_path).run(lambda context: None) == 1
    assert "expected a JSON object, found list" in caplog.text
