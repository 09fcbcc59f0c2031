from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from fake_flywheel.server import FakeFlywheel
from gear_common.gear_dir import prepare_gear_dir
from gear_common.manifest_config import config_mismatches
from gear_testing.entry_point import run_entry_point
from gear_tools.author import new_gear
from gear_tools.author.new_gear import (
    MAX_DIRECTORY_LENGTH,
    MAX_NAME_LENGTH,
    NewGear,
    NewGearError,
    create,
    main,
    next_argv,
)


def gear(name: str = "dicom-qc", **changes: object) -> NewGear:
    fields: dict[str, object] = {
        "name": name,
        "label": "DICOM QC",
        "description": "Checks DICOM headers.",
        "category": "analysis",
        "with_api_key": False,
        **changes,
    }
    return NewGear(**fields)  # type: ignore[arg-type]


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_renames_everything_consistently(repo: Path) -> None:
    created = create(repo, gear())

    app = repo / "dicom_qc/src/python/dicom_qc_app"
    assert {p.name for p in app.iterdir()} >= {"BUILD", "__init__.py", "main.py", "run.py"}
    assert (repo / "dicom_qc/test/python/dicom_qc_app_tests/test_run.py").is_file()
    assert (repo / "docs/dicom_qc/CHANGELOG.md").read_text().startswith("# dicom-qc changelog")
    manifest = json.loads((repo / "dicom_qc/src/docker/manifest.json").read_text())
    assert (manifest["name"], manifest["label"], manifest["version"]) == (
        "dicom-qc",
        "DICOM QC",
        "0.1.0",
    )
    assert manifest["custom"]["gear-builder"] == {
        "category": "analysis",
        "image": "flywheel-gears/dicom-qc:0.1.0",
    }
    assert "api-key" not in manifest["inputs"]
    assert {p.name for p in (repo / "dicom_qc/src/docker").iterdir()} == {
        "BUILD",
        "Dockerfile",
        "manifest.json",
    }
    dockerfile = (repo / "dicom_qc/src/docker/Dockerfile").read_text()
    assert "FROM ${BASE_IMAGE}" in dockerfile.splitlines()
    build = (repo / "dicom_qc/src/docker/BUILD").read_text()
    assert 'name="dicom-qc"' in build and 'version="0.1.0"' in build
    assert 'pex="dicom_qc/src/python/dicom_qc_app:bin"' in build
    test_run = (repo / "dicom_qc/test/python/dicom_qc_app_tests/test_run.py").read_text()
    assert "from dicom_qc_app import run as entry_point" in test_run
    for path in created:
        text = path.read_text(errors="replace")
        leftovers = text.replace("created from template_gear", "").replace(
            "Created from template_gear", ""
        )
        assert "template" not in leftovers.lower(), path
    assert not list(repo.glob(".new-gear-*"))


@pytest.mark.parametrize(
    ("name", "directory"),
    [
        ("a" * MAX_DIRECTORY_LENGTH, None),
        ("a" * 60 + "-" + "b" * (MAX_NAME_LENGTH - 61), "long_name"),
    ],
    ids=["longest-directory", "longest-name"],
)
def test_the_longest_names_still_fit_the_line_length(
    repo: Path, name: str, directory: str | None
) -> None:
    """Ruff would reformat (and lint would fail on) a generated line longer than 100; a name as
    long as Flywheel allows is taken, with a shorter directory."""
    created = create(repo, gear(name, directory_name=directory))
    code = [path for path in created if path.suffix == ".py"]
    assert code
    for path in code:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            assert len(line) <= 100, f"{path}:{number}: {len(line)} characters"
    builds = [path for path in created if path.name == "BUILD"]
    for path in builds:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            # A lone word (`name="<the gear name>",`) is the one kind of line Ruff lets run long.
            assert len(line) <= 100 or " " not in line.strip(), f"{path}:{number}"
    manifest = json.loads(next(p for p in created if p.name == "manifest.json").read_text())
    assert manifest["name"] == name


