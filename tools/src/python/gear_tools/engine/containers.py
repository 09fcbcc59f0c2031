"""The container engine `./pants` built images with, and running a gear image once with it.

With podman, the gear runs inside the image's file system under buildah's chroot isolation,
which works where no container runtime can (no daemon, restricted rlimits).
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

FLYWHEEL_DIR = "/flywheel/v0"
# What Flywheel runs when a manifest has no `command` (the gear spec's default).
DEFAULT_COMMAND = f"{FLYWHEEL_DIR}/run"
# The label gear_image() (pants-plugins/gear_macros/gear_image.py) sets on every gear image:
# the gear's name. The image smoke runs check it.
GEAR_LABEL = "io.flywheel.gear.name"
Engine = Literal["docker", "podman"]


def engine_state(repo: Path = Path()) -> Path:
    """Where ./pants records the container engine: in $PANTS_BOOTSTRAP_DIR when set (a clone
    sharing another checkout's set-up), else the repository's .pants.bootstrap/."""
    boot_dir = os.environ.get("PANTS_BOOTSTRAP_DIR")
    return (Path(boot_dir) if boot_dir else repo / ".pants.bootstrap") / "container.env"


@dataclass(frozen=True)
class GearRun:
    exit_code: int
    log: str
    # Seconds from starting the container's command to its first line of output (None if it
    # printed nothing) and to its exit.
    first_line_seconds: float | None = None
    seconds: float = 0.0


def recorded(state_file: Path, key: str) -> str | None:
    """The value bin/container-engine recorded for KEY (KEY=value lines), or None."""
    if state_file.is_file():
        for line in state_file.read_text().splitlines():
            if line.startswith(f"{key}="):
                return line.split("=", 1)[1].strip()
    return None


def detect_engine(state_file: Path | None = None) -> Engine:
    """The engine ./pants built images with: $GEAR_CONTAINER_ENGINE, its state file, or docker."""
    chosen = os.environ.get("GEAR_CONTAINER_ENGINE") or recorded(
        state_file or engine_state(), "GEAR_CONTAINER_ENGINE"
    )
    if chosen in (None, "", "docker"):
        return "docker"
    if chosen == "podman":
        return "podman"
    raise ValueError(f"GEAR_CONTAINER_ENGINE must be docker or podman, not {chosen!r}")


def gear_command(manifest: dict[str, Any]) -> list[str]:
    """The command Flywheel starts a gear with: the manifest's `command`, or the default."""
    return shlex.split(str(manifest.get("command") or DEFAULT_COMMAND))


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"`{shlex.join(argv)}` failed with exit code {result.returncode}:\n{result.stderr}"
        )
    return result


def _timed_run(argv: list[str], *, stream: bool) -> GearRun:
    """Runs a command, timing its first line of output and its exit; `stream` echoes the lines."""
    started = time.monotonic()
    first_line: float | None = None
    lines: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if first_line is None:
                first_line = time.monotonic() - started
            if stream:
                print(line, end="", flush=True)
            else:
                lines.append(line)
    return GearRun(
        exit_code=process.returncode,
        log="".join(lines),
        first_line_seconds=first_line,
        seconds=time.monotonic() - started,
    )


def image_user(engine: Engine, image: str) -> str:
    """The user the image runs its command as (`USER`), or "" for root."""
    return str(inspect_image(engine, image)["Config"].get("User") or "")


def _numeric_owner(user: str) -> tuple[int, int]:
    """uid and gid of a numeric `USER uid[:gid]`; root for "" (names cannot be mapped here)."""
    uid, _, gid = user.partition(":")
    if not uid:
        return 0, 0
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise ValueError(f"the image's USER {user!r} is not numeric (uid[:gid])")
    return int(uid), int(gid or uid)


def _owned_tar(gear_dir: Path, uid: int, gid: int) -> bytes:
    """A tar of the gear directory's contents (not the directory itself), owned by uid:gid."""

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for child in sorted(gear_dir.iterdir()):
            tar.add(child, arcname=child.name, filter=owned)
    return buffer.getvalue()


