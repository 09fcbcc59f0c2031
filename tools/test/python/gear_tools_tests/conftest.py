from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gear_testing.fixtures import fake_flywheel
from gear_tools.run import run_gear

__all__ = ["fake_flywheel", "repo", "template_gear_pex"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository holding the real template gear, its docs and pants.toml."""
    root = tmp_path / "repo"
    shutil.copytree("template_gear", root / "template_gear")
    shutil.copytree("docs/template_gear", root / "docs/template_gear")
    shutil.copy("pants.toml", root / "pants.toml")
    return root


@pytest.fixture
def template_gear_pex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The template gear's pex, as `pants package` built it for the test (its
    runtime_package_dependencies): bin/run-gear runs it. Relative paths of run_gear.main are
    taken from tmp_path."""
    gear = run_gear.pex_path(Path.cwd(), "template_gear", dist=Path.cwd()).resolve()
    assert gear.is_file(), f"{gear}: the template gear's pex is not in the test's sandbox"
    monkeypatch.setattr(run_gear, "pex_path", lambda repo, name: gear)
    # bin/run-gear runs where it was called: tmp_path, which has the template gear.
    (tmp_path / "template_gear").symlink_to(Path("template_gear").resolve())
    monkeypatch.chdir(tmp_path)
    return gear


def commit_all(root: Path) -> Path:
    """`root` made a git repository with everything in it committed."""
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "gear"],
    ):
        subprocess.run(command, cwd=root, check=True)
    return root
