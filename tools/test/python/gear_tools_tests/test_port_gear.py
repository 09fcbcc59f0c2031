"""bin/new-gear NAME --from-gear DIR moves a toolkit-era gear's repository in: its code runs
unchanged on gear_common.legacy_context, its tests and pins come along, and bad input writes
nothing. Pins are checked against a package index on 127.0.0.1."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from gear_tools_tests.pypi_server import pypi_server, release_files

from fake_flywheel.server import FakeFlywheel
from gear_common.gear_dir import prepare_gear_dir
from gear_testing.entry_point import run_entry_point
from gear_tools.author import new_gear, pins, port_gear
from gear_tools.author.new_gear import NewGear, _shared_files, create, main, removal_command

MANIFEST = {
    "name": "tag-files",
    "label": "Tag files",
    "description": "Tags a text file.",
    "version": "0.2.0",
    "author": "Someone",
    "license": "BSD-3-Clause",
    "command": "python3 run.py",
    "environment": {"PYTHONPATH": "/flywheel/v0"},
    "custom": {
        "gear-builder": {"category": "utility", "image": "flywheel/tag-files:0.2.0"},
        # The field's older name, which flywheel-apps manifests still carry beside it.
        "docker-image": "flywheel/tag-files:0.2.0",
    },
    "inputs": {"api-key": {"base": "api-key"}, "text": {"base": "file"}},
    "config": {
        "tag": {"type": "string", "default": "seen"},
        "count": {"type": "number", "default": 6},
    },
}
RUN_PY = '''#!/usr/bin/env python3
"""Written against flywheel-gear-toolkit 0.1."""
import logging

import flywheel_gear_toolkit

from utils.tagging import tag_text

log = logging.getLogger(__name__)


def main(context):
    with open(context.get_input_path("text")) as f:
        text = f.read()
    with context.open_output("tagged.txt") as out:
        out.write(tag_text(text, context.config["tag"]))
    context.update_container_metadata("session", info={"tag": context.config["tag"]})
    return 0


if __name__ == "__main__":
    with flywheel_gear_toolkit.GearToolkitContext() as gear_context:
        gear_context.init_logging()
        raise SystemExit(main(gear_context))
'''
TEST_TAGGING = """from pathlib import Path

from utils.tagging import tag_text


def test_tags(mocker):
    text = (Path(__file__).parent / "data" / "in.txt").read_text()
    assert tag_text(text, "x") == "[x] hello"
