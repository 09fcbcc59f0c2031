"""pytest fixtures for the fake Flywheel API; use with `from fake_flywheel.pytest_fixtures import *`
in a conftest.py, or import `fake_flywheel` by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_flywheel.server import FakeFlywheel


@pytest.fixture
def fake_flywheel(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFlywheel]:
    """A started fake Flywheel; the SDK retries nothing, so injected faults surface at once."""
    monkeypatch.setenv("FLYWHEEL_SDK_TOTAL_RETRIES", "0")
    with FakeFlywheel() as fake:
        yield fake
