from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gear_common.gear_dir import prepare_gear_dir
from gear_tools.run import run_gear
from gear_tools.run.run_gear import build_job, convert

MANIFEST = Path("template_gear/src/docker/manifest.json")


def manifest(**inputs: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text())
    data["inputs"].update(inputs)
    return data


def job(tmp_path: Path, *config: str, inputs: tuple[str, ...] | None = None, **kwargs: Any) -> Any:
    text = tmp_path / "t.txt"
    text.write_text("a b a")
    return build_job(
        kwargs.pop("manifest", manifest()),
        config_items=list(config),
        input_items=list(inputs if inputs is not None else (f"text_file={text}",)),
        destination=kwargs.pop("destination", "analysis=abc"),
        api_key=kwargs.pop("api_key", None),
        object_items=kwargs.pop("object_items", ()),
        parent_items=kwargs.pop("parent_items", ()),
    )


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("5", {"type": "integer"}, 5),
        ("2.5", {"type": "number"}, 2.5),
        ("Yes", {"type": "boolean"}, True),
        ("off", {"type": "boolean"}, False),
        ('["a", 1]', {"type": "array"}, ["a", 1]),
        ("a,b", {"type": "array"}, ["a", "b"]),
        ("text", {"type": "string"}, "text"),
    ],
)
def test_values_are_converted_to_manifest_types(
    value: str, spec: dict[str, Any], expected: Any
) -> None:
    assert convert(value, spec) == expected


def test_defaults_and_overrides(tmp_path: Path) -> None:
    built, problems = job(tmp_path, "top_words=3")
    assert problems == []
    assert built.config == {"top_words": 3, "case_sensitive": False, "debug": False}
    assert built.destination == {"type": "analysis", "id": "abc"}
    assert built.inputs["text_file"].read_text() == "a b a"
    assert built.api_key is None


def test_every_problem_is_reported_before_running(tmp_path: Path) -> None:
    built, problems = job(
        tmp_path,
        "top_words=ten",
        "colour=red",
        "case_sensitive=maybe",
        "novalue",
        inputs=("text_file=missing.txt", "extra=x"),
        destination="session",
    )
    assert built is None
    assert problems == [
        "--config 'novalue' is not KEY=VALUE",
        "config top_words='ten': expected an integer",
        "config 'colour' is not in the manifest (known: case_sensitive, debug, top_words)",
        "config case_sensitive='maybe': expected a boolean (true/false)",
        "input text_file: missing.txt does not exist",
        "input 'extra' is not a file input of the manifest (file inputs: text_file)",
        "--destination 'session' is not TYPE=ID",
    ]


def test_an_input_that_is_not_a_regular_file_says_what_it_is(tmp_path: Path) -> None:
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "gone.txt")
    _, problems = job(tmp_path, inputs=(f"text_file={tmp_path}",))
    assert problems == [f"input text_file: {tmp_path} is a directory, not a file"]
    _, problems = job(tmp_path, inputs=(f"text_file={link}",))
    assert problems == [
        f"input text_file: {link} is a broken symbolic link (to {tmp_path / 'gone.txt'}, "
        "which does not exist)"
    ]


def test_ranges_from_the_manifest_and_required_inputs(tmp_path: Path) -> None:
    built, problems = job(tmp_path, "top_words=5000", inputs=())
    assert problems == [
        "config top_words is 5000 (int): greater than the maximum of 1000",
        "input text_file is required: give --input text_file=PATH",
    ]


def test_api_key_input_needs_a_key(tmp_path: Path) -> None:
    with_key = manifest(**{"api-key": {"base": "api-key"}})
    _, problems = job(tmp_path, manifest=with_key)
    assert problems == ["the manifest has an api-key input: give --api-key or set FW_KEY"]
    built, problems = job(tmp_path, manifest=with_key, api_key="site:secret")
    assert problems == [] and built.api_key == "site:secret"


def test_main_runs_the_gear_and_returns_its_exit_code(
    tmp_path: Path, template_gear_pex: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "words.txt").write_text("x y x\n")

    argv = ["template_gear", "--repo", ".", "--input", "text_file=words.txt"]
    assert run_gear.main([*argv, "--workdir", "job1", "--config", "top_words=1"]) == 0
    result = json.loads((tmp_path / "job1/output/words.statistics.json").read_text())
    assert result["top_words"] == [["x", 2]]
    printed = capsys.readouterr().out
    assert f"output: {tmp_path / 'job1/output/words.statistics.json'}" in printed
    assert "no .metadata.json written" in printed

    (tmp_path / "bad.bin").write_bytes(b"\xff\xfe")
    assert run_gear.main(["template_gear", "--repo", ".", "--input", "text_file=bad.bin"]) == 1
    assert run_gear.main(["template_gear", "--repo", ".", "--config", "top_words=x"]) == 2
    assert "nothing was run" in capsys.readouterr().err


