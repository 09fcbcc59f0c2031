from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_batch.config_schema import gear_config
from gear_batch.spec import load_batch_spec, parse_batch_spec
from gear_common.errors import GearConfigError, GearInputError
from gear_testing.batch_project import ANALYSIS_GEAR_MANIFEST


def test_a_json_spec_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"project": "lab/My Study", "gear": {"name": "dwi-qa"}}))

    spec = load_batch_spec(path)

    assert (spec.group_id, spec.project_label) == ("lab", "My Study")
    assert spec.select.level.value == "session"
    assert spec.analysis_label == "{gear}_{version}_{date}"


def test_every_problem_is_named_with_its_field() -> None:
    with pytest.raises(GearInputError) as error:
        parse_batch_spec(
            {
                "project": "no-slash",
                "gear": {},
                "select": {"level": "visit"},
                "concurrency": 0,
                "colour": "red",
                "analysis_label": "{gear}_{when}",
            },
            source="spec.yaml",
        )
    message = str(error.value)
    assert message.startswith("spec.yaml: ")
    for expected in (
        "project is 'no-slash' (str): String should match pattern",
        "gear.name is required but missing",
        "select.level is 'visit' (str): "
        "Input should be 'project', 'subject', 'session' or 'acquisition'",
        "concurrency is 0 (int): Input should be greater than or equal to 1",
        "colour is not a known field",
        "analysis_label is '{gear}_{when}' (str): " "Value error, unknown placeholder 'when'",
    ):
        assert expected in message


def test_the_fingerprint_follows_the_content() -> None:
    base = {"project": "lab/Study", "gear": {"name": "dwi-qa"}}
    same = parse_batch_spec(dict(base), source="a").fingerprint()
    assert parse_batch_spec(dict(base), source="b").fingerprint() == same
    changed = parse_batch_spec({**base, "config": {"mode": "full"}}, source="c").fingerprint()
    assert changed != same


def test_config_gets_manifest_defaults_and_overrides() -> None:
    config = gear_config(ANALYSIS_GEAR_MANIFEST["config"], {"mode": "full"}, gear="dwi-qa 1.2.0")
    assert config == {"threshold": 0.5, "mode": "full", "debug": False}


def test_bad_config_lists_every_problem_before_submitting() -> None:
    with pytest.raises(GearConfigError) as error:
        gear_config(
            ANALYSIS_GEAR_MANIFEST["config"],
            {"mode": "slow", "threshold": 2, "colour": "red"},
            gear="dwi-qa 1.2.0",
        )
    message = str(error.value)
    assert message.startswith("config for gear dwi-qa 1.2.0: ")
    assert "config.mode is 'slow' (str): not one of ['fast', 'full']" in message
    assert "config.threshold is 2 (int): greater than the maximum of 1" in message
    assert "'colour' was unexpected" in message


def test_a_required_option_without_default_must_be_given() -> None:
    with pytest.raises(GearConfigError, match="'subject' is a required property"):
        gear_config({"subject": {"type": "string"}}, {}, gear="g 1")