def test_a_name_too_long_for_a_directory_is_told_a_shorter_one(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "bids-fmriprep-with-freesurfer-and-extra-options"
    before = tree(repo)
    assert main([name, "--repo", str(repo), "--no-pants-checks"]) == 1
    error = capsys.readouterr().err
    assert (
        "give a shorter one with --directory, e.g. --directory bids_fmriprep_with_freesurfer"
        in (error)
    )
    assert tree(repo) == before
    assert main([name, "--repo", str(repo), "--no-pants-checks", "--directory", "fmriprep"]) == 0
    manifest = json.loads((repo / "fmriprep/src/docker/manifest.json").read_text())
    assert manifest["name"] == name
    assert (repo / "fmriprep/src/python/fmriprep_app/run.py").is_file()


def test_api_key_input_and_version_reset(repo: Path) -> None:
    build = repo / "template_gear/src/docker/BUILD"
    build.write_text(build.read_text().replace('version="0.1.0"', 'version="2.3.4"'))
    create(repo, gear("needs-key", with_api_key=True))
    manifest = json.loads((repo / "needs_key/src/docker/manifest.json").read_text())
    assert manifest["inputs"]["api-key"] == {"base": "api-key"}
    new_build = (repo / "needs_key/src/docker/BUILD").read_text()
    assert 'version="0.1.0"' in new_build and "2.3.4" not in new_build


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Bad_Name", "'Bad_Name' is not a valid gear name"),
        ("9lives", "'9lives' is not a valid gear name"),
        ("x" * 101, "at most 100 characters, Flywheel's limit"),
        ("x" * 33, "is 33 characters, longer than the 32"),
        ("template-gear", "the gear name 'template-gear' is taken by"),
    ],
)
def test_refused_names_write_nothing(repo: Path, name: str, message: str) -> None:
    before = tree(repo)
    with pytest.raises(NewGearError, match=message):
        create(repo, gear(name))
    assert tree(repo) == before


def test_existing_directory_and_bad_category_are_all_reported(repo: Path) -> None:
    (repo / "docs/dicom_qc").mkdir(parents=True)
    before = tree(repo)
    with pytest.raises(NewGearError) as error:
        create(repo, gear(category="science"))
    message = str(error.value)
    assert f"{repo / 'docs/dicom_qc'} already exists" in message
    assert (
        "category must be one of utility, analysis, converter, classifier, qa, not 'science'"
        in message
    )
    assert tree(repo) == before


def test_command_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-counter", "--no-pants-checks", "--repo", str(repo)]) == 0
    assert "Created gear demo-counter in demo_counter/" in capsys.readouterr().out
    assert main(["demo-counter", "--no-pants-checks", "--repo", str(repo)]) == 1
    assert "already exists" in capsys.readouterr().err


# A manifest of another gear, written the way public gears write theirs: enums with spaces and
# capitals, a required value with no default, bounds, a key that is no Python name, optional
# inputs and a file input restricted by its file type.
PORTED: dict[str, object] = {
    "name": "tag-editor",
    "label": "Tag Editor",
    "description": "Edits the tags of a file's container.",
    "version": "2.4.1",
    "author": "Someone Else",
    "license": "MIT",
    "custom": {
        "gear-builder": {"category": "utility", "image": "them/tag-editor:2.4.1"},
        "flywheel": {"suite": "Metadata Import and Validation", "show-job": True},
        "docker-image": "them/tag-editor:2.4.1",
    },
    "command": "python run.py",
    "inputs": {
        "input_file": {"base": "file", "type": {"enum": ["dicom", "nifti"]}},
        "tag_list": {"base": "file", "optional": True},
        "api-key": {"base": "api-key"},
    },
    "config": {
        "action": {
            "type": "string",
            "enum": ["Append Tag", "Replace Tags"],
            "default": "Append Tag",
        },
        "tag": {"type": "string", "minLength": 1},
        "max-tags": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100},
        "threshold": {"type": "number", "default": 1, "exclusiveMinimum": 0},
        "note": {"type": "string", "optional": True},
        "extra_tags": {"type": "array", "items": {"type": "string"}, "default": []},
    },
}


