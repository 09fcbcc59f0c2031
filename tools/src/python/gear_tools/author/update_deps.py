"""Updates the gears' dependencies in one command, and bumps exactly the gears it changes.

    bin/update-deps [--resolve R]... [--dry-run] [--no-checks] [--widen] [PACKAGE==VERSION ...]

For each resolve (default: every gear resolve), the lockfile is generated again
(`./pants generate-lockfiles`): the newest releases the requirements allow. `PACKAGE==VERSION`
first pins PACKAGE to VERSION in the resolve's requirements file (replacing its line, or adding
one for a package only other packages require); a version outside the line's range is refused
unless `--widen`. It then prints each package's old -> new
version per resolve, and per gear the packages that change in ITS image (its closure:
gear_tools.author.lock_closure). The gears whose image changes (and common/, when its own
packages change) get `./pants lint check test`; if they pass, each of those gears is bumped
(patch) with a CHANGELOG entry naming its package updates. If a check fails, every file is put
back as it was, and the failing gear and test are shown. `--dry-run` says all this and writes
nothing (the lockfiles are generated, compared and put back).
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from gear_tools.author import bump_version, gear_resolve, lock_closure, lockfile
from gear_tools.repo import DEFAULT_RESOLVE, Gear, RepoError, Repository, find_root

PINNED_HEADING = "# Pinned by bin/update-deps."
COMMON_SPEC = "common/src/python::"
# common/'s tests run in the default resolve only (docs/development.md).
COMMON_TESTS_SPEC = "common/test/python::"


class UpdateError(Exception):
    """The update cannot go on (the message says why); nothing is left changed."""


def pinned_text(
    text: str, pins: Sequence[Requirement], *, widen: bool = False, where: str = ""
) -> str:
    """The requirements file's text with each pin in place of its project's line (or added);
    UpdateError for a pin outside the line's range unless `widen`."""
    lines = text.splitlines()
    for pin in pins:
        name = canonicalize_name(pin.name)
        version = next(iter(pin.specifier)).version
        for index, line in enumerate(lines):
            try:
                written = Requirement(line.split("#")[0].strip())
            except InvalidRequirement:
                continue
            if canonicalize_name(written.name) == name:
                if not widen and not written.specifier.contains(version, prereleases=True):
                    raise UpdateError(
                        f"{pin} is outside the range {where} gives it ({written}); give "
                        "--widen to replace the range with the version"
                    )
                extras = f"[{','.join(sorted(written.extras))}]" if written.extras else ""
                lines[index] = f"{written.name}{extras}{pin.specifier}"
                break
        else:
            if PINNED_HEADING not in lines:
                lines += ["", PINNED_HEADING]
            lines.append(str(pin))
    return "\n".join(lines) + "\n"


def _pants(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo / "pants"), "-lwarn", *args], cwd=repo, capture_output=True, text=True
    )


def _restore(backup: Mapping[Path, bytes | None]) -> None:
    for path, content in backup.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(content)


def _failing_tests(output: str) -> list[str]:
    """The failing targets and tests named in `./pants lint check test` output."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    failed = re.findall(r"^FAILED (\S+)", plain, re.M)
    failed += re.findall(r"^✕ (\S+)", plain, re.M)
    return list(dict.fromkeys(failed))


def update(
    repo: Path,
    resolves: Sequence[str],
    pins: Sequence[Requirement],
    *,
    dry_run: bool,
    checks: bool,
    date: str,
    widen: bool = False,
) -> int:
    gears = [gear for gear in Repository(repo).gears() if gear.resolve in resolves]
    backup: dict[Path, bytes | None] = {}
    for resolve in resolves:
        for path in (
            repo / gear_resolve.lockfile(resolve),
            repo / gear_resolve.requirements_path(resolve),
        ):
            backup[path] = path.read_bytes() if path.is_file() else None
    old_locks = {
        resolve: (backup[repo / gear_resolve.lockfile(resolve)] or b"").decode()
        for resolve in resolves
    }
    try:
        for resolve in resolves:
            if pins:
                path = repo / gear_resolve.requirements_path(resolve)
                relative = path.relative_to(repo).as_posix()
                text = pinned_text(
                    path.read_text(encoding="utf-8"), pins, widen=widen, where=relative
                )
                path.write_text(text)
            print(f"update-deps: locking {resolve} (./pants generate-lockfiles) ...", flush=True)
            locked = _pants(repo, "generate-lockfiles", f"--resolve={resolve}")
            if locked.returncode != 0:
                raise UpdateError(
                    f"`./pants generate-lockfiles --resolve={resolve}` failed:\n"
                    + (locked.stdout + locked.stderr)[-3000:]
                )
        locks = _locks(repo, resolves, old_locks)
        changed_gears = _report(repo, gears, locks)
        common_changes = _common_changes(repo, locks)
        if dry_run:
            _restore(backup)
            print("update-deps: dry run: nothing was written (the lockfiles are as they were)")
            return 0
        if not changed_gears and not common_changes:
            print("update-deps: no gear's image changes; the lockfiles are updated")
            return 0
        specs = [f"{gear.directory}::" for gear in changed_gears]
        specs += common_specs(resolves) if common_changes else []
        if checks:
            print(f"update-deps: ./pants lint check test {' '.join(specs)} ...", flush=True)
            ran = _pants(repo, "lint", "check", "test", *specs)
            if ran.returncode != 0:
                _restore(backup)
                failing = _failing_tests(ran.stdout + ran.stderr)
                print((ran.stdout + ran.stderr)[-4000:], file=sys.stderr)
                print(
                    "update-deps: the update breaks "
                    + (", ".join(failing) if failing else "the checks above")
                    + "; every file is as it was before",
                    file=sys.stderr,
                )
                return 1
        contents: dict[Path, str] = {}
        for gear, packages in changed_gears.items():
            current, new, files = bump_version.plan(
                repo,
                gear.directory,
                "patch",
                date=date,
                allow_empty=True,
                generated="- Package updates: " + ", ".join(packages) + ".",
            )
            contents.update(files)
            print(f"{gear.name}: {current} -> {new} (patch: package updates)")
        bump_version.write_all(contents)
    except (UpdateError, RepoError, lockfile.LockError, bump_version.BumpError) as exc:
        _restore(backup)
        print(f"update-deps: {exc}\nupdate-deps: every file is as it was before", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _restore(backup)
        raise
    return 0


# Per resolve, its lockfile before and after the update.
Locks = dict[str, tuple[dict[str, lockfile.Locked], dict[str, lockfile.Locked]]]


def _locks(repo: Path, resolves: Sequence[str], old_locks: Mapping[str, str]) -> Locks:
    """Each resolve's lockfile before and after the update, read once."""
    return {
        resolve: (
            lockfile.read_lock(old_locks[resolve]) if old_locks[resolve] else {},
            lockfile.read_lock((repo / gear_resolve.lockfile(resolve)).read_text(encoding="utf-8")),
        )
        for resolve in resolves
    }


