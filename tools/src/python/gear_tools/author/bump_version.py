"""Bumps a gear's version everywhere it lives, and dates its CHANGELOG's unreleased entries.

    bin/bump-version GEAR (major|minor|patch|X.Y.Z) [--allow-empty] [--date YYYY-MM-DD]
                     [--repo DIR]
    bin/bump-version --changed-since REF [--dry-run] [--date YYYY-MM-DD] [--repo DIR]

GEAR is the gear's name (`template-gear`) or directory (`template_gear`). The version lives in
the gear's `src/docker/BUILD` (`gear_image(version=...)`), its manifest (`version` and the tag
of `custom.gear-builder.image`) and its CHANGELOG (docs/<gear>/CHANGELOG.md), whose
`## Unreleased` entries move under `## X.Y.Z (date)`. A version that is not greater than the
current one, an invalid version, an unknown gear, or no unreleased entries (unless
--allow-empty) is refused with the reason, and nothing is written.

With --changed-since REF it bumps every gear whose image differs from REF's (its code, the
common/ code it imports, its resolve's lockfile, its manifest or Dockerfile, the base image or
the shared image definition; see gear_tools.author.changed_gears), each by the level its
manifest's changes since its last release ask (patch when only the image changed), writes
the CHANGELOG entry (the unreleased entries, the manifest's contract changes and the commits
that touched the gear) and prints the `gear/<name>/v<version>` tags to push once the bump is
committed. A gear whose image does not change is not bumped; every gear's files are written,
or none.
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

from gear_manifest import compatibility
from gear_tools.author import changed_gears
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


def release_notes(gear: Gear, version: str) -> str | None:
    """The CHANGELOG entry of `version` (what bump-version wrote under `## version (date)`)."""
    try:
        text = gear.changelog.read_text(encoding="utf-8")
    except OSError:
        return None
    heading = re.compile(rf"^## {re.escape(version)}(?: \(.*\))?[ \t]*$", re.M)
    match = heading.search(text)
    if match is None:
        return None
    following = re.compile(r"^## ", re.M).search(text, match.end())
    body = text[match.end() : following.start() if following else len(text)]
    return body.strip() or None


def _changelog_text(gear: Gear, new: str, date: str, allow_empty: bool, generated: str = "") -> str:
    if not gear.changelog.is_file():
        raise BumpError(f"{gear.changelog} does not exist")
    text = gear.changelog.read_text(encoding="utf-8")
    match = UNRELEASED.search(text)
    body = match.group("body").strip() if match else ""
    body = "\n".join(part for part in (body, generated) if part)
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
    repo: Path, gear: str, wanted: str, *, date: str, allow_empty: bool, generated: str = ""
) -> tuple[str, str, dict[Path, str]]:
    """(current, new, {path: new text}) for a bump; raises BumpError, having written nothing.
    `generated` is added to the CHANGELOG entry after the unreleased entries."""
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
            found.changelog: _changelog_text(found, new, date, allow_empty, generated),
        },
    )


def bump_changed(repo: Path, ref: str, *, date: str, dry_run: bool) -> int:
    """Bumps every gear whose image changed since REF (see the module's docstring)."""
    changes, notes = changed_gears.gear_changes(repo, ref)
    contents: dict[Path, str] = {}
    tags = []
    for change in changes:
        gear = change.gear
        reason = f"{change.level_name}: " + (
            "; ".join(c.text for c in change.contract if c.level == change.level)
            if change.level > compatibility.PATCH
            else "its image changes"
        )
        if change.new_version is None:
            print(f"{gear.name}: {gear.version} already is the version needed ({reason})")
            continue
        current, new, files = plan(
            repo,
            gear.directory,
            change.new_version,
            date=date,
            allow_empty=True,
            generated=changed_gears.changelog_entries(change),
        )
        contents.update(files)
        tags.append(compatibility.release_tag(gear.name, new))
        commits = f"{len(change.commits)} commit{'s' * (len(change.commits) != 1)}"
        print(
            f"{gear.name}: {current} -> {new} ({reason}; {commits} since {change.baseline.label})"
        )
    for note in notes:
        print(note)
    if dry_run:
        print("dry run: nothing was written")
        return 0
    write_all(contents)
    for path in contents:
        print(f"  {path.relative_to(repo)}")
    if tags:
        print("Commit the bump, then tag and push each release:")
        for tag in tags:
            print(f"  git tag {tag}")
        print(f"  git push origin {' '.join(tags)}")
    return 0


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
    parser.add_argument("gear", nargs="?", help="gear name or directory, e.g. template-gear")
    parser.add_argument("version", nargs="?", help="major, minor, patch, or a version X.Y.Z")
    parser.add_argument(
        "--changed-since",
        metavar="REF",
        help="bump every gear whose image changed since REF, by the level its changes need",
    )
    parser.add_argument("--dry-run", action="store_true", help="with --changed-since: say only")
    parser.add_argument("--allow-empty", action="store_true", help="release with no entries")
    parser.add_argument("--date", default=datetime.date.today().isoformat(), help="YYYY-MM-DD")
    parser.add_argument(
        "--repo", type=Path, default=None, help="repository root (default: this one)"
    )
    args = parser.parse_args(argv)
    if args.changed_since is not None and (args.gear or args.version):
        parser.error("give either GEAR VERSION or --changed-since REF, not both")
    if args.changed_since is None and not (args.gear and args.version):
        parser.error("give GEAR and VERSION (major, minor, patch or X.Y.Z), or --changed-since REF")
    try:
        repo = find_root(args.repo)
        if args.changed_since is not None:
            return bump_changed(repo, args.changed_since, date=args.date, dry_run=args.dry_run)
        current, new, contents = plan(
            repo,
            args.gear,
            args.version,
            date=args.date,
            allow_empty=args.allow_empty,
        )
        write_all(contents)
    except (BumpError, RepoError, changed_gears.ChangeError) as exc:
        print(f"bump-version: {exc}; nothing was written", file=sys.stderr)
        return 1
    for path in contents:
        print(f"  {path.relative_to(repo)}")
    print(f"{args.gear}: {current} -> {new}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
