from __future__ import annotations

import json
from pathlib import Path

from gear_common.gear_dir import prepare_gear_dir


def test_lays_out_inputs_config_and_directories(tmp_path: Path) -> None:
    source = tmp_path / "data.txt"
    source.write_text("hello\n")
    gear = tmp_path / "v0"

    config_path = prepare_gear_dir(
        gear,
        config={"top": 3},
        inputs={"text": source},
        location_root=Path("/flywheel/v0"),
    )

    assert (gear / "input" / "text" / "data.txt").read_text() == "hello\n"
    assert (gear / "output").is_dir() and (gear / "work").is_dir()
    config = json.loads(config_path.read_text())
    assert config["config"] == {"top": 3}
    assert config["inputs"]["text"]["location"] == {
        "path": "/flywheel/v0/input/text/data.txt",
        "name": "data.txt",
    }
    assert config["inputs"]["text"]["object"]["size"] == 6
    assert config["destination"]["type"] == "analysis"


def test_locations_default_to_the_directory_itself(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("x")
    config_path = prepare_gear_dir(tmp_path / "g", inputs={"table": source})
    location = json.loads(config_path.read_text())["inputs"]["table"]["location"]["path"]
    assert Path(location).read_text() == "x"
