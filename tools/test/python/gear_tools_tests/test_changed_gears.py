"""What bump-version --changed-since reads from git: changed files, baselines, shared inputs.

Which gear images a change reaches is Pants' answer (`--changed-since`, `filedeps`); .ci/run
runs the whole command in a scratch clone, where a change to common/ code bumps exactly the
gears that import it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gear_manifest.compatibility import MAJOR, PATCH, Change
from gear_tools.author.bump_version import main, release_notes
from gear_tools.author.changed_gears import (
    Baseline,
    ChangeError,
    GearChange,
    baseline,
    changed_files,
    changelog_entries,
    commits_touching,
    shared_image_changes,
)
from gear_tools.repo import Repository

MANIFEST = "template_gear/src/docker/manifest.json"


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    return subprocess.run(
        ["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(repo: Path) -> Path:
    """The template gear's repository, committed to git."""
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "template-gear 0.1.0")
    return repo


def edit_manifest(repo: Path, **changes: object) -> None:
    path = repo / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def test_changed_files_are_committed_uncommitted_and_new_ones(repo: Path) -> None:
    start = git(repo, "rev-parse", "HEAD")
    (repo / "template_gear/README.md").write_text("committed\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a readme")
    edit_manifest(repo, label="Changed, not committed")
    (repo / "template_gear/new.txt").write_text("untracked\n")
    assert changed_files(repo, start) == [
        "template_gear/README.md",
        "template_gear/new.txt",
        MANIFEST,
    ]
    assert commits_touching(repo, start, ["template_gear/README.md"])[0].endswith(" a readme")
    with pytest.raises(ChangeError, match="no-such-ref"):
        changed_files(repo, "no-such-ref")


def test_the_baseline_is_the_last_release_tag_else_the_gear_at_ref(repo: Path) -> None:
    gear = Repository(repo).gear("template-gear")
    start = git(repo, "rev-parse", "HEAD")
    found = baseline(repo, gear, start)
    assert found is not None and (found.label, found.version) == (start, "0.1.0")

    git(repo, "tag", "gear/template-gear/v0.1.0")
    edit_manifest(repo, version="0.2.0", label="Second")
    git(repo, "commit", "-qam", "0.2.0")
    git(repo, "tag", "gear/template-gear/v0.2.0")
    git(repo, "tag", "gear/other-gear/v9.0.0")
    found = baseline(repo, gear, start)
    assert found is not None
    assert (found.label, found.version, found.manifest["label"]) == (
        "gear/template-gear/v0.2.0",
        "0.2.0",
        "Second",
    )


def test_a_gear_new_since_ref_has_no_baseline(repo: Path) -> None:
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "before the gear")
    before = git(repo, "rev-parse", "HEAD")
    git(repo, "rm", "-rq", "template_gear")
    git(repo, "commit", "-qm", "no gear")
    git(repo, "revert", "--no-edit", "HEAD")
    gear = Repository(repo).gear("template-gear")
    assert baseline(repo, gear, "HEAD~1") is None
    assert baseline(repo, gear, before) is not None


def test_every_image_changes_with_the_shared_definition_or_the_base_image(repo: Path) -> None:
    start = git(repo, "rev-parse", "HEAD")
    toml = repo / "pants.toml"
    original = toml.read_text()
    toml.write_text(original + "\n# a comment\n")
    assert shared_image_changes(repo, start, ["pants.toml"]) == []
    base = Repository(repo).settings.base_image
    toml.write_text(original.replace(base, "python:3.11.9-slim"))
    assert shared_image_changes(repo, start, ["pants.toml", "common/x.py"]) == ["pants.toml"]
    macro = "pants-plugins/gear_macros/gear_image.py"
    assert shared_image_changes(repo, start, [macro, "pants-plugins/gear_manifest/x.py"]) == [macro]


def test_the_changelog_entry_names_the_contract_changes_and_the_commits(repo: Path) -> None:
    gear = Repository(repo).gear("template-gear")
    change = GearChange(
        gear,
        ("template_gear/src/docker/manifest.json",),
        ("abc1234 Drop the text input",),
        Baseline("gear/template-gear/v0.1.0", "0.1.0", {}),
        (Change(MAJOR, 'removes input "text_file"'),),
        MAJOR,
        "1.0.0",
    )
    assert changelog_entries(change) == (
        '- Removes input "text_file".\n'
        "- Commits since gear/template-gear/v0.1.0:\n"
        "  - abc1234 Drop the text input"
    )
    uncommitted = GearChange(gear, ("a.py",), (), change.baseline, (), PATCH, "0.1.1")
    assert changelog_entries(uncommitted) == (
        "- Changed since gear/template-gear/v0.1.0 (not committed yet): a.py"
    )


def test_release_notes_are_the_versions_changelog_entry(repo: Path) -> None:
    gear = Repository(repo).gear("template-gear")
    notes = release_notes(gear, "0.1.0")
    assert notes is not None and notes.startswith("- First version: text statistics")
    assert release_notes(gear, "9.9.9") is None


def test_changed_since_and_a_gear_are_not_given_together(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["template-gear", "patch", "--changed-since", "HEAD", "--repo", str(repo)])
    assert "either GEAR VERSION or --changed-since REF" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--repo", str(repo)])
    assert "or --changed-since REF" in capsys.readouterr().err


def test_a_lockfile_change_is_the_gears_only_for_packages_its_image_holds(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pants selects every target of a resolve for any change to its lockfile; the gear's part
    is the packages of its own closure (here: real python-default.lock, pydicom moved)."""
    from gear_tools.author import lock_closure, lockfile
    from gear_tools.author.changed_gears import lockfile_packages

    lock = repo / "3rdparty/python/python-default.lock"
    lock.parent.mkdir(parents=True)
    text = Path("3rdparty/python/python-default.lock").read_text()
    lock.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lock")
    old_version = lockfile.read_lock(text)["pydicom"].version
    lock.write_text(text.replace(f'"version": "{old_version}"', '"version": "3.9.9"', 1))
    assert lockfile.read_lock(lock.read_text())["pydicom"].version == "3.9.9"
    gear = Repository(repo).gear("template-gear")
    files = ["3rdparty/python/python-default.lock"]
    monkeypatch.setattr(lock_closure, "gear_roots", lambda repo, gear: ["pydicom>=3,<4"])
    assert lockfile_packages(repo, gear, "HEAD", files) == [f"pydicom {old_version} -> 3.9.9"]
    monkeypatch.setattr(lock_closure, "gear_roots", lambda repo, gear: ["fw-gear"])
    assert lockfile_packages(repo, gear, "HEAD", files) == []
    change = GearChange(
        gear, tuple(files), (), Baseline("gear/template-gear/v0.1.0", "0.1.0", {}), (), PATCH,
        "0.1.1", (f"pydicom {old_version} -> 3.9.9",),
    )  # fmt: skip
    assert changelog_entries(change).startswith(
        f"- Package updates: pydicom {old_version} -> 3.9.9.\n"
    )
