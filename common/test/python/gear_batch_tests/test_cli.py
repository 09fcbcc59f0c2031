from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fake_flywheel.server import FakeFlywheel, Fault
from gear_batch.cli import main
from gear_batch.state import StateFile

from .conftest import MakeSpec


def _spec_file(tmp_path: Path, make_spec: MakeSpec) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(make_spec().model_dump(mode="json", by_alias=True)))
    return path


def test_without_an_api_key_it_says_how_to_give_one(
    tmp_path: Path,
    make_spec: MakeSpec,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("FW_KEY", raising=False)
    assert main(["submit", str(_spec_file(tmp_path, make_spec))]) == 1
    assert "no API key: set $FW_KEY or pass --api-key-file" in capsys.readouterr().err


def test_a_bad_spec_is_reported_with_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("project: lab/Study\ngear: {name: dwi-qa}\nselect: {level: visit}\n")
    assert main(["submit", str(spec)]) == 1
    assert f"{spec}: select.level is " in capsys.readouterr().err


def test_submit_then_status_from_the_command_line(
    fake_flywheel: FakeFlywheel,
    tmp_path: Path,
    make_spec: MakeSpec,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(fake_flywheel.api_key + "\n")
    spec = _spec_file(tmp_path, make_spec)

    assert main(["--api-key-file", str(key_file), "submit", str(spec)]) == 0
    state = StateFile.read(tmp_path / "spec.state.jsonl")
    assert len(state.submitted()) > 0
    assert main(["--api-key-file", str(key_file), "status", str(spec)]) == 0
    output = capsys.readouterr()
    assert re.search(rf"^pending +{len(state.submitted())}$", output.out, re.MULTILINE)
    assert fake_flywheel.api_key not in output.out + output.err


def test_help_lists_the_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for action in ("submit", "status", "cancel", "collect"):
        assert f"    {action} " in out


def test_an_api_error_is_one_line_without_a_traceback(
    fake_flywheel: FakeFlywheel,
    tmp_path: Path,
    make_spec: MakeSpec,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FW_KEY", fake_flywheel.api_key)
    fake_flywheel.inject(Fault("GET", "/api/sessions", status=503))
    assert main(["submit", str(_spec_file(tmp_path, make_spec))]) == 1
    err = capsys.readouterr().err
    assert "batch-run: error: the Flywheel API answered 503" in err
    assert "Traceback" not in err
