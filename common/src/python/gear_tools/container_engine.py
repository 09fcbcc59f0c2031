"""Running a gear image once on a prepared gear directory, with Docker or podman/buildah.

With podman, the gear runs inside the image's file system under buildah's chroot isolation,
which works where no container runtime can (no daemon, restricted rlimits).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

FLYWHEEL_DIR = "/flywheel/v0"
# What Flywheel runs when a manifest has no `command` (the gear spec's default).
DEFAULT_COMMAND = f"{FLYWHEEL_DIR}/run"
Engine = Literal["docker", "podman"]
ENGINE_STATE = Path(".pants.bootstrap/container.env")


@dataclass(frozen=True)
class GearRun:
    exit_code: int
    log: str


def detect_engine(state_file: Path = ENGINE_STATE) -> Engine:
    """The engine ./pants built images with: $GEAR_CONTAINER_ENGINE, its state file, or docker."""
    chosen = os.environ.get("GEAR_CONTAINER_ENGINE")
    if not chosen and state_file.is_file():
        for line in state_file.read_text().splitlines():
            if line.startswith("GEAR_CONTAINER_ENGINE="):
                chosen = line.split("=", 1)[1].strip()
    if chosen in (None, "", "docker"):
        return "docker"
    if chosen == "podman":
        return "podman"
    raise ValueError(f"GEAR_CONTAINER_ENGINE must be docker or podman, not {chosen!r}")


def built_image(docker_info: Path) -> str:
    """The versioned image name in a `*.docker-info.json` that `pants package` wrote."""
    info = json.loads(docker_info.read_text())
    names: list[str] = [tag["name"] for reg in info["registries"] for tag in reg["tags"]]
    versioned = [name for name in names if not name.endswith(":latest")]
    return (versioned or names)[0]


def gear_command(manifest: dict[str, Any]) -> list[str]:
    """The command Flywheel starts a gear with: the manifest's `command`, or the default."""
    return shlex.split(str(manifest.get("command") or DEFAULT_COMMAND))


def _run(
    argv: list[str], *, check: bool = True, stream: bool = False
) -> subprocess.CompletedProcess[str]:
    """Runs a command; with `stream`, its output goes to this process's terminal instead."""
    result = subprocess.run(argv, capture_output=not stream, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"`{shlex.join(argv)}` failed with exit code {result.returncode}:\n{result.stderr}"
        )
    return result


def run_gear_image(
    engine: Engine, image: str, gear_dir: Path, command: list[str], *, stream: bool = False
) -> GearRun:
    """Runs `command` in `image` with `gear_dir` as /flywheel/v0; copies output/ back.

    With `stream`, the gear's log goes straight to the terminal (and `GearRun.log` is empty).
    """
    output_dir = gear_dir / "output"
    if engine == "podman":
        container = _run(["buildah", "from", "--pull=never", image]).stdout.strip()
        try:
            _run(["buildah", "copy", "--quiet", container, str(gear_dir), FLYWHEEL_DIR])
            result = _run(
                ["buildah", "run", "--isolation", "chroot", container, "--", *command],
                check=False,
                stream=stream,
            )
            mount = Path(_run(["buildah", "mount", container]).stdout.strip())
            shutil.copytree(
                mount / FLYWHEEL_DIR.lstrip("/") / "output", output_dir, dirs_exist_ok=True
            )
        finally:
            _run(["buildah", "rm", container], check=False)
    else:
        container = _run(
            # Host networking, so the gear reaches a fake Flywheel API on 127.0.0.1.
            ["docker", "create", "--network", "host", "--entrypoint", command[0], image]
            + command[1:]
        ).stdout.strip()
        try:
            _run(["docker", "cp", f"{gear_dir}/.", f"{container}:{FLYWHEEL_DIR}"])
            result = _run(["docker", "start", "--attach", container], check=False, stream=stream)
            _run(["docker", "cp", f"{container}:{FLYWHEEL_DIR}/output/.", str(output_dir)])
        finally:
            _run(["docker", "rm", "--force", container], check=False)
    return GearRun(exit_code=result.returncode, log=(result.stdout or "") + (result.stderr or ""))
