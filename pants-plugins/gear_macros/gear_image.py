"""`gear_image(...)`: every gear's manifest and container image, defined and built one way.

A Pants BUILD-file prelude (`[GLOBAL] build_file_prelude_globs` in pants.toml). A gear's
`src/docker/BUILD` is one call:

    gear_image(
        name="template-gear",
        version="0.1.0",
        pex="template_gear/src/python/template_app:bin",
    )

which defines `file(name="manifest")` for the manifest.json beside it and a `docker_image`
named after the gear, tagged `<version>` and `latest`, whose Dockerfile is `gear_dockerfile()`:

- a build stage turns the gear's pex into a virtual environment with compiled bytecode (pex's
  own `venv` tool), so a fresh container starts the gear at once: no unpacking into a cache
  and no dependency installation at run time, and no pex or build cache left in the image;
- the final stage is the base image plus that environment, the manifest, `/bin/run` (the
  manifests' `command`) and an unprivileged user `gear` that owns /flywheel/v0/output and
  /flywheel/v0/work.

The base image is `GEAR_BASE_IMAGE`, the one place to pin it (by digest) for every gear; a
`BASE_IMAGE` build argument overrides it (bin/container-engine passes a local stand-in where
no registry is reachable). Preludes cannot import, so this file uses builtins only; the tests
import it as a module to check the Dockerfile it writes.
"""

# The base image of every gear. Pin it by digest for reproducible images, e.g.
# "docker.io/library/python:3.11-slim@sha256:<digest>". bin/container-engine reads this line.
GEAR_BASE_IMAGE = "docker.io/library/python:3.11-slim"

# The unprivileged user every gear runs as.
GEAR_USER = "gear"
GEAR_UID = 1000
# The gear's virtual environment; its `pex` script runs the pex_binary's entry point.
GEAR_VENV = "/opt/gear"
# What Flywheel runs: the manifests' `command`.
GEAR_COMMAND = "/bin/run"
FLYWHEEL_DIR = "/flywheel/v0"


def pex_context_path(pex_address: str) -> str:
    """Where `pants package` puts a pex_binary in the image's build context.

    `template_gear/src/python/template_app:bin` -> `template_gear.src.python.template_app/bin.pex`
    """
    path, colon, name = pex_address.lstrip("/").partition(":")
    if not colon or not path or not name or "/" in name or ":" in name:
        raise ValueError(
            f"gear_image: pex={pex_address!r} is not the address of a pex_binary target; "
            "expected 'DIRECTORY:NAME', e.g. 'my_gear/src/python/my_app:bin'"
        )
    return f"{path.replace('/', '.')}/{name}.pex"


def gear_dockerfile(name: str, version: str, pex_path: str, manifest_path: str) -> tuple[str, ...]:
    """The Dockerfile of a gear image, one instruction per item."""
    flywheel = FLYWHEEL_DIR
    return (
        f"ARG BASE_IMAGE={GEAR_BASE_IMAGE}",
        # Build stage: the pex's own `venv` tool unpacks it into a virtual environment with
        # compiled bytecode. Only that environment reaches the final image.
        "FROM ${BASE_IMAGE} AS venv",
        f"COPY {pex_path} /tmp/gear.pex",
        f"RUN PEX_TOOLS=1 python3 /tmp/gear.pex venv --compile {GEAR_VENV}",
        "",
        "FROM ${BASE_IMAGE}",
        "ARG BASE_IMAGE",
        f'LABEL org.opencontainers.image.title="{name}" '
        f'org.opencontainers.image.version="{version}" '
        'org.opencontainers.image.base.name="${BASE_IMAGE}"',
        # One layer: the user, the gear directories it may write, and the command.
        f"RUN groupadd --gid {GEAR_UID} {GEAR_USER} "
        f"&& useradd --uid {GEAR_UID} --gid {GEAR_USER} --create-home --no-log-init "
        f"--shell /usr/sbin/nologin {GEAR_USER} "
        f"&& mkdir -p {flywheel}/input {flywheel}/output {flywheel}/work "
        f"&& chown {GEAR_USER}:{GEAR_USER} {flywheel}/output {flywheel}/work "
        f"&& printf '#!/bin/sh\\nexec {GEAR_VENV}/pex \"$@\"\\n' > {GEAR_COMMAND} "
        f"&& chmod 755 {GEAR_COMMAND}",
        f"COPY --from=venv {GEAR_VENV} {GEAR_VENV}",
        f"COPY {manifest_path} {flywheel}/manifest.json",
        f"ENV FLYWHEEL={flywheel}",
        f"WORKDIR {flywheel}",
        # Numeric, so that a runtime can tell it is not root without reading /etc/passwd.
        f"USER {GEAR_UID}:{GEAR_UID}",
        f'ENTRYPOINT ["{GEAR_COMMAND}"]',
    )


def gear_image(name: str, version: str, pex: str, **docker_image_fields: object) -> None:
    """Defines a gear's `manifest` file target and its `docker_image` (see the module doc)."""
    manifest = "manifest.json"
    file(name="manifest", source=manifest)  # type: ignore[name-defined]  # noqa: F821
    docker_image(  # type: ignore[name-defined]  # noqa: F821
        name=name,
        source=None,
        instructions=gear_dockerfile(
            name=name,
            version=version,
            pex_path=pex_context_path(pex),
            manifest_path=f"{build_file_dir()}/{manifest}",  # type: ignore[name-defined]  # noqa: F821
        ),
        dependencies=[":manifest", pex],
        image_tags=[version, "latest"],
        **docker_image_fields,
    )
