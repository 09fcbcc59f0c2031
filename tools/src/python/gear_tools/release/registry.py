"""What an image registry holds, asked over its HTTP API (the OCI distribution API, v2).

Used to find the digest an image was pushed as (`repository@sha256:...`) and whether a version
is already there, with any registry: Docker Hub, a cloud registry, or the CNCF distribution
registry on 127.0.0.1 that CI starts. A registry on 127.0.0.1 or localhost is spoken to over
plain HTTP, any other over HTTPS; a registry that asks for a login gets the one `docker login`
saved (see registry_auth).
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from gear_tools.release import registry_auth

# The manifest types a registry may hold for an image; asking for them all returns the one
# that was pushed, whose digest is what `docker pull repository@digest` fetches.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
TIMEOUT_SECONDS = 30


class RegistryError(Exception):
    """The registry could not be asked, or answered with an error."""


@dataclass(frozen=True)
class ImageName:
    """`registry/repository:tag`, e.g. `127.0.0.1:5000/flywheel-gears/template-gear:0.1.0`."""

    registry: str
    repository: str
    tag: str

    def __str__(self) -> str:
        separator = "@" if self.tag.startswith("sha256:") else ":"
        return f"{self.registry}/{self.repository}{separator}{self.tag}"

    def pinned(self, digest: str) -> str:
        """The name that pulls exactly `digest`: `registry/repository@sha256:...`."""
        return f"{self.registry}/{self.repository}@{digest}"


def _base_url(registry: str) -> str:
    local = registry.startswith("[::1]") or registry.rsplit(":", 1)[0] in LOCAL_HOSTS
    return f"{'http' if local else 'https'}://{registry}/v2"


def _open(
    url: str,
    registry_host: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    content_type: str | None = None,
) -> tuple[bytes, dict[str, str]] | None:
    """The body and headers of a registry answer; None for 404. A 401 is answered once with
    the login `docker login` saved (registry_auth)."""
    headers = {"Accept": MANIFEST_TYPES}
    if content_type:
        headers["Content-Type"] = content_type
    for attempt in (1, 2):
        request = urllib.request.Request(url, method=method, headers=headers, data=data)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return response.read(), dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            challenge = exc.headers.get("WWW-Authenticate")
            if exc.code == 401 and challenge and attempt == 1:
                try:
                    headers["Authorization"] = registry_auth.authorization(registry_host, challenge)
                except registry_auth.LoginError as login_error:
                    raise RegistryError(str(login_error)) from None
                continue
            hint = f"; run `docker login {registry_host}`" if exc.code in (401, 403) else ""
            raise RegistryError(
                f"{registry_host}: {method} {url} answered {exc.code} {exc.reason}{hint}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(f"cannot reach the registry {registry_host}: {reason}") from None
    raise AssertionError("unreachable")


def _manifest_url(image: ImageName) -> str:
    return f"{_base_url(image.registry)}/{image.repository}/manifests/{image.tag}"


def manifest_digest(image: ImageName) -> str | None:
    """The digest `image`'s tag points at in its registry, or None when the tag is not there."""
    answer = _open(_manifest_url(image), image.registry, method="HEAD")
    if answer is None:
        return None
    headers = {name.lower(): value for name, value in answer[1].items()}
    digest = headers.get("docker-content-digest")
    if not digest:
        raise RegistryError(f"{image.registry}: no Docker-Content-Digest for {image}")
    return digest


def config_digest(image: ImageName) -> str | None:
    """The digest of the image configuration `image`'s tag points at (the image ID that
    `docker image inspect` shows); None when the tag is not there or is a multi-platform index."""
    answer = _open(_manifest_url(image), image.registry)
    if answer is None:
        return None
    manifest = json.loads(answer[0])
    config = manifest.get("config") if isinstance(manifest, dict) else None
    return str(config["digest"]) if isinstance(config, dict) and "digest" in config else None


