"""`docker build` for Pants, done by podman: skips a build whose inputs are unchanged, and
removes the images an earlier build of the same image left behind.

    podman_build.py PODMAN STATE_DIR build [docker build arguments ...]

Run by the `docker` shim that bin/container-engine writes when podman stands in for Docker
(standard library only: it runs outside Pants, with the machine's python3).

Pants 2.17 runs `docker build` for every image on every `package` (the process is never
cached), and even a build whose every step is cached costs podman about 2.5 s for a gear
image. So the inputs of each build are hashed: the build's arguments, the Dockerfile, the
files of the build context that its COPY and ADD instructions name (paths, modes and
contents; every file of the context when it cannot tell which: a wildcard, a variable, a
heredoc or a RUN --mount), the IDs of the images Pants built first
(`__UPSTREAM_IMAGE_IDS`) and of every local image a build argument or a literal `FROM` names.
When an image was built from the same inputs and still exists, it is tagged again and its ID
reported, as a build would. Otherwise podman builds, and the build's image IDs (every step's
image, cached or new) are recorded under the image's first tag; images that the previous
build of that tag used and that no current record of any image uses are removed, when no
other build is running: only images that builds run through this script made, never a
tagged one.

A gear image (one with the `io.flywheel.gear.name` label) is then written in canonical form by
canonical_image.py beside this file (its layer cache in STATE_DIR/../canonical-layers): the ID
reported, recorded and tagged is the canonical one, the same from any engine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The label gear_image() sets on gear images (and only on them): they are made canonical.
GEAR_LABEL = "io.flywheel.gear.name"
# `--> Using cache <id>` (a cached step) and `--> <id>` (a step's new image), from podman.
STEP_IMAGE = re.compile(r"^--> (?:Using cache )?([0-9a-f]{11,64})\s*$")
OPTIONS_WITH_VALUE = {
    "--tag",
    "-t",
    "--file",
    "-f",
    "--build-arg",
    "--target",
    "--label",
    "--platform",
    "--iidfile",
}


@dataclass(frozen=True)
class BuildRequest:
    tags: tuple[str, ...]
    dockerfile: str
    build_args: tuple[str, ...]
    context: str
    arguments: tuple[str, ...]


def parse_build_arguments(arguments: Sequence[str]) -> BuildRequest:
    """The parts of `docker build` arguments that name tags, Dockerfile, args and context."""
    tags: list[str] = []
    build_args: list[str] = []
    dockerfile = "Dockerfile"
    positional: list[str] = []
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        name, equals, inline = argument.partition("=")
        if name in OPTIONS_WITH_VALUE:
            if equals:
                value = inline
            else:
                index += 1
                value = arguments[index] if index < len(arguments) else ""
            if name in ("--tag", "-t"):
                tags.append(value)
            elif name in ("--file", "-f"):
                dockerfile = value
            elif name == "--build-arg":
                build_args.append(value)
        elif not argument.startswith("-"):
            positional.append(argument)
        index += 1
    context = positional[-1] if positional else "."
    return BuildRequest(tuple(tags), dockerfile, tuple(build_args), context, tuple(arguments))


def _instructions(dockerfile_text: str) -> Iterable[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped.

    The manifest linter's checker.py reads Dockerfiles the same way; each is a standalone
    file (this one runs outside Pants, that one alone in the linter's sandbox), so neither
    imports the other.
    """
    logical = ""
    # The empty last line ends a continuation the file ends in (the instruction ends there).
    for line in [*dockerfile_text.splitlines(), ""]:
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        yield keyword.upper(), arguments.strip()
        logical = ""


def used_context_paths(dockerfile_text: str) -> tuple[str, ...] | None:
    """The context paths COPY and ADD read (files or directories), or None when the
    Dockerfile may read others: a wildcard or variable in a source, a heredoc, RUN --mount."""
    paths: list[str] = []
    for keyword, arguments in _instructions(dockerfile_text):
        if "<<" in arguments or (keyword == "RUN" and "--mount" in arguments):
            return None
        if keyword not in ("COPY", "ADD"):
            continue
        options = []
        while arguments.startswith("--"):
            option, _, arguments = arguments.partition(" ")
            options.append(option)
            arguments = arguments.strip()
        if any(option.startswith("--from") for option in options):
            continue  # from a build stage or an image, not from the context
        try:
            words = json.loads(arguments) if arguments.startswith("[") else arguments.split()
        except json.JSONDecodeError:
            return None
        for source in words[:-1]:
            if "://" in source:
                continue  # ADD from a URL
            if any(character in source for character in "*?[$\\"):
                return None
            paths.append(source)
    return tuple(paths)


