from __future__ import annotations

from textwrap import dedent

import pytest
from pants.core.goals.fmt import FmtResult
from pants.core.goals.update_build_files import RewrittenBuildFile
from pants.core.util_rules import config_files, source_files
from pants.testutil.rule_runner import QueryRule, RuleRunner
from plugin_testutil.machine_options import machine_options

from ruff_format.rules import FormatBuildFileWithRuffRequest, RuffFormatRequest
from ruff_format.rules import rules as ruff_format_rules

# A Ruff with `ruff format` (Pants 2.17's default Ruff lockfile predates it).
RUFF_OPTIONS = ["--ruff-version=ruff==0.4.10", "--ruff-lockfile=<none>"]


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        rules=[
            *ruff_format_rules(),
            *config_files.rules(),
            *source_files.rules(),
            QueryRule(FmtResult, (RuffFormatRequest.Batch,)),
            QueryRule(RewrittenBuildFile, (FormatBuildFileWithRuffRequest,)),
        ],
    )
    runner.set_options(
        [*RUFF_OPTIONS, *machine_options()], env_inherit={"PATH", "PYENV_ROOT", "HOME"}
    )
    return runner


def format_sources(rule_runner: RuleRunner, files: dict[str, str]) -> FmtResult:
    snapshot = rule_runner.make_snapshot(files)
    return rule_runner.request(
        FmtResult,
        [RuffFormatRequest.Batch("", snapshot.files, partition_metadata=None, snapshot=snapshot)],
    )


def test_formats_unformatted_python(rule_runner: RuleRunner) -> None:
    result = format_sources(rule_runner, {"f.py": "x = {'a':1,\n 'b' :2}\n"})
    assert result.did_change
    assert result.output.files == ("f.py",)


def test_leaves_formatted_python_alone(rule_runner: RuleRunner) -> None:
    result = format_sources(rule_runner, {"f.py": 'x = {"a": 1, "b": 2}\n'})
    assert not result.did_change


def test_respects_line_length_from_pyproject(rule_runner: RuleRunner) -> None:
    rule_runner.write_files({"pyproject.toml": "[tool.ruff]\nline-length = 20\n"})
    result = format_sources(rule_runner, {"f.py": "value = call(argument_one, argument_two)\n"})
    assert result.did_change
    assert result.output.digest != result.input.digest


def test_formats_build_files(rule_runner: RuleRunner) -> None:
    lines = tuple(
        dedent(
            """\
            docker_image(name='gear', image_tags=['0.1.0','latest'],
                dependencies=[":manifest"])
            """
        ).splitlines()
    )
    result = rule_runner.request(
        RewrittenBuildFile,
        [FormatBuildFileWithRuffRequest("gear/BUILD", lines, colors_enabled=False)],
    )
    assert result.path == "gear/BUILD"
    assert result.change_descriptions == ("Format with ruff format",)
    assert result.lines == (
        'docker_image(name="gear", image_tags=["0.1.0", "latest"], dependencies=[":manifest"])',
    )


def test_formatted_build_file_is_unchanged(rule_runner: RuleRunner) -> None:
    lines = ('python_sources(name="app")',)
    result = rule_runner.request(
        RewrittenBuildFile,
        [FormatBuildFileWithRuffRequest("BUILD", lines, colors_enabled=False)],
    )
    assert result.lines == lines
    assert result.change_descriptions == ()
