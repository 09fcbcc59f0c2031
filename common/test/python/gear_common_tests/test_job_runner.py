from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import flywheel
import pytest

from fake_flywheel import FakeFlywheel, Fault
from gear_common.context import GearContext
from gear_common.errors import GearInputError
from gear_common.gear_dir import prepare_gear_dir
from gear_common.job_runner import JobRunner, start_gear


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

    assert JobRunner(gear_path).run(body) == 0
    assert seen == {"config": {"n": 1}, "input": "content"}
    assert (gear_path / "output" / "result.txt").read_text() == "done"


def test_gear_error_is_one_clear_line_and_exit_code_1(
    gear_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body(context: GearContext) -> None:
        raise GearInputError("input file x.txt is empty")

    assert JobRunner(gear_path).run(body) == 1
    stderr = capsys.readouterr().err
    assert stderr.count("input file x.txt is empty") == 1
    assert "ERROR" in stderr
    assert "Traceback" not in stderr


def test_unexpected_error_is_logged_with_traceback(
    gear_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body(context: GearContext) -> None:
        raise KeyError("boom")

    assert JobRunner(gear_path).run(body) == 1
    stderr = capsys.readouterr().err
    assert "The gear failed with an unexpected error" in stderr
    assert "Traceback" in stderr and "KeyError: 'boom'" in stderr


def test_missing_config_json_names_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert JobRunner(tmp_path).run(lambda context: None) == 1
    assert f"{tmp_path / 'config.json'}: not found" in caplog.text


def test_invalid_config_json_names_line_and_column(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "config.json").write_text('{"config": {\n  "n": ,\n}}')
    assert JobRunner(tmp_path).run(lambda context: None) == 1
    assert "config.json: not valid JSON: Expecting value at line 2 column 8" in caplog.text


def test_config_json_must_be_an_object(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "config.json").write_text(json.dumps([1, 2]))
    assert JobRunner(tmp_path).run(lambda context: None) == 1
    assert "expected a JSON object, found list" in caplog.text


def test_first_log_line_names_the_gear_and_image_from_its_manifest(
    gear_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = {
        "name": "my-gear",
        "version": "1.2.0",
        "custom": {"gear-builder": {"image": "org/my-gear:1.2.0"}},
    }
    (gear_path / "manifest.json").write_text(json.dumps(manifest))
    JobRunner(gear_path).run(lambda context: None)
    assert caplog.records[0].getMessage() == "Starting my-gear 1.2.0 (org/my-gear:1.2.0)"


def test_first_log_line_without_a_readable_manifest_names_the_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "manifest.json").write_text('{"name": ')
    JobRunner(tmp_path).run(lambda context: None)
    assert caplog.records[0].getMessage() == f"Starting the gear at {tmp_path}"


def test_the_job_runner_imports_only_the_standard_library_until_it_runs_a_gear() -> None:
    # pydantic, fw-gear and the SDK take most of a second to import; the gear's first log line
    # (start_gear) comes before them.
    code = (
        "import sys, gear_common.job_runner; "
        "print(sorted({'pydantic', 'fw_gear', 'flywheel'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")


def test_start_gear_logs_the_first_line_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FLYWHEEL_GEAR_PATH", str(tmp_path))
    start_gear()
    assert [record.getMessage() for record in caplog.records] == [
        f"Starting the gear at {tmp_path}"
    ]
    JobRunner(tmp_path).run(lambda context: None)
    starts = [r for r in caplog.records if r.getMessage().startswith("Starting")]
    assert len(starts) == 1


@pytest.fixture
def fresh_logging() -> None:
    """No handler left by an earlier test's gear (it writes to that test's closed stderr)."""
    logging.getLogger().handlers.clear()


@pytest.mark.usefixtures("fresh_logging")
@pytest.mark.parametrize(
    ("fault", "call", "expected"),
    [
        (
            None,
            lambda client: client.get_project("0123456789abcdef01234567"),
            "the Flywheel API call get_project (GET /api/projects/0123456789abcdef01234567) "
            "failed: 404 ",
        ),
        (
            Fault("GET", "/api/groups", status=500),
            lambda client: client.get_all_groups(),
            "the Flywheel API call get_all_groups (GET /api/groups) failed: 500 ",
        ),
    ],
)
def test_a_flywheel_api_error_is_one_line_and_exit_code_1(
    gear_path: Path,
    fake_flywheel: FakeFlywheel,
    capsys: pytest.CaptureFixture[str],
    fault: Fault | None,
    call: Callable[[flywheel.Client], object],
    expected: str,
) -> None:
    if fault is not None:
        fake_flywheel.inject(fault)

    def body(context: GearContext) -> None:
        call(flywheel.Client(fake_flywheel.api_key))

    assert JobRunner(gear_path).run(body) == 1
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, stderr
    assert expected in errors[0]
    assert "Traceback" not in stderr and "httpx" not in stderr
    assert fake_flywheel.api_key.rsplit(":", 1)[-1] not in stderr


@pytest.mark.usefixtures("fresh_logging")
def test_with_debug_logging_the_api_error_keeps_its_traceback(
    tmp_path: Path, fake_flywheel: FakeFlywheel, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "v0"
    prepare_gear_dir(path, config={"debug": True})

    def body(context: GearContext) -> None:
        flywheel.Client(fake_flywheel.api_key).get_project("0123456789abcdef01234567")

    assert JobRunner(path).run(body) == 1
    stderr = capsys.readouterr().err
    assert "failed: 404" in stderr
    assert "Traceback" in stderr
