"""The canonical form of gear images: what the engines' layer tars and configurations differ
in (measured between podman 4.3, podman 5.4 and Docker 20.10) does not reach the image ID."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from gear_tools.engine.canonical_image import (
    CanonicalLayer,
    LayerCache,
    apply_layer_dirs,
    canonical_config,
    image_id,
    write_canonical_layer,
)


def entry(
    name: str,
    data: bytes | None = b"",
    *,
    kind: bytes = tarfile.REGTYPE,
    mode: int = 0o644,
    uid: int = 0,
    mtime: int = 1_700_000_000,
    linkname: str = "",
    uname: str = "",
    pax: dict[str, str] | None = None,
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, uid, mtime
    info.linkname, info.uname, info.gname = linkname, uname, uname
    info.pax_headers = dict(pax or {})
    info.size = len(data) if data is not None and kind == tarfile.REGTYPE else 0
    return info, data


def layer_tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() and data else None)
    return buffer.getvalue()


def with_type_bits_in_modes(data: bytes) -> bytes:
    """What containers/storage before 1.48 writes: the file-type bits in each header's mode
    (`0100644`, `040755`), with the header checksum made again."""
    blocks = bytearray(data)
    offset = 0
    while offset + 512 <= len(blocks) and any(blocks[offset : offset + 512]):
        header = blocks[offset : offset + 512]
        kind = bytes(header[156:157])
        size = int(header[124:136].rstrip(b"\0 ") or b"0", 8)
        mode = int(header[100:108].rstrip(b"\0 ") or b"0", 8)
        bits = {b"0": 0o100000, b"5": 0o040000, b"2": 0o120000}.get(kind, 0)
        if bits:
            header[100:108] = f"{mode | bits:07o}\0".encode()
            header[148:156] = b"        "
            header[148:156] = f"{sum(header):06o}\0 ".encode()
            blocks[offset : offset + 512] = header
        offset += 512 + (size + 511) // 512 * 512
    return bytes(blocks)


def canonical(data: bytes, lower: dict[str, tuple[int, int, int]] | None = None) -> str:
    return write_canonical_layer(io.BytesIO(data), io.BytesIO(), lower).diff_id


def listing(data: bytes) -> list[tuple[str, str, int, int, float, str]]:
    out = io.BytesIO()
    write_canonical_layer(io.BytesIO(data), out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as archive:
        return [
            (m.name, m.type.decode(), m.mode, m.uid, m.mtime, m.linkname)
            for m in archive.getmembers()
        ]


GEAR_FILES = [
    entry("opt/", kind=tarfile.DIRTYPE, mode=0o755),
    entry("opt/gear/", kind=tarfile.DIRTYPE, mode=0o755),
    entry("opt/gear/run.py", b"print('hello')\n", mode=0o755),
    entry("opt/gear/data.txt", b"data\n"),
    entry("opt/gear/link", kind=tarfile.SYMTYPE, linkname="run.py", mode=0o777),
]


def test_the_engines_tar_conventions_give_one_layer() -> None:
    """podman 4.3 (type bits in modes, GNU headers), podman 5.4 (permission bits, pax), Docker
    (user names, other times, another order, `./` prefixes): one canonical digest."""
    podman4 = with_type_bits_in_modes(layer_tar(GEAR_FILES, tarfile.GNU_FORMAT))
    podman5 = layer_tar(GEAR_FILES, tarfile.PAX_FORMAT)
    docker = layer_tar(
        [
            entry(f"./{info.name}", data, kind=info.type, mode=info.mode, mtime=1,
                  linkname=info.linkname, uname="root")
            for info, data in reversed(GEAR_FILES)
        ],
        tarfile.USTAR_FORMAT,
    )  # fmt: skip
    assert podman4 != podman5
    assert canonical(podman4) == canonical(podman5) == canonical(docker)
    assert listing(podman5) == [
        ("opt", "5", 0o755, 0, 0, ""),
        ("opt/gear", "5", 0o755, 0, 0, ""),
        ("opt/gear/data.txt", "0", 0o644, 0, 0, ""),
        ("opt/gear/link", "2", 0o777, 0, 0, "run.py"),
        ("opt/gear/run.py", "0", 0o755, 0, 0, ""),
    ]


def test_what_the_image_holds_still_counts() -> None:
    """Contents, modes, owners and link targets change the layer."""
    base = canonical(layer_tar(GEAR_FILES, tarfile.PAX_FORMAT))
    changed = [
        [entry("opt/gear/run.py", b"print('hello!')\n", mode=0o755)],
        [entry("opt/gear/run.py", b"print('hello')\n", mode=0o644)],
        [entry("opt/gear/run.py", b"print('hello')\n", mode=0o755, uid=1000)],
        [entry("opt/gear/link", kind=tarfile.SYMTYPE, linkname="data.txt", mode=0o777)],
    ]
    digests = set()
    for change in changed:
        names = {info.name for info, _ in change}
        entries = [item for item in GEAR_FILES if item[0].name not in names] + change
        digests.add(canonical(layer_tar(entries, tarfile.PAX_FORMAT)))
    assert base not in digests and len(digests) == len(changed)


def test_hard_links_are_written_to_their_first_name_whatever_the_engine_wrote_first() -> None:
    one = [
        entry("usr/bin/python3.11", b"ELF", mode=0o755),
        entry("usr/bin/a-python", kind=tarfile.LNKTYPE, linkname="usr/bin/python3.11"),
    ]
    other = [
        entry("usr/bin/a-python", b"ELF", mode=0o755),
        entry("usr/bin/python3.11", kind=tarfile.LNKTYPE, linkname="usr/bin/a-python"),
    ]
    assert canonical(layer_tar(one, tarfile.PAX_FORMAT)) == canonical(
        layer_tar(other, tarfile.GNU_FORMAT)
    )
    assert listing(layer_tar(one, tarfile.PAX_FORMAT)) == [
        ("usr/bin/a-python", "0", 0o755, 0, 0, ""),
        ("usr/bin/python3.11", "1", 0o755, 0, 0, "usr/bin/a-python"),
    ]


def test_only_file_capabilities_are_kept_of_extended_attributes() -> None:
    capability = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}
    label = {"SCHILY.xattr.security.selinux": "system_u:object_r:container_file_t:s0"}
    plain = canonical(layer_tar([entry("bin/ping", b"x")], tarfile.PAX_FORMAT))
    labelled = canonical(layer_tar([entry("bin/ping", b"x", pax=label)], tarfile.PAX_FORMAT))
    capable = canonical(layer_tar([entry("bin/ping", b"x", pax=capability)], tarfile.PAX_FORMAT))
    assert plain == labelled != capable


def test_what_buildah_leaves_of_a_run_step_is_not_the_image() -> None:
    """buildah's RUN layer held an empty /etc/hosts (a mount point) and /run (touched, unchanged),
    which Docker's layer of the same step did not."""
    below = {"etc": (0o755, 0, 0), "run": (0o755, 0, 0)}
    docker = [entry("etc/", kind=tarfile.DIRTYPE, mode=0o755), entry("etc/passwd", b"gear\n")]
    buildah = [
        *docker,
        entry("etc/hosts", b"", mode=0o755),
        entry("run/", kind=tarfile.DIRTYPE, mode=0o755),
    ]
    assert canonical(layer_tar(docker, tarfile.PAX_FORMAT), below) == canonical(
        layer_tar(buildah, tarfile.PAX_FORMAT), below
    )
    # A directory the step made, or whose mode it changed, is the image's.
    for made in ({"etc": (0o755, 0, 0)}, {**below, "run": (0o700, 0, 0)}):
        assert canonical(layer_tar(buildah, tarfile.PAX_FORMAT), made) != canonical(
            layer_tar(docker, tarfile.PAX_FORMAT), made
        )
    # A hosts file with content is the image's too.
    written = [*docker, entry("etc/hosts", b"127.0.0.1 site\n")]
    assert canonical(layer_tar(written, tarfile.PAX_FORMAT), below) != canonical(
        layer_tar(docker, tarfile.PAX_FORMAT), below
    )


