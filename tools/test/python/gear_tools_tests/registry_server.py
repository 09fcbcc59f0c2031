"""A real image registry on 127.0.0.1 for tests, and small images pushed to it over its API.

The registry is Debian's `docker-registry` (the CNCF distribution registry), which
`./pants test` installs (3rdparty/test-programs.json). `push_image` uploads an OCI image of
one layer with the registry's own blob and manifest API, as `docker push` does, so that tests
of releasing need no container engine.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gear_tools.release.registry_auth import Login

REGISTRY_PROGRAM = "docker-registry"
HTPASSWD_PROGRAM = "htpasswd"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class PushedImage:
    # The digest of the image configuration: the image ID an engine shows for it.
    config_digest: str
    # The digest of the manifest: what `repository@digest` pulls.
    manifest_digest: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _htpasswd(login: tuple[str, str]) -> str:
    """An htpasswd line (bcrypt, as the registry requires) from Debian's apache2-utils."""
    program = shutil.which(HTPASSWD_PROGRAM)
    if program is None:
        raise RuntimeError(f"{HTPASSWD_PROGRAM} is not installed (./pants test installs it)")
    return subprocess.run(
        [program, "-Bbn", *login], capture_output=True, text=True, check=True
    ).stdout.strip()


@contextmanager
def registry_server(
    storage: Path, port: int | None = None, login: tuple[str, str] | None = None
) -> Iterator[str]:
    """Serves a registry storing into `storage`; yields its address, 127.0.0.1:<port>.
    With `login` (user, password), it refuses requests without it (htpasswd, Basic)."""
    program = shutil.which(REGISTRY_PROGRAM)
    if program is None:
        raise RuntimeError(f"{REGISTRY_PROGRAM} is not installed (./pants test installs it)")
    address = f"127.0.0.1:{port or _free_port()}"
    storage.mkdir(parents=True, exist_ok=True)
    config = storage / "config.yml"
    auth = ""
    if login is not None:
        (storage / "htpasswd").write_text(_htpasswd(login) + "\n")
        auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {storage / 'htpasswd'}\n"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage / 'data'}\n"
        f"http:\n  addr: {address}\n{auth}"
    )
    process = subprocess.Popen(
        [program, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=1):
                    break
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for the login
                    break
                raise
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"{REGISTRY_PROGRAM} did not start: {error}") from None
                time.sleep(0.05)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)


def _login_headers(login: tuple[str, str] | None) -> dict[str, str]:
    return {} if login is None else {"Authorization": Login(*login).basic()}


def _put_blob(
    address: str, repository: str, data: bytes, login: tuple[str, str] | None = None
) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.Request(
        f"http://{address}/v2/{repository}/blobs/uploads/",
        method="POST",
        data=b"",
        headers=_login_headers(login),
    )
    with urllib.request.urlopen(start) as response:
        location = response.headers["Location"]
    if location.startswith("/"):
        location = f"http://{address}{location}"
    separator = "&" if "?" in location else "?"
    upload = urllib.request.Request(
        f"{location}{separator}digest={digest}",
        method="PUT",
        data=data,
        headers={"Content-Type": "application/octet-stream", **_login_headers(login)},
    )
    with urllib.request.urlopen(upload):
        return digest


def image_layer(files: dict[str, bytes]) -> bytes:
    """A gzipped tar layer holding `files` (path in the image -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(buffer.getvalue(), mtime=0)


def image_config(layer: bytes) -> bytes:
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/bin/run"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    return json.dumps(config, sort_keys=True).encode()


def config_digest_of(files: dict[str, bytes]) -> str:
    """The image ID the image of `files` has (the digest of its configuration)."""
    return "sha256:" + hashlib.sha256(image_config(image_layer(files))).hexdigest()


def push_image(
    address: str,
    repository: str,
    tag: str,
    files: dict[str, bytes],
    login: tuple[str, str] | None = None,
) -> PushedImage:
    """Pushes a one-layer image of `files` as `address/repository:tag` (with `login`, if
    the registry asks for one)."""
    layer = image_layer(files)
    config = image_config(layer)
    layer_digest = _put_blob(address, repository, layer, login)
    config_digest = _put_blob(address, repository, config, login)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    request = urllib.request.Request(
        f"http://{address}/v2/{repository}/manifests/{tag}",
        method="PUT",
        data=manifest,
        headers={"Content-Type": OCI_MANIFEST, **_login_headers(login)},
    )
    with urllib.request.urlopen(request):
        pass
    return PushedImage(config_digest, "sha256:" + hashlib.sha256(manifest).hexdigest())
