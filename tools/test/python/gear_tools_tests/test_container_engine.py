from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import tomllib

from gear_tools.engine import containers


def test_timed_run_records_first_line_exit_and_log() -> None:
    code = "import time; print('first', flush=True); time.sleep(0.3); print('second')"
    run = containers._timed_run([sys.executable, "-c", code], stream=False)
    assert (run.exit_code, run.log) == (0, "first\nsecond\n")
    assert run.first_line_seconds is not None
    assert run.first_line_seconds + 0.25 < run.seconds


def test_timed_run_of_a_silent_failing_command() -> None:
    run = containers._timed_run([sys.executable, "-c", "raise SystemExit(3)"], stream=False)
    assert (run.exit_code, run.log, run.first_line_seconds) == (3, "", None)


def test_numeric_owner_of_an_image_user() -> None:
    assert containers._numeric_owner("") == (0, 0)
    assert containers._numeric_owner("1000:1000") == (1000, 1000)
    assert containers._numeric_owner("1001") == (1001, 1001)
    with pytest.raises(ValueError, match="USER 'gear' is not numeric"):
        containers._numeric_owner("gear")


def test_owned_tar_holds_the_directory_contents_owned_by_the_user(tmp_path: Path) -> None:
    (tmp_path / "input/text").mkdir(parents=True)
    (tmp_path / "input/text/a.txt").write_text("a")
    (tmp_path / "output").mkdir()
    (tmp_path / "config.json").write_text("{}")
    data = containers._owned_tar(tmp_path, 1000, 1001)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {member.name: (member.uid, member.gid) for member in tar.getmembers()}
    assert members == {
        "config.json": (1000, 1001),
        "input": (1000, 1001),
        "input/text": (1000, 1001),
        "input/text/a.txt": (1000, 1001),
        "output": (1000, 1001),
    }


def test_bin_container_engine_prepares_the_base_image_pants_toml_pins() -> None:
    build_args = tomllib.loads(Path("pants.toml").read_text())["docker"]["build_args"]
    pinned = [arg.split("=", 1)[1] for arg in build_args if arg.startswith("BASE_IMAGE=")]
    printed = subprocess.run(
        ["bash", "tools/src/python/gear_tools/engine/container_engine.sh", "base-image"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert [printed] == pinned
