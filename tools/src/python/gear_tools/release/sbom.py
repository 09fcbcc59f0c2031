"""The software bill of materials of a released gear image: CycloneDX JSON, beside the image.

What is in the image is read from the image itself, by one run of its Python: the Python
distributions of its virtual environment (what the lockfile installed: name, version and the
licence its metadata declares) and its Debian packages (dpkg's status file, with the licences
of each package's machine-readable copyright file). cyclonedx-python-lib writes the document
(CycloneDX 1.6, checked against the schema the library ships). It is written beside the
release record and pushed to the registry beside the image, as an OCI artifact whose
`subject` is the image and whose tag is `sha256-<image digest hex>.sbom`, so that anyone can
fetch it knowing only the image's digest (`fetch`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from gear_tools.engine.containers import Engine, run_in_image
from gear_tools.release import registry

MEDIA_TYPE = "application/vnd.cyclonedx+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# The OCI "empty" config of an artifact that is not an image.
EMPTY_CONFIG = {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2,
}
# The gear image's virtual environment (gear_image(): pex's venv tool installs it there).
VENV_PYTHON = "/opt/gear/bin/python3"
INVENTORY_SCRIPT = r"""
import importlib.metadata, json, pathlib, re
python = []
for dist in importlib.metadata.distributions():
    meta = dist.metadata
    if not meta["Name"]:
        continue
    short = (meta.get("License") or "").strip()
    licence = meta.get("License-Expression") or (short if 0 < len(short) <= 80 else "")
    if not licence:
        found = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                 if c.startswith("License ::")]
        licence = " AND ".join(found)
    python.append({"name": meta["Name"], "version": dist.version, "licence": licence})
debian = []
status = pathlib.Path("/var/lib/dpkg/status")
for paragraph in (status.read_text(errors="replace") if status.exists() else "").split("\n\n"):
    fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", paragraph, re.M))
    if not fields.get("Package") or "installed" not in fields.get("Status", "").split():
        continue
    package = fields["Package"]
    copyright = pathlib.Path("/usr/share/doc") / package / "copyright"
    text = copyright.read_text(errors="replace") if copyright.is_file() else ""
    licences = sorted(set(re.findall(r"^License: *(\S[^\n]*)$", text, re.M)))
    debian.append({"name": package, "version": fields.get("Version", ""),
                   "arch": fields.get("Architecture", ""), "licences": licences})
print(json.dumps({"python": python, "debian": debian}))
"""


class SbomError(Exception):
    """The SBOM cannot be made, pushed or fetched; the message says why."""


@dataclass(frozen=True)
class Inventory:
    """What an image holds: its Python distributions and its Debian packages."""

    python: list[dict[str, Any]] = field(default_factory=list)
    debian: list[dict[str, Any]] = field(default_factory=list)


def image_inventory(engine: Engine, image: str) -> Inventory:
    """The packages in `image`, read by one run of its virtual environment's Python."""
    run = run_in_image(engine, image, [VENV_PYTHON, "-I", "-c", INVENTORY_SCRIPT])
    if run.exit_code != 0:
        raise SbomError(f"reading the packages of {image} failed:\n{run.log[-2000:]}")
    try:
        found = json.loads(run.log.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SbomError(
            f"reading the packages of {image} printed no list:\n{run.log[-2000:]}"
        ) from None
    return Inventory(found["python"], found["debian"])


def _licences(factory: LicenseFactory, names: list[str]) -> list[Any]:
    """One licence: an SPDX id or expression where it is one, else its name. Several (a
    Debian package's copyright file): each by name, as CycloneDX allows no expression
    beside others."""
    names = [name for name in names if name]
    if len(names) == 1:
        return [factory.make_from_string(names[0])]
    return [factory.make_with_name(name) for name in names]


def document(image: registry.ImageName, digest: str, inventory: Inventory) -> str:
    """The CycloneDX 1.6 JSON of the image `image@digest` holding `inventory`."""
    factory = LicenseFactory()
    bom = Bom()
    bom.metadata.component = root = Component(
        name=f"{image.registry}/{image.repository}",
        version=digest,
        type=ComponentType.CONTAINER,
        bom_ref=image.pinned(digest),
        purl=PackageURL(
            "oci",
            "",
            image.repository.rsplit("/", 1)[-1],
            digest,
            qualifiers={"repository_url": f"{image.registry}/{image.repository}", "tag": image.tag},
        ),
    )
    components = []
    for package in sorted(inventory.python, key=lambda p: p["name"].lower()):
        purl = PackageURL("pypi", "", package["name"].lower(), package["version"])
        components.append(
            Component(
                name=package["name"],
                version=package["version"],
                purl=purl,
                bom_ref=str(purl),
                licenses=_licences(factory, [package["licence"]]),
            )
        )
    for package in sorted(inventory.debian, key=lambda p: p["name"]):
        qualifiers = {"arch": package["arch"]} if package.get("arch") else {}
        purl = PackageURL("deb", "debian", package["name"], package["version"], qualifiers)
        components.append(
            Component(
                name=package["name"],
                version=package["version"],
                purl=purl,
                bom_ref=str(purl),
                licenses=_licences(factory, package["licences"]),
            )
        )
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, components)
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    problem = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if problem is not None:
        raise SbomError(f"the SBOM of {image.pinned(digest)} is not valid CycloneDX: {problem}")
    return text


