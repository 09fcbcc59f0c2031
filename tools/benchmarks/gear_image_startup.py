"""Start-up time and size of every gear image, against the naive image (pex as /bin/run).

    ./pants package ::
    ./pants run tools/benchmarks/gear_image_startup.py -- [--runs 5] [--dist dist]

For each gear image `pants package` built (helper images such as a gear's system image are
not gears and are left out) it reports the image size and
the user it runs as, and times (median of --runs, a fresh container each run) the gear on its
first smoke case (<gear>/test/smoke/, template_gear's is a tiny text file):

  first log   from starting the container's command to the gear's first line of output
  exit        from starting it to the gear's exit
  python      `python3 -c pass` in the same image: the floor any Python program pays

It also builds the naive variant of each image from the same pex and the gear's own system
image (its Dockerfile: base image and system packages, so the naive image has the same tools):
the pex copied to /bin/run as the entrypoint, so that every fresh container unpacks the pex
and its dependencies before the gear starts. The naive images are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gear_tools.engine.containers import (
    Engine,
    GearRun,
    build_image,
    detect_engine,
    gear_command,
    inspect_image,
    remove_image,
    run_in_image,
)
from gear_tools.images.built import built_image
from gear_tools.images.smoke_images import built_gear_images, execute_case
from gear_tools.repo import MANIFEST, SMOKE_DIR, dist_path
from gear_tools.run.run_gear import pex_path
from gear_tools.table import format_table

# The docker_image target of a gear's system image (gear_image() in pants-plugins/gear_macros).
SYSTEM_IMAGE_SUFFIX = "-system"
NAIVE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ENV FLYWHEEL=/flywheel/v0
WORKDIR /flywheel/v0
COPY manifest.json /flywheel/v0/manifest.json
COPY gear.pex /bin/run
ENTRYPOINT ["/bin/run"]
"""
# Targets from the issue that asked for these images, printed beside the figures.
SPEEDUP_TARGET = 3.0
OVER_PYTHON_TARGET_SECONDS = 0.5


@dataclass(frozen=True)
class Timing:
    first_line: float
    exit: float


@dataclass(frozen=True)
class Row:
    gear: str
    variant: str
    image: str
    size_mb: float
    user: str
    timing: Timing | None
    python_pass: float | None = None


def median_timing(runs: list[GearRun]) -> Timing:
    firsts = [run.first_line_seconds for run in runs if run.first_line_seconds is not None]
    if len(firsts) != len(runs):
        raise SystemExit("a gear run printed nothing, so its first log line cannot be timed")
    return Timing(statistics.median(firsts), statistics.median(run.seconds for run in runs))


def repeat(runs: int, once: Callable[[], GearRun]) -> list[GearRun]:
    return [once() for _ in range(runs)]


def timed_case(engine: Engine, image: str, command: list[str], case: Path, runs: int) -> Timing:
    def once() -> GearRun:
        run, failures = execute_case(engine, image, command, case)
        if failures:
            raise SystemExit(f"{image} failed smoke case {case}:\n  " + "\n  ".join(failures))
        return run

    return median_timing(repeat(runs, once))


def user_of(engine: Engine, image: str) -> str:
    return run_in_image(engine, image, ["id", "-u"]).log.strip()


def system_image(dist: Path, gear_dir: Path, gear_name: str) -> str:
    """The gear's system image, as `pants package` recorded it under `dist`."""
    info = dist_path(
        f"{gear_dir}/src/docker", f"{gear_name}{SYSTEM_IMAGE_SUFFIX}.docker-info.json", dist
    )
    if not info.is_file():
        raise SystemExit(f"{info} is missing: run ./pants package :: first")
    return built_image(info)


