from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import flywheel
import nibabel
import numpy as np
import pytest

from gear_tools.engine.containers import GearRun, detect_engine, gear_command
from gear_tools.images import smoke_images


def write_gear(repo: Path, gear_dir: str, name: str, image_names: dict[str, list[str]]) -> None:
    """A gear directory with its manifest, and dist/ records of the images named."""
    (repo / gear_dir / "src/docker").mkdir(parents=True)
    (repo / gear_dir / "src/docker/manifest.json").write_text(json.dumps({"name": name}))
    for target, names in image_names.items():
        info = {"registries": [{"tags": [{"name": name} for name in names]}]}
        (repo / "dist" / f"{gear_dir}.src.docker").mkdir(parents=True, exist_ok=True)
        (repo / "dist" / f"{gear_dir}.src.docker" / f"{target}.docker-info.json").write_text(
            json.dumps(info)
        )


def test_gear_images_are_those_named_after_the_manifest_and_helpers_are_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_gear(
        tmp_path,
        "my_gear",
        "my-gear",
        {
            "my-gear": ["org/my-gear:latest", "org/my-gear:1.2.0"],
            "my-gear-system": ["org/my-gear-system:1.2.0"],
        },
    )
    write_gear(tmp_path, "other", "other", {"other": ["org/other:0.1.0"]})
    monkeypatch.chdir(tmp_path)
    assert smoke_images.built_gear_images(Path("dist")) == [
        (Path("my_gear"), "org/my-gear:1.2.0"),
        (Path("other"), "org/other:0.1.0"),
    ]


def test_an_image_of_a_directory_without_a_readable_manifest_is_not_a_gear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_gear(tmp_path, "broken", "broken", {"broken": ["org/broken:0.1.0"]})
    (tmp_path / "broken/src/docker/manifest.json").write_text("{not json")
    monkeypatch.chdir(tmp_path)
    assert smoke_images.built_gear_images(Path("dist")) == []


def write_case(tmp_path: Path, case: dict[str, object]) -> Path:
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "in.txt").write_text("hello")
    case_file = tmp_path / "case" / "case.json"
    case_file.write_text(json.dumps(case))
    return case_file


def fake_engine(exit_code: int, log: str, writes: str | None) -> Callable[..., GearRun]:
    def run(engine: str, image: str, gear_dir: Path, command: list[str]) -> GearRun:
        config = json.loads((gear_dir / "config.json").read_text())
        assert config["inputs"]["text"]["location"]["path"] == "/flywheel/v0/input/text/in.txt"
        assert (gear_dir / "input/text/in.txt").read_text() == "hello"
        if writes:
            (gear_dir / "output" / writes).write_text("x")
        return GearRun(exit_code=exit_code, log=log)

    return run


CASE = {
    "description": "d",
    "inputs": {"text": "in.txt"},
    "exit_code": 0,
    "outputs": ["out.json"],
    "log_contains": ["done"],
}


def test_case_passes_when_exit_code_outputs_and_log_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smoke_images, "run_gear_image", fake_engine(0, "all done", "out.json"))
    assert smoke_images.run_case("podman", "img", ["/bin/run"], write_case(tmp_path, CASE)) == []


def test_case_reports_every_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smoke_images, "run_gear_image", fake_engine(1, "boom", None))
    failures = smoke_images.run_case("podman", "img", ["/bin/run"], write_case(tmp_path, CASE))
    assert failures[:3] == [
        "exit code 1, expected 0",
        "output/out.json was not written",
        "log does not contain 'done'",
    ]
    assert failures[3] == "log:\nboom"


def test_invalid_case_file_names_the_file(tmp_path: Path) -> None:
    case_file = write_case(tmp_path, {"description": "d", "exit_code": "zero", "extra": 1})
    with pytest.raises(SystemExit, match=f"{case_file}: not a valid smoke case"):
        smoke_images.load_case(case_file)


