"""Whether two clean clones of one commit build bit-identical gear images, and at what cost.

    ./pants run benchmarks/image_reproducibility.py -- [--gear template_gear] [--keep DIR]

Clones HEAD (committed work only) twice, as two machines would have it: different clone paths,
a different umask (022 and 077) and TMPDIR, and each clone its own, empty podman storage (the
base image copied in), so that neither build can reuse an image or a cached step of the other
or of this checkout. Each clone runs `./pants package` of the gear's image, one after the
other; then the image IDs (configuration digests) and layer digests of the gear image and its
helper images are compared. Pants' own caches are shared: the pexes are reproducible anyway.

It prints a table of both clones' image IDs and build times, and exits 1 when an image
differs, naming the first layer that does and the instruction that made it. With podman only
(the engine whose builds set every file's time: see docs/development.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gear_tools.container_engine import engine_state, manifest_name
from gear_tools.table import format_table


@dataclass(frozen=True)
class Clone:
    label: str
    repo: Path
    storage_conf: Path
    umask: int
    tmpdir: Path


def make_clone(scratch: Path, label: str, depth: int, umask: int) -> Clone:
    """A clone of HEAD under `depth` extra directories, with a podman storage of its own."""
    base = scratch / label
    repo = base.joinpath(*(f"level{index}" for index in range(depth))) / "repo"
    repo.parent.mkdir(parents=True)
    source = Path.cwd()  # ./pants run runs in the repository root
    subprocess.run(["git", "clone", "-q", "--no-local", str(source), str(repo)], check=True)
    storage_conf = base / "storage.conf"
    storage_conf.write_text(
        '[storage]\ndriver = "overlay"\n'
        f'graphroot = "{base / "storage"}"\nrunroot = "{base / "run"}"\n'
    )
    tmpdir = base / "tmp"
    tmpdir.mkdir()
    return Clone(label, repo, storage_conf, umask, tmpdir)


def podman(clone: Clone, *args: str, stdin: bytes | None = None) -> bytes:
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(clone.storage_conf)}
    return subprocess.run(
        ["podman", *args], env=env, input=stdin, capture_output=True, check=True
    ).stdout


def base_image() -> str:
    for line in engine_state(Path.cwd()).read_text().splitlines():
        if line.startswith("GEAR_BASE_IMAGE="):
            return line.split("=", 1)[1]
    raise SystemExit("no base image recorded: run ./pants package first (with podman)")


def build(clone: Clone, target: str) -> float:
    """`./pants package target` in the clone, as its own machine; returns the wall time."""
    env = {
        **os.environ,
        "PANTS_BOOTSTRAP_DIR": str(Path.cwd() / ".pants.bootstrap"),
        "PANTS_PANTSD": "false",
        "GEAR_CONTAINER_ENGINE": "podman",
        "CONTAINERS_STORAGE_CONF": str(clone.storage_conf),
        "TMPDIR": str(clone.tmpdir),
    }
    env.pop("PANTS_CONFIG_FILES", None)
    started = time.monotonic()
    result = subprocess.run(
        ["./pants", "package", target],
        cwd=clone.repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=lambda: os.umask(clone.umask),
    )
    took = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(
            f"clone {clone.label}: ./pants package {target} failed:\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    return took


def built_images(clone: Clone, gear_dir: str) -> dict[str, str]:
    """Target name -> image ID, from the clone's dist/<gear>.src.docker/*.docker-info.json."""
    records = sorted((clone.repo / "dist" / f"{gear_dir}.src.docker").glob("*.docker-info.json"))
    return {
        path.name.removesuffix(".docker-info.json"): json.loads(path.read_text())["image_id"]
        for path in records
    }


def first_difference(a: Clone, b: Clone, image_a: str, image_b: str) -> str:
    """The first layer in which two images differ, and the instruction that made it."""
    inspected = [
        json.loads(podman(clone, "image", "inspect", image))[0]
        for clone, image in ((a, image_a), (b, image_b))
    ]
    layers = [image["RootFS"]["Layers"] for image in inspected]
    history = [
        entry.get("CreatedBy", entry.get("created_by", ""))
        for entry in inspected[0].get("History", [])
        if not entry.get("EmptyLayer", entry.get("empty_layer", False))
    ]
    for index, (layer_a, layer_b) in enumerate(zip(layers[0], layers[1])):
        if layer_a != layer_b:
            made_by = history[index] if index < len(history) else "?"
            return (
                f"layer {index + 1} differs ({layer_a[:19]} / {layer_b[:19]}), made by: {made_by}"
            )
    if len(layers[0]) != len(layers[1]):
        return f"layer counts differ: {len(layers[0])} and {len(layers[1])}"
    return "the layers are the same; the configuration differs (labels, times, environment)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gear", default="template_gear", help="gear directory")
    parser.add_argument("--keep", type=Path, help="make the clones here and keep them")
    args = parser.parse_args(argv)
    name = manifest_name(Path(args.gear) / "src/docker/manifest.json")
    if name is None:
        parser.error(f"{args.gear}/src/docker/manifest.json has no gear name")
    target = f"{args.gear}/src/docker:{name}"
    scratch = (args.keep or Path(tempfile.mkdtemp(prefix="reproducibility-"))).resolve()
    base = base_image()
    clones = [make_clone(scratch, "a", 0, 0o022), make_clone(scratch, "b", 3, 0o077)]
    times = {}
    try:
        saved = subprocess.run(["podman", "save", base], capture_output=True, check=True).stdout
        for clone in clones:
            podman(clone, "load", stdin=saved)
            print(f"clone {clone.label} ({clone.repo}): ./pants package {target} ...", flush=True)
            times[clone.label] = build(clone, target)
        images = [built_images(clone, args.gear) for clone in clones]
        rows, problems = [], []
        for image in sorted(images[0]):
            id_a, id_b = images[0][image], images[1].get(image, "-")
            same = id_a == id_b
            rows.append((image, id_a[:19], id_b[:19], "yes" if same else "NO"))
            if not same:
                problems.append(f"{image}: {first_difference(clones[0], clones[1], id_a, id_b)}")
    finally:
        if args.keep is None:
            for clone in clones:
                subprocess.run(
                    ["podman", "rmi", "--all", "--force"],
                    env={**os.environ, "CONTAINERS_STORAGE_CONF": str(clone.storage_conf)},
                    capture_output=True,
                    check=False,
                )
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{target} built in two clean clones of HEAD (podman, separate storages)")
    print(format_table(("image", "clone a", "clone b", "same"), rows))
    print(f"build time: clone a {times['a']:.0f} s, clone b {times['b']:.0f} s")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