def run_in_image(
    engine: Engine,
    image: str,
    command: list[str],
    *,
    gear_dir: Path | None = None,
    stream: bool = False,
) -> GearRun:
    """Runs `command` once in a fresh container of `image`, as the image's user.

    With `gear_dir`, its contents become /flywheel/v0 (owned by the image's user, as the gear
    directory Flywheel gives a job) and output/ is copied back afterwards. With `stream`, the
    output goes to this process's terminal (and `GearRun.log` is empty).
    """
    user = image_user(engine, image) if gear_dir is not None else ""
    if engine == "podman":
        container = _run(["buildah", "from", "--pull=never", image]).stdout.strip()
        try:
            if gear_dir is not None:
                chown = ["--chown", user] if user else []
                _run(["buildah", "copy", "--quiet", *chown, container, str(gear_dir), FLYWHEEL_DIR])
            run = _timed_run(
                ["buildah", "run", "--isolation", "chroot", container, "--", *command],
                stream=stream,
            )
            if gear_dir is not None:
                mount = Path(_run(["buildah", "mount", container]).stdout.strip())
                shutil.copytree(
                    mount / FLYWHEEL_DIR.lstrip("/") / "output",
                    gear_dir / "output",
                    dirs_exist_ok=True,
                )
        finally:
            _run(["buildah", "rm", container], check=False)
        return run
    container = _run(
        # Host networking, so the gear reaches a fake Flywheel API on 127.0.0.1.
        ["docker", "create", "--network", "host", "--entrypoint", command[0], image] + command[1:]
    ).stdout.strip()
    try:
        if gear_dir is not None:
            # A tar streamed to `docker cp` keeps its owners. (`-a` would give every file the
            # container's user instead, which Docker 20.10 looks up by name and cannot find
            # for a numeric USER: "getent unable to find entry "1000:1000"".)
            archive = _owned_tar(gear_dir, *_numeric_owner(user))
            copy = ["docker", "cp", "-", f"{container}:{FLYWHEEL_DIR}"]
            copied = subprocess.run(copy, input=archive, capture_output=True, check=False)
            if copied.returncode != 0:
                raise RuntimeError(
                    f"`{shlex.join(copy)}` failed with exit code {copied.returncode}:\n"
                    + copied.stderr.decode(errors="replace")
                )
        run = _timed_run(["docker", "start", "--attach", container], stream=stream)
        if gear_dir is not None:
            _run(["docker", "cp", f"{container}:{FLYWHEEL_DIR}/output/.", str(gear_dir / "output")])
    finally:
        _run(["docker", "rm", "--force", container], check=False)
    return run


def run_gear_image(
    engine: Engine, image: str, gear_dir: Path, command: list[str], *, stream: bool = False
) -> GearRun:
    """Runs the gear `command` in `image` with `gear_dir` as /flywheel/v0; copies output/ back."""
    return run_in_image(engine, image, command, gear_dir=gear_dir, stream=stream)


def inspect_image(engine: Engine, image: str) -> dict[str, Any]:
    """`<engine> image inspect` of one image: Id, Size, Config (User, Labels), ..."""
    inspected: list[dict[str, Any]] = json.loads(_run([engine, "image", "inspect", image]).stdout)
    return inspected[0]


def build_image(engine: Engine, context: Path, tag: str, build_args: dict[str, str]) -> None:
    """Builds `context`/Dockerfile as `tag` (podman with buildah's chroot isolation)."""
    arguments = [
        item for name, value in build_args.items() for item in ("--build-arg", f"{name}={value}")
    ]
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot"} if engine == "podman" else None
    argv = [engine, "build", "--quiet", "--tag", tag, *arguments, str(context)]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`{shlex.join(argv)}` failed:\n{result.stdout}{result.stderr}")


def remove_image(engine: Engine, image: str) -> None:
    _run([engine, "rmi", "--force", image], check=False)