def test_engine_from_environment_state_file_or_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "container.env"
    monkeypatch.delenv("GEAR_CONTAINER_ENGINE", raising=False)
    assert detect_engine(state) == "docker"
    state.write_text("# comment\nGEAR_CONTAINER_ENGINE=podman\n")
    assert detect_engine(state) == "podman"
    monkeypatch.setenv("GEAR_CONTAINER_ENGINE", "docker")
    assert detect_engine(state) == "docker"
    monkeypatch.setenv("GEAR_CONTAINER_ENGINE", "lxc")
    with pytest.raises(ValueError, match="docker or podman, not 'lxc'"):
        detect_engine(state)


def test_case_with_fake_flywheel_seeds_it_and_checks_its_state(tmp_path: Path) -> None:
    def gear_that_adds_a_project(
        engine: str, image: str, gear_dir: Path, command: list[str]
    ) -> GearRun:
        config = json.loads((gear_dir / "config.json").read_text())
        client = flywheel.Client(config["inputs"]["api-key"]["key"])
        client.add_project(flywheel.Project(group="g", label="p"))
        return GearRun(exit_code=0, log="")

    case = {
        "description": "d",
        "exit_code": 0,
        "flywheel": {
            "seed": {"groups": [{"_id": "g", "label": "G"}]},
            "expect_counts": {"groups": 1, "projects": 2},
            "expect_mutating_requests": 0,
        },
    }
    case_file = write_case(tmp_path, case)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(smoke_images, "run_gear_image", gear_that_adds_a_project)
        failures = smoke_images.run_case("podman", "img", ["/bin/run"], case_file)
    assert failures[:2] == [
        "Flywheel holds 1 projects, expected 2",
        "1 mutating API requests, expected 0",
    ]


def test_gear_command_from_manifest_or_the_spec_default() -> None:
    assert gear_command({"command": "/bin/run --verbose 'a b'"}) == ["/bin/run", "--verbose", "a b"]
    assert gear_command({}) == ["/flywheel/v0/run"]


@pytest.mark.parametrize(
    ("exit_code", "output", "expected"),
    [
        (0, "1000\n", []),
        (0, "0\n", ["runs as root (uid 0); gears must run as an unprivileged user"]),
        (127, "id: not found\n", ["`id -u` failed (exit code 127): id: not found"]),
    ],
)
def test_images_must_not_run_as_root(
    monkeypatch: pytest.MonkeyPatch, exit_code: int, output: str, expected: list[str]
) -> None:
    def run_in_image(engine: str, image: str, command: list[str]) -> GearRun:
        assert command == ["id", "-u"]
        return GearRun(exit_code=exit_code, log=output)

    monkeypatch.setattr(smoke_images, "run_in_image", run_in_image)
    assert smoke_images.user_failures("podman", "img") == expected


def test_nifti_outputs_are_opened_and_their_shapes_checked(tmp_path: Path) -> None:
    image = nibabel.Nifti1Image(  # type: ignore[no-untyped-call]
        np.zeros((4, 3, 2), dtype=np.int16), affine=np.eye(4)
    )
    nibabel.save(image, tmp_path / "volume.nii.gz")
    (tmp_path / "not.nii").write_text("not an image")
    assert smoke_images._nifti_failures(tmp_path, {"volume.nii.gz": [4, 3, 2]}) == []
    assert smoke_images._nifti_failures(tmp_path, {"volume.nii.gz": [4, 3, 1]}) == [
        "output/volume.nii.gz has shape [4, 3, 2], expected [4, 3, 1]"
    ]
    (failure,) = smoke_images._nifti_failures(tmp_path, {"not.nii": [1]})
    assert failure.startswith("output/not.nii is not a NIfTI image nibabel can open: ")
    (missing,) = smoke_images._nifti_failures(tmp_path, {"absent.nii.gz": [1]})
    assert missing.startswith("output/absent.nii.gz is not a NIfTI image nibabel can open: ")
