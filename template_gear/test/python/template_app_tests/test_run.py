"""End-to-end: the gear's run.py entry point, in its own process, on a prepared gear directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gear_common.gear_dir import prepare_gear_dir
from gear_testing.entry_point import run_entry_point

from template_app import run as entry_point

MANIFEST = Path("template_gear/src/docker/manifest.json")


def run_gear(gear_path: Path) -> subprocess.CompletedProcess[str]:
    """Runs the gear's entry point (the image's /bin/run) as its own process."""
    return run_entry_point(entry_point.__name__, gear_path)


def test_writes_statistics_and_exits_0(tmp_path: Path) -> None:
    source = tmp_path / "poem.txt"
    source.write_text("the cat\nthe hat\n")
    gear = tmp_path / "v0"
    prepare_gear_dir(gear, config={"top_words": 1}, inputs={"text_file": source})

    result = run_gear(gear)

    assert result.returncode == 0, result.stdout + result.stderr
    statistics = json.loads((gear / "output" / "poem.statistics.json").read_text())
    assert statistics["top_words"] == [["the", 2]]
    assert "poem.txt: 2 lines, 4 words, 16 characters" in result.stdout


def test_wrong_config_type_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    source = tmp_path / "poem.txt"
    source.write_text("x")
    gear = tmp_path / "v0"
    prepare_gear_dir(gear, config={"top_words": "ten"}, inputs={"text_file": source})

    result = run_gear(gear)

    assert result.returncode == 1
    assert f"{gear / 'config.json'}: config \"top_words\" is 'ten' (str)" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert list((gear / "output").iterdir()) == []


def test_missing_input_file_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    gear = tmp_path / "v0"
    prepare_gear_dir(gear, config={})

    result = run_gear(gear)

    assert result.returncode == 1
    assert 'input "text_file" is required but config.json has no such input' in result.stderr