def _context_files(context: Path, used: Iterable[str] | None) -> list[Path]:
    """The files (and links) under `context`, or under the `used` paths only."""
    roots = [context] if used is None else [context / path.lstrip("/") for path in used]
    found: set[Path] = set()
    for root in roots:
        if root.is_file() or root.is_symlink():
            found.add(root)
        elif root.is_dir():
            found.update(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
    return sorted(found)


def normalise_modes(context: Path) -> None:
    """Gives the build context's files the modes a checkout made with umask 022 gives them
    (directories and executables 0755, other files 0644), whatever the user's umask, so that
    COPY makes the same layer everywhere and the gear's unprivileged user can read its files.
    The context is Pants' own copy, made for this build; a file with other links (one Pants
    may link from its store) is left as it is."""
    for root, directories, files in os.walk(context):
        for name in directories:
            path = Path(root, name)
            if not path.is_symlink():
                path.chmod(0o755)
        for name in files:
            path = Path(root, name)
            status = path.lstat()
            if stat.S_ISREG(status.st_mode) and status.st_nlink == 1:
                wanted = 0o755 if status.st_mode & 0o111 else 0o644
                if stat.S_IMODE(status.st_mode) != wanted:
                    path.chmod(wanted)


def context_digest(context: Path, used: Iterable[str] | None = None) -> str:
    """A hash of the files under `context` (or under its `used` paths only): relative path,
    executable bit and content; a used path that is missing counts as such."""
    digest = hashlib.sha256()
    for missing in sorted({p for p in used or () if not (context / p.lstrip("/")).exists()}):
        digest.update(f"M {missing}\n".encode())
    for path in _context_files(context, used):
        relative = path.relative_to(context).as_posix()
        if path.is_symlink():
            digest.update(f"L {relative} {os.readlink(path)}\n".encode())
            continue
        executable = os.access(path, os.X_OK)
        digest.update(f"F {relative} {int(executable)} {path.stat().st_size}\n".encode())
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def named_images(request: BuildRequest, dockerfile_text: str) -> list[str]:
    """Image references the build may start from: build argument values and literal FROMs."""
    # A build argument's value may name an image (BASE_IMAGE=python:3.11-slim) or not (1.2.0).
    values = [value.partition("=")[2] for value in request.build_args]
    names = [value for value in values if ("/" in value or ":" in value) and " " not in value]
    for line in dockerfile_text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].upper() == "FROM" and "$" not in words[1]:
            names.append(words[1])
    return [name for name in names if name]


