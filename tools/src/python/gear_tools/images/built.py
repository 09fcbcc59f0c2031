"""The images `./pants package` built, as its `*.docker-info.json` records under dist/ say."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gear_tools.repo import MANIFEST, manifest_name


@dataclass(frozen=True)
class BuiltImage:
    """An image `pants package` built, as its `*.docker-info.json` under dist/ records it.

    Every docker_image of a gear lives in `<gear>/src/docker/`, so Pants writes its record to
    dist/<gear>.src.docker/<target name>.docker-info.json. The gear image is the one whose
    target is named after the gear's manifest (`gear-manifest` lint enforces that name); the
    others (the gear's system image, any helper) are images the gear is built from, never run
    as the gear.
    """

    gear_dir: Path
    info_file: Path
    # The `name` in the gear's manifest, or None when it has no readable one.
    gear_name: str | None

    @property
    def target_name(self) -> str:
        return self.info_file.name.removesuffix(DOCKER_INFO_SUFFIX)

    @property
    def is_gear(self) -> bool:
        return self.gear_name is not None and self.target_name == self.gear_name

    @property
    def image(self) -> str:
        """The versioned image name."""
        return built_image(self.info_file)


DOCKER_INFO_SUFFIX = ".docker-info.json"


def built_images(dist: Path, repo: Path = Path()) -> list[BuiltImage]:
    """Every image `pants package` recorded under `dist` (`repo` holds the gear directories)."""
    images = []
    for info_file in sorted(dist.glob(f"*/*{DOCKER_INFO_SUFFIX}")):
        gear_dir = Path(info_file.parent.name.split(".")[0])
        name = manifest_name(repo / gear_dir / MANIFEST)
        images.append(BuiltImage(gear_dir, info_file, name))
    return images


def gear_images(dist: Path, repo: Path = Path()) -> list[BuiltImage]:
    """The gear images under `dist`: one per gear, helper images left out."""
    return [image for image in built_images(dist, repo) if image.is_gear]


def versioned_names(info: dict[str, Any]) -> list[str]:
    """The image names in a docker-info.json, those tagged `latest` left out unless alone."""
    names: list[str] = [tag["name"] for reg in info.get("registries", []) for tag in reg["tags"]]
    return [name for name in names if not name.endswith(":latest")] or names


def built_image(docker_info: Path) -> str:
    """The versioned image name in a `*.docker-info.json` that `pants package` wrote."""
    return versioned_names(json.loads(docker_info.read_text()))[0]