def test_whiteouts_remove_directories_for_the_layers_above() -> None:
    lower = {"a": (0o755, 0, 0), "a/b": (0o755, 0, 0), "c": (0o755, 0, 0), "c/d": (0o755, 0, 0)}
    after = apply_layer_dirs(lower, {"e": (0o700, 0, 0)}, ["a", "c/"])
    assert after == {"c": (0o755, 0, 0), "e": (0o700, 0, 0)}


def layer(diff_id: str, summary: str) -> CanonicalLayer:
    return CanonicalLayer(diff_id, summary, Path("/nonexistent"), {})


def test_the_configuration_keeps_what_the_dockerfile_sets_and_no_engine_fields() -> None:
    layers = [layer("sha256:" + "1" * 64, "/bin (5 files)"), layer("sha256:" + "2" * 64, "/x")]
    settings: dict[str, Any] = {
        "User": "1000:1000",
        "Env": ["PATH=/usr/bin:/bin", "FLYWHEEL=/flywheel/v0"],
        "Entrypoint": ["/bin/run"],
        "WorkingDir": "/flywheel/v0",
        "Labels": {
            "io.flywheel.gear.name": "template-gear",
            "org.opencontainers.image.created": "2026-12-04T13:00:04Z",
        },
    }
    podman = {**settings, "Labels": {**settings["Labels"], "io.buildah.version": "1.28.2"}}
    docker = {
        **settings,
        "Hostname": "",
        "Domainname": "",
        "AttachStdin": False,
        "Tty": False,
        "Cmd": None,
        "Image": "sha256:" + "3" * 64,
        "Volumes": None,
        "OnBuild": None,
    }
    platform = {"architecture": "amd64", "os": "linux"}
    one = canonical_config(podman, platform, layers)
    assert one == canonical_config(docker, platform, layers)
    document = json.loads(one)
    assert document["created"] == "2026-12-04T13:00:04Z"
    assert document["history"] == [
        {"created": "2026-12-04T13:00:04Z", "created_by": "/bin (5 files)"},
        {"created": "2026-12-04T13:00:04Z", "created_by": "/x"},
    ]
    assert "io.buildah.version" not in document["config"]["Labels"]
    assert image_id(one) == "sha256:" + hashlib.sha256(one).hexdigest()
    # What the gear's definition sets still counts.
    assert canonical_config({**settings, "User": "0"}, platform, layers) != one