def artifact_tag(digest: str) -> str:
    """The tag an SBOM of the image `digest` is pushed under: sha256-<hex>.sbom."""
    return digest.replace(":", "-") + ".sbom"


def push(image: registry.ImageName, digest: str, text: str) -> str:
    """Pushes the SBOM beside `image@digest` (tag `artifact_tag`); returns its manifest digest."""
    subject_bytes = registry.raw_manifest(
        registry.ImageName(image.registry, image.repository, digest)
    )
    if subject_bytes is None:
        raise SbomError(f"{image.pinned(digest)} is not in the registry")
    subject = json.loads(subject_bytes)
    data = text.encode()
    registry.push_blob(image.registry, image.repository, b"{}")
    layer = registry.push_blob(image.registry, image.repository, data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": MEDIA_TYPE,
        "config": EMPTY_CONFIG,
        "layers": [{"mediaType": MEDIA_TYPE, "digest": layer, "size": len(data)}],
        "subject": {
            "mediaType": subject.get("mediaType", OCI_MANIFEST),
            "digest": digest,
            "size": len(subject_bytes),
        },
    }
    return registry.push_manifest(image.registry, image.repository, artifact_tag(digest), manifest)


def fetch_bytes(image: registry.ImageName, digest: str) -> bytes:
    """The SBOM document pushed beside `image@digest`, as pushed (its artifact's subject
    checked to be that image)."""
    where = registry.ImageName(image.registry, image.repository, artifact_tag(digest))
    manifest = registry.manifest(where)
    if manifest is None:
        raise SbomError(f"no SBOM beside {image.pinned(digest)} (no tag {where.tag})")
    layers = [layer for layer in manifest.get("layers", []) if layer.get("mediaType") == MEDIA_TYPE]
    if (manifest.get("subject") or {}).get("digest") != digest or len(layers) != 1:
        raise SbomError(f"{where} is not an SBOM of {image.pinned(digest)} (its subject differs)")
    data = registry.blob(image.registry, image.repository, layers[0]["digest"])
    if data is None:
        raise SbomError(f"{where}: its SBOM blob {layers[0]['digest']} is missing")
    return data


def fetch(image: registry.ImageName, digest: str) -> dict[str, Any]:
    """The SBOM pushed beside `image@digest`, checked to describe that image."""
    found: dict[str, Any] = json.loads(fetch_bytes(image, digest))
    described = ((found.get("metadata") or {}).get("component") or {}).get("version")
    if described != digest:
        raise SbomError(
            f"the SBOM beside {image.pinned(digest)} describes {described}, not this image"
        )
    return found
