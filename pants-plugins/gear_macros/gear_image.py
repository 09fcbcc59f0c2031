"""`gear_image(...)`: every gear's manifest and container image, built one way.

A Pants BUILD-file prelude (`[GLOBAL] build_file_prelude_globs` in pants.toml). A gear's
`src/docker/` holds its manifest.json, its own Dockerfile and a BUILD file that is one call:

    gear_image(
        name="template-gear",
        version="0.1.0",
        pex="template_gear/src/python/template_app:bin",
    )

The gear's Dockerfile holds only what is specific to the gear: the base image it starts from
(`FROM ${BASE_IMAGE}`, the pinned one in pants.toml, or any Debian or Ubuntu image with Python
3.11) and the system packages it needs (`RUN apt-get ...`). Everything else is defined here,
once, for every gear. The call defines these targets in the gear's `src/docker/`:

- `manifest`: the manifest.json beside the BUILD file;
- `<name>-system`: a `docker_image` built from the gear's Dockerfile (a helper image: tagged
  `<version>`, never pushed, never run as a gear);
- `<name>-deps`: a `pex_binary` of the gear's third-party dependencies only;
- `<name>-srcs`: a `pex_binary` of the gear's code and `common/` only, with the gear pex's
  entry point (its `run.py`, by default); small and quick to build, and quick to unpack into
  the image, where the gear pex would unpack every dependency first;
- `<name>`: the gear image, tagged `<version>` and `latest`, whose Dockerfile is
  `gear_dockerfile()`. It is built `FROM` the system image (Pants builds that first, the
  address being the default of the `GEAR_SYSTEM` build argument) in layers that cache:
  the system image's, then the gear user and `/bin/run` and the settings that never change,
  then the third-party dependencies as a virtual environment (rebuilt only when they change),
  then the manifest and version label, and last the gear's code and `common/` (a small layer
  from the sources pex, the only one a code change rebuilds). The virtual
  environments are made with pex's own `venv` tool (`--scope=deps`, `--scope=srcs`) in build
  stages, compiled, so a fresh container starts the gear at once and no pex or build cache
  reaches the image. The gear runs as the unprivileged user `gear` (uid and gid 1000), which
  owns /flywheel/v0/output and /flywheel/v0/work.

Preludes cannot import, so this file uses builtins only; the tests import it as a module to
check the Dockerfile it writes.
"""

# The unprivileged user every gear runs as.
GEAR_USER = "gear"
GEAR_UID = 1000
# The gear's virtual environment; its `pex` script runs the pex_binary's entry point.
GEAR_VENV = "/opt/gear"
# What Flywheel runs: the manifests' `command`.
GEAR_COMMAND = "/bin/run"
FLYWHEEL_DIR = "/flywheel/v0"
# Set on every gear image (and only on gear images): the gear's name.
GEAR_LABEL = "io.flywheel.gear.name"
# The build argument that names the gear's system image (a target address, built first).
SYSTEM_ARG = "GEAR_SYSTEM"
# Requirements that are for mypy only (type stubs), excluded from every pex_binary (the root
# BUILD's defaults, and the dependencies pex below) so that they never reach a gear's image.
# A stub package added to 3rdparty/python/requirements.txt goes here too (a test checks).
NOT_IN_IMAGES = (
    "!!3rdparty/python:reqs#types-PyYAML",
    "!!3rdparty/python:reqs#boto3-stubs",
)


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


def system_image_name(name: str) -> str:
    """The target name of a gear's system image (built from the gear's own Dockerfile)."""
    return f"{name}-system"


def deps_pex_name(name: str) -> str:
    """The target name of the pex of a gear's third-party dependencies."""
    return f"{name}-deps"


def srcs_pex_name(name: str) -> str:
    """The target name of the pex of a gear's own code and `common/` (no dependencies)."""
    return f"{name}-srcs"


def entry_point_module(pex_address: str, entry_point: str) -> str:
    """The module the gear pex runs, for the sources pex, which lives in another directory.

    `entry_point` is the gear pex's own `entry_point`: a file in its directory (`run.py`) or a
    module (`my_app.run`, kept as it is). A file is made a module by the repository's source
    roots (`src/*`): `my_gear/src/python/my_app:bin` with `run.py` -> `my_app.run`.
    """
    if not entry_point.endswith(".py"):
        return entry_point
    path = pex_address.lstrip("/").partition(":")[0]
    parts = path.split("/")
    if "src" not in parts or parts.index("src") + 2 > len(parts):
        raise ValueError(
            f"gear_image: pex={pex_address!r} is not under a source root 'src/<language>/' "
            f"(e.g. 'my_gear/src/python/my_app:bin'), so entry_point={entry_point!r} cannot "
            "be made a module; give entry_point as a module instead, e.g. 'my_app.run'"
        )
    package = parts[parts.index("src") + 2 :]
    return ".".join([*package, entry_point[: -len(".py")].replace("/", ".")])


def _venv_stage(stage: str, pex_path: str, scope: str) -> tuple[str, ...]:
    """A build stage that unpacks one scope of a pex into the gear's virtual environment."""
    return (
        f"FROM ${{{SYSTEM_ARG}}} AS {stage}",
        f"COPY {pex_path} /tmp/{stage}.pex",
        f"RUN PEX_TOOLS=1 python3 /tmp/{stage}.pex venv --scope={scope} --compile {GEAR_VENV}",
    )