@pytest.mark.parametrize("label", ["", "yesterday", "2026-12-04 13:00:04"])
def test_an_image_without_a_commit_time_is_dated_the_epoch(label: str) -> None:
    labels = {"org.opencontainers.image.created": label} if label else {}
    document = json.loads(canonical_config({"Labels": labels}, {}, []))
    assert document["created"] == "1970-01-01T00:00:00Z"


def test_a_layer_is_rewritten_once_per_layers_below(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path)
    data = layer_tar(GEAR_FILES, tarfile.PAX_FORMAT)
    first = cache.put("sha256:engine", [], io.BytesIO(data))
    assert cache.get("sha256:engine", []) == first
    assert cache.get("sha256:engine", [first]) is None  # the same layer on another one
    assert first.directories == {"opt": (0o755, 0, 0), "opt/gear": (0o755, 0, 0)}
    with tarfile.open(first.path) as written:
        assert [m.name for m in written.getmembers()][-1] == "opt/gear/run.py"


def test_whiteouts_are_names_only_and_opaque_markers_only_where_they_hide_something() -> None:
    """dicom-to-nifti's apt layer: Docker wrote `var/log/.wh.apt` with mode 0600 where podman
    wrote 0000, and marked the directories the step made (/usr/share/doc/pigz) opaque."""
    below = {"usr": (0o755, 0, 0), "usr/share": (0o755, 0, 0), "usr/share/doc": (0o755, 0, 0)}
    podman = [
        entry("usr/share/doc/pigz/", kind=tarfile.DIRTYPE, mode=0o755),
        entry("usr/share/doc/pigz/copyright", b"GPL\n"),
        entry("var/log/.wh.apt", b"", mode=0o000),
    ]
    docker = [
        *podman[:2],
        entry("usr/share/doc/pigz/.wh..wh..opq", b"", mode=0o755),
        entry("var/log/.wh.apt", b"", mode=0o600),
    ]
    assert canonical(layer_tar(podman, tarfile.PAX_FORMAT), below) == canonical(
        layer_tar(docker, tarfile.PAX_FORMAT), below
    )
    # Over a directory a lower layer has, the marker hides its contents: it stays.
    hiding = {**below, "usr/share/doc/pigz": (0o755, 0, 0)}
    assert canonical(layer_tar(podman, tarfile.PAX_FORMAT), hiding) != canonical(
        layer_tar(docker, tarfile.PAX_FORMAT), hiding
    )
