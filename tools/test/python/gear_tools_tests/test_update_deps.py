"""bin/update-deps: pinning a package, and putting every file back when a check fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from gear_tools.author import gear_resolve, update_deps
from gear_tools.author.update_deps import PINNED_HEADING, UpdateError, pinned_text
from gear_tools.repo import Repository

REQUIREMENTS = "fw-gear>=0.3.7,<0.4\npydicom>=2.4,<3  # the gear's pin\nnumpy>=2,<3\n"


def test_a_pin_outside_the_range_needs_widen() -> None:
    with pytest.raises(UpdateError, match=r"pydicom==3\.0\.1 is outside the range r\.txt gives"):
        pinned_text(REQUIREMENTS, [Requirement("pydicom==3.0.1")], where="r.txt")
    widened = pinned_text(REQUIREMENTS, [Requirement("pydicom==3.0.1")], widen=True)
    assert "pydicom==3.0.1" in widened.splitlines()


def test_a_pin_replaces_its_projects_line_or_is_added() -> None:
    text = pinned_text(REQUIREMENTS, [Requirement("PyDicom==2.4.5"), Requirement("six==1.17.0")])
    lines = text.splitlines()
    assert "pydicom==2.4.5" in lines and "pydicom>=2.4,<3  # the gear's pin" not in lines
    assert lines[-2:] == [PINNED_HEADING, "six==1.17.0"]
    assert "numpy>=2,<3" in lines


def test_a_failing_check_puts_every_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "3rdparty/python/python-default.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("old lock\n")
    requirements = tmp_path / "3rdparty/python/requirements.txt"
    requirements.write_text(REQUIREMENTS)
    calls: list[tuple[str, ...]] = []

    class Ran:
        def __init__(self, code: int, out: str) -> None:
            self.returncode, self.stdout, self.stderr = code, out, ""

    def pants(repo: Path, *args: str) -> Ran:
        calls.append(args)
        if args[0] == "generate-lockfiles":
            lock.write_text("new lock\n")
            return Ran(0, "")
        return Ran(1, "FAILED gear_a/test/python/a_tests/test_a.py::test_reads - KeyError\n")

    class FakeGear:
        name, directory, resolve = "gear-a", "gear_a", "python-default"

    monkeypatch.setattr(update_deps, "_pants", pants)
    monkeypatch.setattr(update_deps, "_locks", lambda *args: {})
    monkeypatch.setattr(update_deps, "_report", lambda *args: {FakeGear(): ["pydicom 1 -> 2"]})
    monkeypatch.setattr(update_deps, "_common_changes", lambda *args: [])
    monkeypatch.setattr(Repository, "gears", lambda self: [FakeGear()])
    code = update_deps.update(
        tmp_path, ["python-default"], [Requirement("pydicom==2.4.5")],
        dry_run=False, checks=True, date="2026-12-07",
    )  # fmt: skip
    assert code == 1
    assert lock.read_text() == "old lock\n" and requirements.read_text() == REQUIREMENTS
    assert [call[0] for call in calls] == ["generate-lockfiles", "lint"]
    error = capsys.readouterr().err
    assert "the update breaks gear_a/test/python/a_tests/test_a.py::test_reads" in error


def test_the_command_line_passes_its_options_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    def update(repo: Path, resolves: list[str], pins: list[Requirement], **options: object) -> int:
        seen.update(resolves=resolves, pins=[str(pin) for pin in pins], **options)
        return 0

    monkeypatch.setattr(update_deps, "update", update)
    monkeypatch.setattr(update_deps, "find_root", lambda given: tmp_path)
    monkeypatch.setattr(gear_resolve, "gear_resolves", lambda repo: ["gear-x"])
    argv = ["--widen", "--dry-run", "--resolve", "gear-x", "pydicom==3.0.1"]
    assert update_deps.main(argv) == 0
    assert seen["resolves"] == ["gear-x"] and seen["pins"] == ["pydicom==3.0.1"]
    assert (seen["widen"], seen["dry_run"], seen["checks"]) == (True, True, True)
    with pytest.raises(SystemExit):
        update_deps.main(["pydicom>=3"])


def test_commons_tests_run_when_their_resolve_is_updated() -> None:
    assert update_deps.common_specs(["python-default"]) == [
        "common/src/python::",
        "common/test/python::",
    ]
    # In a gear resolve common/'s code is checked; its tests run in python-default only.
    assert update_deps.common_specs(["gear-pydicom2"]) == ["common/src/python::"]