def gear_dockerfile(
    name: str,
    version: str,
    system_image: str,
    deps_pex_path: str,
    srcs_pex_path: str,
    manifest_path: str,
) -> tuple[str, ...]:
    """The Dockerfile of a gear image, one instruction per item.

    `system_image` is the address of the gear's system image target; the pex paths are where
    the build context holds the dependencies' pex and the sources pex.
    """
    flywheel = FLYWHEEL_DIR
    uid = GEAR_UID
    return (
        f"ARG {SYSTEM_ARG}={system_image}",
        # Third-party dependencies from a pex that holds nothing else, so this stage and the
        # layer it makes stay cached while only the gear's code or common/ changes.
        *_venv_stage("deps", deps_pex_path, "deps"),
        # The gear's code and common/, and the entry point (the venv's `pex` script).
        *_venv_stage("srcs", srcs_pex_path, "srcs"),
        "",
        f"FROM ${{{SYSTEM_ARG}}}",
        "USER root",
        # One small layer: the user (kept if the base image already has uid/gid 1000), the
        # gear directories it may write, and the command.
        f"RUN (getent group {uid} >/dev/null || groupadd --gid {uid} {GEAR_USER}) "
        f"&& (getent passwd {uid} >/dev/null || useradd --uid {uid} --gid {uid} --create-home "
        f"--no-log-init --shell /usr/sbin/nologin {GEAR_USER}) "
        f"&& mkdir -p {flywheel}/input {flywheel}/output {flywheel}/work "
        f"&& chown {uid}:{uid} {flywheel}/output {flywheel}/work "
        f"&& printf '#!/bin/sh\\nexec {GEAR_VENV}/pex \"$@\"\\n' > {GEAR_COMMAND} "
        f"&& chmod 755 {GEAR_COMMAND}",
        # Settings that never change, before any layer that does.
        f"ENV FLYWHEEL={flywheel}",
        f"WORKDIR {flywheel}",
        f'ENTRYPOINT ["{GEAR_COMMAND}"]',
        # Numeric, so that a runtime can tell it is not root without reading /etc/passwd. (COPY
        # is not affected by USER: the files below stay root's, read-only to the gear.)
        f"USER {uid}:{uid}",
        f"COPY --from=deps {GEAR_VENV} {GEAR_VENV}",
        # What a release changes: the manifest and the version label.
        f"COPY {manifest_path} {flywheel}/manifest.json",
        f"ARG {SYSTEM_ARG}",
        f'LABEL {GEAR_LABEL}="{name}" '
        f'org.opencontainers.image.title="{name}" '
        f'org.opencontainers.image.version="{version}" '
        f'org.opencontainers.image.base.name="${{{SYSTEM_ARG}}}"',
        # Last, as what changes most often (any change to the gear's code or to common/): the
        # only layer such a change rebuilds, and no instruction after it to re-commit.
        f"COPY --from=srcs {GEAR_VENV} {GEAR_VENV}",
    )


def gear_image(
    name: str, version: str, pex: str, entry_point: str = "run.py", **docker_image_fields: object
) -> None:
    """Defines a gear's manifest, system image, pexes and image (see the module doc).

    `entry_point` is the `entry_point` of the gear pex `pex` (`run.py` unless it says
    otherwise). Other `docker_image` fields (e.g. `repository=`) are passed on to the gear image.
    """
    manifest = "manifest.json"
    directory = build_file_dir()  # type: ignore[name-defined]  # noqa: F821
    system = system_image_name(name)
    deps = deps_pex_name(name)
    srcs = srcs_pex_name(name)
    file(name="manifest", source=manifest)  # type: ignore[name-defined]  # noqa: F821
    docker_image(  # type: ignore[name-defined]  # noqa: F821
        name=system,
        source="Dockerfile",
        image_tags=[version],
        skip_push=True,
        description=f"The system image of {name}: its Dockerfile (base image, system packages).",
    )
    pex_binary(  # type: ignore[name-defined]  # noqa: F821
        name=deps,
        dependencies=[pex, *NOT_IN_IMAGES],
        include_sources=False,
        description=f"The third-party dependencies of {name}, for their own image layer.",
    )
    pex_binary(  # type: ignore[name-defined]  # noqa: F821
        name=srcs,
        entry_point=entry_point_module(pex, entry_point),
        dependencies=[pex],
        include_requirements=False,
        description=f"The code of {name} and common/, for the image's last layer.",
    )
    docker_image(  # type: ignore[name-defined]  # noqa: F821
        name=name,
        source=None,
        instructions=gear_dockerfile(
            name=name,
            version=version,
            system_image=f"{directory}:{system}",
            deps_pex_path=pex_context_path(f"{directory}:{deps}"),
            srcs_pex_path=pex_context_path(f"{directory}:{srcs}"),
            manifest_path=f"{directory}/{manifest}",
        ),
        dependencies=[":manifest", f":{system}", f":{deps}", f":{srcs}"],
        image_tags=[version, "latest"],
        **docker_image_fields,
    )
