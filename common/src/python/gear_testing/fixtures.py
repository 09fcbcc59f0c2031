"""pytest fixtures for gear tests. Use them from a conftest.py:

from gear_testing.fixtures import aws_ssm, fake_flywheel

__all__ = ["aws_ssm", "fake_flywheel"]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fake_flywheel.server import FakeFlywheel


@pytest.fixture
def fake_flywheel(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFlywheel]:
    """A started fake Flywheel; the SDK retries nothing, so injected faults surface at once."""
    monkeypatch.setenv("FLYWHEEL_SDK_TOTAL_RETRIES", "0")
    with FakeFlywheel() as fake:
        yield fake


@pytest.fixture
def aws_ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An SSM client on moto's in-memory AWS, with dummy credentials in the environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("ssm")