"""
UPSTREAM_FILES = {
    "run.py": RUN_PY,
    "utils/__init__.py": "",
    "utils/tagging.py": "def tag_text(text, tag):\n    return f'[{tag}] {text}'\n",
    "utils/headers.py": "import old_metadata\n",
    "tests/unit_tests/test_tagging.py": TEST_TAGGING,
    "tests/unit_tests/test_stale.py": "import tagger\n",
    "tests/unit_tests/data/in.txt": "hello",
    "tests/requirements.txt": "pytest~=5.0\npytest-mock~=1.10\n",
    "tests/Dockerfile": "FROM python:3.8\n",
    "tests/bin/tests.sh": "pytest tests\n",
    "requirements.txt": (
        "flywheel_gear_toolkit~=0.1.0\nbackoff==1.10.0\nold-metadata-toolkit==0.1.4\n"
    ),
    "Dockerfile": (
        "FROM python:3.8-slim\nRUN apt-get update && apt-get install -y \\\n    dcmtk\n"
        "COPY requirements.txt /opt/requirements.txt\nRUN pip install -r /opt/requirements.txt\n"
        "RUN wget https://example.org/tool.zip\nCOPY run.py utils /flywheel/v0/\n"
    ),
    ".circleci/config.yml": "version: 2\n",
    "README.md": "# tag-files\n",
}
PYPI: dict[str, dict[str, Any]] = {
    "backoff": {"releases": {"1.10.0": release_files("1.10.0", "py2.py3-none-any")}},
    # Its module has another name, and it imports pkg_resources without requiring setuptools.
    "old-metadata-toolkit": {
        "releases": {"0.1.4": release_files("0.1.4", "py2.py3-none-any")},
        "modules": {"old_metadata/__init__.py": "from pkg_resources import iter_entry_points\n"},
    },
    "pytest-mock": {"releases": {"3.14.0": release_files("3.14.0", "py3-none-any")}},
    # What the setuptools pin installs: pkg_resources.
    "setuptools": {
        "releases": {"80.9.0": release_files("80.9.0", "py3-none-any")},
        "modules": {"pkg_resources/__init__.py": "def iter_entry_points(group):\n    return []\n"},
    },
    # 1.0.0 only for CPython 3.7 (on x86_64); 1.2.0 for 3.11.
    "fastcore": {
        "releases": {
            "1.0.0": release_files("1.0.0", "cp37-cp37m-manylinux1_x86_64", project="fastcore"),
            "1.2.0": release_files(
                "1.2.0",
                "cp311-cp311-manylinux_2_17_x86_64",
                "cp311-cp311-manylinux_2_17_aarch64",
                project="fastcore",
            ),
            "2.1.0": release_files("2.1.0", "py3-none-any", project="fastcore"),
        }
    },
}
SHARED = (
    "3rdparty/python/BUILD",
    "3rdparty/python/requirements.txt",
    "3rdparty/python/python-default.lock",
    "pants-plugins/gear_macros/gear_image.py",
)


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    root = tmp_path / "tag-files"
    for name, text in UPSTREAM_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "manifest.json").write_text(json.dumps(MANIFEST))
    return root


@pytest.fixture
def full_repo(repo: Path) -> Path:
    for name in SHARED:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(name, repo / name)
    return repo


def port(repo: Path, upstream: Path, *extra: str) -> int:
    with pypi_server(PYPI) as url:
        mp = pytest.MonkeyPatch()
        mp.setenv("GEAR_PYPI_URL", url)
        try:
            return main(
                [
                    "tag-files",
                    "--from-gear",
                    str(upstream),
                    "--repo",
                    str(repo),
                    "--no-pants-checks",
                    *extra,
                ]
            )
        finally:
            mp.undo()


def test_the_gear_moves_in_and_its_code_runs_unchanged(
    full_repo: Path,
    upstream: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert port(full_repo, upstream) == 0
    out = capsys.readouterr().out
    gear = full_repo / "tag_files"
    app = gear / "src/python/tag_files_app"
    assert (app / "utils/tagging.py").read_text() == UPSTREAM_FILES["utils/tagging.py"]
    run_py = (app / "run.py").read_text()
    assert "from gear_common import legacy_context as flywheel_gear_toolkit" in run_py
    assert "from tag_files_app.utils.tagging import tag_text" in run_py
    assert len(run_py.splitlines()) == len(RUN_PY.splitlines())
    assert 'pex_binary(name="bin", entry_point="run.py")' in (app / "BUILD").read_text()
    assert "skip_ruff=True" in (app / "BUILD").read_text()
    # The manifest: kept, but for what the repository owns; each change said in one line.
    manifest = json.loads((gear / "src/docker/manifest.json").read_text())
    assert (manifest["version"], manifest["license"], manifest["command"]) == (
        "0.2.0",
        "BSD-3-Clause",
        "/bin/run",
    )
    assert manifest["config"]["count"]["default"] == 6
    assert "new-gear: manifest command: 'python3 run.py' -> '/bin/run'" in out
    assert "new-gear: manifest environment: {'PYTHONPATH': '/flywheel/v0'} ->" in out
    assert "new-gear: manifest custom.gear-builder.image: 'flywheel/tag-files:0.2.0' ->" in out
    assert "new-gear: manifest custom.docker-image: 'flywheel/tag-files:0.2.0' ->" in out
    assert manifest["custom"]["docker-image"] == manifest["custom"]["gear-builder"]["image"]
    # Tests, their data and their plugin; a test that imports what nothing provides is skipped.
    tests = gear / "test/python/tag_files_app_tests"
    assert (
        "from tag_files_app.utils.tagging import tag_text"
        in (tests / "unit_tests/test_tagging.py").read_text()
    )
    assert (tests / "unit_tests/data/in.txt").read_text() == "hello"
    build = (tests / "BUILD").read_text()
    assert '"3rdparty/python:tag-files#pytest-mock"' in build
    assert '"unit_tests/test_stale.py": {"skip_tests": True}' in build
    assert not (tests / "Dockerfile").exists() and not (tests / "bin").exists()
    assert "not moved: README.md" in out and "unit_tests/test_stale.py: it imports tagger" in out
    docs = (full_repo / "docs/tag_files/README.md").read_text()
    assert "ported with `bin/new-gear --from-gear`" in docs
    # Pins: upstream's, the toolkit dropped (the shim serves its context), test pins unversioned.
    requirements = (full_repo / "3rdparty/python/tag-files-requirements.txt").read_text()
    assert "backoff==1.10.0" in requirements and "pytest-mock\n" in requirements
    assert "flywheel_gear_toolkit" not in requirements
    # The module mapping read from the wheel, and the setuptools its pkg_resources import needs.
    build = (full_repo / "3rdparty/python/BUILD").read_text()
    assert '        "old-metadata-toolkit": ["old_metadata"],\n' in build
    # As ruff format writes them (CI's update-build-files --check and lint read these files).
    for shared in ("3rdparty/python/BUILD", "pants-plugins/gear_macros/gear_image.py"):
        assert max(map(len, (full_repo / shared).read_text().splitlines())) <= 100, shared
    assert "setuptools<81" in requirements
    assert '"3rdparty/python:tag-files#setuptools"' in (app / "BUILD").read_text()
    dockerfile = (gear / "src/docker/Dockerfile").read_text()
    assert (
        "dcmtk" in dockerfile
        and "# From the gear's Dockerfile: wget https://example.org/tool.zip" in dockerfile
    )
    case = json.loads((gear / "test/smoke/starts/case.json").read_text())
    assert case["exit_code"] is None and "ModuleNotFoundError" in case["log_excludes"]

    # The moved-in run.py runs as it was written, on the legacy context, against a fake site.
    source = tmp_path / "note.txt"
    source.write_text("hello")
    monkeypatch.syspath_prepend(str(gear / "src/python"))
    with FakeFlywheel() as site:
        session = site.add("sessions", {"label": "s1"})
        acquisition = site.add("acquisitions", {"label": "a1", "session": session["_id"]})
        prepare_gear_dir(
            tmp_path / "v0",
            destination={"type": "acquisition", "id": acquisition["_id"]},
            config={"tag": "seen", "count": 6},
            inputs={"text": source},
            api_key=site.api_key,
            manifest=gear / "src/docker/manifest.json",
        )
        # A toolkit-era gear finds its directory as the working one (Flywheel's /flywheel/v0).
        result = run_entry_point("tag_files_app.run", tmp_path / "v0", cwd=tmp_path / "v0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "v0/output/tagged.txt").read_text() == "[seen] hello"
    metadata = json.loads((tmp_path / "v0/output/.metadata.json").read_text())
    assert metadata["session"]["info"] == {"tag": "seen"}


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("no-manifest", "no manifest.json (a gear's repository has one at its top)"),
        ("bad-json", "manifest.json"),
        ("no-pin", "no-such-project==1.0: there is no project 'no-such-project'"),
        ("no-dir", "not a directory"),
        ("python-2", "run.py, line 1: not Python 3"),
    ],
)
def test_bad_input_gets_one_clear_line_and_writes_nothing(
    full_repo: Path, upstream: Path, change: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _tree(full_repo)
    extra: list[str] = []
    if change == "no-manifest":
        (upstream / "manifest.json").unlink()
    elif change == "bad-json":
        (upstream / "manifest.json").write_text("{not json")
    elif change == "no-pin":
        extra = ["--requirement", "no-such-project==1.0"]
    elif change == "python-2":
        (upstream / "run.py").write_text('print "hello"\n')
    elif change == "no-dir":
        upstream = upstream / "missing"
    assert port(full_repo, upstream, *extra) == 1
    error = capsys.readouterr().err
    assert expected in error
    assert _tree(full_repo) == before


def test_the_removal_command_new_gear_prints_puts_the_repository_back(
    full_repo: Path, upstream: Path
) -> None:
    """A gear whose checks fail stays written; the command printed with the failure removes
    it and puts back the shared files it changed."""
    subprocess.run(["git", "init", "-q"], cwd=full_repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=full_repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"],
        cwd=full_repo,
        check=True,
    )
    before = _tree(full_repo)
    gear = NewGear(
        name="tag-files",
        label="Tag files",
        description="Tags.",
        category="utility",
        with_api_key=False,
        resolve="tag-files",
        pins=("backoff==1.10.0",),
    )
    backup = {
        path: (full_repo / path).read_bytes()
        for path in _shared_files(gear)
        if (full_repo / path).is_file()
    }
    create(full_repo, gear)
    assert _tree(full_repo) != before
    command = removal_command(full_repo, gear, backup)
    subprocess.run(["bash", "-c", command], cwd=full_repo, check=True)
    assert _tree(full_repo) == before
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=full_repo, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


def test_the_removal_command_removes_only_its_own_gears_lines(full_repo: Path) -> None:
    """Two gears written and not committed: removing the first keeps every line the second
    added to the shared files, and removes the lockfile a later lock made for the first."""
    subprocess.run(["git", "init", "-q"], cwd=full_repo, check=True)

    def gear(name: str, pin: str) -> NewGear:
        return NewGear(name, name, "Tags.", "utility", False, resolve=name, pins=(pin,))

    first, second = gear("tag-files", "backoff==1.10.0"), gear("count-words", "six==1.16.0")
    backup = {
        path: (full_repo / path).read_bytes()
        for path in _shared_files(first)
        if (full_repo / path).is_file()
    }
    create(full_repo, first)
    command = removal_command(full_repo, first, backup)
    create(full_repo, second)
    # The lock the failure message told the author to make, after the command was printed.
    (full_repo / "3rdparty/python/tag-files.lock").write_text("{}\n")
    with_both = {
        path: (full_repo / path).read_text() for path in _shared_files(first) if path in backup
    }
    subprocess.run(["bash", "-c", command], cwd=full_repo, check=True)
    for path, text in with_both.items():
        after = (full_repo / path).read_text()
        assert "tag-files" not in after and "tag_files" not in after, path
        kept = [
            line for line in text.splitlines() if "count-words" in line or "count_words" in line
        ]
        assert all(line in after.splitlines() for line in kept), path
    assert "count-words" in (full_repo / "pants.toml").read_text()
    assert not (full_repo / "tag_files").exists()
    assert not (full_repo / "3rdparty/python/tag-files.lock").exists()
    assert not (full_repo / "3rdparty/python/tag-files-requirements.txt").exists()
    assert (full_repo / "count_words").is_dir()
    assert (full_repo / "3rdparty/python/count-words-requirements.txt").is_file()
    assert not list((full_repo / ".git").glob("new-gear-undo-*"))


def test_pins_that_do_not_work_print_the_one_command_that_continues(
    full_repo: Path,
    upstream: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gear's Pipfile pins a release without a wheel for CPython 3.11: nothing is written,
    and the printed command (the same port with the settled pins) moves the gear in."""
    (upstream / "requirements.txt").unlink()
    (upstream / "Pipfile").write_text(
        '[packages]\nbackoff = "==1.10.0"\nfastcore = "*"\nold-metadata-toolkit = "*"\n'
    )
    (upstream / "Pipfile.lock").write_text(
        json.dumps({"default": {"fastcore": {"version": "==1.0.0"}}})
    )
    before = _tree(full_repo)
    assert port(full_repo, upstream) == 1
    error = capsys.readouterr().err
    assert "fastcore==1.0.0: fastcore 1.0.0 has no wheel for CPython 3.11" in error
    assert _tree(full_repo) == before
    command = error.split("Next (the same port with those pins):\n  bin/new-gear ")[1]
    argv = shlex.split(command.strip())
    assert argv[-2:] == ["--requirement", "fastcore==1.2.0"]
    with pypi_server(PYPI) as url:
        monkeypatch.setenv("GEAR_PYPI_URL", url)
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Pipfile, Pipfile.lock" in out
    assert "pinned to the version its lock file holds: fastcore==1.0.0" in out
    requirements = (full_repo / "3rdparty/python/tag-files-requirements.txt").read_text()
    assert "fastcore==1.2.0" in requirements and "backoff==1.10.0" in requirements


