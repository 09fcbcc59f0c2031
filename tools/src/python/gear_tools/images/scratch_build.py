"""Building a gear image from a clean clone of one commit, as another machine would.

With podman, the clone gets a storage of its own (`CONTAINERS_STORAGE_CONF`; the base image
copied in), so that no image or cached step comes from this checkout's builds; with Docker it
uses the daemon DOCKER_HOST names. It has its own umask and TMPDIR, and with `install`
a Pants install and caches of its own too (PANTS_BOOTSTRAP_DIR, PANTS_LOCAL_STORE_DIR,
PANTS_NAMED_CACHES_DIR: empty, as on a machine that never built this repository), else it
shares this checkout's. Used by `bin/verify-gear` and the benchmarks.
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

from gear_tools.engine.containers import Engine, engine_state, recorded
from gear_tools.repo import Repository


class ScratchBuildError(Exception):
    """The clone or its build failed; the message says which and shows the output's end."""


@dataclass(frozen=True)
class ScratchClone:
    repo: Path
    storage_conf: Path
    tmpdir: Path
    umask: int
    engine: Engine = "podman"
    # The clone's own Pants install and caches (None: this checkout's).
    install: Path | None = None
    # A directory put first on PATH: another engine's executables (other_podman.sh).
    engine_path: Path | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.engine_path is not None:
            env["PATH"] = f"{self.engine_path}{os.pathsep}{env.get('PATH', '')}"
        if self.engine == "docker":
            env.pop("CONTAINERS_STORAGE_CONF", None)
        else:
            env["CONTAINERS_STORAGE_CONF"] = str(self.storage_conf)
        return env

    def run_engine(self, *args: str, stdin: bytes | None = None) -> bytes:
        result = subprocess.run(
            [self.engine, *args], env=self.env(), input=stdin, capture_output=True, check=False
        )
        if result.returncode != 0:
            raise ScratchBuildError(
                f"{self.engine} {' '.join(args)} failed: {result.stderr.decode(errors='replace')}"
            )
        return result.stdout

    def inspect(self, image: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self.run_engine("image", "inspect", image))
        return found[0]

    def image_config(self, image: str) -> dict[str, Any]:
        """`image inspect` of an image, in the shape of its image configuration."""
        inspected = self.inspect(image)
        return {
            "config": inspected.get("Config", {}),
            "rootfs": {"diff_ids": inspected.get("RootFS", {}).get("Layers", [])},
            "history": inspected.get("History") or self.history(image),
        }

    def history(self, image: str) -> list[dict[str, Any]]:
        """The history of a canonical image (one entry a layer), as `history` shows it (Docker's
        `inspect` has none)."""
        shown = self.run_engine("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
        return [{"created_by": line} for line in reversed(shown.decode().splitlines())]

    def remove(self) -> None:
        """Removes the clone's images (podman: its whole storage), then the clone."""
        if self.engine == "podman":
            subprocess.run(
                ["podman", "rmi", "--all", "--force"],
                env=self.env(),
                capture_output=True,
                check=False,
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
    source: Path,
    directory: Path,
    commit: str = "HEAD",
    *,
    depth: int = 0,
    umask: int = 0o022,
    engine: Engine = "podman",
    install: Path | None = None,
    engine_path: Path | None = None,
) -> ScratchClone:
    """A clone of `source` at `commit` in `directory` (under `depth` more directories); with
    podman, a storage of its own holding this machine's base image. `install`: where its Pants
    install and caches go (None: it shares this checkout's); `engine_path`: see ScratchClone."""
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
    clone = ScratchClone(repo, storage_conf, tmpdir, umask, engine, install, engine_path)
    if engine == "podman":
        base = recorded_base_image(source)
        saved = subprocess.run(["podman", "save", base], capture_output=True, check=False)
        if saved.returncode != 0:
            raise ScratchBuildError(f"podman save {base} failed: {saved.stderr.decode().strip()}")
        clone.run_engine("load", stdin=saved.stdout)
    return clone


def build(source: Path, clone: ScratchClone, *targets: str, refresh_engine: bool = False) -> float:
    """`./pants package TARGETS` in the clone with its engine (chosen again first with
    `refresh_engine`, as after a change of PATH); returns the wall time."""
    if clone.install is not None:
        pants_dirs = {
            "PANTS_BOOTSTRAP_DIR": str(clone.install / "bootstrap"),
            "PANTS_LOCAL_STORE_DIR": str(clone.install / "store"),
            "PANTS_NAMED_CACHES_DIR": str(clone.install / "named-caches"),
        }
    else:
        pants_dirs = {"PANTS_BOOTSTRAP_DIR": str(source / ".pants.bootstrap")}
    env = {
        **clone.env(),
        **pants_dirs,
        "PANTS_PANTSD": "false",
        "GEAR_CONTAINER_ENGINE": clone.engine,
        "TMPDIR": str(clone.tmpdir),
    }
    env.pop("PANTS_CONFIG_FILES", None)
    started = time.monotonic()
    commands = [["./pants", "package", *targets]]
    if refresh_engine:
        commands.insert(0, ["bin/container-engine", "refresh"])
    for argv in commands:
        result = subprocess.run(
            argv,
            cwd=clone.repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=lambda: os.umask(clone.umask),
        )
        if result.returncode != 0:
            raise ScratchBuildError(
                f"{' '.join(argv)} failed in {clone.repo}:\n"
                + (result.stdout + result.stderr)[-3000:]
            )
    return time.monotonic() - started


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


# What a gear image's layers hold: the last four are gear_image()'s (pants-plugins/gear_macros),
# counted from the top; the others are the base image's and the gear's system packages'.
TOP_LAYER_KINDS = (
    "the code layer: the gear's code and common/",
    "the manifest",
    "the third-party dependencies' virtual environment",
    "the gear user and /bin/run",
)


def layer_kind(index: int, count: int, base_layers: int | None = None) -> str:
    """What layer `index` (from 0) of `count` holds."""
    from_top = count - 1 - index
    if from_top < len(TOP_LAYER_KINDS):
        return TOP_LAYER_KINDS[from_top]
    if base_layers is not None and index < base_layers:
        return "the base image"
    return "the gear's system packages"


def is_system_layer(index: int, count: int, base_layers: int) -> bool:
    """Whether a layer is one of the gear's system packages (its Dockerfile's RUN steps)."""
    return base_layers <= index < count - len(TOP_LAYER_KINDS)


def differing_layers(expected: dict[str, Any], rebuilt: dict[str, Any]) -> list[int]:
    """The positions of the layers that differ (all of them when the counts differ)."""
    one, other = (image.get("rootfs", {}).get("diff_ids", []) for image in (expected, rebuilt))
    if len(one) != len(other):
        return list(range(max(len(one), len(other))))
    return [index for index, (a, b) in enumerate(zip(one, other)) if a != b]


def describe_layer(
    index: int, expected: dict[str, Any], rebuilt: dict[str, Any], base_layers: int | None = None
) -> str:
    """One differing layer in words: where, what it holds, both digests and its files."""
    one = expected.get("rootfs", {}).get("diff_ids", [])
    other = rebuilt.get("rootfs", {}).get("diff_ids", [])
    history = layer_history(rebuilt)
    made_by = " ".join(history[index].split()) if index < len(history) else "?"
    return (
        f"layer {index + 1} of {len(other)} differs, {layer_kind(index, len(other), base_layers)} "
        f"({one[index][:19] if index < len(one) else '-'}... here {other[index][:19]}...), "
        f"holding: {made_by}"
    )


def first_difference(expected: dict[str, Any], rebuilt: dict[str, Any]) -> str:
    """Where two image configurations (OCI/Docker image config JSON) differ, in words: the
    first layer that differs and what it holds, or the configuration."""
    layers = [image.get("rootfs", {}).get("diff_ids", []) for image in (expected, rebuilt)]
    if len(layers[0]) != len(layers[1]):
        return f"it has {len(layers[0])} layers, the rebuilt image {len(layers[1])}"
    differing = differing_layers(expected, rebuilt)
    if differing:
        return describe_layer(differing[0], expected, rebuilt)
    keys = sorted(
        key
        for key in {*expected.get("config", {}), *rebuilt.get("config", {})}
        if expected.get("config", {}).get(key) != rebuilt.get("config", {}).get(key)
    )
    what = ", ".join(keys) if keys else "times or history"
    return f"the layers are the same; the configuration differs ({what})"
