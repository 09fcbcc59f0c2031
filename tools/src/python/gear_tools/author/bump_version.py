"""Bumps a gear's version everywhere it lives, and dates its CHANGELOG's unreleased entries.

    bin/bump-version GEAR (major|minor|patch|X.Y.Z) [--allow-empty] [--date YYYY-MM-DD]
                     [--repo DIR]

GEAR is the gear's name (`template-gear`) or directory (`template_gear`). The version lives in
the gear's `src/docker/BUILD` (`gear_image(version=...)`), its manifest (`version` and the tag
of `custom.gear-builder.image`) and its CHANGELOG (docs/<gear>/CHANGELOG.md), whose
`## Unreleased` entries move under `## X.Y.Z (date)`. A version that is not greater than the
current one, an invalid version, an unknown gear, or no unreleased entries (unless
--allow-empty) is refused with the reason, and nothing is written.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from gear_tools.repo import Gear, RepoError, Repository, find_root

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
BUILD_VERSION = re.compile(
    r'(\bgear_image\((?:[^()]|\([^()]*\))*?\bversion\s*=\s*")([^"]*)(")', re.S
)
UNRELEASED = re.compile(r"^## Unreleased[ \t]*\n(?P<body>.*?)(?=^## |\Z)", re.M | re.S)


class BumpError(Exception):
    """The version cannot be bumped as asked; nothing was written."""


def parse_version(text: str, where: str) -> tuple[int, int, int]:
    match = SEMVER.match(text)
    if not match:
        raise BumpError(f"{where}: {text!r} is not a version of the form MAJOR.MINOR.PATCH")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def next_version(current: str, wanted: str, where: str) -> str:
    """The new version: `current` bumped by a part name, or `wanted` if it is greater."""
    major, minor, patch = parse_version(current, where)
    if wanted == "major":
        return f"{major + 1}.0.0"
    if wanted == "minor":
        return f"{major}.{minor + 1}.0"
    if wanted == "patch":
        return f"{major}.{minor}.{patch + 1}"
    if parse_version(wanted, "the new version") <= (major, minor, patch):
        raise BumpError(f"the new version {wanted} is not greater than the current {current}")
    return wanted


def _build_text(gear: Gear, current: str, new: str) -> str:
    text = gear.build_file.read_text(encoding="utf-8")
    matches = list(BUILD_VERSION.finditer(text))
    if len(matches) != 1:
        raise BumpError(f"{gear.build_file}: expected one gear_image(version=...) call")
    if matches[0].group(2) != current:
        raise BumpError(
            f"{gear.build_file}: version is {matches[0].group(2)!r} but the manifest says "
            f"{current!r}; make them agree first (./pants lint {gear.directory}::)"
        )
    return BUILD_VERSION.sub(lambda m: f"{m.group(1)}{new}{m.group(3)}", text)


def _manifest_text(gear: Gear, manifest: dict[str, Any], current: str, new: str) -> str:
    builder = manifest.get("custom", {}).get("gear-builder", {})
    image = builder.get("image")
    if not isinstance(image, str) or not image.endswith(f":{current}"):
        raise BumpError(
            f"{gear.manifest_path}: custom.gear-builder.image is {image!r}, expected an image "
            f"tagged {current!r}"
        )
    builder["image"] = image[: -len(current)] + new
    manifest["version"] = new
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def _changelog_text(gear: Gear, new: str, date: str, allow_empty: bool) -> str:
    if not gear.changelog.is_file():
        raise BumpError(f"{gear.changelog} does not exist")
    text = gear.changelog.read_text(encoding="utf-8")
    match = UNRELEASED.search(text)
    body = match.group("body").strip() if match else ""
    if not body and not allow_empty:
        raise BumpError(
            f"{gear.changelog}: no entries under '## Unreleased'; list what changed there, "
            "or pass --allow-empty"
        )
    entries = body or "- No user-visible changes."
    released = f"## Unreleased\n\n## {new} ({date})\n\n{entries}\n\n"
    if match:
        return text[: match.start()] + released + text[match.end() :].lstrip("\n")
    heading_end = text.find("\n## ")
    if heading_end < 0:
        return text.rstrip("\n") + "\n\n" + released.rstrip("\n") + "\n"
    return text[: heading_end + 1] + "\n" + released + text[heading_end + 1 :].lstrip("\n")


def plan(
    repo: Path, gear: str, wanted: str, *, date: str, allow_empty: bool
) -> tuple[str, str, dict[Path, str]]:
    """(current, new, {path: new text}) for a bump; raises BumpError, having written nothing."""
    found = Repository(repo).gear(gear)
    manifest = found.manifest()
    current = str(manifest.get("version", ""))
    new = next_version(current, wanted, f"{found.manifest_path}: version")
    return (
        current,
        new,
        {
            found.build_file: _build_text(found, current, new),
            found.manifest_path: _manifest_text(found, manifest, current, new),
            found.changelog: _changelog_text(found, new, date, allow_empty),
        },
    )


def write_all(contents: dict[Path, str]) -> None:
    """Writes every file, or (when one cannot be written) none of them."""
    staged = {path: path.with_name(f".{path.name}.bump") for path in contents}
    try:
        for path, text in contents.items():
            staged[path].write_text(text, encoding="utf-8")
    except OSError:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)
        raise
    for path, temporary in staged.items():
        os.replace(temporary, path)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bin/bump-version", description=__doc__.split("\n\n")[0])
    parser.add_argument("gear", help="gear name or directory, e.g. template-gear")
    parser.add_argument("version", help="major, minor, patch, or a version X.Y.Z")
    parser.add_argument("--allow-empty", action="store_true", help="release with no entries")
    parser.add_argument("--date", default=datetime.date.today().isoformat(), help="YYYY-MM-DD")
    parser.add_argument(
        "--repo", type=Path, default=None, help="repository root (default: this one)"
    )
    args = parser.parse_args(argv)
    try:
        repo = find_root(args.repo)
        current, new, contents = plan(
            repo,
            args.gear,
            args.version,
            date=args.date,
            allow_empty=args.allow_empty,
        )
        write_all(contents)
    except (BumpError, RepoError) as exc:
        print(f"bump-version: {exc}; nothing was written", file=sys.stderr)
        return 1
    for path in contents:
        print(f"  {path.relative_to(repo)}")
    print(f"{args.gear}: {current} -> {new}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
