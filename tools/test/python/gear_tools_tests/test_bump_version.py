from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_tools.author.bump_version import main

DATE = "2026-12-02"


def snapshot(repo: Path) -> dict[str, str]:
    return {str(p.relative_to(repo)): p.read_text() for p in sorted(repo.rglob("*")) if p.is_file()}


def bump(repo: Path, *argv: str) -> int:
    return main([*argv, "--repo", str(repo), "--date", DATE])


def test_patch_updates_build_manifest_and_changelog(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changelog = repo / "docs/template_gear/CHANGELOG.md"
    unreleased = changelog.read_text().split("## Unreleased\n")[1].split("\n## ")[0].strip()
    assert unreleased

    assert bump(repo, "template-gear", "patch") == 0

    build = (repo / "template_gear/src/docker/BUILD").read_text()
    assert 'version="0.1.1"' in build and "0.1.0" not in build
    manifest = json.loads((repo / "template_gear/src/docker/manifest.json").read_text())
    assert manifest["version"] == "0.1.1"
    assert manifest["custom"]["gear-builder"]["image"] == "flywheel-gears/template-gear:0.1.1"
    text = changelog.read_text()
    assert (
        text.index("## Unreleased\n") < text.index("## 0.1.1 (2026-12-02)") < text.index("## 0.1.0")
    )
    released = text.split("## 0.1.1 (2026-12-02)\n")[1].split("\n## ")[0].strip()
    assert released == unreleased
    assert text.split("## Unreleased\n")[1].split("\n## ")[0].strip() == ""
    assert "template-gear: 0.1.0 -> 0.1.1" in capsys.readouterr().out


def test_by_directory_to_minor_major_and_an_explicit_version(repo: Path) -> None:
    assert bump(repo, "template_gear", "minor") == 0
    assert bump(repo, "template_gear", "2.0.0", "--allow-empty") == 0
    assert bump(repo, "template-gear", "major", "--allow-empty") == 0
    manifest = json.loads((repo / "template_gear/src/docker/manifest.json").read_text())
    assert manifest["version"] == "3.0.0"
    changelog = (repo / "docs/template_gear/CHANGELOG.md").read_text()
    assert changelog.count("- No user-visible changes.") == 2
    assert [
        line
        for line in changelog.splitlines()
        if line.startswith("## 0") or line.startswith("## 2") or line.startswith("## 3")
    ] == [
        "## 3.0.0 (2026-12-02)",
        "## 2.0.0 (2026-12-02)",
        "## 0.2.0 (2026-12-02)",
        "## 0.1.0",
    ]


@pytest.mark.parametrize(
    ("gear", "version", "message"),
    [
        ("template-gear", "0.1.0", "the new version 0.1.0 is not greater than the current 0.1.0"),
        ("template-gear", "0.0.9", "the new version 0.0.9 is not greater than the current 0.1.0"),
        (
            "template-gear",
            "1.0",
            "the new version: '1.0' is not a version of the form MAJOR.MINOR.PATCH",
        ),
        ("template-gear", "v1.0.0", "'v1.0.0' is not a version"),
        (
            "no-such-gear",
            "patch",
            "no gear 'no-such-gear' (by name or directory); the gears are: template-gear",
        ),
    ],
)
def test_refusals_name_the_reason_and_write_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], gear: str, version: str, message: str
) -> None:
    before = snapshot(repo)
    assert bump(repo, gear, version) == 1
    err = capsys.readouterr().err
    assert message in err and err.rstrip().endswith("nothing was written")
    assert snapshot(repo) == before


def test_empty_unreleased_is_refused_unless_allowed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bump(repo, "template-gear", "patch") == 0
    before = snapshot(repo)
    assert bump(repo, "template-gear", "patch") == 1
    assert "no entries under '## Unreleased'" in capsys.readouterr().err
    assert snapshot(repo) == before
    assert bump(repo, "template-gear", "patch", "--allow-empty") == 0


def test_a_build_that_disagrees_with_the_manifest_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = repo / "template_gear/src/docker/BUILD"
    build.write_text(build.read_text().replace('version="0.1.0"', 'version="0.0.9"'))
    before = snapshot(repo)
    assert bump(repo, "template-gear", "patch") == 1
    assert "version is '0.0.9' but the manifest says '0.1.0'" in capsys.readouterr().err
    assert snapshot(repo) == before
