from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_common.context import ContainerRef, GearContext
from gear_common.errors import GearInputError
from gear_common.gear_dir import prepare_gear_dir
from gear_common.job_runner import JobRunner


def run_with_context(gear_path: Path, check: object) -> int:
    def body(context: GearContext) -> None:
        check(context)  # type: ignore[operator]

    return JobRunner(gear_path).run(body)


def input_error(gear_path: Path, name: str) -> str:
    errors: list[str] = []

    def check(context: GearContext) -> None:
        with pytest.raises(GearInputError) as error:
            context.input_file(name)
        errors.append(str(error.value))

    assert run_with_context(gear_path, check) == 0
    return errors[0]


def test_missing_input_entry(tmp_path: Path) -> None:
    prepare_gear_dir(tmp_path)
    message = input_error(tmp_path, "text_file")
    config_path = tmp_path / "config.json"
    assert message == (
        f'{config_path}: input "text_file" is required but config.json has no such input'
    )


def test_input_file_that_does_not_exist(tmp_path: Path) -> None:
    source = tmp_path / "x.txt"
    source.write_text("x")
    gear = tmp_path / "v0"
    prepare_gear_dir(gear, inputs={"text_file": source})
    (gear / "input" / "text_file" / "x.txt").unlink()
    message = input_error(gear, "text_file")
    assert message == f'input "text_file": file {gear / "input/text_file/x.txt"} does not exist'


def test_input_that_is_not_a_file(tmp_path: Path) -> None:
    prepare_gear_dir(tmp_path)
    config_path = tmp_path / "config.json"
    config = json.loads(config_path.read_text())
    config["inputs"]["key"] = {"base": "api-key", "key": "secret"}
    config_path.write_text(json.dumps(config))
    message = input_error(tmp_path, "key")
    assert "has base 'api-key', expected \"file\"" in message
    assert "secret" not in message


def test_destination_and_directories(tmp_path: Path) -> None:
    prepare_gear_dir(tmp_path, destination={"type": "session", "id": "abc"})
    seen: list[object] = []

    def check(context: GearContext) -> None:
        seen.extend([dict(context.destination), context.output_dir, context.work_dir])

    assert run_with_context(tmp_path, check) == 0
    assert seen == [{"type": "session", "id": "abc"}, tmp_path / "output", tmp_path / "work"]


def test_an_input_gives_its_record_and_parent_typed(tmp_path: Path) -> None:
    source = tmp_path / "scan.dcm"
    source.write_bytes(b"DICM")
    gear = tmp_path / "v0"
    prepare_gear_dir(
        gear,
        inputs={"dicom": source},
        destination={"type": "session", "id": "5e1"},
        input_objects={
            "dicom": {
                "type": "dicom",
                "modality": "MR",
                "classification": {"Intent": ["Structural"]},
                "info": {"SeriesDescription": "T1"},
                "tags": ["raw"],
            }
        },
        input_parents={"dicom": {"type": "acquisition", "id": "a1"}},
    )
    seen: dict[str, object] = {}

    def body(context: GearContext) -> None:
        dicom = context.input("dicom")
        seen["input"] = (dicom.path.name, dicom.record.type, dicom.record.modality)
        seen["record"] = (dicom.record.classification, dicom.record.info, dicom.record.tags)
        seen["parent"] = dicom.parent
        seen["destination"] = context.destination_ref

    assert JobRunner(gear).run(body) == 0
    assert seen["input"] == ("scan.dcm", "dicom", "MR")
    assert seen["record"] == ({"Intent": ["Structural"]}, {"SeriesDescription": "T1"}, ["raw"])
    assert seen["parent"] == ContainerRef(type="acquisition", id="a1")
    assert seen["destination"] == ContainerRef(type="session", id="5e1")


def test_a_bad_input_record_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "a.txt"
    source.write_text("x")
    gear = tmp_path / "v0"
    prepare_gear_dir(gear, inputs={"text": source}, input_objects={"text": {"tags": "raw"}})

    def body(context: GearContext) -> None:
        context.input("text")

    assert JobRunner(gear).run(body) == 1
    assert (
        f"{gear / 'config.json'}: input \"text\" object.tags is 'raw' (str): "
        "Input should be a valid list"
    ) in capsys.readouterr().err
