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
- `<name>-system`: a `docker_image` built from the gear's Dockerfile;
- `<name>-deps`: a `pex_binary` of the gear's third-party dependencies only;
- `<name>-runtime`: a `docker_image` built FROM the system image, that adds what changes
  only with the dependencies: the unprivileged user `gear` (uid and gid 1000, which owns
  /flywheel/v0/output and /flywheel/v0/work), the command `/bin/run`, the settings that
  never change, and the third-party dependencies as a compiled virtual environment (made
  with pex's own `venv` tool in a build stage, so no pex or build cache reaches the image);
- `<name>-code`: a `gear_code` directory (pants-plugins/gear_code) of the gear's code and
  `common/`, compiled;
- `<name>`: the gear image, tagged `<version>` and `latest`, built FROM the runtime image
  with the manifest, the version label, the gear's own files under /flywheel/v0 if it has
  any (`flywheel_files=`, a `files` target whose directory is copied there: data files a
  gear opens at /flywheel/v0/...) and, last, the code: a code change (the gear's or
  common/'s) makes one small layer, with no container run and no step before it to redo.

The system and runtime images are helpers (tagged `<version>`, never pushed, never run as a
gear); Pants builds them first, their addresses being the defaults of the `GEAR_SYSTEM` and
`GEAR_RUNTIME` build arguments, and an unchanged one is not built again.

Preludes cannot import, so this file uses builtins only; the tests import it as a module to
check the Dockerfiles it writes.
"""

# The unprivileged user every gear runs as.
GEAR_USER = "gear"
GEAR_UID = 1000
# The gear's virtual environment (third-party dependencies), and its code on the venv's path.
GEAR_VENV = "/opt/gear"
GEAR_CODE = "/opt/gear/code"
# What Flywheel runs: the manifests' `command`.
GEAR_COMMAND = "/bin/run"
FLYWHEEL_DIR = "/flywheel/v0"
# Set on every gear image (and only on gear images): the gear's name.
GEAR_LABEL = "io.flywheel.gear.name"
# The build arguments that name the images a gear image is built from (target addresses).
SYSTEM_ARG = "GEAR_SYSTEM"
RUNTIME_ARG = "GEAR_RUNTIME"
# Reproducible builds: a RUN step's environment (an ARG, not the image's ENV) with
# SOURCE_DATE_EPOCH set, so that Python compiles hash-checked bytecode (not stamped with the
# build's file times) and shadow's useradd dates the account by it, not by the build's day.
# With podman, every layer's file times and the image's creation time are set too (podman_build
# passes --timestamp: the commit time for gear images, 0 for helper images).
REPRODUCIBLE_RUN_ARG = "ARG SOURCE_DATE_EPOCH=0"
# Build arguments of the gear image, from the environment ./pants sets from git (the commit,
# its time as RFC 3339 and as seconds) and SOURCE_URL from pants.toml's [docker] build_args:
# the labels org.opencontainers.image.revision, .created and .source, and the time podman
# gives the image's files. They change with every commit, so helper images do not take them.
SOURCE_ARGS = ("GIT_COMMIT", "GIT_COMMIT_TIME", "SOURCE_URL")
GEAR_IMAGE_BUILD_ARGS = ("GIT_COMMIT", "GIT_COMMIT_TIME", "SOURCE_DATE_EPOCH")
# The Python resolves gears use (pants.toml [python.resolves]): python-default, and one for
# each set of gears with pins of their own (`bin/new-gear --resolve NAME` adds it here). The
# libraries of common/ that gears import are in every one of them (`gear_resolves()`).
DEFAULT_RESOLVE = "python-default"
GEAR_RESOLVES = (
    "python-default",
    "gear-pydicom2",
    "gear-sdk16",
)
# Requirements that are for mypy only (type stubs), excluded from every pex_binary (the root
# BUILD's defaults, and the dependencies pex below) so that they never reach a gear's image.
# A stub package added to 3rdparty/python/requirements.txt goes here too (a test checks).
TYPE_STUBS = ("types-PyYAML", "boto3-stubs")


def requirements_target(resolve: str = DEFAULT_RESOLVE) -> str:
    """The python_requirements target of a gear resolve (3rdparty/python/BUILD)."""
    return "3rdparty/python:reqs" if resolve == DEFAULT_RESOLVE else f"3rdparty/python:{resolve}"


def not_in_images(resolve: str = DEFAULT_RESOLVE) -> tuple[str, ...]:
    """Dependencies that exclude a resolve's type stubs (see TYPE_STUBS)."""
    return tuple(f"!!{requirements_target(resolve)}#{stub}" for stub in TYPE_STUBS)


# The default resolve's (the root BUILD's pex_binary defaults). Written out: a prelude's own
# functions cannot run while it loads.
NOT_IN_IMAGES = (
    "!!3rdparty/python:reqs#types-PyYAML",
    "!!3rdparty/python:reqs#boto3-stubs",
)


# The resolve of the developer and release tools (tools/src/python/gear_tools): common/'s
# requirements and the tools' own libraries, which no gear resolve holds.
TOOLS_RESOLVE = "gear-tools"


def gear_resolves(*, tools: bool = False) -> object:
    """The `resolve` of a common/ library that gears import: each of GEAR_RESOLVES (and the
    tools' resolve, for a library the tools import too, when `tools`)."""
    resolves = [*GEAR_RESOLVES, *([TOOLS_RESOLVE] if tools else [])]
    if len(resolves) == 1:
        return resolves[0]
    return parametrize(*resolves)  # type: ignore[name-defined]  # noqa: F821


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


def runtime_image_name(name: str) -> str:
    """The target name of a gear's runtime image (its dependencies, user and command)."""
    return f"{name}-runtime"


def code_name(name: str) -> str:
    """The target name of the `gear_code` of a gear's own code and `common/`."""
    return f"{name}-code"


def code_context_path(code_address: str) -> str:
    """Where `pants package` puts a gear_code directory in the image's build context."""
    return pex_context_path(code_address)[: -len(".pex")]


def entry_point_module(pex_address: str, entry_point: str) -> str:
    """The module the gear pex runs, for the image, which runs it from the gear's code layer.

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


def run_script(entry_point: str) -> str:
    """The text of `/bin/run`: the gear's Python runs its entry point (`module` or
    `module:function`) in isolated mode (no PYTHON* variables, no user site, no working
    directory on the path) with the arguments it was given."""
    python = f"{GEAR_VENV}/bin/python3 -I"
    module, _, function = entry_point.partition(":")
    if function:
        code = f"import sys; from {module} import {function}; sys.exit({function}())"
        return f"#!/bin/sh\nexec {python} -c '{code}' \"$@\"\n"
    return f'#!/bin/sh\nexec {python} -m {module} "$@"\n'


# What a writable directory's path may hold (it goes into a RUN line unquoted).
_PATH_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-")


def writable_directories(writable: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The directories the gear user owns: output/ and work/, and the gear's own `writable`
    ones (absolute paths, e.g. a program's cache under /flywheel/v0). Refuses any other."""
    for path in writable:
        if not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") in ("", "/"):
            raise ValueError(
                f"gear_image(writable=...): {path!r} is not an absolute directory (e.g. "
                f'"{FLYWHEEL_DIR}/cache")'
            )
        if not set(path) <= _PATH_CHARACTERS or ".." in path.split("/"):
            raise ValueError(
                f"gear_image(writable=...): {path!r} may hold only letters, digits and / . _ - "
                "(no spaces, quotes, shell characters or ..)"
            )
    return (f"{FLYWHEEL_DIR}/output", f"{FLYWHEEL_DIR}/work", *writable)


def runtime_dockerfile(
    system_image: str, deps_pex_path: str, entry_point: str, writable: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The Dockerfile of a gear's runtime image, one instruction per item.

    `system_image` is the address of the gear's system image target, `deps_pex_path` where the
    build context holds the dependencies' pex, `entry_point` the module the gear runs, and
    `writable` the directories the gear may write besides output/ and work/.
    """
    flywheel = FLYWHEEL_DIR
    uid = GEAR_UID
    owned = " ".join(writable_directories(writable))
    # The venv's site-packages gets a .pth file that puts the code layer on the path.
    code_path = (
        f"{GEAR_VENV}/bin/python3 -I -c 'import pathlib, sysconfig; "
        f'pathlib.Path(sysconfig.get_path("purelib"), "gear-code.pth")'
        f'.write_text("{GEAR_CODE}\\n")\''
    )
    run = run_script(entry_point).replace("\n", "\\n").replace("'", "'\\''")
    return (
        f"ARG {SYSTEM_ARG}={system_image}",
        # The third-party dependencies, unpacked from their pex in a build stage, so that
        # neither the pex nor pex's cache reaches the image.
        f"FROM ${{{SYSTEM_ARG}}} AS deps",
        REPRODUCIBLE_RUN_ARG,
        f"COPY {deps_pex_path} /tmp/deps.pex",
        # A dist-info RECORD lists no bytecode: whether it did depended on the builder's pex
        # cache (a wheel installed there before or after being compiled), not on the gear.
        f"RUN PEX_TOOLS=1 python3 /tmp/deps.pex venv --scope=deps --compile {GEAR_VENV} "
        f"&& {code_path} "
        f"&& find {GEAR_VENV} -path '*.dist-info/RECORD' -exec sed -i '/__pycache__\\//d' {{}} +",
        "",
        # No instruction uses the build arguments that name upstream images: `publish` passes
        # them with the registry's name, which would change the image (and its ID) from the
        # one `package` built, so no label names the system image.
        f"FROM ${{{SYSTEM_ARG}}}",
        REPRODUCIBLE_RUN_ARG,
        "USER root",
        # One small layer: the user (kept if the base image already has uid/gid 1000), the
        # gear directories it may write, and the command. The user's shadow entry has no date
        # of last password change (the build's day, unless useradd honours SOURCE_DATE_EPOCH):
        # the account has no password, and the image no date of its build.
        f"RUN (getent group {uid} >/dev/null || groupadd --gid {uid} {GEAR_USER}) "
        f"&& (getent passwd {uid} >/dev/null || (useradd --uid {uid} --gid {uid} --create-home "
        f"--no-log-init --shell /usr/sbin/nologin {GEAR_USER} "
        f"&& sed -i 's/^{GEAR_USER}:\\([^:]*\\):[0-9]*:/{GEAR_USER}:\\1::/' /etc/shadow)) "
        f"&& mkdir -p {flywheel}/input {owned} "
        f"&& chown {uid}:{uid} {owned} "
        f"&& printf '{run}' > {GEAR_COMMAND} "
        f"&& chmod 755 {GEAR_COMMAND}",
        f"ENV FLYWHEEL={flywheel}",
        f"WORKDIR {flywheel}",
        f'ENTRYPOINT ["{GEAR_COMMAND}"]',
        # Numeric, so that a runtime can tell it is not root without reading /etc/passwd. (COPY
        # is not affected by USER: the files below stay root's, read-only to the gear.)
        f"USER {uid}:{uid}",
        f"COPY --from=deps {GEAR_VENV} {GEAR_VENV}",
    )


def flywheel_files_directory(address: str, build_dir: str) -> str:
    """The directory of the `files` target `address` (`dir:name`, or `:name` in `build_dir`):
    what gear_image(flywheel_files=...) copies to /flywheel/v0."""
    directory, separator, target = address.partition(":")
    if not separator or not target or directory.startswith(("/", ".")):
        raise ValueError(
            f"gear_image(flywheel_files=...): {address!r} is not a target address "
            "(`<gear>/src/flywheel:files`, the `files` target of the gear's /flywheel/v0 files)"
        )
    return directory or build_dir


def gear_dockerfile(
    name: str,
    version: str,
    runtime_image: str,
    code_path: str,
    manifest_path: str,
    flywheel_files: str = "",
) -> tuple[str, ...]:
    """The Dockerfile of a gear image, one instruction per item.

    `runtime_image` is the address of the gear's runtime image target; `code_path` and
    `manifest_path` are where the build context holds the gear's code layer and manifest;
    `flywheel_files` the directory whose files go to /flywheel/v0 ("" if none).
    """
    return (
        f"ARG {RUNTIME_ARG}={runtime_image}",
        f"FROM ${{{RUNTIME_ARG}}}",
        # The commit the image is built from (./pants sets them from git; see SOURCE_ARGS);
        # SOURCE_DATE_EPOCH is podman's --timestamp (podman_build.py), used by no instruction.
        *(f"ARG {arg}=unknown" for arg in SOURCE_ARGS),
        REPRODUCIBLE_RUN_ARG,
        # What a release changes: the manifest and the version label.
        f"COPY {manifest_path} {FLYWHEEL_DIR}/manifest.json",
        f'LABEL {GEAR_LABEL}="{name}" '
        f'org.opencontainers.image.title="{name}" '
        f'org.opencontainers.image.version="{version}" '
        'org.opencontainers.image.revision="${GIT_COMMIT}" '
        'org.opencontainers.image.created="${GIT_COMMIT_TIME}" '
        'org.opencontainers.image.source="${SOURCE_URL}"',
        # The gear's own files under /flywheel/v0 (data it opens there), root's and read-only.
        *([f"COPY {flywheel_files} {FLYWHEEL_DIR}/"] if flywheel_files else []),
        # Last, as what changes most often (any change to the gear's code or to common/): the
        # only layer such a change makes.
        f"COPY {code_path} {GEAR_CODE}",
    )


def gear_image(
    name: str,
    version: str,
    pex: str,
    entry_point: str = "run.py",
    resolve: str = DEFAULT_RESOLVE,
    writable: tuple[str, ...] = (),  # a list in a BUILD file is taken too
    flywheel_files: str = "",
    **docker_image_fields: object,
) -> None:
    """Defines a gear's manifest, system and runtime images, pex, code and image (see the
    module doc).

    `entry_point` is the `entry_point` of the gear pex `pex` (`run.py` unless it says
    otherwise); `resolve` the gear's Python resolve (one of GEAR_RESOLVES); `writable` the
    directories the gear may write besides /flywheel/v0/output and /flywheel/v0/work (the image
    is read-only to the gear elsewhere), e.g. `writable=["/flywheel/v0/cache"]`;
    `flywheel_files` the address of a `files` target whose directory's files the image has
    under /flywheel/v0 (`<dir>/data/atlas.nii.gz` at /flywheel/v0/data/atlas.nii.gz). Other
    `docker_image` fields (e.g. `repository=`) are passed on to the gear image.
    """
    manifest = "manifest.json"
    directory = build_file_dir()  # type: ignore[name-defined]  # noqa: F821
    system = system_image_name(name)
    runtime = runtime_image_name(name)
    deps = deps_pex_name(name)
    code = code_name(name)
    module = entry_point_module(pex, entry_point)
    file(name="manifest", source=manifest)  # type: ignore[name-defined]  # noqa: F821
    docker_image(  # type: ignore[name-defined]  # noqa: F821
        name=system,
        source="Dockerfile",
        image_tags=[version],
        skip_push=True,
        # Always the local name, also when `publish` makes a registry the default: the images
        # built FROM it record the name they start from (buildah's history), and must be the
        # same image whether `package` or `publish` built them.
        registries=[],
        description=f"The system image of {name}: its Dockerfile (base image, system packages).",
    )
    pex_binary(  # type: ignore[name-defined]  # noqa: F821
        name=deps,
        dependencies=[pex, *not_in_images(resolve)],
        resolve=resolve,
        include_sources=False,
        description=f"The third-party dependencies of {name}, for its runtime image.",
    )
    docker_image(  # type: ignore[name-defined]  # noqa: F821
        name=runtime,
        source=None,
        instructions=runtime_dockerfile(
            system_image=f"{directory}:{system}",
            deps_pex_path=pex_context_path(f"{directory}:{deps}"),
            entry_point=module,
            writable=tuple(writable),
        ),
        dependencies=[f":{system}", f":{deps}"],
        image_tags=[version],
        skip_push=True,
        registries=[],  # the local name, as the system image's
        description=f"The runtime image of {name}: its user, command and dependencies.",
    )
    gear_code(  # type: ignore[name-defined]  # noqa: F821
        name=code,
        dependencies=[pex],
        entry_point=module,
        description=f"The code of {name} and common/, compiled, for the image's last layer.",
    )
    docker_image(  # type: ignore[name-defined]  # noqa: F821
        name=name,
        source=None,
        instructions=gear_dockerfile(
            name=name,
            version=version,
            runtime_image=f"{directory}:{runtime}",
            code_path=code_context_path(f"{directory}:{code}"),
            manifest_path=f"{directory}/{manifest}",
            flywheel_files=(
                flywheel_files_directory(flywheel_files, directory) if flywheel_files else ""
            ),
        ),
        dependencies=[
            ":manifest",
            f":{runtime}",
            f":{code}",
            *([flywheel_files] if flywheel_files else []),
        ],
        image_tags=[version, "latest"],
        extra_build_args=list(GEAR_IMAGE_BUILD_ARGS),
        **docker_image_fields,
    )
