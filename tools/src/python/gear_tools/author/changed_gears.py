"""Which gears' images a change since a commit makes different, and the bump each one needs.

A gear's image is made of its code, the common/ code it imports, its resolve's lockfile,
its manifest and Dockerfile, and what every image shares: the base image pinned in
pants.toml and the image definition in pants-plugins/ (gear_image, gear_code). Pants knows
the first ones (`--changed-since=REF --changed-dependees=transitive` selects the gear image
a changed file reaches, lockfiles included); the shared ones are read here. The bump is the
one the compatibility gate asks of the gear's manifest against its last release (the
`gear/<name>/v<version>` tag, else the manifest at REF): major for a breaking change, minor
for an addition, patch when only the image changed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gear_manifest import compatibility
from gear_tools.author import gear_resolve, lock_closure
from gear_tools.repo import Gear, PantsSettings, RepoError, Repository

# The image definition every gear image is built by: a change here changes every image.
SHARED_IMAGE_DEFINITION = ("pants-plugins/gear_macros/", "pants-plugins/gear_code/")


class ChangeError(Exception):
    """The change cannot be worked out (an unknown commit, a failing Pants run)."""


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ChangeError(f"`git {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout


def pants(repo: Path, *args: str) -> list[str]:
    """The lines `./pants ARGS` prints (stopping with its output if it fails)."""
    result = subprocess.run(
        [str(repo / "pants"), "-lwarn", *args], cwd=repo, capture_output=True, text=True
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        raise ChangeError(f"`./pants {' '.join(args)}` failed:\n{output}")
    return [line for line in result.stdout.splitlines() if line.strip()]


def changed_files(repo: Path, ref: str) -> list[str]:
    """Files that differ from REF in the working tree (committed or not), and new files."""
    git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    changed = git(repo, "diff", "--name-only", ref, "--").split("\n")
    untracked = git(repo, "ls-files", "--others", "--exclude-standard").split("\n")
    return sorted({path for path in changed + untracked if path})


def file_at(repo: Path, ref: str, path: str) -> str | None:
    result = subprocess.run(
        ["git", "-C", str(repo), "show", f"{ref}:{path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


def base_image_changed(repo: Path, ref: str) -> bool:
    """Whether pants.toml's BASE_IMAGE build argument differs from REF's."""
    import tomllib

    text = file_at(repo, ref, "pants.toml")
    if text is None:
        return True
    try:
        before = PantsSettings(tomllib.loads(text)).build_args.get("BASE_IMAGE")
    except tomllib.TOMLDecodeError:
        return True
    return before != Repository(repo).settings.build_args.get("BASE_IMAGE")


def shared_image_changes(repo: Path, ref: str, changed: Sequence[str]) -> list[str]:
    """The changed files (and settings) that change every gear image."""
    shared = [path for path in changed if path.startswith(SHARED_IMAGE_DEFINITION)]
    if "pants.toml" in changed and base_image_changed(repo, ref):
        shared.append("pants.toml")
    return shared


@dataclass(frozen=True)
class Baseline:
    """What a gear's new version is compared with: its last release, else the gear at REF."""

    label: str  # the tag, or the commit given
    version: str
    manifest: dict[str, object]


def baseline(repo: Path, gear: Gear, ref: str) -> Baseline | None:
    """The gear's last release tag, else the gear at REF; None for a gear new since REF."""
    import json

    path = gear.manifest_path.relative_to(repo).as_posix()
    tags = git(repo, "tag", "--list", compatibility.release_tag(gear.name, "*")).split()
    latest = compatibility.latest_release(tags, gear.name)
    for label in ([latest[0]] if latest else []) + [ref]:
        text = file_at(repo, label, path)
        if text is None:
            continue
        try:
            manifest = json.loads(text)
        except ValueError:
            continue
        if isinstance(manifest, dict):
            return Baseline(label, str(manifest.get("version", "")), manifest)
    return None


@dataclass(frozen=True)
class GearChange:
    """A gear whose image the change makes different, and the version it needs."""

    gear: Gear
    files: tuple[str, ...]
    commits: tuple[str, ...]
    baseline: Baseline
    contract: tuple[compatibility.Change, ...]
    level: int
    # The version to bump to; None when the gear already has (at least) the one needed.
    new_version: str | None
    # The packages of the gear's image its resolve's lockfile change moves (`x 1.0 -> 1.1`).
    packages: tuple[str, ...] = ()

    @property
    def level_name(self) -> str:
        return str(compatibility.LEVEL_NAMES[self.level])


