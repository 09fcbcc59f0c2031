"""Gear images in one canonical form, whatever engine (podman 4 or 5, Docker) built them.

    canonical_image.py ENGINE CACHE_DIR canonicalize IMAGE [TAG ...]
    canonical_image.py ENGINE CACHE_DIR from-rootfs ROOTFS.tar CONFIG.json TAG

`canonicalize` rewrites an image an engine built: every layer is written again by this file
(entries sorted by path, one tar format (POSIX pax, ustar headers where they suffice),
permission bits only in the mode, numeric owners without names, every time the epoch, no
extended attribute but file capabilities, hard links to the first name in order, whiteouts
as names only; left out what is the engine's, not the image's: empty mount points, opaque
markers that hide nothing, directories a step touched without changing, empty layers), and the
configuration keeps only what a Dockerfile sets (user, environment, entrypoint, command,
working directory, labels but buildah's version, ports, volumes, stop signal), with one
history entry per layer naming what it holds and the time of the image's
`org.opencontainers.image.created` label (the commit's; the epoch without one). The result is
loaded into the engine (`save`/`load`, the engine's own commands) and given the tags; it
prints the canonical image ID, which is the digest of that configuration and so the same from
any engine that built the same files.

`from-rootfs` makes a one-layer image from a root file system's tar and a configuration
(`{"config": {...}}`, as above) the same way: the local stand-in base image.

Layers already rewritten are kept in CACHE_DIR, by the engine's digest of the layer (and the
canonical layers below it, and the rules' version): a layer
that many images share (the base image, a runtime) is rewritten once on a machine, and an
image whose every layer is known is not exported at all. Standard library only: it runs from
the engine shims bin/container-engine writes, with the machine's python3 (3.9 or later).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

# Keys of an image configuration's `config` that a Dockerfile sets; engines add others
# (Docker's Hostname, Image, AttachStdin ...), which carry nothing the image runs with.
CONFIG_KEYS = (
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
)
# Labels an engine adds by itself, naming its own version.
ENGINE_LABELS = frozenset({"io.buildah.version"})
# The label the commit's time is read from (gear_image() sets it from git).
CREATED_LABEL = "org.opencontainers.image.created"
EPOCH = "1970-01-01T00:00:00Z"
# The one extended attribute a layer keeps: file capabilities change what a program may do.
KEPT_XATTRS = frozenset({"SCHILY.xattr.security.capability"})
# The rules' version: a cached layer written by other rules is not used (change it with them).
CANONICAL_FORM = "1"
# How many path prefixes a history entry names.
SUMMARY_PATHS = 12
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# Files every engine mounts over when a container runs (and buildah leaves behind, empty, in
# the layer of a RUN step when the image has none): never image content.
MOUNT_POINTS = frozenset(
    {"etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv", "run/.containerenv"}
)
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
# A directory's mode and owner: (mode, uid, gid).
DirectoryMeta = tuple[int, int, int]


class CanonicalImageError(Exception):
    """An engine command failed or an archive is not what it should be; the message says which."""


@dataclass(frozen=True)
class CanonicalLayer:
    """A rewritten layer: its digest (diff_id), what it holds in words, its file, and the
    directories of the file system up to it (for the layers above)."""

    diff_id: str
    summary: str
    path: Path
    directories: dict[str, tuple[int, int, int]]


# --- layers -------------------------------------------------------------------------------


def _member_name(name: str) -> str:
    """A layer entry's path as it is written: relative, no `./`, no trailing slash."""
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def _canonical_info(member: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    if name.rpartition("/")[2].startswith(WHITEOUT):
        # A whiteout is a name only: engines give it mode 0 (podman) or 0600 (Docker).
        info.mode = 0
        return info
    info.type = member.type
    info.mode = member.mode & 0o7777
    info.uid = member.uid
    info.gid = member.gid
    info.uname = ""
    info.gname = ""
    info.mtime = 0
    if member.issym() or member.islnk():
        info.linkname = member.linkname
    if member.ischr() or member.isblk():
        info.devmajor = member.devmajor
        info.devminor = member.devminor
    info.pax_headers = {
        key: value for key, value in sorted(member.pax_headers.items()) if key in KEPT_XATTRS
    }
    return info


def summarise(paths: Iterable[str], limit: int = SUMMARY_PATHS) -> str:
    """What a layer holds, in words: its files' paths cut to three levels, e.g.
    `/opt/gear/code (212 files)`."""
    files = [path for path in paths]
    prefixes = sorted({"/" + "/".join(path.split("/")[:3]) for path in files})
    shown = ", ".join(prefixes[:limit])
    more = f" and {len(prefixes) - limit} more" if len(prefixes) > limit else ""
    if not files:
        return "directories only"
    return f"{shown}{more} ({len(files)} files)"


def _hard_link_sets(members: Mapping[str, tarfile.TarInfo]) -> dict[str, tuple[str, str]]:
    """For each name in a set of hard links: the set's first name in order (written as the
    file) and the name of the entry holding the content (the regular file the links name)."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    for name, member in members.items():
        target = _member_name(member.linkname) if member.islnk() else ""
        if target in members:
            one, other = root(name), root(target)
            if one != other:
                parent[max(one, other)] = min(one, other)
    sets: dict[str, list[str]] = {}
    for name in parent:
        sets.setdefault(root(name), [])
    for name in members:
        if root(name) in sets:
            sets[root(name)].append(name)
    found = {}
    for names in sets.values():
        content = next((n for n in sorted(names) if members[n].isreg()), None)
        if content is None:
            continue
        for name in names:
            found[name] = (min(names), content)
    return found


def _is_engine_leftover(
    name: str, member: tarfile.TarInfo, names: Sequence[str], lower: Mapping[str, DirectoryMeta]
) -> bool:
    """Whether an entry is the engine's, not the image's: an empty mount point; an opaque
    marker on a directory no lower layer has (it hides nothing: Docker marks directories a
    step makes so, podman does not); or a directory that a lower layer has with the same mode
    and owner and under which this layer has nothing (an engine touched it while running a
    step; Docker's layers leave such directories out)."""
    if name in MOUNT_POINTS and member.isreg() and member.size == 0:
        return True
    head, _, base = name.rpartition("/")
    if base == OPAQUE:
        return head not in lower
    if not member.isdir():
        return False
    if lower.get(name) != (member.mode & 0o7777, member.uid, member.gid):
        return False
    prefix = name + "/"
    first_after = bisect.bisect_left(names, prefix)  # `names` is sorted
    return not (first_after < len(names) and names[first_after].startswith(prefix))


def apply_layer_dirs(
    lower: Mapping[str, DirectoryMeta], layer: Mapping[str, DirectoryMeta], removed: Iterable[str]
) -> dict[str, DirectoryMeta]:
    """The directories of the file system after a layer: the lower ones less what the layer's
    whiteouts remove, with the layer's own."""
    found = dict(lower)
    for path in removed:
        # "dir/" (an opaque directory) removes what is under dir; "name" removes it and all in it.
        if path.endswith("/") or not path:
            gone = [n for n in found if n.startswith(path)]
        else:
            gone = [n for n in found if n == path or n.startswith(path + "/")]
        for name in gone:
            del found[name]
    found.update(layer)
    return found


@dataclass(frozen=True)
class LayerWritten:
    diff_id: str
    summary: str
    # This layer's directories, and the paths its whiteouts remove (an opaque directory's
    # contents: the directory itself is kept), for the layers above it.
    directories: dict[str, DirectoryMeta]
    removed: tuple[str, ...]


def write_canonical_layer(
    source: IO[bytes], destination: IO[bytes], lower: Mapping[str, DirectoryMeta] | None = None
) -> LayerWritten:
    """Writes the layer tar read from `source` (seekable) to `destination` in canonical form.
    `lower` holds the directories of the layers below it (see _is_engine_leftover)."""
    lower = lower or {}
    with tarfile.open(fileobj=source, mode="r:") as layer:
        members: dict[str, tarfile.TarInfo] = {}
        for member in layer.getmembers():
            name = _member_name(member.name)
            if name and name != ".":
                members[name] = member  # a later entry of one path wins, as on extraction
        names = sorted(members)
        members = {
            name: members[name]
            for name in names
            if not _is_engine_leftover(name, members[name], names, lower)
        }
        links = _hard_link_sets(members)
        hashing = _HashingWriter(destination)
        with tarfile.open(
            fileobj=cast(IO[bytes], hashing), mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8"
        ) as out:
            for name in sorted(members):
                member = members[name]
                first, content = links.get(name, (name, name))
                info = _canonical_info(members[content], name)
                if name != first:
                    info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
                    out.addfile(info)
                elif info.isreg():
                    info.linkname, info.size = "", members[content].size
                    out.addfile(info, layer.extractfile(members[content]))
                else:
                    info.size = 0
                    out.addfile(info)
        directories = {
            name: (member.mode & 0o7777, member.uid, member.gid)
            for name, member in members.items()
            if member.isdir()
        }
        removed = []
        for name in members:
            head, _, base = name.rpartition("/")
            if base == OPAQUE:
                removed.append(f"{head}/" if head else "")
            elif base.startswith(WHITEOUT):
                removed.append(f"{head}/{base[len(WHITEOUT):]}" if head else base[len(WHITEOUT) :])
        return LayerWritten(
            f"sha256:{hashing.digest.hexdigest()}",
            summarise(name for name, member in members.items() if not member.isdir()),
            directories,
            tuple(sorted(removed)),
        )


class _HashingWriter:
    """A write-only file that hashes what passes through it."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()


class LayerCache:
    """Rewritten layers, by the engine's digest of the layer and the canonical layers below it
    (CACHE_DIR/by-engine/<key>.json; the tar in CACHE_DIR/blobs/<canonical hex>)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _record(self, engine_diff_id: str, below: Sequence[CanonicalLayer]) -> Path:
        chain = " ".join([CANONICAL_FORM, engine_diff_id, *(layer.diff_id for layer in below)])
        return self.root / "by-engine" / f"{hashlib.sha256(chain.encode()).hexdigest()}.json"

    def get(self, engine_diff_id: str, below: Sequence[CanonicalLayer]) -> CanonicalLayer | None:
        record = self._record(engine_diff_id, below)
        try:
            found = json.loads(record.read_text())
        except (OSError, ValueError):
            return None
        path = self.root / "blobs" / found["diff_id"].removeprefix("sha256:")
        if not path.is_file():
            return None
        with contextlib.suppress(OSError):
            os.utime(record)  # used now: see prune()
        directories = apply_layer_dirs(
            below[-1].directories if below else {},
            {k: tuple(v) for k, v in found["directories"].items()},
            found["removed"],
        )
        return CanonicalLayer(found["diff_id"], found["summary"], path, directories)

    def put(
        self, engine_diff_id: str | None, below: Sequence[CanonicalLayer], source: IO[bytes]
    ) -> CanonicalLayer:
        blobs = self.root / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        lower = below[-1].directories if below else {}
        with tempfile.NamedTemporaryFile(dir=blobs, delete=False, prefix=".new-") as out:
            written = write_canonical_layer(source, out, lower)
        path = blobs / written.diff_id.removeprefix("sha256:")
        os.replace(out.name, path)
        if engine_diff_id:
            record = self._record(engine_diff_id, below)
            record.parent.mkdir(parents=True, exist_ok=True)
            document = {
                "diff_id": written.diff_id,
                "summary": written.summary,
                "directories": written.directories,
                "removed": written.removed,
            }
            _write_atomically(record, json.dumps(document))
        directories = apply_layer_dirs(lower, written.directories, written.removed)
        return CanonicalLayer(written.diff_id, written.summary, path, directories)

    def prune(self, older_than_days: float = 14) -> None:
        """Drops layers no image has used for a while (their records' times)."""
        limit = time.time() - older_than_days * 86400
        keep = set()
        for record in (self.root / "by-engine").glob("*.json"):
            try:
                if record.stat().st_mtime < limit:
                    record.unlink()
                    continue
                keep.add(json.loads(record.read_text())["diff_id"].removeprefix("sha256:"))
            except (OSError, ValueError, KeyError):
                continue
        for blob in (self.root / "blobs").glob("*"):
            with contextlib.suppress(OSError):
                if blob.name not in keep and blob.stat().st_mtime < limit:
                    blob.unlink()


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as file:
        file.write(text)
    os.replace(file.name, path)


# --- configuration ------------------------------------------------------------------------


def _created(labels: Mapping[str, str]) -> str:
    """The image's time: its created label when that is an RFC 3339 time, else the epoch."""
    value = str(labels.get(CREATED_LABEL, ""))
    return value if RFC3339.match(value) else EPOCH


def canonical_config(
    settings: Mapping[str, Any], platform: Mapping[str, str], layers: Sequence[CanonicalLayer]
) -> bytes:
    """The configuration of a canonical image: `settings` (an engine's `Config`) less what no
    Dockerfile sets, and the layers, in one byte form (sorted keys, no spaces)."""
    config: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = settings.get(key)
        if key == "Labels" and value:
            value = {k: v for k, v in value.items() if k not in ENGINE_LABELS}
        if value:
            config[key] = value
    created = _created(config.get("Labels") or {})
    document: dict[str, Any] = {
        "architecture": platform.get("architecture") or "amd64",
        "os": platform.get("os") or "linux",
        "config": config,
        "created": created,
        "history": [{"created": created, "created_by": layer.summary} for layer in layers],
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    if platform.get("variant"):
        document["variant"] = platform["variant"]
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def image_id(config: bytes) -> str:
    return f"sha256:{hashlib.sha256(config).hexdigest()}"


# --- engines ------------------------------------------------------------------------------


class Engine:
    """An engine's executable (podman, or docker): inspect, save, load and tag."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def run(self, *arguments: str, stdin: IO[bytes] | None = None) -> str:
        result = subprocess.run(
            [self.executable, *arguments], stdin=stdin, capture_output=True, check=False
        )
        if result.returncode != 0:
            raise CanonicalImageError(
                f"{Path(self.executable).name} {' '.join(arguments[:3])} failed: "
                f"{result.stderr.decode(errors='replace').strip()[-2000:]}"
            )
        return result.stdout.decode(errors="replace")

    def inspect(self, image: str) -> dict[str, Any] | None:
        try:
            found: list[dict[str, Any]] = json.loads(self.run("image", "inspect", image))
        except CanonicalImageError:
            return None
        return found[0] if found else None

    def save(self, image: str, path: Path) -> None:
        self.run("save", "-o", str(path), image)

    def load(self, archive: Path) -> None:
        self.run("load", "-i", str(archive))

    def tag(self, image: str, tags: Sequence[str]) -> None:
        for tag in tags:
            self.run("tag", image, tag)


def _platform(inspected: Mapping[str, Any]) -> dict[str, str]:
    return {
        "architecture": str(inspected.get("Architecture") or ""),
        "os": str(inspected.get("Os") or ""),
        "variant": str(inspected.get("Variant") or ""),
    }


def _archive_layers(
    archive: Path, engine_layers: Sequence[str], cache: LayerCache
) -> list[CanonicalLayer]:
    """The canonical layers of a `save`d image, rewriting those the cache does not have."""
    with tarfile.open(archive, mode="r:") as saved:
        manifest = json.load(_member(saved, "manifest.json"))[0]
        config = json.load(_member(saved, manifest["Config"]))
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        if diff_ids != list(engine_layers) or len(diff_ids) != len(manifest["Layers"]):
            raise CanonicalImageError(f"{archive}: its layers are not the image's")
        layers: list[CanonicalLayer] = []
        for diff_id, path in zip(diff_ids, manifest["Layers"]):
            layer = cache.get(diff_id, layers)
            layers.append(layer or cache.put(diff_id, layers, _member(saved, path)))
        return layers


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        member = archive.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise CanonicalImageError(f"the saved image has no {name}")
    return member


def write_archive(path: Path, config: bytes, layers: Sequence[CanonicalLayer]) -> None:
    """A `docker save` archive (which podman and Docker both load) of a canonical image."""
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as archive:
        config_name = f"blobs/sha256/{image_id(config).removeprefix('sha256:')}"
        names = [f"blobs/sha256/{layer.diff_id.removeprefix('sha256:')}" for layer in layers]
        manifest = json.dumps([{"Config": config_name, "RepoTags": [], "Layers": names}])
        _add_bytes(archive, "manifest.json", manifest.encode())
        _add_bytes(archive, config_name, config)
        for name, layer in dict(zip(names, layers)).items():
            info = tarfile.TarInfo(name)
            info.size = layer.path.stat().st_size
            with layer.path.open("rb") as data:
                archive.addfile(info, data)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    with tempfile.SpooledTemporaryFile() as buffer:
        buffer.write(data)
        buffer.seek(0)
        archive.addfile(info, buffer)


def install(
    engine: Engine, config: bytes, layers: Sequence[CanonicalLayer], tags: Sequence[str]
) -> str:
    """Loads the canonical image into the engine (unless it has it) and tags it; its ID."""
    canonical = image_id(config)
    if engine.inspect(canonical) is None:
        with tempfile.TemporaryDirectory(prefix="canonical-image-") as scratch:
            archive = Path(scratch) / "image.tar"
            write_archive(archive, config, layers)
            engine.load(archive)
        if engine.inspect(canonical) is None:
            raise CanonicalImageError(
                f"{engine.executable} loaded the canonical image but reports no image {canonical}"
            )
    engine.tag(canonical, tags)
    return canonical


def canonicalize(engine: Engine, cache: LayerCache, image: str, tags: Sequence[str]) -> str:
    """Rewrites an engine's image in canonical form, loads and tags it; its canonical ID. The
    image is exported only when the cache lacks one of its layers."""
    inspected = engine.inspect(image)
    if inspected is None:
        raise CanonicalImageError(f"{engine.executable} has no image {image}")
    engine_layers = list(inspected.get("RootFS", {}).get("Layers") or [])
    layers: list[CanonicalLayer] = []
    for diff_id in engine_layers:
        layer = cache.get(diff_id, layers)
        if layer is None:
            break
        layers.append(layer)
    if len(layers) < len(engine_layers):
        with tempfile.TemporaryDirectory(prefix="canonical-image-") as scratch:
            archive = Path(scratch) / "saved.tar"
            engine.save(image, archive)
            layers = _archive_layers(archive, engine_layers, cache)
    # A layer with no entry changes nothing (BuildKit makes one where a step has nothing to add).
    layers = [layer for layer in layers if not _is_empty(layer.path)]
    config = canonical_config(inspected.get("Config") or {}, _platform(inspected), layers)
    return install(engine, config, layers, tags)


def _is_empty(layer: Path) -> bool:
    """Whether a canonical layer's tar has no entry (only the end-of-archive blocks)."""
    if layer.stat().st_size > tarfile.RECORDSIZE:
        return False
    return not any(layer.read_bytes())


def from_rootfs(
    engine: Engine, cache: LayerCache, rootfs: Path, settings: Mapping[str, Any], tag: str
) -> str:
    """A one-layer canonical image of a root file system's tar; its ID."""
    with rootfs.open("rb") as source:
        layer = cache.put(None, [], source)
    platform = {"architecture": _machine_architecture(), "os": "linux"}
    config = canonical_config(settings.get("config") or {}, platform, [layer])
    return install(engine, config, [layer], [tag])


def _machine_architecture() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@contextlib.contextmanager
def _locked(cache: LayerCache) -> Iterator[None]:
    """One rewrite at a time per cache (parallel builds share their layers)."""
    import fcntl

    cache.root.mkdir(parents=True, exist_ok=True)
    with (cache.root / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main(argv: Sequence[str]) -> int:
    usage = (
        "usage: canonical_image.py ENGINE CACHE_DIR canonicalize IMAGE [TAG ...]\n"
        "       canonical_image.py ENGINE CACHE_DIR from-rootfs ROOTFS.tar CONFIG.json TAG"
    )
    if len(argv) < 4 or argv[2] not in ("canonicalize", "from-rootfs"):
        print(usage, file=sys.stderr)
        return 2
    engine, cache = Engine(argv[0]), LayerCache(Path(argv[1]))
    try:
        with _locked(cache):
            if argv[2] == "canonicalize":
                print(canonicalize(engine, cache, argv[3], argv[4:]))
            else:
                if len(argv) != 6:
                    print(usage, file=sys.stderr)
                    return 2
                settings = json.loads(Path(argv[4]).read_text())
                print(from_rootfs(engine, cache, Path(argv[3]), settings, argv[5]))
            cache.prune()
    except (CanonicalImageError, OSError, tarfile.TarError, ValueError) as exc:
        print(f"canonical_image: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
