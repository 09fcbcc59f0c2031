"""One commit's gear images from every engine: the same image IDs, or which layer differs.

    ./pants run tools/benchmarks/image_reproducibility.py -- [--gear DIR ...]
        [--engine podman] [--engine docker] [--other-podman BIN_DIR] [--install DIR] [--keep DIR]

Clones HEAD (committed work only) once per engine, as different machines would have it:
different clone paths, umask 022 and 077 in turn, another TMPDIR, and with podman an empty
storage of its own (the base image copied in), so that no build can reuse an image or cached
step of another or of this checkout (gear_tools.images.scratch_build). Each clone chooses its
engine anew (`bin/container-engine refresh`) and runs `./pants package` of the gears' images.
The engines: this machine's podman (`--engine podman`), the Docker daemon DOCKER_HOST names
(`--engine docker`), and another podman whose executables are in BIN_DIR (`--other-podman`:
tools/src/python/gear_tools/engine/other_podman.sh makes Debian 13's podman 5). The clones
share one Pants install and caches made for this run (empty: as on a machine that never built
this repository; `--install DIR` keeps them there for the next run), never this checkout's.

It prints each gear's image ID per engine and each engine's build time, and exits 1 when a
gear's IDs differ, naming the first layer that does and what it holds. Default: template_gear
and dicom_to_nifti, with podman and Docker.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gear_tools.engine.containers import Engine
from gear_tools.images.scratch_build import (
    ScratchBuildError,
    ScratchClone,
    build,
    built_image_id,
    first_difference,
    make_clone,
)
from gear_tools.repo import RepoError, Repository
from gear_tools.table import format_table


@dataclass(frozen=True)
class Cell:
    """One engine of the matrix: its kind and, for another podman, where it is."""

    engine: Engine
    engine_path: Path | None = None


def engine_version(clone: ScratchClone) -> str:
    """The engine's own words for its version, e.g. `podman 4.3.1`."""
    shown = subprocess.run(
        [clone.engine, "version", "--format", "{{.Server.Version}}"]
        if clone.engine == "docker"
        else [clone.engine, "--version"],
        env=clone.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    words = shown.stdout.split()
    return f"{clone.engine} {words[-1] if words else '?'}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gear", action="append", help="gear directory (repeatable)")
    parser.add_argument(
        "--engine", action="append", choices=("podman", "docker"), help="an engine (repeatable)"
    )
    parser.add_argument(
        "--other-podman", type=Path, help="a directory holding another podman (and buildah)"
    )
    parser.add_argument("--install", type=Path, help="the clones' Pants install (kept)")
    parser.add_argument("--keep", type=Path, help="make the clones here and keep them")
    args = parser.parse_args(argv)
    source = Path.cwd().resolve()  # ./pants run runs in the repository root
    gears = args.gear or ["template_gear", "dicom_to_nifti"]
    try:
        targets = [Repository(source).gear(gear).image_target for gear in gears]
    except RepoError as exc:
        parser.error(str(exc))
    cells = [Cell(engine) for engine in (args.engine or ["podman", "docker"])]
    if args.other_podman is not None:
        cells.append(Cell("podman", args.other_podman.resolve()))
    scratch = (args.keep or Path(tempfile.mkdtemp(prefix="reproducibility-"))).resolve()
    install = (args.install or scratch / "pants-install").resolve()
    clones: list[ScratchClone] = []
    names: list[str] = []
    seconds: list[str] = []
    ids: dict[str, list[str]] = {gear: [] for gear in gears}
    try:
        for number, cell in enumerate(cells):
            umask = (0o022, 0o077)[number % 2]
            clone = make_clone(
                source,
                scratch / f"engine{number}",
                depth=number,
                umask=umask,
                engine=cell.engine,
                install=install,
                engine_path=cell.engine_path,
            )
            clones.append(clone)
            names.append(engine_version(clone))
            print(f"{names[-1]} (clone {clone.repo}, umask {umask:03o}): ./pants package ...")
            seconds.append(f"{build(source, clone, *targets, refresh_engine=True):.0f}")
            for gear in gears:
                ids[gear].append(built_image_id(clone, gear))
        differences = []
        for gear in gears:
            for number, image in enumerate(ids[gear][1:], start=1):
                if image != ids[gear][0]:
                    first = clones[0].image_config(ids[gear][0])
                    other = clones[number].image_config(image)
                    differences.append(f"{gear}, {names[number]}: {first_difference(first, other)}")
                    break
    except ScratchBuildError as exc:
        print(f"image_reproducibility: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep is None:
            for clone in clones:
                clone.remove()
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nGear images of {source.name} HEAD, one clone per engine")
    rows = [(gear, *(image[7:19] for image in ids[gear])) for gear in gears]
    rows.append(("build s", *seconds))
    print(format_table(("gear", *names), rows))
    if differences:
        for line in differences:
            print(f"the images differ: {line}", file=sys.stderr)
        return 1
    print(f"the same image for each gear from all {len(cells)} engines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
