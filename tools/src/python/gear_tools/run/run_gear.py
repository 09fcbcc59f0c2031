"""Runs a gear locally, like Flywheel would, without Flywheel.

    bin/run-gear GEAR_DIR [--config KEY=VALUE]... [--input NAME=PATH]...
                 [--destination TYPE=ID] [--api-key KEY] [--workdir DIR] [--image] [--repo DIR]
    bin/run-gear GEAR_DIR --job JOB_ID [--job-dir DIR] [overrides as above]
    bin/run-gear GEAR_DIR --job-dir DIR [overrides as above]

It lays out a /flywheel/v0-shaped directory (manifest, config.json, input/<name>/, output/,
work/), fills config.json from the manifest's defaults and the overrides (converted to the
manifest's types and checked against its enums and ranges), and runs the gear's pex (built by
`pants package`) or, with --image, its image through the same container engine as packaging.
With --job it replays a job of the API key's site (gear_tools.run.job_replay): the job's config,
input files (with their file records and parent containers) and destination, downloaded into
--job-dir (or a temp dir) and reused from there offline; a job of another gear is refused, one
of another version of this gear warned about. Replaying only reads from the site.
Every problem with the arguments is reported at once, before anything runs. The API key comes
from --api-key or $FW_KEY and is never printed. The job's `.metadata.json` is checked as
Flywheel would take it (gear_tools.run.output_contract; classifications against the API key's
site's modalities when there is a key). The exit code is the gear's (2 for refused arguments;
1 when the gear exited 0 but wrote a `.metadata.json` Flywheel would refuse).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from flywheel import ApiException
from fw_gear.manifest import Manifest

from gear_common.errors import GearInputError
from gear_common.flywheel_client import FlywheelConnectionError, connect
from gear_common.gear_dir import DEFAULT_DESTINATION, prepare_gear_dir
from gear_common.input_files import load_json_input, path_problem
from gear_common.job_runner import GEAR_PATH_ENV
from gear_common.metadata import DESTINATION_TYPES as CONTAINER_TYPES
from gear_common.problems import jsonschema_problems
from gear_tools.author.from_manifest import has_api_key
from gear_tools.engine.containers import (
    FLYWHEEL_DIR,
    detect_engine,
    engine_state,
    gear_command,
    run_gear_image,
)
from gear_tools.images.built import gear_images
from gear_tools.repo import DIST_DIR, Gear, RepoError, Repository, find_root
from gear_tools.run.job_replay import (
    JOB_RECORD,
    JobReplayError,
    ReplayJob,
    download_job,
    load_job,
    site_of,
)
from gear_tools.run.output_contract import Modalities, metadata_failures, site_modalities

USAGE_ERROR = 2
TRUE_WORDS = {"true", "yes", "1", "on"}
FALSE_WORDS = {"false", "no", "0", "off"}


@dataclass(frozen=True)
class Job:
    config: dict[str, Any]
    inputs: dict[str, Path]
    destination: dict[str, str]
    api_key: str | None
    # An input's file record (`object`) and parent container (`hierarchy`), where given.
    input_objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    input_parents: dict[str, dict[str, str]] = field(default_factory=dict)


def _pairs(items: list[str], what: str, problems: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            problems.append(f"{what} {item!r} is not KEY=VALUE")
        else:
            pairs[key] = value
    return pairs


def convert(value: str, spec: dict[str, Any]) -> Any:
    """A command-line string as the manifest's config type; ValueError says what was expected."""
    kind = spec.get("type")
    if kind == "boolean":
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise ValueError("expected a boolean (true/false)")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            raise ValueError("expected an integer") from None
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            raise ValueError("expected a number") from None
    if kind == "array":
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return [part for part in value.split(",") if part]
        if not isinstance(parsed, list):
            raise ValueError("expected a JSON list or comma-separated values")
        return parsed
    return value


