"""Runs every built gear image once per smoke case and checks exit code, outputs, log and
the `.metadata.json` it writes (gear_tools.run.output_contract).

    smoke_images.py [DIST_DIR]     (default: dist)
    smoke_images.py --image GEAR_DIR=IMAGE   (one gear, run from IMAGE, e.g. repo@sha256:...)
    smoke_images.py --gear GEAR_DIR [DIST_DIR]   (one gear, its image from the last package)

For each gear image that `pants package` recorded (helper images such as a gear's system
image are not gears and are left out), the image is checked to run as a non-root user and to
carry the gear label, and each case under `<gear>/test/smoke/<case>/case.json` is run in the
image against a fresh /flywheel/v0 laid out by `gear_common.gear_dir`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nibabel
from pydantic import BaseModel, ConfigDict, ValidationError

from fake_flywheel import FakeFlywheel
from gear_common.gear_dir import prepare_gear_dir
from gear_tools.engine.containers import (
    FLYWHEEL_DIR,
    GEAR_LABEL,
    Engine,
    GearRun,
    detect_engine,
    gear_command,
    inspect_image,
    run_gear_image,
    run_in_image,
)
from gear_tools.images.built import gear_images
from gear_tools.images.image_checks import code_import_failures, stdlib_failures
from gear_tools.images.smoke_inputs import InputSpec, SmokeInputError, make_input
from gear_tools.repo import DIST_DIR, MANIFEST, SMOKE_DIR, Repository
from gear_tools.run.output_contract import metadata_failures


class FakeFlywheelCase(BaseModel):
    """A fake Flywheel API for the run: its starting state and what it must hold after."""

    model_config = ConfigDict(extra="forbid")

    seed: dict[str, list[dict[str, Any]]] = {}
    expect_counts: dict[str, int] = {}
    expect_mutating_requests: int | None = None


class SmokeCase(BaseModel):
    """One run of a gear image: what to give it and what must come out."""

    model_config = ConfigDict(extra="forbid")

    description: str
    config: dict[str, Any] = {}
    # A file in the case directory, PACKAGE:PATH or a zip built at run time (smoke_inputs).
    inputs: dict[str, InputSpec] = {}
    # Serve a fake Flywheel API on 127.0.0.1 and give the gear an api-key input for it.
    flywheel: FakeFlywheelCase | None = None
    # None: any exit code (a first case of a moved-in gear, before it has real inputs).
    exit_code: int | None
    outputs: list[str] = []
    # NIfTI outputs, opened with nibabel, and the shape each must have.
    nifti_shapes: dict[str, list[int]] = {}
    log_contains: list[str] = []
    log_excludes: list[str] = []
    # A site's modalities (modality -> classification -> values) that the run's .metadata.json
    # classifications must be among; without it, they are not checked.
    modalities: dict[str, dict[str, list[str]]] | None = None


def built_gear_images(dist: Path) -> list[tuple[Path, str]]:
    """(gear directory, versioned image name) for each gear image in `dist`."""
    return [(built.gear_dir, built.image) for built in gear_images(dist)]


def load_case(case_file: Path) -> SmokeCase:
    try:
        return SmokeCase.model_validate_json(case_file.read_text())
    except ValidationError as exc:
        raise SystemExit(f"{case_file}: not a valid smoke case:\n{exc}") from None


def _flywheel_failures(fake: FakeFlywheel, expected: FakeFlywheelCase) -> list[str]:
    failures = []
    for collection, count in expected.expect_counts.items():
        found = len(fake.find(collection))
        if found != count:
            failures.append(f"Flywheel holds {found} {collection}, expected {count}")
    mutating = len(fake.mutating_requests())
    if expected.expect_mutating_requests not in (None, mutating):
        failures.append(
            f"{mutating} mutating API requests, expected {expected.expect_mutating_requests}"
        )
    return failures


def _nifti_failures(output_dir: Path, shapes: dict[str, list[int]]) -> list[str]:
    failures = []
    for name, shape in shapes.items():
        try:
            found = list(nibabel.Nifti1Image.from_filename(output_dir / name).shape)
        except Exception as exc:  # nibabel raises several kinds for a file it cannot read
            failures.append(f"output/{name} is not a NIfTI image nibabel can open: {exc}")
            continue
        if found != shape:
            failures.append(f"output/{name} has shape {found}, expected {shape}")
    return failures


def run_case(engine: Engine, image: str, command: list[str], case_file: Path) -> list[str]:
    """Runs one case and returns its failures (empty when it passed)."""
    return execute_case(engine, image, command, case_file)[1]


def execute_case(
    engine: Engine, image: str, command: list[str], case_file: Path
) -> tuple[GearRun, list[str]]:
    """Runs one case in a fresh container: the run (log, timings) and its failures."""
    case = load_case(case_file)
    with tempfile.TemporaryDirectory(prefix="gear-smoke-") as tmp, FakeFlywheel() as fake:
        try:
            inputs = {
                name: make_input(case_file.parent, spec, Path(tmp) / "inputs" / name)
                for name, spec in case.inputs.items()
            }
        except SmokeInputError as exc:
            return GearRun(exit_code=-1, log=""), [str(exc)]
        for collection, items in (case.flywheel.seed if case.flywheel else {}).items():
            for item in items:
                fake.add(collection, item)
        gear_dir = Path(tmp) / "v0"
        prepare_gear_dir(
            gear_dir,
            config=case.config,
            inputs=inputs,
            location_root=Path(FLYWHEEL_DIR),
            api_key=fake.api_key if case.flywheel else None,
        )
        run = run_gear_image(engine, image, gear_dir, command)
        failures = []
        if case.exit_code is not None and run.exit_code != case.exit_code:
            failures.append(f"exit code {run.exit_code}, expected {case.exit_code}")
        for output in case.outputs:
            if not (gear_dir / "output" / output).is_file():
                failures.append(f"output/{output} was not written")
        failures.extend(_nifti_failures(gear_dir / "output", case.nifti_shapes))
        failures.extend(metadata_failures(gear_dir / "output", case.modalities))
        for text in case.log_contains:
            if text not in run.log:
                failures.append(f"log does not contain {text!r}")
        for text in case.log_excludes:
            if text in run.log:
                failures.append(f"log contains {text!r}")
        if case.flywheel:
            failures.extend(_flywheel_failures(fake, case.flywheel))
        if failures:
            failures.append("log:\n" + run.log)
        return run, failures


def user_failures(engine: Engine, image: str) -> list[str]:
    """Failures unless a fresh container of the image runs its commands as a non-root user."""
    run = run_in_image(engine, image, ["id", "-u"])
    uid = run.log.strip()
    if run.exit_code != 0 or not uid.isdigit():
        return [f"`id -u` failed (exit code {run.exit_code}): {run.log.strip()}"]
    return ["runs as root (uid 0); gears must run as an unprivileged user"] if uid == "0" else []


def label_failures(engine: Engine, image: str, gear_name: str) -> list[str]:
    """Failures unless the image carries the label the shared gear image definition sets."""
    labels = inspect_image(engine, image)["Config"].get("Labels") or {}
    found = labels.get(GEAR_LABEL)
    if found == gear_name:
        return []
    return [
        f"label {GEAR_LABEL} is {found!r}, expected {gear_name!r}: gear images are built by "
        "gear_image() (pants-plugins/gear_macros/gear_image.py)"
    ]


def _report(name: str, failures: list[str]) -> bool:
    """Prints one check's result; True when it passed."""
    if failures:
        print(f"FAIL {name}: " + "\n  ".join(failures))
    else:
        print(f"ok   {name}")
    return not failures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", nargs="?", type=Path, default=Path(DIST_DIR), help="default: dist")
    parser.add_argument(
        "--image",
        metavar="GEAR_DIR=IMAGE",
        help="run this image (e.g. one pulled by digest) as the gear in GEAR_DIR, not dist's",
    )
    parser.add_argument(
        "--gear", metavar="GEAR_DIR", help="only this gear's image (from the last package)"
    )
    args = parser.parse_args(argv)
    dist = args.dist
    if args.image:
        gear_dir, equals, image = args.image.partition("=")
        if not equals or not Repository(Path()).is_gear(gear_dir):
            parser.error(f"--image {args.image!r}: expected GEAR_DIR=IMAGE with a gear directory")
        images = [(Path(gear_dir), image)]
    else:
        images = built_gear_images(dist)
        if args.gear:
            images = [(d, i) for d, i in images if d == Path(args.gear.rstrip("/").rstrip(":"))]
    if not images:
        where = f"{args.gear}'s image" if args.gear else "gear images"
        print(f"no {where} under {dist}/: run ./pants package first", file=sys.stderr)
        return 2
    engine = detect_engine()
    results: list[bool] = []
    for gear_dir, image in images:
        manifest = json.loads((gear_dir / MANIFEST).read_text())
        command = gear_command(manifest)
        results.append(_report(f"{image} user (not root)", user_failures(engine, image)))
        results.append(
            _report(f"{image} gear label", label_failures(engine, image, manifest["name"]))
        )
        results.append(
            _report(
                f"{image} standard library (python:3.11-slim's)", stdlib_failures(engine, image)
            )
        )
        results.append(_report(f"{image} code layer imports", code_import_failures(engine, image)))
        cases = sorted((gear_dir / SMOKE_DIR).glob("*/case.json"))
        if not cases:
            results.append(_report(image, [f"no smoke cases under {gear_dir / SMOKE_DIR}/"]))
        for case_file in cases:
            started = time.monotonic()
            failures = run_case(engine, image, command, case_file)
            took = time.monotonic() - started
            results.append(_report(f"{image} {case_file.parent.name} ({took:.1f}s)", failures))
    passed, failed = results.count(True), results.count(False)
    print(f"image smoke runs ({engine}): {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
