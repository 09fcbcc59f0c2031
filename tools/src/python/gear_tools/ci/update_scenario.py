"""`bin/update-deps` on a scratch clone against a package index on 127.0.0.1 made of real wheels.

    update_scenario.pex [--repo DIR] [--keep]

The index serves (as pip's find-links page) the wheels of every release the gear-pydicom2
lockfile locks, downloaded from the Python package registry, with older releases of two
packages in place of the locked ones at first. In a clone of the repository (its Pants install
shared, no daemon), a second gear joins the gear-pydicom2 resolve beside dicom-headers, and the
resolve is locked against the index. Then, each time a newer release is added to the index:

  one gear    pydicom's newer release: only dicom-headers' image holds it; `bin/update-deps
              --resolve gear-pydicom2` must bump dicom-headers only, its CHANGELOG naming the
              update, and leave the other gear's version alone;
  all gears   six's newer release: every gear's image holds it (common/'s fw-gear needs it);
              both gears must be bumped;
  breaking    pydicom 3 (`--widen pydicom==3.0.1`): dicom-headers' tests expect pydicom 2; the
              command must fail naming the test, and `git status` must be clean after it.

Prints a row per case (exit code, seconds, gears bumped) and exits 1 if any case fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gear_tools.author import gear_resolve, lockfile
from gear_tools.author.pin_resolution import pip_environment
from gear_tools.repo import Repository
from gear_tools.table import format_table

RESOLVE = "gear-pydicom2"
ONE_GEAR = ("pydicom", "2.4.4")  # older than the lockfile's; only dicom-headers holds pydicom
ALL_GEARS = ("six", "1.16.0")  # older; every gear holds it (python-dateutil needs it)
BREAKING = "pydicom==3.0.1"
SECOND_GEAR = "resolve-neighbour"
INDEX = "https://pypi.org/simple/"
GIT_USER = ["-c", "user.name=update-scenario", "-c", "user.email=update-scenario@localhost"]


class ScenarioError(Exception):
    """A step of the set-up failed (not one of the cases)."""


@dataclass(frozen=True)
class Case:
    name: str
    exit_code: int
    seconds: float
    bumped: list[str]
    problem: str | None


def download(requirements: Sequence[str], directory: Path) -> None:
    """Each requirement's wheel for this interpreter (CPython 3.11, Linux) from the Python
    package registry, without dependencies."""
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--quiet",
        "--index-url",
        INDEX,
        "--dest",
        str(directory),
        *requirements,
    ]
    done = subprocess.run(command, env=pip_environment(), capture_output=True, text=True)
    if done.returncode != 0:
        raise ScenarioError(f"pip download failed: {done.stderr.strip()[-2000:]}")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """`directory`'s listing on 127.0.0.1 (a find-links page for pip and pex); yields its URL."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def run(
    argv: Sequence[str], repo: Path, env: dict[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    print(f"$ {' '.join(argv)}", flush=True)
    done = subprocess.run(list(argv), cwd=repo, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise ScenarioError(
            f"{' '.join(argv)} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
        )
    return done


def gear_versions(repo: Path) -> dict[str, str]:
    """Each gear's version (its manifest's)."""
    return {gear.name: gear.version for gear in Repository(repo).gears()}


def update_case(
    name: str,
    repo: Path,
    env: dict[str, str],
    arguments: Sequence[str],
    *,
    want_bumped: set[str],
    want_changelog: str,
) -> Case:
    before = gear_versions(repo)
    started = time.monotonic()
    done = run(["bin/update-deps", "--resolve", RESOLVE, *arguments], repo, env, check=False)
    seconds = time.monotonic() - started
    print(done.stdout[-3000:])
    after = gear_versions(repo)
    bumped = sorted(gear for gear, version in after.items() if before.get(gear) != version)
    problem = None
    if done.returncode != 0:
        problem = f"exit {done.returncode}: {done.stderr.strip()[-1500:]}"
    elif set(bumped) != want_bumped:
        problem = f"bumped {bumped or 'no gear'}, not {sorted(want_bumped)}"
    else:
        for gear in bumped:
            changelog = Repository(repo).gear(gear).changelog.read_text()
            if want_changelog not in changelog:
                problem = f"{gear}'s CHANGELOG does not name {want_changelog!r}"
    if problem is None:
        run(["git", *GIT_USER, "commit", "-qam", f"update-deps: {name}"], repo, env)
    return Case(name, done.returncode, seconds, bumped, problem)


def breaking_case(repo: Path, env: dict[str, str]) -> Case:
    started = time.monotonic()
    done = run(
        ["bin/update-deps", "--resolve", RESOLVE, "--widen", BREAKING], repo, env, check=False
    )
    seconds = time.monotonic() - started
    status = run(["git", "status", "--porcelain"], repo, env).stdout.strip()
    problem = None
    if done.returncode == 0:
        problem = "update-deps passed an update that breaks dicom-headers' tests"
    elif "dicom_headers/test/python/dicom_headers_app_tests/test_main.py" not in done.stderr:
        problem = f"the failing test is not named: {done.stderr.strip()[-1500:]}"
    elif status:
        problem = f"the clone is not as it was: {status}"
    return Case("breaking", done.returncode, seconds, [], problem)


def scenario(root: Path, work: Path) -> list[Case]:
    repo = work / "repo"
    run(["git", "clone", "-q", "--no-local", str(root), str(repo)], work, {**_base_env()})
    locked = lockfile.read_lock((repo / gear_resolve.lockfile(RESOLVE)).read_text())
    store, served = work / "wheels", work / "index"
    newer = {name: locked[name].version for name, _ in (ONE_GEAR, ALL_GEARS)}
    wanted = [f"{name}=={pkg.version}" for name, pkg in sorted(locked.items())]
    others = [f"{name}=={version}" for name, version in (ONE_GEAR, ALL_GEARS)] + [BREAKING]
    print(f"Downloading {len(wanted) + len(others)} wheels from {INDEX} ...", flush=True)
    download(wanted, store)
    # Other releases of the same projects: pip takes one release of a project a command.
    for requirement in others:
        download([requirement], store)
    served.mkdir()
    held_back = {f"{name}-{version}" for name, version in newer.items()}
    held_back.add(BREAKING.replace("==", "-"))

    def publish(*prefixes: str) -> None:
        for wheel in store.glob("*.whl"):
            stem = wheel.name.split("-")[0].lower().replace("_", "-")
            release = f"{stem}-{wheel.name.split('-')[1]}"
            if release not in held_back or release in prefixes:
                shutil.copy(wheel, served / wheel.name)

    publish()
    with serve(served) as url:
        env = {
            **_base_env(),
            "PANTS_BOOTSTRAP_DIR": str(root / ".pants.bootstrap"),
            "PANTS_PANTSD": "false",
            "PANTS_PYTHON_REPOS_FIND_LINKS": json.dumps([url]),
            "PANTS_PYTHON_REPOS_INDEXES": "[]",
        }
        run(["bin/new-gear", SECOND_GEAR, "--resolve", RESOLVE, "--no-pants-checks"], repo, env)
        run(["./pants", "generate-lockfiles", f"--resolve={RESOLVE}"], repo, env)
        run(["git", "add", "-A"], repo, env)
        run(["git", *GIT_USER, "commit", "-qm", "a second gear; older releases"], repo, env)
        cases = []
        publish(f"pydicom-{newer['pydicom']}")
        cases.append(
            update_case(
                "one gear",
                repo,
                env,
                [],
                want_bumped={"dicom-headers"},
                want_changelog=f"pydicom {ONE_GEAR[1]} -> {newer['pydicom']}",
            )
        )
        publish(f"six-{newer['six']}")
        cases.append(
            update_case(
                "all gears",
                repo,
                env,
                [],
                want_bumped={"dicom-headers", SECOND_GEAR},
                want_changelog=f"six {ALL_GEARS[1]} -> {newer['six']}",
            )
        )
        publish(BREAKING.replace("==", "-"))
        cases.append(breaking_case(repo, env))
    return cases


def _base_env() -> dict[str, str]:
    env = pip_environment()
    env.pop("PYTHONPATH", None)
    return env


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the repository to clone")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="update-scenario-"))
    try:
        cases = scenario(args.repo.resolve(), work)
    except ScenarioError as exc:
        print(f"update scenario: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"scratch directory kept: {work}")
    rows = [
        [
            "ok" if case.problem is None else "FAIL",
            case.name,
            str(case.exit_code),
            f"{case.seconds:.0f}",
            ", ".join(case.bumped) or "-",
        ]
        for case in cases
    ]
    print(format_table(["", "case", "exit", "s", "gears bumped"], rows))
    for case in cases:
        if case.problem:
            print(f"{case.name}: {case.problem}")
    failed = [case for case in cases if case.problem]
    print(f"update scenario: {len(cases) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
