from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_tools.images import image_report

IMAGE_ID = "sha256:" + "ab" * 32


def write_gear(repo: Path, version: str = "1.2.0") -> None:
    docker = repo / "my_gear/src/docker"
    docker.mkdir(parents=True)
    manifest = {
        "name": "my-gear",
        "version": version,
        "custom": {"gear-builder": {"image": f"org/my-gear:{version}"}},
    }
    (docker / "manifest.json").write_text(json.dumps(manifest))


def write_info(
    repo: Path, image_id: str = IMAGE_ID, tag: str = "1.2.0", target_name: str = "my-gear"
) -> None:
    repository = f"org/{target_name}"
    info = {
        "version": 1,
        "image_id": image_id,
        "registries": [
            {"tags": [{"name": f"{repository}:latest"}, {"name": f"{repository}:{tag}"}]}
        ],
    }
    target = repo / "dist/my_gear.src.docker"
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{target_name}.docker-info.json").write_text(json.dumps(info))


def test_row_per_gear_with_version_image_and_id(tmp_path: Path) -> None:
    write_gear(tmp_path)
    write_info(tmp_path)
    rows = image_report.gear_images(tmp_path / "dist", tmp_path)
    assert rows == [
        image_report.GearImage(
            gear="my-gear",
            manifest_version="1.2.0",
            manifest_image="org/my-gear:1.2.0",
            image="org/my-gear:1.2.0",
            image_id=IMAGE_ID,
        )
    ]
    table = image_report.render_table(rows).splitlines()
    assert table[0].split() == ["gear", "version", "image", "image", "ID"]
    assert table[1].split() == ["my-gear", "1.2.0", "org/my-gear:1.2.0", IMAGE_ID]


def test_unknown_id_and_stale_version_are_problems(tmp_path: Path) -> None:
    write_gear(tmp_path, version="1.3.0")
    write_info(tmp_path, image_id="<unknown>")
    (row,) = image_report.gear_images(tmp_path / "dist", tmp_path)
    assert row.problems == (
        f"{tmp_path}/dist/my_gear.src.docker/my-gear.docker-info.json: "
        "the build recorded no image ID",
        f"{tmp_path}/my_gear/src/docker/manifest.json: version '1.3.0' is not a tag of the "
        "built image (org/my-gear:1.2.0): rebuild with ./pants package",
    )


def test_main_exit_codes_and_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert image_report.main(["--repo", "."]) == 2
    assert "run ./pants package :: first" in capsys.readouterr().err
    write_gear(tmp_path)
    write_info(tmp_path)
    assert image_report.main(["--json", "--repo", "."]) == 0
    assert json.loads(capsys.readouterr().out)["gears"][0]["image_id"] == IMAGE_ID


def test_a_gears_system_image_is_listed_as_a_helper_not_as_a_gear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_gear(tmp_path)
    write_info(tmp_path)
    helper_id = "sha256:" + "cd" * 32
    write_info(tmp_path, image_id=helper_id, target_name="my-gear-system")
    assert [row.gear for row in image_report.gear_images(Path("dist"))] == ["my-gear"]
    assert image_report.helper_images(Path("dist")) == [
        image_report.HelperImage("my_gear", "org/my-gear-system:1.2.0", helper_id)
    ]
    assert image_report.main(["--repo", "."]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:2] == ["my-gear", "1.2.0"]
    assert out[3].startswith("helper image (not a gear)")
    assert out[4].split() == ["org/my-gear-system:1.2.0", "my_gear", helper_id]
