from __future__ import annotations

from pathlib import Path

import pytest

from gear_common.errors import GearInputError
from gear_common.yaml_input import load_yaml_documents


def test_documents_in_order_and_empty_ones_dropped(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("---\na: 1\n---\n---\n- x\n")
    assert load_yaml_documents(path) == [{"a": 1}, ["x"]]


def test_syntax_error_names_file_document_and_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("a: 1\n---\nb: 2\n---\nc: [1, 2\nd: 3\n")
    with pytest.raises(GearInputError) as error:
        load_yaml_documents(path)
    message = str(error.value)
    assert message.startswith(f"{path}: document 3: ")
    assert "line 6" in message


def test_unsafe_tags_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(GearInputError, match="document 1: could not determine a constructor"):
        load_yaml_documents(path)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(GearInputError, match="missing.yaml: does not exist"):
        load_yaml_documents(tmp_path / "missing.yaml")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(GearInputError, match=r"b.yaml: not UTF-8 text \(byte 0\)"):
        load_yaml_documents(binary)
