"""Turns the job's config.json and study file into the gear's typed arguments."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from gear_common.config import GearConfig
from gear_common.context import GearContext
from gear_common.study_models import GROUP_ID_PATTERN, Study, parse_studies
from gear_common.yaml_input import load_yaml_documents

PROJECT_FILE_INPUT = "project_file"


class ProjectManagementConfig(GearConfig):
    dry_run: bool = False
    admin_group: str = Field(default="nacc", pattern=GROUP_ID_PATTERN)
    new_only: bool = False
    apikey_path_prefix: str = ""
    debug: bool = False


@dataclass(frozen=True)
class ProjectManagementArgs:
    config: ProjectManagementConfig
    studies: list[Study]


def parse_args(context: GearContext) -> ProjectManagementArgs:
    """Validates config and every study document before anything talks to Flywheel."""
    config = context.parse_config(ProjectManagementConfig)
    project_file = context.input_file(PROJECT_FILE_INPUT)
    studies = parse_studies(load_yaml_documents(project_file), source=project_file)
    return ProjectManagementArgs(config=config, studies=studies)
