"""Gear code written against flywheel-gear-toolkit's GearToolkitContext and the old
flywheel.GearContext runs on gear_common.legacy_context, against a fake site on 127.0.0.1."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import zipfile
from pathlib import Path

import pytest

from fake_flywheel.server import FakeFlywheel
from gear_common.gear_dir import prepare_gear_dir
from gear_common.legacy_context import GearContext, GearToolkitContext


def toolkit_gear_main(context: GearToolkitContext) -> int:
    """What a toolkit-era run.py does (the shape of flywheel-apps gears of 2020-2022)."""
    context.init_logging()
    context.log_config()
    path = context.get_input_path("dicom")
    name = context.get_input_filename("dicom")
    assert path is not None and name is not None
    text = Path(path).read_text()
    with context.open_output(f"{name}.upper.txt") as out:
        out.write(text.upper())
    (context.work_dir / "scratch.txt").write_text(context.log_level)
    destination = context.get_destination_container()
    context.update_container_metadata(
        "session", info={"checked_by": context.manifest["name"], "level": context.config["level"]}
    )
    context.update_file_metadata(f"{name}.upper.txt", modality="MR")
    return 0 if destination.id == context.destination["id"] else 1


def test_a_toolkit_gear_runs_unchanged_on_the_shim(tmp_path: Path) -> None:
    source = tmp_path / "scan.txt"
    source.write_text("a small scan\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"name": "legacy-gear", "version": "1.0.0"}))
    with FakeFlywheel() as site:
        session = site.add("sessions", {"label": "s1"})
        acquisition = site.add("acquisitions", {"label": "a1", "session": session["_id"]})
        gear_path = tmp_path / "v0"
        prepare_gear_dir(
            gear_path,
            config={"level": 3, "debug": True},
            inputs={"dicom": source},
            manifest=manifest,
            api_key=site.api_key,
            destination={"type": "acquisition", "id": acquisition["_id"]},
        )
        with GearToolkitContext(gear_path=gear_path) as context:
            assert context.config == {"level": 3, "debug": True}
            assert context.config_json["inputs"]["dicom"]["base"] == "file"
            assert context.destination == {"type": "acquisition", "id": acquisition["_id"]}
            status = toolkit_gear_main(context)
    assert status == 0
    assert (gear_path / "output/scan.txt.upper.txt").read_text() == "A SMALL SCAN\n"
    assert (gear_path / "work/scratch.txt").read_text() == "DEBUG"
    metadata = json.loads((gear_path / "output/.metadata.json").read_text())
    assert metadata["session"]["info"] == {"checked_by": "legacy-gear", "level": 3}
    files = metadata["acquisition"]["files"]
    assert [(f["name"], f["modality"]) for f in files] == [("scan.txt.upper.txt", "MR")]


def test_the_old_sdk_context_reads_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flywheel.GearContext() took no arguments: the job's directory is the working one."""
    source = tmp_path / "notes.txt"
    source.write_text("x")
    prepare_gear_dir(tmp_path / "v0", config={"threshold": 0.5}, inputs={"notes": source})
    monkeypatch.chdir(tmp_path / "v0")
    context = GearContext()
    assert context.config["threshold"] == 0.5
    assert context.get_input_path("notes") == str(tmp_path / "v0/input/notes/notes.txt")
    assert context.get_input("missing") is None
    assert context.get_input_path("missing") is None
    assert context.client is None
    assert context.output_dir == tmp_path / "v0/output"
    assert context.log_level == "INFO"


def test_a_file_accessor_on_a_non_file_input_names_it(tmp_path: Path) -> None:
    with FakeFlywheel() as site:
        prepare_gear_dir(tmp_path / "v0", api_key=site.api_key)
        context = GearToolkitContext(gear_path=tmp_path / "v0")
        with pytest.raises(ValueError, match="input 'api-key' is not a file input"):
            context.get_input_path("api-key")


def test_a_config_json_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not JSON"):
        GearToolkitContext(gear_path=tmp_path)


def test_a_gear_may_set_its_own_logger_as_the_toolkit_allowed(tmp_path: Path) -> None:
    """`context.log = logger` (flywheel-gear-toolkit's context kept `log` as an attribute)."""
    import logging

    prepare_gear_dir(tmp_path / "v0")
    context = GearToolkitContext(gear_path=tmp_path / "v0")
    assert context.log is logging.getLogger("GearToolkitContext")
    mine = logging.getLogger("my_gear")
    context.log = mine
    assert context.log is mine


