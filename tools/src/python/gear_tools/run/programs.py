"""The system programs gears run, and those the repository's own tests run.

    python3 -m gear_tools.run.programs list     each program: gear, Debian package, on PATH or not
    python3 -m gear_tools.run.programs ensure   install the missing ones with apt-get (as root or
                                                with `sudo -n`), or say what to install

Each manifest declares its programs in `custom.programs` ({"program": "Debian package that
provides it"}); the repository's own tests declare theirs in 3rdparty/test-programs.json (same
shape). A gear's image installs its programs (its Dockerfile); the machine that runs the tests
needs them all, so ./pants runs `ensure` before `test` (with Pants' own Python 3.9: standard
library only).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from gear_tools.repo import Repository, find_root

TEST_PROGRAMS = "3rdparty/test-programs.json"
REPOSITORY_TESTS = "repository-tests"
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$")


class Program(NamedTuple):
    program: str
    package: str
    user: str  # the gear directory, or repository-tests


class ProgramsError(Exception):
    """A declaration that cannot be read; the message names the file."""


def declared(repo: Repository) -> list[Program]:
    """Every declared program, gear by gear, then the repository's tests'."""
    sources = [(gear.manifest_path, gear.directory) for gear in repo.gears()]
    sources.append((repo.root / TEST_PROGRAMS, REPOSITORY_TESTS))
    found = []
    for source, user in sources:
        try:
            document = json.loads(source.read_text(encoding="utf-8"))
            programs = (
                document
                if user == REPOSITORY_TESTS
                else document.get("custom", {}).get("programs", {})
            )
        except (OSError, ValueError, AttributeError) as exc:
            raise ProgramsError(f"{source}: cannot read the programs: {exc}") from None
        if not isinstance(programs, dict):
            raise ProgramsError(f"{source}: programs must map program to Debian package")
        for program, package in sorted(programs.items()):
            if not (isinstance(package, str) and _WORD.match(program) and _WORD.match(package)):
                raise ProgramsError(
                    f"{source}: {program} = {package!r} is not a program and package name"
                )
            found.append(Program(program, package, user))
    return found


def list_programs(programs: list[Program]) -> None:
    print(f"{'program':<16} {'package':<16} {'gear':<24} on PATH")
    for item in programs:
        where = shutil.which(item.program) or "missing"
        print(f"{item.program:<16} {item.package:<16} {item.user:<24} {where}")


def ensure(programs: list[Program]) -> None:
    """Installs the packages of the missing programs; raises ProgramsError when it cannot."""
    missing = [item for item in programs if shutil.which(item.program) is None]
    if not missing:
        return
    packages = sorted({item.package for item in missing})
    runs = " ".join(f"{item.program} ({item.user})" for item in missing)
    as_root: list[str] = []
    sudo = os.geteuid() != 0 and shutil.which("sudo")
    if sudo and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        as_root = ["sudo", "-n"]
    if (os.geteuid() != 0 and not as_root) or not shutil.which("apt-get"):
        raise ProgramsError(
            f"the tests run programs that are not installed: {runs}.\n"
            f"Install the Debian packages: sudo apt-get install {' '.join(packages)}"
        )
    print(
        f"gear-programs: installing {' '.join(packages)} for the tests, which run {runs} ...",
        file=sys.stderr,
    )
    apt = [*as_root, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    log = Path(tempfile.gettempdir()) / "gear-programs-apt.log"
    with log.open("w") as out:
        for step in (
            ["update", "-qq"],
            ["install", "-y", "-qq", "--no-install-recommends", *packages],
        ):
            if subprocess.run([*apt, *step], stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                raise ProgramsError(
                    f"{tail}\ninstalling {' '.join(packages)} with apt-get failed "
                    f"(log above, full log in {log})"
                )


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("list", "ensure"):
        asked = argv in (["-h"], ["--help"])
        print(__doc__.split("\n\n")[1], file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    try:
        programs = declared(Repository(find_root()))
        if argv[0] == "list":
            list_programs(programs)
        else:
            ensure(programs)
    except ProgramsError as exc:
        print(f"gear-programs: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
