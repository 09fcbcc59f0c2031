"""Input files: clear messages for bad paths, and limits that hostile files hit first."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from gear_common.errors import GearInputError
from gear_common.input_files import InputLimits, load_json_input, path_problem, read_input_text
from gear_common.study_models import parse_studies
from gear_common.yaml_input import load_yaml_documents
from gear_testing.hostile_inputs import alias_bomb, deeply_nested_yaml, study_file


def test_paths_that_are_not_regular_files_say_what_they_are(tmp_path: Path) -> None:
    assert path_problem(tmp_path / "nope") == "does not exist"
    assert path_problem(tmp_path) == "is a directory, not a file"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone.yaml")
    assert path_problem(link) == (
        f"is a broken symbolic link (to {tmp_path / 'gone.yaml'}, which does not exist)"
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert path_problem(fifo) == "is not a regular file (a FIFO)"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "sock"))
        assert path_problem(tmp_path / "sock") == "is not a regular file (a socket)"
    regular = tmp_path / "ok.yaml"
    regular.write_text("a: 1\n")
    assert path_problem(regular) is None
    with pytest.raises(GearInputError, match=f"^{tmp_path}: is a directory, not a file$"):
        read_input_text(tmp_path)


def test_a_100_mb_single_line_file_is_refused_by_its_size_without_reading_it(
    tmp_path: Path,
) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as file:
        file.truncate(100 * 1024 * 1024)  # sparse: 100 MB of zero bytes on one line
    with pytest.raises(GearInputError) as error:
        load_json_input(big)
    assert str(error.value) == (
        f"{big}: larger than 16,777,216 bytes, the most an input file may have"
    )


def test_json_depth_emptiness_bom_and_encoding(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(GearInputError, match=r"deep.json: nested more than 64 levels deep$"):
        load_json_input(deep)
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(GearInputError, match=r"empty.json: empty, expected a JSON document$"):
        load_json_input(empty)
    bom = tmp_path / "bom.json"
    bom.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert load_json_input(bom) == {"a": 1}
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{"name": "Zürich"}'.encode("latin-1"))
    with pytest.raises(GearInputError, match=r"latin1.json: not UTF-8 text \(byte 11\)$"):
        load_json_input(latin1)


def test_an_alias_bomb_is_refused_while_it_is_parsed(tmp_path: Path) -> None:
    bomb = alias_bomb(tmp_path / "bomb.yaml")
    assert len(bomb.read_text().splitlines()) == 9
    started = time.monotonic()
    with pytest.raises(GearInputError) as error:
        load_yaml_documents(bomb)
    message = str(error.value)
    assert message.startswith(f"{bomb}: more than 1,000,000 values (counting each alias")
    assert len(message) < 300
    # Refused long before expanding 9**8 values (which takes minutes).
    assert time.monotonic() - started < 30


def test_yaml_nesting_aliases_and_documents_are_bounded(tmp_path: Path) -> None:
    deep = deeply_nested_yaml(tmp_path / "deep.yaml")
    with pytest.raises(GearInputError, match=r"deep.yaml: nested more than 64 levels deep"):
        load_yaml_documents(deep)
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("a: &a 1\nb: [" + ", ".join(["*a"] * 11) + "]\n")
    with pytest.raises(GearInputError, match=r"aliases.yaml: more than 10 aliases"):
        load_yaml_documents(aliases, limits=InputLimits(max_aliases=10))
    documents = tmp_path / "documents.yaml"
    documents.write_text("---\na: 1\n" * 6)
    with pytest.raises(GearInputError, match=r"documents.yaml: more than 5 documents"):
        load_yaml_documents(documents, limits=InputLimits(max_documents=5))
    # Aliases a file has a use for still load, shared as before.
    assert load_yaml_documents(aliases) == [{"a": 1, "b": [1] * 11}]


def test_a_10000_center_study_file_still_loads_and_validates(tmp_path: Path) -> None:
    path = study_file(tmp_path / "big-study.yaml", centers=10_000)
    (study,) = parse_studies(load_yaml_documents(path), source=path)
    assert len(study.centers) == 10_000
    assert study.centers[-1].center_id == "c9999"