TOOLKIT_WHEEL = Path(
    "common/test/python/gear_common_tests/flywheel_gear_toolkit-0.6.22-py3-none-any.whl"
)


@dataclasses.dataclass
class ToolkitInterface:
    """flywheel-gear-toolkit's GearToolkitContext as its source defines it."""

    methods: dict[str, list[str]]  # name -> its parameters (self left out)
    properties: set[str]
    settable: set[str]  # plain attributes its __init__ assigns, and properties with a setter


def toolkit_interface() -> ToolkitInterface:
    with zipfile.ZipFile(TOOLKIT_WHEEL) as wheel:
        source = wheel.read("flywheel_gear_toolkit/context/context.py")
    tree = ast.parse(source)
    context = next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "GearToolkitContext"
    )
    interface = ToolkitInterface({}, set(), set())
    for node in context.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        decorators = {ast.unparse(decorator) for decorator in node.decorator_list}
        if node.name == "__init__":
            interface.settable |= {
                target.attr
                for target in ast.walk(node)
                if isinstance(target, ast.Attribute)
                and isinstance(target.ctx, ast.Store)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and not target.attr.startswith("_")
            }
        elif any(decorator.endswith(".setter") for decorator in decorators):
            interface.settable.add(node.name)
        elif "property" in decorators:
            interface.properties.add(node.name)
        elif not node.name.startswith("_") or node.name in ("__enter__", "__exit__"):
            interface.methods[node.name] = [
                a.arg for a in node.args.args[1:] + node.args.kwonlyargs
            ]
    return interface


def test_every_method_and_property_of_the_toolkits_context_is_here_alike(tmp_path: Path) -> None:
    toolkit = toolkit_interface()
    assert len(toolkit.methods) >= 20 and {"config", "client"} <= toolkit.properties
    for name in toolkit.properties:
        assert isinstance(getattr(GearToolkitContext, name, None), property), name
    for name, parameters in toolkit.methods.items():
        method = getattr(GearToolkitContext, name, None)
        assert callable(method) and not isinstance(method, property), name
        ours = inspect.signature(method).parameters
        takes_any = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in ours.values())
        missing = [p for p in parameters if p not in ours]
        assert takes_any or not missing, f"{name}: no parameter {missing}"
    # What could be set on the toolkit's context can be set here: its attributes, and any new
    # one (Python objects take them: `context.log = logger`).
    prepare_gear_dir(tmp_path / "v0")
    context = GearToolkitContext(gear_path=tmp_path / "v0")
    assert toolkit.settable >= {"manifest", "config_json", "metadata", "fail_on_validation"}
    for name in [*sorted(toolkit.settable), "log", "state_of_my_gear"]:
        value = getattr(context, name, None)
        setattr(context, name, value)
        assert getattr(context, name) is value, name


def test_the_toolkits_input_object_and_parent_accessors(tmp_path: Path) -> None:
    with FakeFlywheel() as site:
        project = site.add("projects", {"label": "p"})
        subject = site.add("subjects", {"label": "s", "project": project["_id"]})
        session = site.add("sessions", {"label": "ses", "subject": subject["_id"]})
        source = tmp_path / "scan.dcm"
        source.write_text("scan")
        prepare_gear_dir(
            tmp_path / "v0",
            inputs={"dicom": source},
            input_objects={"dicom": {"modality": "MR", "tags": ["raw"]}},
            api_key=site.api_key,
            destination={"type": "session", "id": session["_id"]},
        )
        context = GearToolkitContext(gear_path=tmp_path / "v0")
        record = context.get_input_file_object("dicom")
        assert record is not None and record["modality"] == "MR"
        assert context.get_input_file_object_value("dicom", "tags") == ["raw"]
        assert context.get_input_file_object_value("dicom", "no-such-key") is None
        assert context.get_client() is context.client
        found = context.get_container_from_ref({"type": "session", "id": session["_id"]})
        assert found.label == "ses"
        assert context.get_parent(found).label == "s"
        with pytest.raises(NotImplementedError, match="needs flywheel-bids"):
            context.download_session_bids()
