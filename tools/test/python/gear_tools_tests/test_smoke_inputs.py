from __future__ import annotations

import zipfile
from pathlib import Path

import pydicom
import pytest

from gear_tools.images.smoke_inputs import SmokeInputError, ZippedInput, make_input, source_file

MR = "pydicom:data/test_files/MR_small.dcm"


def test_a_path_in_the_case_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert make_input(tmp_path, "notes.txt", tmp_path / "scratch") == tmp_path / "notes.txt"


def test_a_data_file_a_package_ships_is_the_real_file(tmp_path: Path) -> None:
    path = make_input(tmp_path, MR, tmp_path / "scratch")
    assert pydicom.dcmread(path).Modality == "MR"


def test_a_zip_is_built_from_case_files_and_package_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    spec = ZippedInput(zip="series.zip", files=[MR, "notes.txt"])
    archive = make_input(tmp_path, spec, tmp_path / "scratch")
    assert archive == tmp_path / "scratch/series.zip"
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == ["MR_small.dcm", "notes.txt"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.txt", "input file {case}/missing.txt does not exist"),
        (
            "os:path.py",
            "'os:path.py' names package 'os'; smoke cases may use data files of pydicom",
        ),
        (
            "pydicom:data/test_files/nothing.dcm",
            "pydicom ships no file 'data/test_files/nothing.dcm'",
        ),
    ],
)
def test_bad_inputs_name_the_case_and_the_file(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(SmokeInputError) as error:
        source_file(tmp_path, spec)
    assert str(error.value) == f"{tmp_path}/case.json: " + message.format(case=tmp_path)
