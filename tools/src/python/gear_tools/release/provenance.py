"""How a released gear image was built, as a signed statement pushed beside the image.

The statement is an in-toto Statement (v1) with an SLSA provenance predicate (v1): its subject
is the image (by digest); what it was built from (`resolvedDependencies`) is the commit, the
files release_gear.build_inputs names (the gear resolve's lockfile, the gear's Dockerfile and
BUILD, the shared image definition) by SHA-256, the base image (its digest or image ID) and
the SBOM pushed beside it; the builder is a URI naming what ran the release (the GitHub
workflow, or the machine), with the engine and its version. It is
signed as a DSSE envelope with securesystemslib and an ed25519 key the team holds (keyless
signing needs a network service these machines cannot reach), and pushed beside the image as
an OCI artifact tagged `sha256-<image digest hex>.att` (subject: the image).

    ./pants run tools/src/python/gear_tools/release/provenance.py -- new-key DIR
        a key pair: DIR/signing-key.pem (keep it secret) and DIR/signing-key.pub.pem
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.dsse import Envelope

# The documented names; the package does not mark them re-exported for mypy.
from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]

from gear_tools.release import registry

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
TAG_SUFFIX = "att"
# What a gear image's build is (SLSA's buildType), under the repository's own address: the
# SOURCE_URL build argument in pants.toml, the one place a team names its repository.
BUILD_TYPE_PATH = "/blob/main/docs/releasing.md#what-a-release-is-built-from"


# What signs statements: an ed25519 key in memory.
Signer = CryptoSigner


class ProvenanceError(Exception):
    """The statement cannot be made, pushed, fetched or trusted; the message says why."""


@dataclass(frozen=True)
class Material:
    """One thing the image was built from: a name (URI) and its digests."""

    uri: str
    digest: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "digest": dict(self.digest)}


def file_material(root: Path, path: str) -> Material:
    """A file of the repository, by its SHA-256."""
    return Material(path, {"sha256": hashlib.sha256((root / path).read_bytes()).hexdigest()})


def statement(
    image: registry.ImageName,
    digest: str,
    *,
    gear: str,
    version: str,
    commit: str,
    source: str,
    materials: list[Material],
    builder: str,
    engine: str,
) -> dict[str, Any]:
    """The in-toto Statement of the image `image@digest`."""
    algorithm, _, value = digest.partition(":")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"{image.registry}/{image.repository}", "digest": {algorithm: value}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": source.rstrip("/") + BUILD_TYPE_PATH,
                "externalParameters": {"gear": gear, "version": version, "source": source},
                "resolvedDependencies": [
                    {"uri": f"git+{source}@{commit}", "digest": {"gitCommit": commit}},
                    *(material.to_dict() for material in materials),
                ],
            },
            "runDetails": {"builder": {"id": builder, "version": {"engine": engine}}},
        },
    }


def load_signer(key_file: Path) -> CryptoSigner:
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ProvenanceError(
            f"{key_file}: not a PEM private key without a passphrase ({exc})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ProvenanceError(f"{key_file}: expected an ed25519 key")
    return CryptoSigner(key)


def load_public_key(key_file: Path) -> SSlibKey:
    try:
        key = serialization.load_pem_public_key(key_file.read_bytes())
    except (OSError, ValueError) as exc:
        raise ProvenanceError(f"{key_file}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ProvenanceError(f"{key_file}: expected an ed25519 key")
    return SSlibKey.from_crypto(key)


def sign(document: dict[str, Any], signer: CryptoSigner) -> dict[str, Any]:
    """The statement as a signed DSSE envelope."""
    payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    envelope.sign(signer)
    signed: dict[str, Any] = envelope.to_dict()
    return signed


def verified_statement(envelope: dict[str, Any], key: SSlibKey) -> dict[str, Any]:
    """The statement of a DSSE envelope signed by `key`; raises if it is not."""
    try:
        parsed = Envelope.from_dict(envelope)
        if parsed.payload_type != PAYLOAD_TYPE:
            raise ProvenanceError(f"the envelope holds {parsed.payload_type}, not a statement")
        parsed.verify([key], 1)
    except ProvenanceError:
        raise
    except Exception as exc:  # securesystemslib raises several kinds for a bad signature
        raise ProvenanceError(
            f"its signature is not the team key's ({type(exc).__name__})"
        ) from None
    found: dict[str, Any] = json.loads(parsed.payload)
    return found


def artifact_tag(digest: str) -> str:
    return registry.artifact_tag(digest, TAG_SUFFIX)


def push(image: registry.ImageName, digest: str, envelope: dict[str, Any]) -> str:
    """Pushes the envelope beside `image@digest` (tag `artifact_tag`); returns its manifest's
    digest."""
    data = json.dumps(envelope, sort_keys=True).encode()
    try:
        return registry.push_artifact(image, digest, TAG_SUFFIX, MEDIA_TYPE, data)
    except registry.RegistryError as exc:
        raise ProvenanceError(str(exc)) from None


def fetch(image: registry.ImageName, digest: str) -> dict[str, Any]:
    """The envelope pushed beside `image@digest` (not yet checked: see verified_statement)."""
    try:
        data = registry.fetch_artifact(image, digest, TAG_SUFFIX, MEDIA_TYPE)
    except registry.RegistryError as exc:
        raise ProvenanceError(str(exc)) from None
    envelope: dict[str, Any] = json.loads(data)
    return envelope


def built_from(found: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What the statement says the image was built from: URI -> its digests."""
    definition = (found.get("predicate") or {}).get("buildDefinition") or {}
    listed = definition.get("resolvedDependencies")
    return {
        str(d.get("uri")): dict(d.get("digest") or {})
        for d in (listed if isinstance(listed, list) else [])
        if isinstance(d, dict)
    }


def check(found: dict[str, Any], digest: str, commit: str, materials: list[Material]) -> None:
    """Raises unless the statement is of `digest`, built from `commit` and `materials`."""
    algorithm, _, value = digest.partition(":")
    subjects = [s.get("digest", {}).get(algorithm) for s in found.get("subject", [])]
    if value not in subjects:
        raise ProvenanceError(f"its subject is not {digest}")
    stated = built_from(found)
    if commit not in [digests.get("gitCommit") for digests in stated.values()]:
        raise ProvenanceError(f"it names another commit than {commit}")
    for material in materials:
        if stated.get(material.uri) != material.digest:
            raise ProvenanceError(
                f"its {material.uri} is {stated.get(material.uri)}, but the commit has "
                f"{material.digest}"
            )


def new_key(directory: Path) -> tuple[Path, Path]:
    """A new ed25519 key pair in `directory` (the private one readable by its owner only)."""
    key = Ed25519PrivateKey.generate()
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "signing-key.pem", directory / "signing-key.pub.pem"
    private.touch(mode=0o600, exist_ok=False)
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "new-key":
        print(__doc__, file=sys.stderr)
        return 2
    try:
        private, public = new_key(Path(argv[1]))
    except FileExistsError:
        print(f"provenance: {argv[1]}/signing-key.pem exists; not replaced", file=sys.stderr)
        return 1
    print(f"private key: {private} (keep it secret: a repository secret on GitHub)")
    print(f"public key:  {public} (give it to whoever verifies releases)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