def push_blob(registry: str, repository: str, data: bytes) -> str:
    """Uploads `data` as a blob of `repository` (an upload started, then put whole); returns
    its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    uploads = f"{_base_url(registry)}/{repository}/blobs/uploads/"
    started = _open(uploads, registry, method="POST", data=b"")
    headers = {name.lower(): value for name, value in (started or (b"", {}))[1].items()}
    location = headers.get("location")
    if not location:
        raise RegistryError(f"{registry}: starting an upload to {repository} gave no Location")
    if location.startswith("/"):
        location = _base_url(registry).removesuffix("/v2") + location
    separator = "&" if "?" in location else "?"
    _open(
        f"{location}{separator}digest={digest}",
        registry,
        method="PUT",
        data=data,
        content_type="application/octet-stream",
    )
    return digest


def push_manifest(registry: str, repository: str, tag: str, manifest: dict[str, Any]) -> str:
    """Puts an OCI image manifest under `tag`; returns its digest."""
    data = json.dumps(manifest, sort_keys=True).encode()
    url = f"{_base_url(registry)}/{repository}/manifests/{tag}"
    _open(url, registry, method="PUT", data=data, content_type=str(manifest["mediaType"]))
    return "sha256:" + hashlib.sha256(data).hexdigest()


def raw_manifest(image: ImageName) -> bytes | None:
    """The manifest `image` names (by tag or digest) as the registry holds it, or None."""
    answer = _open(_manifest_url(image), image.registry)
    return answer[0] if answer is not None else None


def manifest(image: ImageName) -> dict[str, Any] | None:
    """The manifest `image` names (by tag or digest), or None when it is not there."""
    raw = raw_manifest(image)
    return json.loads(raw) if raw is not None else None


def blob(registry: str, repository: str, digest: str) -> bytes | None:
    """The content of a blob, checked against its digest; None when it is not there."""
    answer = _open(f"{_base_url(registry)}/{repository}/blobs/{digest}", registry)
    if answer is None:
        return None
    if "sha256:" + hashlib.sha256(answer[0]).hexdigest() != digest:
        raise RegistryError(f"{registry}/{repository}: blob {digest} does not match its digest")
    return answer[0]


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# The OCI "empty" config of an artifact that is not an image (the two bytes `{}`).
EMPTY_CONFIG = {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2,
}


def artifact_tag(digest: str, suffix: str) -> str:
    """The tag an artifact about the image `digest` is pushed under: sha256-<hex>.<suffix>."""
    return digest.replace(":", "-") + "." + suffix


def push_artifact(image: ImageName, digest: str, suffix: str, media_type: str, data: bytes) -> str:
    """Pushes `data` as an OCI artifact about the image `digest` (its `subject`), tagged
    `artifact_tag(digest, suffix)` beside it; returns the artifact's manifest digest."""
    subject = raw_manifest(ImageName(image.registry, image.repository, digest))
    if subject is None:
        raise RegistryError(f"{image.pinned(digest)} is not in the registry")
    push_blob(image.registry, image.repository, b"{}")
    layer = push_blob(image.registry, image.repository, data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": media_type,
        "config": EMPTY_CONFIG,
        "layers": [{"mediaType": media_type, "digest": layer, "size": len(data)}],
        "subject": {
            "mediaType": json.loads(subject).get("mediaType", OCI_MANIFEST),
            "digest": digest,
            "size": len(subject),
        },
    }
    tag = artifact_tag(digest, suffix)
    return push_manifest(image.registry, image.repository, tag, manifest)


def fetch_artifact(image: ImageName, digest: str, suffix: str, media_type: str) -> bytes:
    """The content of the artifact tagged `artifact_tag(digest, suffix)` beside the image,
    checked to be about that image (its subject) and of `media_type`."""
    where = ImageName(image.registry, image.repository, artifact_tag(digest, suffix))
    found = manifest(where)
    if found is None:
        raise RegistryError(f"nothing beside {image.pinned(digest)} (no tag {where.tag})")
    layers = [layer for layer in found.get("layers", []) if layer.get("mediaType") == media_type]
    if (found.get("subject") or {}).get("digest") != digest or len(layers) != 1:
        raise RegistryError(f"{where} is not a {media_type} of {image.pinned(digest)}")
    data = blob(image.registry, image.repository, layers[0]["digest"])
    if data is None:
        raise RegistryError(f"{where}: its blob {layers[0]['digest']} is missing")
    return data


def tags(registry: str, repository: str) -> list[str]:
    """The tags of `repository` in `registry` (empty when the repository does not exist)."""
    answer = _open(f"{_base_url(registry)}/{repository}/tags/list", registry)
    if answer is None:
        return []
    return sorted(str(tag) for tag in json.loads(answer[0]).get("tags") or [])


def image_config(image: ImageName) -> dict[str, Any] | None:
    """The image configuration `image` names (its labels, layers' diff IDs and history), as
    the registry holds it; None when the tag or digest is not there or is a multi-platform
    index."""
    digest = config_digest(image)
    if digest is None:
        return None
    answer = _open(f"{_base_url(image.registry)}/{image.repository}/blobs/{digest}", image.registry)
    if answer is None:
        return None
    config = json.loads(answer[0])
    return config if isinstance(config, dict) else None


def parse_reference(reference: str) -> ImageName:
    """`registry/repository:tag` or `registry/repository@sha256:...` (the registry part is
    required: a host with a dot or a port, or localhost)."""
    name, at, digest = reference.partition("@")
    if not at:
        slash = name.rfind("/")
        colon = name.rfind(":")
        name, digest = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "latest")
    host, _, repository = name.partition("/")
    if not repository or not ("." in host or ":" in host or host == "localhost"):
        raise RegistryError(
            f"{reference!r} names no registry: expected REGISTRY/REPOSITORY:TAG or "
            "REGISTRY/REPOSITORY@sha256:DIGEST"
        )
    return ImageName(host, repository, digest)