def _report(
    repo: Path,
    gears: Sequence[Gear],
    locks: Locks,
) -> dict[Gear, list[str]]:
    """Prints what moved per resolve and per gear; returns the gears whose image changes."""
    changed: dict[Gear, list[str]] = {}
    for resolve, (old, new) in locks.items():
        moved = lock_closure.lock_changes(old, new)
        print(f"{resolve}: {len(moved)} packages move")
        for line in lock_closure.describe(moved):
            print(f"  {line}")
        for gear in (g for g in gears if g.resolve == resolve):
            packages = lock_closure.describe(
                lock_closure.closure_changes(old, new, lock_closure.gear_roots(repo, gear))
            )
            if packages:
                changed[gear] = packages
                print(f"  {gear.name}: its image changes: {', '.join(packages)}")
            else:
                print(f"  {gear.name}: its image does not change")
    return changed


def common_specs(resolves: Sequence[str]) -> list[str]:
    """What of common/ an update of its packages in `resolves` checks: its code (in each
    resolve), and its tests when they run in one of them."""
    return [COMMON_SPEC, *([COMMON_TESTS_SPEC] if DEFAULT_RESOLVE in resolves else [])]


def _common_changes(repo: Path, locks: Locks) -> list[str]:
    """The packages common/'s own code depends on that the update moves (in any resolve)."""
    roots = lock_closure.requirement_roots(repo, COMMON_SPEC)
    changes: list[str] = []
    for old, new in locks.values():
        changes += lock_closure.describe(lock_closure.closure_changes(old, new, roots))
    changes = list(dict.fromkeys(changes))
    if changes:
        print(f"common/: its packages change: {', '.join(changes)}")
    return changes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bin/update-deps", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "packages", nargs="*", metavar="PACKAGE==VERSION", help="pin PACKAGE to VERSION first"
    )
    parser.add_argument(
        "--resolve", action="append", metavar="R", help="only this resolve (repeatable)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would change; write nothing"
    )
    parser.add_argument(
        "--no-checks", dest="checks", action="store_false", help="bump without lint, check, test"
    )
    parser.add_argument(
        "--widen",
        action="store_true",
        help="a PACKAGE==VERSION outside its requirement's range replaces the range",
    )
    parser.add_argument("--repo", type=Path, help="repository root (default: this one)")
    args = parser.parse_args(argv)
    pins = []
    for text in args.packages:
        try:
            pin = Requirement(text)
        except InvalidRequirement as exc:
            parser.error(f"{text!r} is not PACKAGE==VERSION ({exc})")
        if len(pin.specifier) != 1 or next(iter(pin.specifier)).operator != "==":
            parser.error(f"{text!r}: give one exact version, PACKAGE==VERSION")
        pins.append(pin)
    try:
        repo = find_root(args.repo)
        known = gear_resolve.gear_resolves(repo)
    except (RepoError, gear_resolve.ResolveError) as exc:
        print(f"update-deps: {exc}", file=sys.stderr)
        return 2
    resolves = args.resolve or known
    unknown = [resolve for resolve in resolves if resolve not in known]
    if unknown:
        parser.error(
            f"not a gear resolve: {', '.join(unknown)} (gear resolves: {', '.join(known)})"
        )
    date = datetime.date.today().isoformat()
    return update(
        repo, resolves, pins, dry_run=args.dry_run, checks=args.checks, date=date, widen=args.widen
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
