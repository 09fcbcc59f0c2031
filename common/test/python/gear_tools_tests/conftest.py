from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gear_testing.fixtures import fake_flywheel

__all__ = ["fake_flywheel", "repo"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository holding the real template gear, its docs and pants.toml."""
    root = tmp_path / "repo"
    shutil.copytree("template_gear", root / "template_gear")
    shutil.copytree("docs/template_gear", root / "docs/template_gear")
    shutil.copy("pants.toml", root / "pants.toml")
    return root
