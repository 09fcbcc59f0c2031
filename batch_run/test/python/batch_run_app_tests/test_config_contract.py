from __future__ import annotations

from pathlib import Path

from gear_testing.config_contract import assert_config_matches_manifest

from batch_run_app.parser import BatchRunConfig


def test_the_config_model_says_what_the_manifest_says() -> None:
    assert_config_matches_manifest(BatchRunConfig, Path("batch_run/src/docker/manifest.json"))
