from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gear_tools.ci.scope import GLOBAL_INPUTS, decide, main, plan, scope_of


def git(repo: Path, *args: str) -> str:
    identity = [
        "-c",
        "user.name=ci",
        "-c",
        "user.email=ci@localhost",
        "-c",
        "init.defaultBranch=main",
    ]
    result = subprocess.run(
        ["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    commit(
        tmp_path,
        {"pants.toml": "[GLOBAL]\n", "gear_a/main.py": "a = 1\n", "gear_b/main.py": "b = 1\n"},
        "first",
    )
    return tmp_path


def test_on_main_everything(repo: Path) -> None:
    scope = scope_of(repo, {})
    assert (scope.kind, scope.reason) == ("all", "on main")


def test_a_branch_touching_one_gear_is_checked_from_the_merge_base(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-qb", "fix-gear-a")
    commit(repo, {"gear_a/main.py": "a = 2\n"}, "change a")
    # main moves on meanwhile: the merge base, not main's tip, is what the change is against.
    git(repo, "checkout", "-q", "main")
    commit(repo, {"gear_b/main.py": "b = 2\n"}, "change b on main")
    git(repo, "checkout", "-q", "fix-gear-a")

    scope = scope_of(repo, {})

    assert (scope.kind, scope.base) == ("changed", base)
    assert scope.reason == f"1 changed files since {base[:12]}"


@pytest.mark.parametrize(
    "changed",
    [
        "pants.toml",
        "3rdparty/python/python-default.lock",
        "pants-plugins/gear_macros/gear_image.py",
        ".ci/run",
        "pants",
        "bin/container-engine",
        "tools/src/python/gear_tools/engine/container_engine.sh",
        "pyproject.toml",
        ".github/workflows/pants.yml",
    ],
)
def test_changes_pants_cannot_see_select_everything(repo: Path, changed: str) -> None:
    git(repo, "checkout", "-qb", "settings")
    commit(repo, {"gear_a/main.py": "a = 3\n", changed: "changed\n"}, "global change")

    scope = scope_of(repo, {})

    assert scope.kind == "all"
    assert changed in scope.reason


def test_a_file_that_only_looks_global_does_not(repo: Path) -> None:
    assert decide(["gear_a/pants.toml", "gear_a/BUILD", "docs/bin/x.md"], "abc").kind == "changed"
    assert all(
        decide([entry.rstrip("/") + ("/x" if entry.endswith("/") else "")], "b").kind == "all"
        for entry in GLOBAL_INPUTS
    )


def test_a_gear_resolves_own_files_are_left_to_pants(repo: Path) -> None:
    prelude = 'GEAR_RESOLVES = ("python-default", "gear-pydicom2")\n'
    commit(repo, {"pants-plugins/gear_macros/gear_image.py": prelude}, "a second resolve")
    git(repo, "checkout", "-qb", "repin")
    commit(repo, {"3rdparty/python/gear-pydicom2.lock": "{}\n"}, "re-lock the gear resolve")
    assert scope_of(repo, {}).kind == "changed"
    commit(repo, {"3rdparty/python/gear-pydicom2-requirements.txt": "pydicom<3\n"}, "re-pin")
    assert scope_of(repo, {}).kind == "changed"
    # The tools' libraries are in a resolve of their own: updating one is not a gear change.
    commit(repo, {"3rdparty/python/gear-tools.lock": "{}\n"}, "re-lock the tools")
    assert scope_of(repo, {}).kind == "changed"
    # The default resolve's lockfile, and a file of a resolve that is not a gear's, are global.
    for changed in ("3rdparty/python/python-default.lock", "3rdparty/python/other.lock"):
        assert decide([changed], "b", ["python-default", "gear-pydicom2"]).kind == "all"


def test_explicit_scope_and_base(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    commit(repo, {"gear_b/main.py": "b = 4\n"}, "on main")
    assert scope_of(repo, {"CI_SCOPE": "all"}).kind == "all"
    scope = scope_of(repo, {"CI_BASE": first})
    assert (scope.kind, scope.base) == ("changed", first)
    with pytest.raises(SystemExit, match="CI_SCOPE must be 'all' or 'changed', not 'some'"):
        scope_of(repo, {"CI_SCOPE": "some"})


def test_no_merge_base_selects_everything(repo: Path) -> None:
    git(repo, "checkout", "-q", "--orphan", "unrelated")
    commit(repo, {"other.txt": "x\n"}, "unrelated history")
    git(repo, "branch", "-qD", "main")
    scope = scope_of(repo, {})
    assert scope.kind == "all"
    assert "no merge base of HEAD and main or origin/main" in scope.reason


def test_plan_runs_the_steps_whose_targets_are_selected() -> None:
    one_gear = [
        "dicom_to_nifti/src/docker:dicom-to-nifti",
        "dicom_to_nifti/src/python/x_app/main.py",
    ]
    assert plan(one_gear, everything=False) == {
        "RUN_RELEASE": False,
        "RUN_STARTUP_BENCHMARK": False,
        "RUN_BATCH_BENCHMARK": False,
        "RUN_NEW_GEAR": False,
        "RUN_BUILD_CACHE": False,
        "RUN_UPDATE_DEPS": False,
    }
    assert plan(["tools/src/python/gear_tools/author/update_deps.py"], everything=False)[
        "RUN_UPDATE_DEPS"
    ]
    assert plan(["tools/src/python/build_cache/fault_check.py"], everything=False)[
        "RUN_BUILD_CACHE"
    ]
    template = plan(["template_gear/src/docker:template-gear"], everything=False)
    assert template["RUN_RELEASE"] and template["RUN_NEW_GEAR"]
    shim = plan(["tools/src/python/gear_tools/engine/podman_build.py"], everything=False)
    assert shim["RUN_RELEASE"] and not shim["RUN_NEW_GEAR"]
    assert plan(["common/src/python/fake_flywheel/app.py"], everything=False)["RUN_RELEASE"]
    everything = plan([], everything=True)
    assert not everything["RUN_STARTUP_BENCHMARK"] and not everything["RUN_BATCH_BENCHMARK"]
    assert all(run for step, run in everything.items() if "BENCHMARK" not in step)
    assert all(plan([], everything=True, benchmarks=True).values())
    benchmark = plan(["tools/benchmarks/gear_image_startup.py"], everything=False)
    assert benchmark["RUN_STARTUP_BENCHMARK"] and not benchmark["RUN_BATCH_BENCHMARK"]


def test_command_line(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.delenv("CI_SCOPE", raising=False)
    monkeypatch.delenv("CI_BASE", raising=False)
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    assert main(["scope"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "CI_SCOPE=all",
        "CI_BASE=''",
        "CI_REASON='on main'",
    ]
    selected = tmp_path / "selected.txt"
    selected.write_text("tools/benchmarks/gear_image_startup.py\n")
    assert main(["plan", str(selected), "changed"]) == 0
    assert "RUN_STARTUP_BENCHMARK=1" in capsys.readouterr().out.splitlines()
    assert main(["plan"]) == 2
