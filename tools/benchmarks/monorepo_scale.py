"""How the cost of testing and building grows with the number of gears, and with a change.

    ./pants run tools/benchmarks/monorepo_scale.py -- [--gears 40] [--keep DIR] [--cold]
                                                       [--package-only]

In a scratch clone of this repository (HEAD, committed work only), it adds gears made by
bin/new-gear's code until there are --gears of them, commits them, and times, on this
machine's container engine (podman or Docker, as ./pants package chooses, or as
GEAR_CONTAINER_ENGINE names):

  test ::                      cold (with --cold: empty Pants caches for the clone) and warm
  lint check ::                after test ::    (neither with --package-only)
  package ::                   from built (after the first full build), and a no-op rerun
  a one-line change to one gear's main.py, and to common/src/python/gear_common/errors.py:
                               package :: and the changed-only package
                               (--changed-since=HEAD --changed-dependees=transitive)

It prints one row per step with the wall time. The clone shares this checkout's Pants
install; without --keep it is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from gear_tools.author.new_gear import NewGear, create
from gear_tools.engine.containers import detect_engine
from gear_tools.repo import Repository
from gear_tools.table import format_table

CHANGED_ONLY = ("--changed-since=HEAD", "--changed-dependees=transitive")
COMMON_FILE = "common/src/python/gear_common/errors.py"


def run(repo: Path, argv: Sequence[str], env: dict[str, str]) -> float:
    """Runs a command in the clone; returns its wall time, or stops with its output."""
    started = time.monotonic()
    result = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        raise SystemExit(
            f"`{' '.join(argv)}` failed in {repo} (exit {result.returncode}):\n{output}"
        )
    return took


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=benchmark", "-c", "user.email=benchmark@localhost"]
    subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)


def add_gears(repo: Path, total: int) -> int:
    """Adds generated gears until the clone has `total`; returns how many it added."""
    have = len(Repository(repo).gears())
    # Each run's gears differ (their manifests name the run), so no image from an earlier run
    # is reused and the first full build builds every image.
    run_id = time.strftime("%Y-%m-%dT%H:%M:%S")
    for index in range(1, total - have + 1):
        name = f"scale-gear-{index}"
        description = f"A generated gear (benchmark run {run_id})."
        create(repo, NewGear(name, f"Scale gear {index}", description, "utility", False))
    return max(0, total - have)


def append_line(path: Path) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(f"# benchmark edit {time.time_ns()}\n")


def stop_pantsd(repo: Path) -> None:
    """Stops the clone's pantsd, so that no daemon outlives the benchmark."""
    for pid_file in repo.glob(".pids/*/pantsd/pid"):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gears", type=int, default=40, help="gears in the clone (default 40)")
    parser.add_argument("--keep", type=Path, help="make the clone here and keep it")
    parser.add_argument("--cold", action="store_true", help="time test :: with empty caches")
    parser.add_argument(
        "--package-only", action="store_true", help="time the package steps only (no test, lint)"
    )
    args = parser.parse_args(argv)
    if args.gears < 1:
        parser.error(f"--gears must be at least 1, not {args.gears}")
    source = Path.cwd().resolve()  # ./pants run runs in the repository root
    scratch = Path(tempfile.mkdtemp(prefix="monorepo-scale-"))
    repo = (args.keep or scratch / "repo").resolve()
    # The clone's own pantsd (another build root), as a developer's checkout would have it.
    env = {**os.environ, "PANTS_BOOTSTRAP_DIR": str(source / ".pants.bootstrap")}
    env.pop("PANTS_CONFIG_FILES", None)
    rows: list[tuple[str, str]] = []
    gears = 0

    def step(label: str, *pants_args: str) -> None:
        print(f"{label} ...", flush=True)
        seconds = run(repo, ["./pants", *pants_args], env)
        print(f"{label}: {seconds:.0f} s", flush=True)
        rows.append((label, f"{seconds:.0f}"))

    try:
        subprocess.run(["git", "clone", "-q", str(source), str(repo)], check=True)
        # bin/new-gear's code writes formatted, sorted code: `lint` below checks it as written.
        added = add_gears(repo, args.gears)
        git(repo, "add", "-A")
        git(repo, "commit", "--allow-empty", "-qm", f"{added} generated gears")
        gears = len(Repository(repo).gears())
        print(f"{repo}: {gears} gears ({added} generated)", flush=True)
        if args.cold:
            # Empty Pants caches for the clone, kept for every later step (so "warm" is warm).
            caches = scratch / "caches"
            env = {
                **env,
                "PANTS_LOCAL_STORE_DIR": str(caches / "lmdb"),
                "PANTS_NAMED_CACHES_DIR": str(caches / "named"),
            }
        if not args.package_only:
            step("test :: (cold)" if args.cold else "test :: (first run)", "test", "::")
            step("test :: (warm)", "test", "::")
            step("lint check :: (after test ::)", "lint", "check", "::")
        step("package :: (first full build)", "package", "::")
        step("package :: (no-op)", "package", "::")
        gear_main = sorted(repo.glob("scale_gear_1/src/python/*/main.py")) or sorted(
            repo.glob("template_gear/src/python/*/main.py")
        )
        for what, path in (("one gear's main.py", gear_main[0]), ("common/", repo / COMMON_FILE)):
            append_line(path)
            step(f"package :: after a change to {what}", "package", "::")
            git(repo, "commit", "-qam", f"edit {what}")
            append_line(path)
            step(f"changed-only package after a change to {what}", *CHANGED_ONLY, "package")
            git(repo, "commit", "-qam", f"edit {what} again")
    finally:
        stop_pantsd(repo)
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    engine = detect_engine(source / ".pants.bootstrap/container.env")
    print(f"\n{gears} gears, {engine}, {os.cpu_count()} cores")
    print(format_table(("step", "wall s"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
