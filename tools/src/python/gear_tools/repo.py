"""A gear in this repository, and the repository's Pants settings.

The one module that knows where a gear's parts are: its directory (`<gear>/`), manifest
(`src/docker/manifest.json`), BUILD, docs and CHANGELOG (`docs/<gear>/`), image repository
(`[docker] default_repository`), what `./pants package` wrote for it under dist/, and its
resolve; and pants.toml's settings, read with tomllib (with `$PANTS_CONFIG_FILES` over it, as
Pants reads them). Every tool asks here. Standard library only: shell scripts ask it for
settings with `python3 -m gear_tools.repo` (3.11 or later, for tomllib), and the gear listing
works on Python 3.9 too (./pants runs gear-programs with Pants' own interpreter).
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

# A gear directory holds this file; nothing else in the repository does.
MANIFEST = "src/docker/manifest.json"
DOCS_DIR = "docs"
# A gear's image smoke cases: <gear>/test/smoke/<case>/case.json.
SMOKE_DIR = "test/smoke"
DIST_DIR = "dist"
DEFAULT_RESOLVE = "python-default"
# The developer and release tools' resolve (common/'s requirements and the tools' libraries).
TOOLS_RESOLVE = "gear-tools"
# Set by tools/launch for the commands in bin/: the repository they were started from.
ROOT_ENV = "GEAR_REPO_ROOT"
# The `__defaults__` line gear_tools.author.gear_resolve.gear_build writes in a gear's BUILD.
_RESOLVE_DEFAULT = re.compile(r'(?m)^\s*\(python_sources[^)]*\): dict\(resolve="([^"]+)"\)')


class RepoError(Exception):
    """No such gear, or the repository is not as the tools expect.

    One message format: `<where>: <what is wrong>[; <what to do>]`, `where` being the gear,
    file or setting concerned.
    """

    def __init__(self, where: str | Path, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


def find_root(given: Path | None = None) -> Path:
    """The repository: `given` (a tool's --repo), else $GEAR_REPO_ROOT, else the nearest
    directory at or above the working directory that holds pants.toml."""
    if given is not None:
        return given.resolve()
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / "pants.toml").is_file():
            return directory
    raise RepoError(here, "not in a gear repository (no pants.toml here or above)")


def dist_path(spec_path: str | Path, file_name: str, dist: Path = Path(DIST_DIR)) -> Path:
    """Where `./pants package` writes a target's output: dist/<spec path, '/' as '.'>/FILE."""
    return dist / str(spec_path).strip("/").replace("/", ".") / file_name


def manifest_name(manifest: Path) -> str | None:
    """A manifest's `name`, or None when the file is missing or not a JSON object with one."""
    try:
        name = json.loads(manifest.read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def _merge(into: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@dataclass(frozen=True)
class PantsSettings:
    """pants.toml, with the files of $PANTS_CONFIG_FILES (CI's pants.ci.toml) over it."""

    values: dict[str, Any]

    @classmethod
    def read(cls, root: Path) -> PantsSettings:
        import tomllib  # Python 3.11+: not needed by what runs on Pants' 3.9

        values: dict[str, Any] = {}
        names = ["pants.toml", *filter(None, os.environ.get("PANTS_CONFIG_FILES", "").split(","))]
        for name in names:
            path = root / name
            if path.is_file():
                try:
                    _merge(values, tomllib.loads(path.read_text(encoding="utf-8")))
                except tomllib.TOMLDecodeError as exc:
                    raise RepoError(path, f"not valid TOML: {exc}") from None
        return cls(values)

    def section(self, dotted: str) -> dict[str, Any]:
        table: Any = self.values
        for key in dotted.split("."):
            table = table.get(key, {}) if isinstance(table, dict) else {}
        return table if isinstance(table, dict) else {}

    @property
    def default_repository(self) -> str:
        """`[docker] default_repository`, with `{name}` in it."""
        value = self.section("docker").get("default_repository")
        if not isinstance(value, str) or not value:
            raise RepoError("pants.toml", "no [docker] default_repository")
        return value

    def registry_address(self, name: str) -> str:
        """The address of the registry `name` in `[docker.registries]`."""
        registries = self.section("docker.registries")
        address = registries.get(name, {}).get("address")
        if not address:
            known = ", ".join(sorted(registries)) or "none"
            raise RepoError(
                "pants.toml", f"no registry {name!r} in [docker.registries] (known: {known})"
            )
        return str(address)

    @property
    def build_args(self) -> dict[str, str]:
        """`[docker] build_args` as NAME -> value (those given without a value left out)."""
        pairs = (str(arg).split("=", 1) for arg in self.section("docker").get("build_args", []))
        return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}

    @property
    def base_image(self) -> str:
        image = self.build_args.get("BASE_IMAGE")
        if not image:
            raise RepoError("pants.toml", 'no "BASE_IMAGE=..." in [docker] build_args')
        return image

    @property
    def resolves(self) -> dict[str, str]:
        """`[python.resolves]`: resolve name -> lockfile."""
        return {str(k): str(v) for k, v in self.section("python.resolves").items()}


@dataclass(frozen=True)
class Gear:
    """One gear of the repository: a directory with src/docker/manifest.json."""

    repo: Repository
    directory: str

    @property
    def path(self) -> Path:
        return self.repo.root / self.directory

    @property
    def docker_dir(self) -> Path:
        return self.manifest_path.parent

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def build_file(self) -> Path:
        """The BUILD of the gear's image (`gear_image(version=...)`)."""
        return self.docker_dir / "BUILD"

    @property
    def docs_dir(self) -> Path:
        return self.repo.root / DOCS_DIR / self.directory

    @property
    def changelog(self) -> Path:
        return self.docs_dir / "CHANGELOG.md"

    @property
    def smoke_dir(self) -> Path:
        return self.path / SMOKE_DIR

    def manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RepoError(self.manifest_path, f"cannot be read as JSON: {exc}") from None
        if not isinstance(manifest, dict):
            raise RepoError(self.manifest_path, "is not a JSON object")
        return manifest

    @property
    def name(self) -> str:
        """The manifest's `name` (the directory's name when it has none)."""
        return manifest_name(self.manifest_path) or self.directory

    @property
    def version(self) -> str:
        return str(self.manifest().get("version", ""))

    @property
    def image_repository(self) -> str:
        """The image's repository, e.g. `flywheel-gears/template-gear`."""
        return self.repo.settings.default_repository.format(name=self.name)

    @property
    def image_target(self) -> str:
        """The gear image's docker_image target."""
        return f"{self.directory}/src/docker:{self.name}"

    @property
    def app_package(self) -> str:
        """The gear's app package: the one package under src/python with a run.py."""
        apps = sorted(p.parent.name for p in (self.path / "src/python").glob("*/run.py"))
        if len(apps) != 1:
            raise RepoError(
                f"{self.directory}/src/python",
                f"expected one app package with run.py, found {apps}",
            )
        return apps[0]

    @property
    def pex_target(self) -> str:
        return f"{self.directory}/src/python/{self.app_package}:bin"

    @property
    def resolve(self) -> str:
        """The gear's resolve: its root BUILD's `__defaults__`, else python-default."""
        build = self.path / "BUILD"
        text = build.read_text(encoding="utf-8") if build.is_file() else ""
        match = _RESOLVE_DEFAULT.search(text)
        return match.group(1) if match else DEFAULT_RESOLVE

    def dist(self, file_name: str) -> Path:
        """A file `./pants package` (or a release) writes for the gear's image under dist/."""
        return self.repo.root / dist_path(f"{self.directory}/src/docker", file_name)

    @property
    def docker_info(self) -> Path:
        return self.dist(f"{self.name}.docker-info.json")

    @property
    def release_record(self) -> Path:
        return self.dist(f"{self.name}.release.json")

    def pex(self, dist: Path = Path(DIST_DIR)) -> Path:
        """The gear's pex as `./pants package` writes it (`dist` relative to the repository
        unless absolute)."""
        return self.repo.root / dist_path(
            f"{self.directory}/src/python/{self.app_package}", "bin.pex", dist
        )


@dataclass(frozen=True)
class Repository:
    """The repository at `root`: its gears and its Pants settings."""

    root: Path

    @classmethod
    def find(cls, given: Path | None = None) -> Repository:
        return cls(find_root(given))

    @cached_property
    def settings(self) -> PantsSettings:
        return PantsSettings.read(self.root)

    def gears(self) -> list[Gear]:
        """Every gear, by directory."""
        return [
            Gear(self, manifest.relative_to(self.root).parts[0])
            for manifest in sorted(self.root.glob(f"*/{MANIFEST}"))
        ]

    def gear_names(self) -> dict[str, Gear]:
        """Gears by the `name` in their manifest (those without a readable one left out)."""
        return {
            name: gear
            for gear in self.gears()
            if (name := manifest_name(gear.manifest_path)) is not None
        }

    def is_gear(self, directory: str | Path) -> bool:
        return (self.root / directory / MANIFEST).is_file()

    def gear(self, gear: str) -> Gear:
        """A gear named by its manifest name (`template-gear`) or its directory
        (`template_gear`, `template_gear/`)."""
        names = self.gear_names()
        if gear in names:
            return names[gear]
        directory = gear.strip("/")
        if directory and "/" not in directory and self.is_gear(directory):
            return Gear(self, directory)
        known = ", ".join(sorted(names)) or "none"
        raise RepoError(
            self.root, f"no gear {gear!r} (by name or directory); the gears are: {known}"
        )


def main(argv: list[str]) -> int:
    """Settings for shell scripts, read the one way (Python 3.11+):

    python3 -m gear_tools.repo base-image        the base image pinned in pants.toml
    python3 -m gear_tools.repo registry NAME     the address of [docker.registries.NAME]
    """
    try:
        settings = Repository.find().settings
        if argv == ["base-image"]:
            print(settings.base_image)
        elif len(argv) == 2 and argv[0] == "registry":
            print(settings.registry_address(argv[1]))
        else:
            print(main.__doc__, file=sys.stderr)
            return 2
    except RepoError as exc:
        print(f"gear_tools.repo: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
