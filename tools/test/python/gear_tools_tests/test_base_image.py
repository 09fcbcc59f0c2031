"""Pinning the base image by digest, against a real registry on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gear_tools_tests.registry_server import push_image, registry_server

from gear_tools.engine.base_image import is_pinned, main

FILES = {"etc/os-release": b"ID=debian\n"}


@pytest.fixture
def registry_address(tmp_path: Path) -> Iterator[str]:
    with registry_server(tmp_path / "registry") as address:
        yield address


def pants_toml(repo: Path, base: str) -> Path:
    path = repo / "pants.toml"
    path.write_text(
        "[docker]\n"
        f'build_args = ["BASE_IMAGE={base}", "SOURCE_URL=https://example.org/gears"]\n'
        "# BASE_IMAGE=... in a comment is not touched\n"
    )
    return path


def test_the_tag_is_pinned_to_the_digest_the_registry_holds(
    tmp_path: Path, registry_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pushed = push_image(registry_address, "library/python", "3.11-slim", FILES)
    base = f"{registry_address}/library/python:3.11-slim"
    path = pants_toml(tmp_path, base)

    assert main(["pin", "--dry-run", "--repo", str(tmp_path)]) == 0
    assert "nothing written" in capsys.readouterr().out
    assert f'"BASE_IMAGE={base}"' in path.read_text()

    assert main(["pin", "--repo", str(tmp_path)]) == 0
    pinned = f"{base}@{pushed.manifest_digest}"
    assert f'"BASE_IMAGE={pinned}", "SOURCE_URL=https://example.org/gears"' in path.read_text()
    assert is_pinned(pinned)
    # Asked again: the tag has not moved, nothing changes.
    assert main(["pin", "--repo", str(tmp_path)]) == 0
    assert "is pinned to what its tag names now" in capsys.readouterr().out
    # The tag moves (a new image is pushed under it): the pin follows.
    moved = push_image(registry_address, "library/python", "3.11-slim", {"x": b"new"})
    assert main(["pin", "--repo", str(tmp_path)]) == 0
    assert f'"BASE_IMAGE={base}@{moved.manifest_digest}"' in path.read_text()


def test_an_unknown_tag_or_registry_changes_nothing(
    tmp_path: Path, registry_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = pants_toml(tmp_path, f"{registry_address}/library/python:9.9")
    before = path.read_text()
    assert main(["pin", "--repo", str(tmp_path)]) == 1
    assert "library/python:9.9: the registry has no such tag" in capsys.readouterr().err
    assert path.read_text() == before
    path = pants_toml(tmp_path, "127.0.0.1:9/library/python:3.11")
    before = path.read_text()
    assert main(["pin", "--repo", str(tmp_path)]) == 1
    assert "cannot reach the registry 127.0.0.1:9" in capsys.readouterr().err
    assert path.read_text() == before
