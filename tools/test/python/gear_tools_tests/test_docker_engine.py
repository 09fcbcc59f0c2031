"""bin/container-engine's Docker path against a real daemon: Debian's dockerd (docker.io, which
`./pants test` installs), started by bin/docker-daemon on a socket of its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Debian's client (20.10): it builds with the classic builder or, with DOCKER_BUILDKIT=1, with
# the daemon's own BuildKit.
DEBIAN_DOCKER = "/usr/bin/docker"


@pytest.fixture(scope="module")
def docker_host() -> Iterator[str]:
    """DOCKER_HOST of a private daemon, stopped and removed after the module's tests."""
    # Short: the daemon's sockets go under this directory.
    directory = Path(tempfile.mkdtemp(prefix="dk", dir="/tmp"))
    started = subprocess.run(
        ["bash", "tools/src/python/gear_tools/engine/docker_daemon.sh", "start", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield started.stdout.strip().removeprefix("DOCKER_HOST=")
    finally:
        subprocess.run(
            ["bash", "tools/src/python/gear_tools/engine/docker_daemon.sh", "stop", str(directory)],
            check=False,
        )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user with no Docker settings of its own, whose `docker` is Debian's client."""
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    (client_dir / "docker").symlink_to(DEBIAN_DOCKER)
    return {
        "PATH": f"{client_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path / "home"),
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "PANTS_BOOTSTRAP_DIR": str(tmp_path / "boot"),
        # An image the daemon need not have: no pull, no stand-in built.
        "BASE_IMAGE": "docker.io/library/python:3.11-slim",
    }


def container_engine(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "tools/src/python/gear_tools/engine/container_engine.sh", *args],
        env=env,
        capture_output=True,
        text=True,
    )


def docker(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_daemon_docker_host_names_is_used_and_recorded(
    docker_host: str, env: dict[str, str]
) -> None:
    env["DOCKER_HOST"] = docker_host
    prepared = container_engine(env, "ensure")
    assert prepared.returncode == 0, prepared.stderr
    state = (Path(env["PANTS_BOOTSTRAP_DIR"]) / "container.env").read_text()
    assert "GEAR_CONTAINER_ENGINE=docker" in state
    assert "GEAR_DOCKER_BUILDER=buildkit" in state  # a 20.10 client: the daemon's BuildKit
    status = container_engine(env, "status").stdout
    assert f"daemon:     {docker_host} (DOCKER_HOST)" in status
    assert "builder:    buildkit" in status


@pytest.mark.parametrize("how", ["docker context use", "DOCKER_CONTEXT"])
def test_a_docker_context_is_followed(docker_host: str, env: dict[str, str], how: str) -> None:
    docker(env, "context", "create", "private", "--docker", f"host={docker_host}")
    if how == "DOCKER_CONTEXT":
        env["DOCKER_CONTEXT"] = "private"
    else:
        docker(env, "context", "use", "private")
    prepared = container_engine(env, "ensure")
    assert prepared.returncode == 0, prepared.stderr
    status = container_engine(env, "status").stdout
    assert f"daemon:     {docker_host} (docker context private" in status


def test_no_daemon_is_one_line_naming_the_daemon_tried(
    docker_host: str, env: dict[str, str], tmp_path: Path
) -> None:
    env["DOCKER_HOST"] = docker_host
    assert container_engine(env, "ensure").returncode == 0
    gone = f"unix://{tmp_path}/gone.sock"
    env["DOCKER_HOST"] = gone
    failed = container_engine(env, "ensure")
    assert failed.returncode == 1
    lines = failed.stderr.splitlines()
    assert len(lines) == 1, failed.stderr
    assert lines[0].startswith(f"container-engine: error: no Docker daemon answers at {gone}")
    assert "(DOCKER_HOST)" in lines[0]
    assert "bin/container-engine refresh" in lines[0]


def test_docker_named_without_a_daemon_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    env["DOCKER_HOST"] = f"unix://{tmp_path}/gone.sock"
    env["GEAR_CONTAINER_ENGINE"] = "docker"
    failed = container_engine(env, "ensure")
    assert failed.returncode == 1
    assert failed.stderr.startswith(
        f"container-engine: error: GEAR_CONTAINER_ENGINE=docker, but no Docker daemon answers at "
        f"unix://{tmp_path}/gone.sock (DOCKER_HOST)"
    )
    assert not (Path(env["PANTS_BOOTSTRAP_DIR"]) / "container.env").exists()


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_pants_docker_records_the_whole_image_id(
    docker_host: str, env: dict[str, str], tmp_path: Path, builder: str
) -> None:
    env["DOCKER_HOST"] = docker_host
    env["GEAR_DOCKER_BUILDER"] = builder
    assert container_engine(env, "ensure").returncode == 0
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY greeting /greeting\n")
    (context / "greeting").write_text(f"built by the {builder} builder\n")
    tag = f"shim-test/{builder}:1"
    shim = Path(env["PANTS_BOOTSTRAP_DIR"]) / "container-bin/docker"
    # As Pants runs it: no PATH, only what [docker] env_vars passes.
    built = subprocess.run(
        [str(shim), "build", "--tag", tag, "--file", "Dockerfile", "."],
        cwd=context,
        env={"DOCKER_HOST": docker_host, "DOCKER_CONFIG": env["DOCKER_CONFIG"]},
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    last_line = built.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"Successfully built sha256:[0-9a-f]{64}", last_line)
    assert last_line.split()[-1] == docker(env, "image", "inspect", "--format", "{{.Id}}", tag)


GEAR_DOCKERFILE = """FROM scratch
COPY code /opt/gear/code
COPY manifest.json /flywheel/v0/manifest.json
LABEL io.flywheel.gear.name=demo org.opencontainers.image.created=2026-12-04T13:00:04Z
ENV FLYWHEEL=/flywheel/v0
WORKDIR /flywheel/v0
USER 1000:1000
ENTRYPOINT ["/bin/run"]
"""


def gear_context(directory: Path) -> Path:
    """A gear-labelled image's build context: files of several modes, a directory, a link."""
    (directory / "code/demo_app").mkdir(parents=True)
    (directory / "code/demo_app/__init__.py").write_text("")
    (directory / "code/demo_app/run.py").write_text("print('demo')\n")
    (directory / "code/demo_app/run.py").chmod(0o755)
    (directory / "code/demo_app/latest").symlink_to("run.py")
    (directory / "manifest.json").write_text('{"name": "demo"}\n')
    (directory / "Dockerfile").write_text(GEAR_DOCKERFILE)
    return directory


def shim_build(shim: Path, context: Path, tag: str, env: dict[str, str]) -> str:
    """The image ID a `docker` shim reports for a build, as Pants reads it."""
    built = subprocess.run(
        [str(shim), "build", "--tag", tag, "--tag", f"{tag.rpartition(':')[0]}:latest",
         "--file", "Dockerfile", "."],
        cwd=context, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    return built.stdout.strip().splitlines()[-1].removeprefix("Successfully built ")


def test_a_gear_image_is_one_image_from_podman_and_both_docker_builders(
    docker_host: str, env: dict[str, str], tmp_path: Path
) -> None:
    """The shims write gear images in canonical form: podman (through podman_build.py) and
    Docker's classic builder and BuildKit report the same image ID, and tag it."""
    ids = {}
    for builder in ("classic", "buildkit"):
        docker_env = {**env, "DOCKER_HOST": docker_host, "GEAR_DOCKER_BUILDER": builder}
        docker_env["PANTS_BOOTSTRAP_DIR"] = str(tmp_path / f"boot-{builder}")
        assert container_engine(docker_env, "ensure").returncode == 0
        shim = Path(docker_env["PANTS_BOOTSTRAP_DIR"]) / "container-bin/docker"
        context = gear_context(tmp_path / f"context-{builder}")
        pants_env = {"DOCKER_HOST": docker_host, "DOCKER_CONFIG": env["DOCKER_CONFIG"]}
        ids[builder] = shim_build(shim, context, f"demo-{builder}/gear:1", pants_env)
        tagged = docker(
            docker_env, "image", "inspect", "--format", "{{.Id}}", f"demo-{builder}/gear:1"
        )
        assert tagged == ids[builder]
    # podman with a storage of its own, prepared as ./pants does (the base image named is not
    # used: the Dockerfile starts FROM scratch).
    storage = tmp_path / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{tmp_path / "graph"}"\n'
        f'runroot = "{tmp_path / "run"}"\n'
    )
    podman_env = {
        **env,
        "GEAR_CONTAINER_ENGINE": "podman",
        "PANTS_BOOTSTRAP_DIR": str(tmp_path / "boot-podman"),
        "CONTAINERS_STORAGE_CONF": str(storage),
    }
    assert container_engine(podman_env, "ensure").returncode == 0
    shim = Path(podman_env["PANTS_BOOTSTRAP_DIR"]) / "container-bin/docker"
    context = gear_context(tmp_path / "context-podman")
    pants_env = {"CONTAINERS_STORAGE_CONF": str(storage), "BUILDAH_ISOLATION": "chroot"}
    ids["podman"] = shim_build(shim, context, "demo-podman/gear:1", pants_env)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", ids["podman"])
    assert ids["classic"] == ids["buildkit"] == ids["podman"], ids
    inspected = json.loads(
        subprocess.run(
            ["podman", "image", "inspect", "localhost/demo-podman/gear:latest"],
            env={**os.environ, "CONTAINERS_STORAGE_CONF": str(storage)},
            capture_output=True, text=True, check=True,
        ).stdout
    )[0]  # fmt: skip
    assert f"sha256:{inspected['Id'].removeprefix('sha256:')}" == ids["podman"]
    assert "io.buildah.version" not in inspected["Config"]["Labels"]
    assert inspected["Created"].startswith("2026-12-04T13:00:04")
