from __future__ import annotations

from pathlib import Path

from gear_testing.config_contract import assert_config_matches_manifest

from project_app.parser import ProjectManagementConfig


def test_the_config_model_says_what_the_manifest_says() -> None:
    assert_config_matches_manifest(
        ProjectManagementConfig, Path("project_management/src/docker/manifest.json")
    )