def _schema_problems(manifest: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Problems by the config schema fw-gear derives from the manifest (enums, ranges...)."""
    schema = Manifest(manifest).derive_config_schema(full=True)
    validator = jsonschema.Draft4Validator(schema)
    # Paths start at the schema's own `config` key: `config.top_words` -> `config top_words`.
    return jsonschema_problems(
        validator.iter_errors({"config": config}),
        lambda path: "config " + path.removeprefix("config.") if path != "config" else path,
    )


def build_job(
    manifest: dict[str, Any],
    *,
    config_items: list[str],
    input_items: list[str],
    destination: str | None,
    api_key: str | None,
    object_items: Sequence[str] = (),
    parent_items: Sequence[str] = (),
    base: ReplayJob | None = None,
) -> tuple[Job | None, list[str]]:
    """The job to run, or None and every problem found. A `base` job (a site's job being
    replayed) gives the config, inputs and destination that the arguments then override."""
    problems: list[str] = []
    specs: dict[str, dict[str, Any]] = manifest.get("config", {})
    config = {key: spec["default"] for key, spec in specs.items() if "default" in spec}
    if base is not None:
        for key in sorted(set(base.config) - set(specs)):
            problems.append(
                f"config {key!r} of the job is not in the local manifest (the gear's config "
                "changed since that version; check out the version the job ran)"
            )
        config.update({key: value for key, value in base.config.items() if key in specs})
    for key, raw in _pairs(config_items, "--config", problems).items():
        if key not in specs:
            known = ", ".join(sorted(specs)) or "none"
            problems.append(f"config {key!r} is not in the manifest (known: {known})")
            continue
        try:
            config[key] = convert(raw, specs[key])
        except ValueError as exc:
            problems.append(f"config {key}={raw!r}: {exc}")
    # Values that could not be converted kept their defaults, so they are not reported twice.
    problems.extend(_schema_problems(manifest, config))

    input_specs: dict[str, dict[str, Any]] = manifest.get("inputs", {})
    inputs: dict[str, Path] = dict(base.inputs) if base else {}
    for name in sorted(set(inputs) - set(input_specs)):
        problems.append(f"input {name!r} of the job is not an input of the local manifest")
    for name, raw in _pairs(input_items, "--input", problems).items():
        spec = input_specs.get(name)
        if spec is None or spec.get("base") != "file":
            file_inputs = sorted(n for n, s in input_specs.items() if s.get("base") == "file")
            problems.append(
                f"input {name!r} is not a file input of the manifest "
                f"(file inputs: {', '.join(file_inputs) or 'none'})"
            )
        elif problem := path_problem(_from_caller(raw)):
            problems.append(f"input {name}: {raw} {problem}")
        else:
            inputs[name] = _from_caller(raw)
    objects = _pairs(list(object_items), "--input-object", problems)
    input_objects = {**(base.input_objects if base else {})}
    input_objects.update(_input_objects(objects, inputs, problems))
    parents = _pairs(list(parent_items), "--input-parent", problems)
    input_parents = {**(base.input_parents if base else {})}
    input_parents.update(_input_parents(parents, inputs, problems))
    given = {item.partition("=")[0] for item in input_items} | set(inputs)
    for name, spec in input_specs.items():
        if spec.get("base") == "file" and not spec.get("optional") and name not in given:
            problems.append(f"input {name} is required: give --input {name}=PATH")
    needs_key = has_api_key(manifest)
    if needs_key and not api_key:
        problems.append("the manifest has an api-key input: give --api-key or set FW_KEY")

    if destination is None:
        where = base.destination if base else DEFAULT_DESTINATION
    else:
        kind, equals, container_id = destination.partition("=")
        if not equals or not kind or not container_id:
            problems.append(f"--destination {destination!r} is not TYPE=ID")
        where = {"type": kind, "id": container_id}
    if problems:
        return None, problems
    job = Job(
        config,
        inputs,
        dict(where),
        api_key if needs_key else None,
        input_objects,
        input_parents,
    )
    return job, []


def _input_objects(
    pairs: dict[str, str], inputs: dict[str, Path], problems: list[str]
) -> dict[str, dict[str, Any]]:
    """--input-object NAME=FILE.json: the input's file record (each problem appended)."""
    objects: dict[str, dict[str, Any]] = {}
    for name, raw in pairs.items():
        if name not in inputs:
            problems.append(f"--input-object {name}: no --input {name}=PATH is given")
            continue
        try:
            value = load_json_input(_from_caller(raw))
        except GearInputError as exc:
            problems.append(f"--input-object {name}: {exc}")
            continue
        if not isinstance(value, dict):
            problems.append(
                f"--input-object {name}: {raw} holds a JSON {type(value).__name__}, expected an "
                "object (type, modality, classification, info, tags)"
            )
            continue
        objects[name] = value
    return objects


def _input_parents(
    pairs: dict[str, str], inputs: dict[str, Path], problems: list[str]
) -> dict[str, dict[str, str]]:
    """--input-parent NAME=TYPE:ID: the container the input file belongs to."""
    parents: dict[str, dict[str, str]] = {}
    for name, raw in pairs.items():
        kind, colon, container_id = raw.partition(":")
        if name not in inputs:
            problems.append(f"--input-parent {name}: no --input {name}=PATH is given")
        elif not colon or kind not in CONTAINER_TYPES or not container_id:
            problems.append(
                f"--input-parent {name}={raw!r} is not TYPE:ID with TYPE one of "
                f"{', '.join(CONTAINER_TYPES)}"
            )
        else:
            parents[name] = {"type": kind, "id": container_id}
    return parents


def _from_caller(path: str | Path) -> Path:
    """A path given on the command line (relative to where bin/run-gear was run)."""
    return Path(path)


def gear_directory(repo: Path, given: str) -> str:
    """The gear's directory in the repository, from what was typed: the directory (relative
    to the repository or to where this was run, or absolute), or the manifest's name."""
    root = repo.resolve()
    path = Path(given)
    for candidate in (path,) if path.is_absolute() else (_from_caller(path), root / path):
        try:
            parts = candidate.resolve().relative_to(root).parts
        except ValueError:
            continue
        if parts and Repository(repo).is_gear(parts[0]):
            return parts[0]
    try:
        return Repository(repo).gear(given).directory
    except RepoError:
        return given.strip("/")


def missing_programs(manifest: dict[str, Any]) -> dict[str, str]:
    """The programs the gear runs (manifest `custom.programs`: program -> Debian package) that
    are not on PATH here."""
    programs = manifest.get("custom", {}).get("programs") or {}
    return {
        str(program): str(package)
        for program, package in sorted(programs.items())
        if shutil.which(str(program)) is None
    }


def pex_path(repo: Path, gear: str, dist: Path = Path(DIST_DIR)) -> Path:
    """Where `pants package` puts the gear's pex (`dist` relative to `repo` unless absolute)."""
    try:
        return Gear(Repository(repo), gear).pex(dist)
    except RepoError as exc:
        raise SystemExit(str(exc)) from None


def build(repo: Path, gear: str, *, image: bool) -> None:
    """Builds the gear's pex (or its images) with `./pants package`."""
    spec = f"{gear}/src/docker:" if image else f"{gear}/src/python::"
    env = dict(os.environ)
    if not image:  # a pex needs no container engine
        env["GEAR_SKIP_CONTAINER_ENGINE"] = "1"
    print(f"run-gear: ./pants package {spec} ...", file=sys.stderr, flush=True)
    result = subprocess.run(
        [str(repo / "pants"), "-lwarn", "package", spec],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise SystemExit(f"run-gear: ./pants package {spec} failed (exit code {result.returncode})")


def image_name(repo: Path, gear: str) -> str:
    for built in gear_images(repo / DIST_DIR, repo):
        if built.gear_dir == Path(gear):
            return built.image
    raise SystemExit(f"no image of {gear} in dist/: run ./pants package {gear}/src/docker:")


# Secrets of this shell that a gear must not see: the site's key reaches a gear only as its
# api-key input (config.json), as on Flywheel; a gear that logs its environment prints it.
SECRET_VARIABLES = frozenset({"FW_KEY", "GEAR_SIGNING_KEY", "GEAR_SIGNING_KEY_FILE"})


def gear_environment(gear_dir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a gear runs with locally: this shell's less its secrets, with the gear
    directory where the image's is (`FLYWHEEL`, as the image's ENV sets it, and the job
    runner's FLYWHEEL_GEAR_PATH)."""
    base = dict(os.environ if environ is None else environ)
    env = {key: value for key, value in base.items() if key not in SECRET_VARIABLES}
    return {**env, GEAR_PATH_ENV: str(gear_dir), "FLYWHEEL": str(gear_dir)}


def run_command(command: list[str], gear_dir: Path) -> int:
    """Runs the gear as a local process in `gear_dir` (its working directory, as /flywheel/v0
    is in the image: a gear that reads config.json from there finds it), its log streamed to
    this terminal."""
    return subprocess.run(
        command, env=gear_environment(gear_dir), cwd=gear_dir, check=False
    ).returncode


def modalities_of(api_key: str | None) -> dict[str, dict[str, list[str]]] | None:
    """The site's modalities, to check the job's classifications by (None: no site, or it
    cannot be asked)."""
    if not api_key:
        return None
    try:
        return site_modalities(connect(api_key))
    except (FlywheelConnectionError, ApiException) as exc:
        reason = exc.reason if isinstance(exc, ApiException) else str(exc)
        print(f"run-gear: cannot read {site_of(api_key)}'s modalities ({reason})", file=sys.stderr)
        return None


def report(gear_dir: Path, exit_code: int, modalities: Modalities | None = None) -> int:
    """Prints what the run left; returns its exit code, or 1 when the gear exited 0 but wrote a
    `.metadata.json` Flywheel would refuse (output_contract: each wrong entry is named)."""
    output_dir = gear_dir / "output"
    metadata = output_dir / ".metadata.json"
    outputs = sorted(p for p in output_dir.rglob("*") if p.is_file() and p != metadata)
    print(f"\nGear exited with {exit_code}. Job directory: {gear_dir}")
    for output in outputs:
        print(f"  output: {output} ({output.stat().st_size} bytes)")
    if not outputs:
        print("  no output files")
    if not metadata.is_file():
        print("  no .metadata.json written")
        return exit_code
    print(f"  metadata: {metadata}")
    failures = metadata_failures(output_dir, modalities)
    for failure in failures:
        print(f"  metadata problem: {failure}", file=sys.stderr)
    if failures:
        print(
            f"run-gear: Flywheel would fail this job: {len(failures)} problem(s) in .metadata.json",
            file=sys.stderr,
        )
        return exit_code or 1
    if modalities is None:
        print("  metadata: valid (classifications not checked: no site to ask for modalities)")
    else:
        print("  metadata: valid, classifications included (the site's modalities)")
    return exit_code


def replayed_job(
    job_id: str | None, job_dir: Path | None, api_key: str | None, gear: str
) -> ReplayJob:
    """The job to replay: downloaded from the API key's site (`job_id`), or read back from
    `job_dir` when that already holds it (or no `job_id` is given: offline)."""
    where = _from_caller(job_dir).resolve() if job_dir else None
    if where is not None and (where / JOB_RECORD).is_file():
        held = load_job(where)
        if job_id in (None, held.job_id):
            print(f"run-gear: job {held.job_id} of {held.site}, as downloaded in {where}")
            return held
        raise JobReplayError(
            f"{where} holds job {held.job_id}, not {job_id}: give another --job-dir"
        )
    if job_id is None:
        raise JobReplayError(f"--job-dir {job_dir}: no downloaded job there; give --job JOB_ID")
    if not api_key:
        raise JobReplayError("--job reads the job from a site: give --api-key or set FW_KEY")
    site = site_of(api_key)
    try:
        client = connect(api_key)
    except FlywheelConnectionError as exc:
        raise JobReplayError(f"{site}: {exc}") from None
    target = where or Path(tempfile.mkdtemp(prefix=f"{gear}-job-{job_id}-")) / "job"
    print(f"run-gear: downloading job {job_id} from {site} into {target}")
    replay = download_job(
        client, job_id, target, site=site, progress=lambda line: print(f"  {line}")
    )
    print(f"  rerun it offline with: bin/run-gear {gear} --job-dir {target}")
    return replay


def check_gear(replay: ReplayJob, manifest: dict[str, Any]) -> str | None:
    """Refuses a job of another gear; warns when the job ran another version of this one."""
    name, version = manifest.get("name"), manifest.get("version")
    if replay.gear_name != name:
        return f"job {replay.job_id} ran gear {replay.gear_name}, not {name}"
    print(f"run-gear: job {replay.job_id} ran {name} {replay.gear_version} ({replay.state})")
    if replay.gear_version != version:
        print(
            f"run-gear: warning: the local {name} is version {version}, the job ran "
            f"{replay.gear_version}: what changed since may change the result (the tag "
            f"gear/{name}/v{replay.gear_version} is the version the job ran)",
            file=sys.stderr,
        )
    if has_api_key(manifest):
        print(
            f"run-gear: note: the gear gets your API key: what it changes on {replay.site} is "
            "real (use its dry-run config where it has one)",
            file=sys.stderr,
        )
    return None


def main(argv: list[str], *, build_first: bool = False) -> int:
    """bin/run-gear; `build_first` builds the pex or image with ./pants before running it."""
    parser = argparse.ArgumentParser(prog="bin/run-gear", description=__doc__.split("\n\n")[0])
    parser.add_argument("gear", help="the gear's directory, e.g. template_gear")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument(
        "--input-object",
        action="append",
        default=[],
        metavar="NAME=FILE.json",
        help="the input file's record (type, modality, classification, info, tags)",
    )
    parser.add_argument(
        "--input-parent",
        action="append",
        default=[],
        metavar="NAME=TYPE:ID",
        help="the container the input file belongs to (its hierarchy), e.g. acquisition:<id>",
    )
    parser.add_argument(
        "--destination",
        metavar="TYPE=ID",
        help="default: the replayed job's, else analysis=000000000000000000000000",
    )
    parser.add_argument("--api-key", default=os.environ.get("FW_KEY"), help="default: $FW_KEY")
    parser.add_argument(
        "--job",
        metavar="JOB_ID",
        help="replay this job of the API key's site: its config, inputs and destination "
        "(--config, --input and --destination override them)",
    )
    parser.add_argument(
        "--job-dir",
        type=Path,
        metavar="DIR",
        help="where --job downloads the job (kept); without --job, rerun the job DIR holds "
        "offline",
    )
    parser.add_argument("--workdir", type=Path, help="gear directory (default: a new temp dir)")
    parser.add_argument("--image", action="store_true", help="run the built image, not the pex")
    parser.add_argument("--repo", type=Path, help="repository root (default: this one)")
    args = parser.parse_args(argv)
    # This tool's lines keep their place among the gear's, which writes to the same terminal.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)

    repo = find_root(args.repo)
    gear = gear_directory(repo, args.gear)
    manifest_path = Gear(Repository(repo), gear).manifest_path
    if not manifest_path.is_file():
        print(
            f"run-gear: {manifest_path} not found; is {gear!r} a gear directory?", file=sys.stderr
        )
        return USAGE_ERROR
    try:
        manifest = load_json_input(manifest_path)
    except GearInputError as exc:
        print(f"run-gear: {exc}", file=sys.stderr)
        return USAGE_ERROR
    replay: ReplayJob | None = None
    if args.job or args.job_dir:
        try:
            replay = replayed_job(args.job, args.job_dir, args.api_key, gear)
        except JobReplayError as exc:
            print(f"run-gear: {exc} (nothing was run)", file=sys.stderr)
            return USAGE_ERROR
        if mismatch := check_gear(replay, manifest):
            print(f"run-gear: {mismatch} (nothing was run)", file=sys.stderr)
            return USAGE_ERROR
    job, problems = build_job(
        manifest,
        config_items=args.config,
        input_items=[str(i) for i in args.input],
        destination=args.destination,
        api_key=args.api_key,
        object_items=args.input_object,
        parent_items=args.input_parent,
        base=replay,
    )
    if job is None:
        print(f"run-gear: {len(problems)} problem(s), nothing was run:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return USAGE_ERROR

    missing = {} if args.image else missing_programs(manifest)
    if missing:
        print(
            f"run-gear: {gear} runs {', '.join(missing)}, not installed here (nothing was run).\n"
            f"  Run it in its image, which has them: bin/run-gear {gear} --image ...\n"
            f"  or install them: sudo apt-get install {' '.join(sorted(set(missing.values())))}",
            file=sys.stderr,
        )
        return USAGE_ERROR

    if build_first:
        build(repo, gear, image=args.image)
    workdir = _from_caller(args.workdir) if args.workdir else None
    gear_dir = (workdir or Path(tempfile.mkdtemp(prefix=f"{gear}-job-"))).resolve()
    in_image = args.image
    prepare_gear_dir(
        gear_dir,
        config=job.config,
        inputs=job.inputs,
        destination=job.destination,
        manifest=manifest_path,
        api_key=job.api_key,
        location_root=Path(FLYWHEEL_DIR) if in_image else None,
        input_objects=job.input_objects,
        input_parents=job.input_parents,
    )
    if in_image:
        run = run_gear_image(
            detect_engine(engine_state(repo)),
            image_name(repo, gear),
            gear_dir,
            gear_command(manifest),
            stream=True,
        )
        exit_code = run.exit_code
    else:
        exit_code = run_command([str(pex_path(repo, gear).resolve())], gear_dir)
    return report(gear_dir, exit_code, modalities_of(args.api_key))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], build_first=True))