def test_a_gear_whose_programs_are_missing_is_not_run_outside_its_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    declared = {"sh": "dash", "no-such-converter": "converter-tools"}
    assert run_gear.missing_programs({"custom": {"programs": declared}}) == {
        "no-such-converter": "converter-tools"
    }
    docker = tmp_path / "converter/src/docker"
    docker.mkdir(parents=True)
    (docker / "manifest.json").write_text(
        json.dumps({**manifest(), "custom": {"programs": declared}})
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "words.txt").write_text("x\n")

    argv = ["converter", "--repo", str(tmp_path), "--input", "text_file=words.txt"]
    code = run_gear.main([*argv, "--workdir", "job"])

    assert code == 2
    err = capsys.readouterr().err
    assert "converter runs no-such-converter, not installed here (nothing was run)" in err
    assert "bin/run-gear converter --image" in err
    assert "sudo apt-get install converter-tools" in err
    assert not (tmp_path / "job").exists()


def test_an_inputs_record_and_parent_can_be_given(tmp_path: Path) -> None:
    record = tmp_path / "object.json"
    record.write_text('{"type": "text", "tags": ["raw"], "info": {"lang": "en"}}')
    text = tmp_path / "t.txt"
    built, problems = job(
        tmp_path,
        inputs=(f"text_file={text}",),
        object_items=[f"text_file={record}"],
        parent_items=["text_file=acquisition:a1"],
    )
    assert problems == []
    assert built.input_objects == {
        "text_file": {"type": "text", "tags": ["raw"], "info": {"lang": "en"}}
    }
    assert built.input_parents == {"text_file": {"type": "acquisition", "id": "a1"}}
    gear = tmp_path / "v0"
    prepare_gear_dir(
        gear,
        inputs=built.inputs,
        input_objects=built.input_objects,
        input_parents=built.input_parents,
    )
    entry = json.loads((gear / "config.json").read_text())["inputs"]["text_file"]
    assert entry["hierarchy"] == {"type": "acquisition", "id": "a1"}
    assert (entry["object"]["type"], entry["object"]["tags"]) == ("text", ["raw"])


def test_bad_records_and_parents_are_reported_before_running(tmp_path: Path) -> None:
    not_object = tmp_path / "list.json"
    not_object.write_text("[1]")
    _, problems = job(
        tmp_path,
        object_items=[f"text_file={not_object}", "other=x.json"],
        parent_items=["text_file=visit:1"],
    )
    assert problems == [
        f"--input-object text_file: {not_object} holds a JSON list, expected an object "
        "(type, modality, classification, info, tags)",
        "--input-object other: no --input other=PATH is given",
        "--input-parent text_file='visit:1' is not TYPE:ID with TYPE one of project, subject, "
        "session, acquisition, analysis",
    ]


def test_a_local_run_gets_the_gear_directory_and_none_of_the_sites_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site's key reaches a gear as its api-key input only (a gear that logs its
    environment printed FW_KEY); the gear runs in its directory, which FLYWHEEL names."""
    monkeypatch.setenv("FW_KEY", "127.0.0.1:8080:__force_insecure:secret-key")
    monkeypatch.setenv("GEAR_SIGNING_KEY_FILE", "/keys/signing-key.pem")
    gear_dir = tmp_path / "job"
    gear_dir.mkdir()
    script = tmp_path / "gear.py"
    script.write_text(
        "import json, os\n"
        "json.dump({'cwd': os.getcwd(), 'env': dict(os.environ)}, open('seen.json', 'w'))\n"
    )
    assert run_gear.run_command([sys.executable, str(script)], gear_dir) == 0
    seen = json.loads((gear_dir / "seen.json").read_text())
    assert seen["cwd"] == str(gear_dir)
    assert seen["env"]["FLYWHEEL"] == str(gear_dir)
    assert seen["env"]["FLYWHEEL_GEAR_PATH"] == str(gear_dir)
    assert "secret-key" not in json.dumps(seen["env"])
    assert "GEAR_SIGNING_KEY_FILE" not in seen["env"]


@pytest.mark.parametrize(
    "given",
    ["template_gear", "template_gear/", "template-gear", "{root}/template_gear",
     "{root}/template_gear/src/python"],
)  # fmt: skip
def test_a_gear_is_found_by_directory_absolute_path_or_name(given: str) -> None:
    root = Path.cwd().resolve()
    assert run_gear.gear_directory(root, given.format(root=root)) == "template_gear"
