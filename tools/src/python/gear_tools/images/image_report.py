"""Which image each gear was built as: manifest version, image reference and image ID.

    bin/gear-images [--dist DIST] [--json] [--repo DIR]
    bin/gear-images --packages GEAR [--json]

Reads the `*.docker-info.json` files that `./pants package` wrote under DIST (default: dist)
and each gear's manifest, and lists the helper images gears are built from (each gear's
system image) apart from the gears. The image ID is the digest of the image's configuration
(`sha256:...`): it identifies exactly what was built, whatever tags later point at. A gear
whose manifest disagrees with what was built, or whose build recorded no ID, is reported and
makes the exit code 1. `--packages GEAR` lists the third-party packages GEAR's image holds
(gear_tools.author.lock_closure: from its resolve's lockfile, before any build).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from gear_tools.author import lock_closure, lockfile
from gear_tools.images.built import BuiltImage, built_images, versioned_names
from gear_tools.repo import DIST_DIR, MANIFEST, RepoError, Repository, find_root
from gear_tools.table import format_table

UNKNOWN_ID = "<unknown>"


@dataclass(frozen=True)
class GearImage:
    gear: str
    manifest_version: str
    manifest_image: str
    image: str
    image_id: str
    problems: tuple[str, ...] = ()


def read_gear_image(gear_dir: Path, info_file: Path) -> GearImage:
    """One gear's row, from its docker-info.json and its manifest."""
    info = json.loads(info_file.read_text())
    manifest_path = gear_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    version = str(manifest.get("version", ""))
    manifest_image = str(manifest.get("custom", {}).get("gear-builder", {}).get("image", ""))
    images = versioned_names(info)
    image = images[0] if images else ""
    image_id = str(info.get("image_id") or UNKNOWN_ID)
    problems = []
    if image_id == UNKNOWN_ID:
        problems.append(f"{info_file}: the build recorded no image ID")
    if not any(name.endswith(f":{version}") for name in images):
        problems.append(
            f"{manifest_path}: version {version!r} is not a tag of the built image "
            f"({', '.join(images) or 'none'}): rebuild with ./pants package"
        )
    return GearImage(
        gear=str(manifest.get("name", gear_dir.name)),
        manifest_version=version,
        manifest_image=manifest_image,
        image=image,
        image_id=image_id,
        problems=tuple(problems),
    )


@dataclass(frozen=True)
class HelperImage:
    """An image a gear is built from (its system image), not a gear itself."""

    gear_dir: str
    image: str
    image_id: str


def gear_images(dist: Path, repo: Path = Path()) -> list[GearImage]:
    return [
        read_gear_image(repo / built.gear_dir, built.info_file)
        for built in built_images(dist, repo)
        if built.is_gear
    ]


def _helper(built: BuiltImage) -> HelperImage:
    info = json.loads(built.info_file.read_text())
    images = versioned_names(info)
    return HelperImage(
        gear_dir=str(built.gear_dir),
        image=images[0] if images else "",
        image_id=str(info.get("image_id") or UNKNOWN_ID),
    )


def helper_images(dist: Path, repo: Path = Path()) -> list[HelperImage]:
    return [_helper(built) for built in built_images(dist, repo) if not built.is_gear]


def render_table(rows: list[GearImage]) -> str:
    return format_table(
        ("gear", "version", "image", "image ID"),
        [(r.gear, r.manifest_version, r.image, r.image_id) for r in rows],
    )


def render_helpers(rows: list[HelperImage]) -> str:
    return format_table(
        ("helper image (not a gear)", "of gear", "image ID"),
        [(r.image, r.gear_dir, r.image_id) for r in rows],
    )


def print_packages(repo: Path, name: str, *, as_json: bool) -> int:
    """Prints the packages of a gear's image: `project version`, one a line (or JSON)."""
    gear = Repository(repo).gear(name)
    packages = lock_closure.gear_packages(repo, gear)
    if as_json:
        print(json.dumps({"gear": gear.name, "resolve": gear.resolve, "packages": packages}))
    else:
        print(format_table(("package", "version"), sorted(packages.items())))
        print(f"{gear.name}: {len(packages)} packages from the {gear.resolve} resolve's lockfile")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, help="./pants package output (default: dist/)")
    parser.add_argument("--repo", type=Path, help="repository root (default: this one)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--packages",
        metavar="GEAR",
        help="list the third-party packages (and versions) GEAR's image holds, read from its "
        "resolve's lockfile (no build needed)",
    )
    args = parser.parse_args(argv)
    try:
        repo = find_root(args.repo)
        if args.packages:
            return print_packages(repo, args.packages, as_json=args.json)
    except (RepoError, lockfile.LockError) as exc:
        print(f"gear-images: {exc}", file=sys.stderr)
        return 2
    dist = args.dist or repo / DIST_DIR
    rows = gear_images(dist, repo)
    helpers = helper_images(dist, repo)
    if not rows:
        print(f"no gear images under {dist}/: run ./pants package :: first", file=sys.stderr)
        return 2
    if args.json:
        document = {
            "gears": [asdict(row) for row in rows],
            "helpers": [asdict(helper) for helper in helpers],
        }
        print(json.dumps(document, indent=2))
    else:
        print(render_table(rows))
        if helpers:
            print()
            print(render_helpers(helpers))
    for row in rows:
        for problem in row.problems:
            print(f"error: {problem}", file=sys.stderr)
    return 1 if any(row.problems for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
