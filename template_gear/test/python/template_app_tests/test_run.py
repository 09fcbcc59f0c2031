"""End-to-end: the gear's run.py entry point, in its own process, on a prepared gear directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gear_common.gear_dir import prepare_gear_dir

MANIFEST = Path("template_gear/src/docker/manifest.json")


def run_gear(gear_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FLYWHEEL_GEAR_PATH": str(gear_path),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "template_app.run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


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