def resolved_build_args(build_args: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """Build arguments by name, with their values: a bare `--build-arg NAME` (how Pants passes
    one whose value comes from the environment) takes NAME's value from `env`, as podman does;
    one that is not set there is left out (the Dockerfile's default applies)."""
    resolved = {}
    for argument in build_args:
        name, equals, value = argument.partition("=")
        if equals:
            resolved[name] = value
        elif name in env:
            resolved[name] = env[name]
    return resolved


def build_timestamp(build_args: Mapping[str, str]) -> str:
    """The time podman gives the image and every file of its layers (`--timestamp`): the
    SOURCE_DATE_EPOCH build argument (gear images get the commit's time), else 0, so that the
    same inputs make the same image on any machine at any time."""
    value = build_args.get("SOURCE_DATE_EPOCH", "")
    return value if value.isdigit() else "0"


def timing_options(build_args: Mapping[str, str]) -> list[str]:
    """podman options for a reproducible build: `--timestamp`, and `--no-cache`. buildah looks a
    step up in its cache by the instruction's text before build arguments are expanded (a
    cached `LABEL ... revision="${GIT_COMMIT}"` kept an earlier commit), and a step it takes
    from the cache keeps the history of the build that made it (the name of another gear's
    system image with the same ID, another gear's COPY source digest): the layers are the same,
    the image ID is not. An unchanged build is still reused, by this script, without podman."""
    return ["--timestamp", build_timestamp(build_args), "--no-cache"]


def build_key(
    request: BuildRequest,
    dockerfile_text: str,
    context_hash: str,
    upstream_ids: str,
    build_args: Mapping[str, str] | None = None,
) -> str:
    """The key of a build's inputs, but for the IDs of the images it names (kept in the record)."""
    document = {
        "arguments": list(request.arguments),
        # The values of bare `--build-arg NAME`s, which the arguments do not show.
        "build_args": dict(build_args or {}),
        "dockerfile": dockerfile_text,
        "context": context_hash,
        "upstream": upstream_ids,
        # A gear image is made canonical by these rules: other rules, another image.
        "canonical": _canonical_rules(),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _canonical_rules() -> str:
    """A hash of canonical_image.py beside this file (its rules decide a gear image's ID)."""
    script = Path(__file__).resolve().parent / "canonical_image.py"
    return hashlib.sha256(script.read_bytes()).hexdigest() if script.is_file() else ""


def stale_images(
    previous: Iterable[str], current: Iterable[str], others: Iterable[str]
) -> set[str]:
    """Images the previous build of an image used that neither it nor any other image uses now.

    IDs may be short (11 characters) or full; a short ID matches the full IDs it starts.
    """
    keep = [*current, *others]

    def kept(image_id: str) -> bool:
        return any(other.startswith(image_id) or image_id.startswith(other) for other in keep)

    return {image_id for image_id in previous if not kept(image_id)}


def step_images(output_lines: Iterable[str]) -> list[str]:
    """The image IDs a podman build printed, in order."""
    found = []
    for line in output_lines:
        match = STEP_IMAGE.match(line.strip())
        if match:
            found.append(match.group(1))
    return found


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as file:
        file.write(text)
    os.replace(file.name, path)


def _record_name(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", tag) + ".json"


def local_name(tag: str) -> str:
    """How podman names a tag: an unqualified name gets the `localhost/` registry."""
    first, slash, _ = tag.partition("/")
    qualified = slash and ("." in first or ":" in first or first == "localhost")
    return tag if qualified else f"localhost/{tag}"


class Podman:
    def __init__(self, executable: str) -> None:
        self.executable = executable

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.executable, *arguments], capture_output=True, text=True, check=False
        )

    def inspect(self, references: Sequence[str]) -> dict[str, tuple[str, frozenset[str]]]:
        """Each reference that is a local image: its ID and names. One podman call when all are."""
        unique = sorted(set(references))
        if not unique:
            return {}
        template = "{{.Id}}{{range .RepoTags}} {{.}}{{end}}"
        result = self.run("image", "inspect", "--format", template, *unique)
        lines = result.stdout.splitlines()
        pairs: list[tuple[str, str]] = []
        if result.returncode == 0 and len(lines) == len(unique):
            pairs = list(zip(unique, lines))
        else:  # some reference is no local image: ask one by one
            for reference in unique:
                single = self.run("image", "inspect", "--format", template, reference)
                if single.returncode == 0 and single.stdout.strip():
                    pairs.append((reference, single.stdout.strip()))
        found = {}
        for reference, line in pairs:
            image_id, *names = line.split()
            found[reference] = (image_id, frozenset(names))
        return found

    def untagged_images(self) -> set[str]:
        """The IDs (hex digits) of every local image that has no name: one podman call."""
        result = self.run("images", "--all", "--no-trunc", "--format", "{{.ID}} {{len .Names}}")
        return {
            image_id.removeprefix("sha256:")
            for image_id, names in (line.split() for line in result.stdout.splitlines() if line)
            if names == "0"
        }


def lock_path() -> Path:
    """One lock for every build on this machine's podman storage (per user), whatever clone."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(runtime) / f"gear-podman-builds-{os.getuid()}.lock"


def build(podman: Podman, state: Path, arguments: Sequence[str], env: Mapping[str, str]) -> int:
    """Builds (or reuses) an image; then removes leftovers when no other build is running.

    podman fails a build whose cache lookup meets an image being removed ("layer not known"),
    so every build holds a shared lock, and images are removed only under the exclusive lock,
    taken without waiting after a build: when another build holds the lock, the leftovers stay
    listed in STATE_DIR/leftovers.json for a later build to remove.
    """
    with lock_path().open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        status = _build(podman, state, arguments, env)
        fcntl.flock(lock, fcntl.LOCK_UN)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return status
        _remove_leftovers(podman, state)
    return status


def _build(podman: Podman, state: Path, arguments: Sequence[str], env: Mapping[str, str]) -> int:
    request = parse_build_arguments(arguments)
    context = Path(request.context)
    dockerfile = Path(request.dockerfile)
    if not dockerfile.is_absolute():
        dockerfile = context / dockerfile
    dockerfile_text = dockerfile.read_text(encoding="utf-8") if dockerfile.is_file() else ""
    names = named_images(request, dockerfile_text)
    used = used_context_paths(dockerfile_text) if dockerfile_text else None
    normalise_modes(context)
    build_args = resolved_build_args(request.build_args, env)
    key = build_key(
        request,
        dockerfile_text,
        context_digest(context, used),
        env.get("__UPSTREAM_IMAGE_IDS", ""),
        build_args,
    )
    record_path = state / "keys" / key
    earlier = json.loads(record_path.read_text()) if record_path.is_file() else {}
    built = earlier.get("built", "")
    found = podman.inspect([*names, *([built] if built else [])])
    image_ids = {name: found.get(name, ("", frozenset()))[0] for name in names}
    if built in found and earlier.get("images") == image_ids:
        missing = [tag for tag in request.tags if local_name(tag) not in found[built][1]]
        if not missing or podman.run("tag", built, *missing).returncode == 0:
            short = built.removeprefix("sha256:")[:12]
            print(f"The inputs of this build are unchanged: image {short} is reused.")
            print(f"Successfully built {built}")
            _log(state, f"reused {built} {' '.join(request.tags)}")
            return 0
    with tempfile.TemporaryDirectory() as scratch:
        iidfile = Path(scratch) / "iid"
        process = subprocess.Popen(
            [
                podman.executable,
                "build",
                "--iidfile",
                str(iidfile),
                *timing_options(build_args),
                *arguments,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            sys.stdout.write(line)
            lines.append(line)
        status = process.wait()
        if status != 0:
            return status
        built = iidfile.read_text().strip()
    engine_built = built
    if request.tags and _is_gear_image(podman, built):
        canonical = make_canonical(podman.executable, state, built, request.tags)
        if canonical is None:
            return 1
        built = canonical
    _write_atomically(record_path, json.dumps({"built": built, "images": image_ids}) + "\n")
    _log(state, f"built {built} {' '.join(request.tags)}")
    if request.tags:
        # The engine's own image of a gear stays listed until the next build of the tag removes it.
        _record_images(state, request.tags[0], [*step_images(lines), engine_built, built])
    print(f"Successfully built {built}")
    return 0


def _is_gear_image(podman: Podman, image: str) -> bool:
    result = podman.run(
        "image", "inspect", "--format", f'{{{{index .Labels "{GEAR_LABEL}"}}}}', image
    )
    return result.returncode == 0 and result.stdout.strip() not in ("", "<no value>")


def make_canonical(engine: str, state: Path, image: str, tags: Sequence[str]) -> str | None:
    """The gear image rewritten in canonical form (canonical_image.py) and tagged; its ID, or
    None when that failed (its error printed)."""
    script = Path(__file__).resolve().parent / "canonical_image.py"
    cache = state.parent / "canonical-layers"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script), engine, str(cache), "canonicalize", image, *tags],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stdout.write(result.stderr)
        return None
    canonical = result.stdout.strip().splitlines()[-1]
    print(f"Canonical image {canonical[7:19]} ({time.monotonic() - started:.1f} s)")
    return canonical


def _record_images(state: Path, tag: str, current: list[str]) -> None:
    """Records the images a build of `tag` used; lists what its previous build used as leftovers."""
    record = state / "images" / _record_name(tag)
    previous = json.loads(record.read_text())["images"] if record.is_file() else []
    _write_atomically(record, json.dumps({"tag": tag, "images": current}) + "\n")
    leftovers = state / "leftovers.json"
    # Builds finish in parallel: one at a time adds to the list.
    with (state / "leftovers.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        listed = json.loads(leftovers.read_text()) if leftovers.is_file() else []
        _write_atomically(leftovers, json.dumps(sorted({*listed, *previous})) + "\n")


def _remove_leftovers(podman: Podman, state: Path) -> None:
    """Removes listed leftovers that no image's current record uses (under the exclusive lock)."""
    leftovers = state / "leftovers.json"
    if not leftovers.is_file():
        return
    listed = json.loads(leftovers.read_text())
    in_use = [
        image_id
        for path in (state / "images").glob("*.json")
        for image_id in json.loads(path.read_text()).get("images", [])
    ]
    # One podman call to list, one to remove, one to see what went (a tagged image, or one that
    # another image is built on, stays).
    untagged = podman.untagged_images()
    candidates = sorted(
        image_id for image_id in stale_images(listed, [], in_use) if _matches(image_id, untagged)
    )
    removed = []
    if candidates:
        podman.run("rmi", *candidates)
        untagged_now = podman.untagged_images()
        removed = [image_id for image_id in candidates if not _matches(image_id, untagged_now)]
    leftovers.unlink()
    if removed:
        print(f"Removed {len(removed)} images that earlier builds left behind.", file=sys.stderr)
        _log(state, f"removed {' '.join(removed)}")


def _matches(image_id: str, full_ids: set[str]) -> bool:
    """Whether an image ID (full, `sha256:`-prefixed or short) is one of the full IDs."""
    short = image_id.removeprefix("sha256:")
    return any(full.startswith(short) for full in full_ids)


def _log(state: Path, line: str) -> None:
    """One line per build in STATE_DIR/builds.log: built, reused or removed, and the images."""
    state.mkdir(parents=True, exist_ok=True)
    with (state / "builds.log").open("a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[2] != "build":
        print("usage: podman_build.py PODMAN STATE_DIR build [ARGUMENTS ...]", file=sys.stderr)
        return 2
    return build(Podman(argv[0]), Path(argv[1]), argv[3:], os.environ)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