def build_naive(engine: Engine, gear_dir: Path, gear_name: str, tag: str, dist: Path) -> None:
    """The gear's pex (under `dist`) copied to /bin/run in the gear's system image."""
    base = system_image(dist, gear_dir, gear_name)
    pex = pex_path(Path(), str(gear_dir), dist)
    if not pex.is_file():
        raise SystemExit(f"{pex} is missing: run ./pants package :: first")
    with tempfile.TemporaryDirectory(prefix="naive-image-") as context:
        shutil.copy(pex, Path(context) / "gear.pex")
        shutil.copy(gear_dir / MANIFEST, Path(context) / "manifest.json")
        (Path(context) / "Dockerfile").write_text(NAIVE_DOCKERFILE)
        build_image(engine, Path(context), tag, {"BASE_IMAGE": base})


def measure_gear(engine: Engine, gear_dir: Path, image: str, runs: int, dist: Path) -> list[Row]:
    manifest = json.loads((gear_dir / MANIFEST).read_text())
    command = gear_command(manifest)
    cases = sorted((gear_dir / SMOKE_DIR).glob("*/case.json"))
    naive = f"localhost/benchmark-naive/{manifest['name']}:{manifest['version']}"
    print(f"{image}: building the naive variant and timing {runs} runs of each ...", flush=True)
    build_naive(engine, gear_dir, manifest["name"], naive, dist)
    try:
        python_runs = repeat(runs, lambda: run_in_image(engine, image, ["python3", "-c", "pass"]))
        rows = []
        for variant, name in (("venv", image), ("naive", naive)):
            rows.append(
                Row(
                    gear=manifest["name"],
                    variant=variant,
                    image=name,
                    size_mb=inspect_image(engine, name)["Size"] / 1e6,
                    user=user_of(engine, name),
                    timing=timed_case(engine, name, command, cases[0], runs) if cases else None,
                    python_pass=(
                        statistics.median(run.seconds for run in python_runs)
                        if variant == "venv"
                        else None
                    ),
                )
            )
        return rows
    finally:
        remove_image(engine, naive)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(engine: Engine, runs: int, rows: list[Row]) -> None:
    print(f"\nGear image start-up ({engine}; median of {runs} runs, a fresh container each)")
    header = ("gear", "variant", "size MB", "uid", "first log s", "exit s", "python -c pass s")
    table = [
        (
            row.gear,
            row.variant,
            f"{row.size_mb:.0f}",
            row.user,
            _seconds(row.timing.first_line if row.timing else None),
            _seconds(row.timing.exit if row.timing else None),
            _seconds(row.python_pass),
        )
        for row in rows
    ]
    print(format_table(header, table))
    print()
    by_gear: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_gear.setdefault(row.gear, {})[row.variant] = row
    for gear, variants in by_gear.items():
        venv, naive = variants["venv"], variants["naive"]
        if not (venv.timing and naive.timing and venv.python_pass is not None):
            continue
        speedup = naive.timing.first_line / venv.timing.first_line
        over_python = venv.timing.first_line - venv.python_pass
        print(
            f"{gear}: first log line {speedup:.1f}x sooner than naive (target >= "
            f"{SPEEDUP_TARGET:.0f}x: {'met' if speedup >= SPEEDUP_TARGET else 'NOT met'}), "
            f"exit {naive.timing.exit / venv.timing.exit:.1f}x sooner; "
            f"{over_python:+.2f} s after `python -c pass` (target <= "
            f"{OVER_PYTHON_TARGET_SECONDS} s: "
            f"{'met' if over_python <= OVER_PYTHON_TARGET_SECONDS else 'NOT met'})"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="pants package output")
    parser.add_argument("--gear", action="append", help="only this gear directory (repeatable)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    images = [
        (gear_dir, image)
        for gear_dir, image in built_gear_images(args.dist)
        if not args.gear or str(gear_dir) in args.gear
    ]
    if not images:
        print(f"no gear images under {args.dist}/: run ./pants package :: first", file=sys.stderr)
        return 2
    engine = detect_engine()
    rows = [
        row
        for gear_dir, image in images
        for row in measure_gear(engine, gear_dir, image, args.runs, args.dist)
    ]
    print_table(engine, args.runs, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
