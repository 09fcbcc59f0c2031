"""The workflow check runs the real check-jsonschema and zizmor on workflow files."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from workflow_check.check import line_of, main, path_steps

PINNED = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
GOOD = f"""\
name: ci
on:
  push:
permissions: {{}}
jobs:
  test:
    runs-on: ubuntu-22.04
    permissions:
      contents: read
    steps:
      - uses: {PINNED}
        with:
          persist-credentials: false
      - run: "./pants test ::"
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".github/zizmor.yml").write_text(
        'rules:\n  unpinned-uses:\n    config:\n      policies:\n        "*": hash-pin\n'
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(repo: Path, name: str, text: str) -> str:
    (repo / ".github/workflows" / name).write_text(text)
    return f".github/workflows/{name}"


def test_a_valid_pinned_workflow_passes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, "ci.yml", GOOD)
    assert main([]) == 0
    assert "workflows ok" in capsys.readouterr().out


def test_a_command_yaml_misreads_fails_with_file_line_and_column(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(repo, "ci.yml", GOOD.replace('"./pants test ::"', "./pants test ::"))
    assert main([]) == 1
    out = capsys.readouterr().out
    assert f"{path}:14:28: not valid YAML: mapping values are not allowed here" in out


def test_a_schema_error_names_the_file_line_and_key(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(repo, "ci.yml", GOOD.replace("    steps:", "    stepz:"))
    assert main([]) == 1
    out = capsys.readouterr().out
    assert f"{path}:6: $.jobs.test: Additional properties are not allowed ('stepz'" in out


def test_an_action_pinned_by_tag_is_a_zizmor_finding(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(repo, "ci.yml", GOOD.replace(PINNED, "actions/checkout@v4"))
    assert main([]) == 1
    out = capsys.readouterr().out
    assert "unpinned-uses" in out
    assert f"{path}:11" in out


def test_only_files_given_are_checked_and_a_missing_one_is_named(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(repo, "broken.yml", "a: b: c\n")
    good = write(repo, "ci.yml", GOOD)
    assert main([good]) == 0
    assert main([".github/workflows/nope.yml"]) == 1
    assert "no such file: .github/workflows/nope.yml" in capsys.readouterr().err


def test_no_workflows_is_an_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 1
    assert "no workflow files under .github/workflows/" in capsys.readouterr().err


def test_json_paths_map_to_lines() -> None:
    document = YAML(typ="rt").load(GOOD)
    assert path_steps("$.jobs.test.steps[1]") == ["jobs", "test", "steps", 1]
    assert path_steps("$['on'].push") == ["on", "push"]
    assert line_of(document, path_steps("$.jobs.test.steps[1]")) == 14
    # A key the document lacks: the line of the deepest node it has.
    assert line_of(document, ["jobs", "test", "missing"]) == 6