def test_files_the_upstream_image_copies_under_flywheel_v0_come_along(
    full_repo: Path, upstream: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data file the upstream Dockerfile COPYs (through ENV and WORKDIR) and the code opens
    at /flywheel/v0/... is in the gear's /flywheel/v0 files, and its image gets them."""
    (upstream / "labels").mkdir()
    (upstream / "labels/lut.json").write_text('{"1": "gray"}\n')
    (upstream / "templates/report.html").parent.mkdir()
    (upstream / "templates/report.html").write_text("<html></html>\n")
    (upstream / "Dockerfile").write_text(
        "FROM python:3.9\nENV FLYWHEEL=/flywheel/v0\nWORKDIR ${FLYWHEEL}\n"
        "ENV TEMPLATES=${FLYWHEEL}/templates\n"
        "COPY labels ./labels\nCOPY templates/report.html $TEMPLATES/\n"
        "COPY run.py utils manifest.json ${FLYWHEEL}/\nCOPY --from=build /x /flywheel/v0/x\n"
    )
    assert port(full_repo, upstream) == 0
    out = capsys.readouterr().out
    assert (
        "2 files the upstream image has under /flywheel/v0 moved to tag_files/src/flywheel/" in out
    )
    assert "not moved: labels/" not in out and "not moved: templates/" not in out
    flywheel = full_repo / "tag_files/src/flywheel"
    assert (flywheel / "labels/lut.json").read_text() == '{"1": "gray"}\n'
    assert (flywheel / "templates/report.html").is_file()
    assert 'sources=["**/*", "!BUILD"]' in (flywheel / "BUILD").read_text()
    docker_build = (full_repo / "tag_files/src/docker/BUILD").read_text()
    assert 'flywheel_files="tag_files/src/flywheel:flywheel",' in docker_build
    # Code is moved as code, not copied again.
    assert not (flywheel / "run.py").exists() and not (flywheel / "utils").exists()


def test_code_importing_what_no_requirement_provides_stops_the_port_naming_it(
    full_repo: Path,
    upstream: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The upstream image installed backoff some other way: the moved gear would fail at
    import, so the port stops, names the module and the files, and prints the command that
    continues; an import a `try` guards is optional and does not count."""
    (upstream / "requirements.txt").write_text("old-metadata-toolkit==0.1.4\n")
    (upstream / "utils/retry.py").write_text(
        "import backoff\n\ntry:\n    import ujson as json\nexcept ImportError:\n    import json\n"
    )
    before = _tree(full_repo)
    assert port(full_repo, upstream) == 1
    error = capsys.readouterr().err
    assert "backoff (imported by utils/retry.py): give the project that provides it" in error
    assert "ujson" not in error
    assert _tree(full_repo) == before
    argv = shlex.split(error.split("bin/new-gear ", 1)[1])
    assert argv[-2:] == ["--requirement", "backoff"]
    with pypi_server(PYPI) as url:
        monkeypatch.setenv("GEAR_PYPI_URL", url)
        assert main(argv) == 0


def test_a_port_that_does_not_pass_what_ci_runs_says_the_commands_that_continue(
    full_repo: Path,
    upstream: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[tuple[str, ...]] = []

    def pants(repo: Path, *args: str) -> None:
        ran.append(args)
        if args[0] == "check":
            raise new_gear.NewGearError("tag_files/test/python/tag_files_app_tests: failed")

    monkeypatch.setattr(new_gear, "_pants", pants)
    with pypi_server(PYPI) as url:
        monkeypatch.setenv("GEAR_PYPI_URL", url)
        code = main(["tag-files", "--from-gear", str(upstream), "--repo", str(full_repo)])
    assert code == 1
    assert [args[0] for args in ran] == [
        "update-build-files",
        "generate-lockfiles",
        "tailor",
        "check",
    ]
    error = capsys.readouterr().err
    assert "does not yet pass what CI runs for it" in error
    assert (
        "./pants check test package tag_files:: && ./pants run "
        "tools/src/python/gear_tools/images/smoke_images.py -- --gear tag_files" in error
    )
    assert (full_repo / "tag_files/src/docker/manifest.json").is_file()


def test_a_pin_of_another_major_version_than_the_gear_was_released_with_is_named(
    upstream: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (upstream / "requirements.txt").write_text("fastcore==1.2.0\nbackoff\n")
    gear = port_gear.read_upstream(upstream)
    assert gear.released == {"fastcore": "1.2.0"}
    with pypi_server(PYPI) as url:
        pypi = pins.PyPI(url)
        assert port_gear.major_jumps(gear, ["fastcore==1.2.0", "backoff"], pypi) == []
        (note,) = port_gear.major_jumps(gear, ["fastcore>=2"], pypi)
    assert note.startswith(
        "fastcore moves from 1.2.0 (what the gear was released with) to 2.1.0, another major "
        "version: check the gear's code"
    )


def test_a_suites_gear_takes_its_tests_and_test_requirements_from_the_suites_top(
    tmp_path: Path, upstream: Path
) -> None:
    """A gear of a suite repository (gears/<gear>/) whose tests are at the suite's top, under
    tests/unit_tests/<gear>/, as flywheel-apps' gear suites have them."""
    suite = tmp_path / "suite"
    gear = suite / "gears/tag_files"
    gear.parent.mkdir(parents=True)
    shutil.copytree(upstream, gear)
    shutil.rmtree(gear / "tests")
    (suite / "gears/__init__.py").write_text("")
    (suite / "tests/unit_tests/tag_files").mkdir(parents=True)
    (suite / "tests/unit_tests/tag_files/test_tags.py").write_text(
        "import bson\nfrom gears.tag_files.utils.tagging import tag_text\n"
    )
    (suite / "tests/unit_tests/other_gear").mkdir()
    (suite / "tests/unit_tests/other_gear/test_other.py").write_text("")
    (suite / "tests/requirements.txt").write_text("pytest\nbson\n")
    (suite / "tests/data/tag_files").mkdir(parents=True)
    (suite / "tests/data/shared.csv").write_text("a,b\n")
    (suite / "tests/data/tag_files/case.json").write_text("{}\n")
    (gear / ".gitmodules").write_text(
        '[submodule "tests/assets"]\n\tpath = tests/assets\n\turl = https://example.org/a.git\n'
    )
    found = port_gear.read_upstream(gear)
    assert sorted(map(str, found.tests)) == ["test_tags.py"]
    assert found.package_prefix == "gears.tag_files"
    assert "bson" in found.test_requirements
    assert any("tests/unit_tests/tag_files/" in note for note in found.read_notes)
    assert any(
        note.startswith("tests/assets: a git submodule (https://example.org/a.git)")
        for note in found.read_notes
    )
    # Its data beside the tests, two levels up from them there and here.
    assert sorted(map(str, found.test_support)) == ["data/shared.csv", "data/tag_files/case.json"]
    moved = port_gear.moved(found, "tag_files_app", [])
    assert (
        "from tag_files_app.utils.tagging import tag_text"
        in moved.tests[PurePosixPath("test_tags.py")].decode()
    )


def test_tests_and_test_requirements_at_the_repositorys_top_are_the_gears_tests(
    tmp_path: Path,
) -> None:
    gear = tmp_path / "export-gear"
    gear.mkdir()
    (gear / "manifest.json").write_text(json.dumps(MANIFEST))
    (gear / "run.py").write_text("import export\n")
    (gear / "export.py").write_text("def rows():\n    return []\n")
    (gear / "test_export.py").write_text("import mock\nimport export\n")
    (gear / "requirements.txt").write_text("requests\n")
    (gear / "test-requirements.txt").write_text("mock\npytest\n")
    found = port_gear.read_upstream(gear)
    assert set(found.code) == {PurePosixPath("run.py"), PurePosixPath("export.py")}
    assert set(found.tests) == {PurePosixPath("test_export.py")}
    assert found.test_requirements == ["mock", "pytest"]
    assert "test-requirements.txt" in found.requirement_sources
