"""Building a gear image from a clean clone of one commit, as another machine would.

The clone gets a podman storage of its own (`CONTAINERS_STORAGE_CONF`; the base image copied
in), so that no image or cached step comes from this checkout's builds, and its own umask and
TMPDIR. Pants' caches and install are shared: pexes are reproducible anyway. Used by
`bin/verify-gear` and `tools/benchmarks/image_reproducibility.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gear_tools.engine.containers import engine_state, recorded
from gear_tools.repo import Repository


class ScratchBuildError(Exception):
    """The clone or its build failed; the message says which and shows the output's end."""


@dataclass(frozen=True)
class ScratchClone:
    repo: Path
    storage_conf: Path
    tmpdir: Path
    umask: int

    def env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_STORAGE_CONF": str(self.storage_conf)}

    def podman(self, *args: str, stdin: bytes | None = None) -> bytes:
        result = subprocess.run(
            ["podman", *args], env=self.env(), input=stdin, capture_output=True, check=False
        )
        if result.returncode != 0:
            raise ScratchBuildError(
                f"podman {' '.join(args)} failed: {result.stderr.decode(errors='replace')}"
            )
        return result.stdout

    def inspect(self, image: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self.podman("image", "inspect", image))
        return found[0]

    def image_config(self, image: str) -> dict[str, Any]:
        """`podman image inspect` of an image, in the shape of its image configuration."""
        inspected = self.inspect(image)
        return {
            "config": inspected.get("Config", {}),
            "rootfs": {"diff_ids": inspected.get("RootFS", {}).get("Layers", [])},
            "history": inspected.get("History", []),
        }

    def remove(self) -> None:
        """Removes the clone's images, then the clone."""
        subprocess.run(
            ["podman", "rmi", "--all", "--force"], env=self.env(), capture_output=True, check=False
        )
        shutil.rmtree(self.storage_conf.parent, ignore_errors=True)


def recorded_base_image(repo: Path) -> str:
    """The base image ./pants builds from here (bin/container-engine's record)."""
    state = engine_state(repo)
    base = recorded(state, "GEAR_BASE_IMAGE")
    if base:
        return base
    raise ScratchBuildError(f"no base image recorded in {state}: run ./pants package first")


def make_clone(
    source: Path, directory: Path, commit: str = "HEAD", *, depth: int = 0, umask: int = 0o022
) -> ScratchClone:
    """A clone of `source` at `commit` in `directory` (under `depth` more directories), with a
    podman storage of its own holding this machine's base image."""
    repo = directory.joinpath(*(f"level{index}" for index in range(depth))) / "repo"
    repo.parent.mkdir(parents=True, exist_ok=True)
    for argv in (
        ["git", "clone", "-q", "--no-local", "--no-checkout", str(source), str(repo)],
        ["git", "-C", str(repo), "checkout", "-q", "--detach", commit],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ScratchBuildError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    storage_conf = directory / "storage.conf"
    storage_conf.write_text(
        '[storage]\ndriver = "overlay"\n'
        f'graphroot = "{directory / "storage"}"\nrunroot = "{directory / "run"}"\n'
    )
    tmpdir = directory / "tmp"
    tmpdir.mkdir(exist_ok=True)
    clone = ScratchClone(repo, storage_conf, tmpdir, umask)
    base = recorded_base_image(source)
    saved = subprocess.run(["podman", "save", base], capture_output=True, check=False)
    if saved.returncode != 0:
        raise ScratchBuildError(f"podman save {base} failed: {saved.stderr.decode().strip()}")
    clone.podman("load", stdin=saved.stdout)
    return clone


def build(source: Path, clone: ScratchClone, target: str) -> float:
    """`./pants package target` in the clone with podman; returns the wall time."""
    env = {
        **clone.env(),
        "PANTS_BOOTSTRAP_DIR": str(source / ".pants.bootstrap"),
        "PANTS_PANTSD": "false",
        "GEAR_CONTAINER_ENGINE": "podman",
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
        raise ScratchBuildError(
            f"./pants package {target} failed in {clone.repo}:\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    return took


def built_image_id(clone: ScratchClone, gear_dir: str) -> str:
    """The ID `./pants package` recorded for the gear's image in the clone."""
    info = Repository(clone.repo).gear(gear_dir).docker_info
    return str(json.loads(info.read_text())["image_id"])


def layer_history(config: dict[str, Any]) -> list[str]:
    """What made each layer of an image, from its configuration's history (layers only)."""
    return [
        str(entry.get("created_by", ""))
        for entry in config.get("history", [])
        if not entry.get("empty_layer", False)
    ]


# What a gear image's layers hold, by where the instruction that made them writes
# (gear_image() in pants-plugins/gear_macros).
LAYER_KINDS = (
    (" in /opt/gear/code", "the code layer: the gear's code and common/"),
    (" in /flywheel/v0/manifest.json", "the manifest"),
    (" in /opt/gear ", "the third-party dependencies' virtual environment"),
    ("useradd", "the gear user and /bin/run"),
    ("apt-get", "the gear's system packages"),
)


def layer_kind(made_by: str) -> str:
    return next((kind for marker, kind in LAYER_KINDS if marker in made_by), "a layer")


def first_difference(expected: dict[str, Any], rebuilt: dict[str, Any]) -> str:
    """Where two image configurations (OCI/Docker image config JSON) differ, in words: the
    first layer that differs and the instruction that made it, or the configuration."""
    layers = [image.get("rootfs", {}).get("diff_ids", []) for image in (expected, rebuilt)]
    history = layer_history(rebuilt)
    for index, (one, other) in enumerate(zip(*layers)):
        if one != other:
            made_by = " ".join(history[index].split()) if index < len(history) else "?"
            return (
                f"layer {index + 1} of {len(layers[1])} differs, {layer_kind(made_by + ' ')} "
                f"({one[:19]}... here {other[:19]}...), made by: {made_by}"
            )
    if len(layers[0]) != len(layers[1]):
        return f"it has {len(layers[0])} layers, the rebuilt image {len(layers[1])}"
    keys = sorted(
        key
        for key in {*expected.get("config", {}), *rebuilt.get("config", {})}
        if expected.get("config", {}).get(key) != rebuilt.get("config", {}).get(key)
    )
    what = ", ".join(keys) if keys else "times or history"
    return f"the layers are the same; the configuration differs ({what})"