def test_a_ported_manifest_keeps_inputs_and_config_and_the_model_agrees(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "README.md").write_text(
        "# Gears\n\n| gear | what it does | docs |\n|---|---|---|\n| `a` | A. | a |\n\nMore.\n"
    )
    create(repo, gear("tag-edit", source_manifest=PORTED, category="utility"))

    manifest = json.loads((repo / "tag_edit/src/docker/manifest.json").read_text())
    assert manifest["inputs"] == PORTED["inputs"] and manifest["config"] == PORTED["config"]
    assert (manifest["name"], manifest["version"], manifest["author"]) == (
        "tag-edit",
        "2.4.1",
        "Someone Else",
    )
    assert manifest["custom"]["gear-builder"]["image"] == "flywheel-gears/tag-edit:2.4.1"
    assert 'version="2.4.1"' in (repo / "tag_edit/src/docker/BUILD").read_text()
    # The generated model, imported as the gear will import it, says what the manifest says.
    app = repo / "tag_edit/src/python/tag_edit_app"
    spec = importlib.util.spec_from_file_location("tag_edit_app_parser", app / "parser.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    model = module.Config
    assert config_mismatches(model, manifest["config"], where="manifest.json") == []
    # The template's text statistics are gone; what is left to write is marked.
    tests = repo / "tag_edit/test/python/tag_edit_app_tests"
    assert sorted(p.name for p in tests.iterdir()) == [
        "BUILD",
        "__init__.py",
        "test_parser.py",
        "test_run.py",
    ]
    assert sorted(p.name for p in (repo / "tag_edit/test/smoke").iterdir()) == ["runs"]
    case = json.loads((repo / "tag_edit/test/smoke/runs/case.json").read_text())
    assert case["config"] == {"tag": "x"} and case["inputs"] == {"input_file": "input_file.dat"}
    assert "TODO(new-gear)" in (app / "main.py").read_text()
    assert "TODO(new-gear)" in (repo / "docs/tag_edit/README.md").read_text()
    assert "`max-tags` | integer | 10 |" in (repo / "docs/tag_edit/README.md").read_text()
    assert (
        "| `tag-edit` | Checks DICOM headers. | [docs/tag_edit]" in (repo / "README.md").read_text()
    )


def test_a_manifest_that_cannot_be_ported_is_refused_naming_the_key(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps({**PORTED, "config": {"when": {"type": "date"}}}))
    assert (
        main(["tag-edit", "--from-manifest", str(bad), "--no-pants-checks", "--repo", str(repo)])
        == 1
    )
    err = capsys.readouterr().err
    assert f"{bad}: config 'when' has type 'date', expected one of string, integer" in err
    assert not (repo / "tag_edit").exists()


def test_a_port_keeps_its_custom_keys_and_says_what_it_changed(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "manifest.json"
    source.write_text(json.dumps({**PORTED, "flywheel-extras": {"x": 1}}))
    assert (
        main(["tag-edit", "--from-manifest", str(source), "--no-pants-checks", "--repo", str(repo)])
        == 0
    )
    manifest = json.loads((repo / "tag_edit/src/docker/manifest.json").read_text())
    custom = PORTED["custom"]
    assert isinstance(custom, dict)
    assert manifest["custom"]["flywheel"] == custom["flywheel"]
    # The older name of the image field follows it (fw-gear refuses the two differing).
    assert manifest["custom"]["docker-image"] == "flywheel-gears/tag-edit:2.4.1"
    assert manifest["custom"]["gear-builder"] == {
        "category": "utility",
        "image": "flywheel-gears/tag-edit:2.4.1",
    }
    changes = [line for line in capsys.readouterr().out.splitlines() if "manifest" in line]
    # One line per change, each with its reason; nothing added or dropped unsaid.
    for expected in (
        "new-gear: manifest custom.gear-builder.image: 'them/tag-editor:2.4.1' -> "
        "'flywheel-gears/tag-edit:2.4.1' (this repository builds and names the image)",
        "new-gear: manifest custom.docker-image: 'them/tag-editor:2.4.1' -> "
        "'flywheel-gears/tag-edit:2.4.1' (the older name of custom.gear-builder.image; the two "
        "must agree)",
        "new-gear: manifest name: 'tag-editor' -> 'tag-edit' (the name given to new-gear)",
        "new-gear: manifest flywheel-extras: dropped (not a gear manifest field here)",
        "new-gear: manifest: everything else is kept as it was",
    ):
        assert expected in changes
    assert any(line.startswith("new-gear: manifest command: ") for line in changes)
    added = {key for key in manifest if key not in PORTED} - {"command", "environment"}
    for key in added:
        assert any(line.startswith(f"new-gear: manifest {key}: added as ") for line in changes)


# The template's own example (text statistics): words no generated gear may keep unmarked.
TEMPLATE_WORDS = ("text statistic", "top_words", "text_file", "case_sensitive", "fox", "word")


@pytest.mark.parametrize("ported", [False, True], ids=["from-template", "from-manifest"])
def test_no_template_text_is_left_without_a_todo_mark(repo: Path, ported: bool) -> None:
    created = create(repo, gear("tag-edit", source_manifest=PORTED if ported else None))
    unmarked = []
    for path in created:
        text = path.read_text(encoding="utf-8", errors="replace")
        found = [word for word in TEMPLATE_WORDS if word in text.lower()]
        # A smoke case's input file is marked by its case.json.
        case = path.parent / "case.json"
        marked = "TODO(new-gear)" in text or (
            case.is_file() and "TODO(new-gear)" in case.read_text()
        )
        if found and not marked:
            unmarked.append(f"{path.relative_to(repo)}: {', '.join(found)}")
    assert unmarked == []
    init = repo / "tag_edit/src/python/tag_edit_app/__init__.py"
    assert init.read_text() == '"""DICOM QC: Checks DICOM headers."""\n'


def test_a_ported_api_key_input_gives_the_gear_a_flywheel_client(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(repo, gear("tag-edit", source_manifest=PORTED))
    app = repo / "tag_edit/src/python/tag_edit_app"
    assert "client_for(context)" in (app / "gear.py").read_text()
    monkeypatch.syspath_prepend(str(repo / "tag_edit/src/python"))
    (tmp_path / "in.dcm").write_bytes(b"DICM")
    with FakeFlywheel() as site:
        prepare_gear_dir(
            tmp_path / "v0",
            config={"tag": "x"},
            inputs={"input_file": tmp_path / "in.dcm"},
            api_key=site.api_key,
        )
        result = run_entry_point("tag_edit_app.run", tmp_path / "v0")
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "Connected to Flywheel as admin@example.org" in log
    assert site.api_key_secret not in log
    case = json.loads((repo / "tag_edit/test/smoke/runs/case.json").read_text())
    assert case["flywheel"] == {"expect_mutating_requests": 0}


def _unused_imports(source: str) -> list[str]:
    """The names a module imports and never uses (what ruff's F401 would report)."""
    tree = ast.parse(source)
    imported = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and getattr(node, "module", "") != "__future__"
        for alias in node.names
    }
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return sorted(imported - used)


def test_a_manifest_without_file_inputs_is_ported_lint_clean_and_runs(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_key_only = {**PORTED, "inputs": {"api-key": {"base": "api-key"}}}
    created = create(repo, gear("tag-edit", source_manifest=api_key_only))
    for path in created:
        if path.suffix == ".py":
            assert _unused_imports(path.read_text()) == [], path
    monkeypatch.syspath_prepend(str(repo / "tag_edit/src/python"))
    with FakeFlywheel() as site:
        prepare_gear_dir(tmp_path / "v0", config={"tag": "x"}, api_key=site.api_key)
        result = run_entry_point("tag_edit_app.run", tmp_path / "v0")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_ported_number_keeps_whole_values_whole(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flywheel writes `"threshold": 6` for a number: the gear's code gets 6, not 6.0."""
    create(repo, gear("tag-edit", source_manifest=PORTED))
    app = repo / "tag_edit/src/python/tag_edit_app"
    spec = importlib.util.spec_from_file_location("tag_edit_app_numbers", app / "parser.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    whole = module.Config.model_validate({"tag": "x", "threshold": 6}).threshold
    assert (whole, type(whole)) == (6, int)
    assert module.Config.model_validate({"tag": "x", "threshold": 2.5}).threshold == 2.5
    default = module.Config.model_validate({"tag": "x"}).threshold
    assert (default, type(default)) == (1, int)
    with pytest.raises(ValueError, match="greater than 0"):
        module.Config.model_validate({"tag": "x", "threshold": 0})


def test_a_new_resolve_is_locked_before_lint_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lint reads the gear resolve's lockfile: locking after it failed every port that made a
    resolve (`... .lock does not exist on disk`)."""
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(new_gear, "_pants", lambda repo, *args: ran.append(args))
    requirements = tmp_path / "3rdparty/python/tag-files-requirements.txt"
    requirements.parent.mkdir(parents=True)
    requirements.write_text("pyyaml\n")
    gear = new_gear.NewGear("tag-files", "Tag files", "", "utility", False, resolve="tag-files")
    new_gear.check_with_pants(tmp_path, gear, ported=True)
    goals = [args[0] for args in ran]
    assert goals == ["update-build-files", "generate-lockfiles", "tailor"]
    assert "lint" in ran[2]


def test_a_moved_in_gear_is_proved_as_ci_runs_it_and_a_failure_says_what_continues(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After lint, a port runs check, test, package and its image's smoke cases; when one
    fails, the output names it and the commands that continue, and the gear stays written."""
    ran: list[tuple[str, ...]] = []

    def pants(repo: Path, *args: str) -> None:
        ran.append(args)
        if args[0] == "run":
            raise NewGearError(
                "FAIL flywheel-gears/dicom-qc:0.1.0 smoke starts: log contains 'ImportError'"
            )

    monkeypatch.setattr(new_gear, "_pants", pants)
    gear = NewGear("dicom-qc", "DICOM QC", "", "analysis", False)
    with pytest.raises(NewGearError, match="smoke starts"):
        new_gear.prove(repo, gear)
    assert ran == [
        ("check", "test", "package", "dicom_qc::"),
        ("run", new_gear.SMOKE_IMAGES, "--", "--gear", "dicom_qc"),
    ]
    out = capsys.readouterr().out
    assert "Proving: ./pants check test package dicom_qc:: ..." in out


def test_the_next_command_replaces_a_requirement_it_proposes_again() -> None:
    argv = ["g", "--from-gear", "d", "--requirement", "a==1", "--requirement=b==2", "--label", "x"]
    assert next_argv(argv, ["a==3", "c>=1"]) == [
        "g", "--from-gear", "d", "--requirement=b==2", "--label", "x",
        "--requirement", "a==3", "--requirement", "c>=1",
    ]  # fmt: skip
