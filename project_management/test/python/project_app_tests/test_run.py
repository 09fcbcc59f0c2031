"""End-to-end: the gear's run.py with a real config.json, input file and output directory,
against the fake Flywheel API (the real SDK speaking HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fake_flywheel import FakeFlywheel, Fault
from gear_common.gear_dir import prepare_gear_dir
from gear_common.job_runner import JobRunner
from gear_testing.entry_point import run_entry_point
from gear_testing.hostile_inputs import alias_bomb

from project_app.gear import run_project_management
from project_app_tests.helpers import EXAMPLE, MANIFEST, project_labels, seed_admin_group


def gear_dir(tmp_path: Path, api_key: str, project_file: Path = EXAMPLE, **config: object) -> Path:
    path = tmp_path / "v0"
    prepare_gear_dir(
        path,
        config=config,
        inputs={"project_file": project_file},
        manifest=MANIFEST,
        api_key=api_key,
    )
    return path


def run_in_process(path: Path) -> int:
    return JobRunner(path).run(run_project_management)


def test_run_twice_creates_once(fake_flywheel: FakeFlywheel, tmp_path: Path) -> None:
    seed_admin_group(fake_flywheel)
    path = gear_dir(tmp_path, fake_flywheel.api_key)

    assert run_in_process(path) == 0
    first = len(fake_flywheel.mutating_requests())
    assert len(fake_flywheel.find("projects")) == 22

    fake_flywheel.reset_requests()
    assert run_in_process(path) == 0
    assert fake_flywheel.mutating_requests() == []
    assert first == 3 + 22 + 2 * 3 + 2 * 22


def test_dry_run_sends_no_mutating_request(
    fake_flywheel: FakeFlywheel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_admin_group(fake_flywheel)
    assert run_in_process(gear_dir(tmp_path, fake_flywheel.api_key, dry_run=True)) == 0
    assert fake_flywheel.mutating_requests() == []
    assert "dry run: would create project gamma/accepted-leads" in capsys.readouterr().out


def test_validation_errors_stop_before_any_request(
    fake_flywheel: FakeFlywheel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "study: A\nstudy-id: a\ncenters: []\ndatatypes: [form]\n"
        "---\nstudy: B\nstudy-id: B!\ncenters: [{center-id: x1, active: maybe}]\n"
    )
    path = gear_dir(tmp_path, fake_flywheel.api_key, project_file=bad)

    assert run_in_process(path) == 1
    assert fake_flywheel.requests == []
    err = capsys.readouterr().err
    assert f"{path / 'input/project_file/bad.yaml'}: 4 problem(s):" in err
    assert "document 1: centers is [] (list of 0 items): List should have at least 1 item" in err
    assert "document 2: study-id is 'B!' (str): String should match pattern" in err
    assert "document 2: centers[0].active is 'maybe' (str): Input should be a valid boolean" in err
    assert "document 2: datatypes is required but missing" in err


def test_yaml_syntax_error_names_document_and_line(
    fake_flywheel: FakeFlywheel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("study: A\n---\nstudy: [unclosed\n")
    assert run_in_process(gear_dir(tmp_path, fake_flywheel.api_key, project_file=bad)) == 1
    assert "broken.yaml: document 2: " in capsys.readouterr().err
    assert fake_flywheel.requests == []


def test_fault_half_way_then_resume(fake_flywheel: FakeFlywheel, tmp_path: Path) -> None:
    seed_admin_group(fake_flywheel)
    path = gear_dir(tmp_path, fake_flywheel.api_key)
    fake_flywheel.inject(Fault("POST", "/api/projects", nth=12, status=503))

    assert run_in_process(path) == 1
    assert len(fake_flywheel.find("projects")) == 11

    assert run_in_process(path) == 0
    assert len(fake_flywheel.find("projects")) == 22
    assert project_labels(fake_flywheel, "gamma")[-1] == "sandbox-form-leads"


def test_gear_bot_key_from_ssm(fake_flywheel: FakeFlywheel, tmp_path: Path, aws_ssm: Any) -> None:
    seed_admin_group(fake_flywheel)
    wrong_key = f"127.0.0.1:{fake_flywheel.port}:__force_insecure:not-the-key"
    path = gear_dir(tmp_path, wrong_key, apikey_path_prefix="/prod/gearbot")
    aws_ssm.put_parameter(
        Name="/prod/gearbot/apikey", Value=fake_flywheel.api_key, Type="SecureString"
    )
    assert run_in_process(path) == 0
    assert len(fake_flywheel.find("projects")) == 22


def test_refused_key_is_a_clear_error_without_the_key(
    fake_flywheel: FakeFlywheel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "sEcReT-value-42"
    wrong_key = f"127.0.0.1:{fake_flywheel.port}:__force_insecure:{secret}"
    assert run_in_process(gear_dir(tmp_path, wrong_key)) == 1
    output = capsys.readouterr()
    assert "the Flywheel API refused the API key (401" in output.err
    assert secret not in output.out + output.err


def test_entry_point_exit_codes(fake_flywheel: FakeFlywheel, tmp_path: Path) -> None:
    seed_admin_group(fake_flywheel)
    path = gear_dir(tmp_path, fake_flywheel.api_key, admin_group="missing")
    result = run_entry_point("project_app.run", path)
    assert result.returncode == 1
    assert 'config admin_group: group "missing" does not exist in Flywheel' in result.stderr
    assert fake_flywheel.mutating_requests() == []


def test_an_alias_bomb_study_file_is_refused_in_a_few_lines_and_nothing_is_sent(
    fake_flywheel: FakeFlywheel, tmp_path: Path
) -> None:
    bomb = alias_bomb(tmp_path / "bomb.yaml")
    path = gear_dir(tmp_path, fake_flywheel.api_key, project_file=bomb, dry_run=True)
    result = run_entry_point("project_app.run", path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert len(output.encode()) < 4096
    assert f"{path / 'input/project_file/bomb.yaml'}: more than 1,000,000 values" in output
    assert fake_flywheel.requests == []


def test_hostile_values_are_shown_short_and_escaped(
    fake_flywheel: FakeFlywheel, tmp_path: Path
) -> None:
    hostile = tmp_path / "hostile.yaml"
    centers = "\n".join(f"  - center-id: c{index}\n    active: 7" for index in range(40))
    hostile.write_text(
        f'study: "\\e[31mred\\e[0m"\nstudy-id: "{"B!" * 100_000}"\ndatatypes: [form]\n'
        f"centers:\n{centers}\n"
    )
    path = gear_dir(tmp_path, fake_flywheel.api_key, project_file=hostile)
    result = run_entry_point("project_app.run", path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert len(output.encode()) < 4096
    assert "\x1b" not in output
    assert "(str of 200,000 characters): String should match pattern" in output
    assert ": 41 problem(s):" in output
    assert "and 21 more problems" in output
    assert fake_flywheel.requests == []
