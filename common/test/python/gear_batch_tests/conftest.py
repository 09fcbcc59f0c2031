from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fake_flywheel.server import FakeFlywheel
from gear_batch.site import BatchSite
from gear_batch.spec import BatchSpec, parse_batch_spec
from gear_common.flywheel_client import connect
from gear_testing.batch_project import BatchProject, build_batch_project
from gear_testing.fixtures import aws_ssm, fake_flywheel

__all__ = ["aws_ssm", "fake_flywheel"]

MakeSpec = Callable[..., BatchSpec]


@pytest.fixture
def project(fake_flywheel: FakeFlywheel) -> BatchProject:
    return build_batch_project(fake_flywheel, sessions=12)


@pytest.fixture
def site(fake_flywheel: FakeFlywheel) -> BatchSite:
    return BatchSite(connect(fake_flywheel.api_key), page_size=5)


def spec_document(project_path: str, **overrides: Any) -> dict[str, Any]:
    """The usual spec: dwi-qa on every session with a dwi acquisition."""
    return {
        "project": project_path,
        "gear": {"name": "dwi-qa", "version": "1.2.0"},
        "select": {"level": "session", "acquisition_label": "^dwi$"},
        "inputs": {
            "dwi": {"from": "acquisition", "acquisition_label": "^dwi$", "type": "nifti"},
            "license": {"from": "project", "name": "license.txt"},
        },
        "tags": ["vm-small"],
        "retry_backoff_seconds": 0.0,
        "page_size": 5,
        **overrides,
    }


@pytest.fixture
def make_spec(project: BatchProject) -> MakeSpec:
    def make(**overrides: Any) -> BatchSpec:
        return parse_batch_spec(spec_document(project.path, **overrides), source="spec.yaml")

    return make


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "run.state.jsonl"