def image_files(repo: Path, gear: Gear) -> set[str]:
    """Every file the gear's image is made of (Pants' transitive file dependencies)."""
    return set(pants(repo, "filedeps", "--transitive", gear.image_target))


def commits_touching(repo: Path, ref: str, files: Sequence[str]) -> list[str]:
    """`<short hash> <subject>` of each commit since REF that changes one of `files`."""
    if not files:
        return []
    out = git(repo, "log", "--format=%h %s", f"{ref}..HEAD", "--", *files)
    return [line for line in out.splitlines() if line.strip()]


def gear_changes(repo: Path, ref: str) -> tuple[list[GearChange], list[str]]:
    """(gears whose image changes, notes on the others) since REF."""
    changed = changed_files(repo, ref)
    repository = Repository(repo)
    gears = repository.gears()
    if not changed:
        return [], [f"nothing changed since {ref}"]
    shared = shared_image_changes(repo, ref, changed)
    selected = set(pants(repo, f"--changed-since={ref}", "--changed-dependees=transitive", "list"))
    found: list[GearChange] = []
    notes: list[str] = []
    for gear in gears:
        if gear.image_target not in selected and not shared:
            notes.append(f"{gear.name}: its image does not change")
            continue
        base = baseline(repo, gear, ref)
        if base is None:
            notes.append(f"{gear.name}: new since {ref}; its first release is {gear.version}")
            continue
        files = sorted((set(changed) & image_files(repo, gear)) | set(shared))
        packages = lockfile_packages(repo, gear, ref, files)
        if files and not shared and set(files) <= lockfiles(files) and not packages:
            notes.append(
                f"{gear.name}: its resolve's lockfile changed, but no package its image holds did"
            )
            continue
        if not files:
            notes.append(f"{gear.name}: its image does not change")
            continue
        manifest = gear.manifest()
        contract = tuple(compatibility.changes(base.manifest, manifest))
        level = max(compatibility.PATCH, compatibility.required_level(list(contract)))
        try:
            needed = compatibility.bumped(base.version, level)
        except ValueError as exc:
            raise RepoError(gear.manifest_path, f"{base.label}: {exc}") from None
        current = compatibility.parse_version(gear.version)
        target = compatibility.parse_version(needed)
        new = None if current is not None and target is not None and current >= target else needed
        found.append(
            GearChange(
                gear,
                tuple(files),
                tuple(commits_touching(repo, ref, files)),
                base,
                contract,
                level,
                new,
                tuple(packages),
            )
        )
    return found, notes


def lockfiles(files: Sequence[str]) -> set[str]:
    """The resolves' lockfiles among `files`."""
    return {
        path for path in files if path.startswith("3rdparty/python/") and path.endswith(".lock")
    }


def lockfile_packages(repo: Path, gear: Gear, ref: str, files: Sequence[str]) -> list[str]:
    """`project old -> new` for each package of the gear's image that its resolve's lockfile
    change (among `files`) moves: Pants selects every target of a resolve for any change to
    its lockfile; this is the part of the change that is the gear's."""
    lockfile = gear_resolve.lockfile(gear.resolve).as_posix()
    if lockfile not in files:
        return []
    old = file_at(repo, ref, lockfile)
    if old is None:
        return []
    new = (repo / lockfile).read_text(encoding="utf-8")
    return lock_closure.describe(lock_closure.gear_lock_changes(repo, gear, old, new))


def changelog_entries(change: GearChange) -> str:
    """The CHANGELOG lines a bump adds: the contract changes, the package updates and the
    commits."""
    lines = [f"- {c.text[0].upper()}{c.text[1:]}." for c in change.contract]
    if change.packages:
        lines.append("- Package updates: " + ", ".join(change.packages) + ".")
    if change.commits:
        lines.append(f"- Commits since {change.baseline.label}:")
        lines += [f"  - {commit}" for commit in change.commits]
    else:
        shown = ", ".join(change.files[:5]) + (" ..." if len(change.files) > 5 else "")
        lines.append(f"- Changed since {change.baseline.label} (not committed yet): {shown}")
    return "\n".join(lines)
