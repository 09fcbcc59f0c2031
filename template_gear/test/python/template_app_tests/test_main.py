from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_common.errors import GearInputError

from template_app.main import run, text_statistics


def test_counts_lines_words_and_characters() -> None:
    stats = text_statistics("One fish, two fish.\nRed fish\n", top_words=2, case_sensitive=False)
    assert (stats.lines, stats.words, stats.characters) == (2, 6, 29)
    assert stats.top_words == [("fish", 3), ("one", 1)]


def test_case_sensitivity_and_ties_sorted_alphabetically() -> None:
    text = "b A a B c"
    assert text_statistics(text, top_words=3, case_sensitive=False).top_words == [
        ("a", 2),
        ("b", 2),
        ("c", 1),
    ]
    assert text_statistics(text, top_words=5, case_sensitive=True).top_words == [
        ("A", 1),
        ("B", 1),
        ("a", 1),
        ("b", 1),
        ("c", 1),
    ]


def test_words_keep_apostrophes_and_hyphens_but_not_digits_only_punctuation() -> None:
    stats = text_statistics("don't stop -- well-known 42", top_words=10, case_sensitive=False)
    assert [word for word, _ in stats.top_words] == ["42", "don't", "stop", "well-known"]


def test_zero_top_words_lists_none() -> None:
    assert text_statistics("a b", top_words=0, case_sensitive=False).top_words == []


def test_run_writes_statistics_json(tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("Ünïcode words\nwords\n", encoding="utf-8")
    output = run(text_file=source, top_words=1, case_sensitive=False, output_dir=tmp_path)
    assert output == tmp_path / "notes.statistics.json"
    assert json.loads(output.read_text(encoding="utf-8")) == {
        "input": "notes.txt",
        "lines": 2,
        "words": 3,
        "characters": 20,
        "top_words": [["words", 2]],
    }


def test_binary_input_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "image.png"
    source.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(GearInputError, match=r"image.png is not UTF-8 text \(byte 0 "):
        run(text_file=source, top_words=1, case_sensitive=False, output_dir=tmp_path)
    assert list(tmp_path.glob("*.json")) == []
