"""Gear code written against flywheel-gear-toolkit's GearToolkitContext and the old
flywheel.GearContext runs on gear_common.legacy_context, against a fake site on 127.0.0.1."""

from __future__ import annotations

import json
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
