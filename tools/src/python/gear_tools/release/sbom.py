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
TAG_SUFFIX = "sbom"
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

    def component(name: str, version: str, purl: PackageURL, licences: list[str]) -> Component:
        return Component(
            name=name,
            version=version,
            purl=purl,
            bom_ref=str(purl),
            licenses=_licences(factory, licences),
        )

    components = [
        component(
            p["name"],
            p["version"],
            PackageURL("pypi", "", p["name"].lower(), p["version"]),
            [p["licence"]],
        )
        for p in sorted(inventory.python, key=lambda p: p["name"].lower())
    ]
    components += [
        component(
            p["name"],
            p["version"],
            PackageURL(
                "deb",
                "debian",
                p["name"],
                p["version"],
                {"arch": p["arch"]} if p.get("arch") else {},
            ),
            p["licences"],
        )
        for p in sorted(inventory.debian, key=lambda p: p["name"])
    ]
    bom.components.update(components)
    bom.register_dependency(root, components)
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    problem = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if problem is not None:
        raise SbomError(f"the SBOM of {image.pinned(digest)} is not valid CycloneDX: {problem}")
    return text


def artifact_tag(digest: str) -> str:
    """The tag an SBOM of the image `digest` is pushed under: sha256-<hex>.sbom."""
    return registry.artifact_tag(digest, TAG_SUFFIX)


def push(image: registry.ImageName, digest: str, text: str) -> str:
    """Pushes the SBOM beside `image@digest` (tag `artifact_tag`); returns its manifest digest."""
    try:
        return registry.push_artifact(image, digest, TAG_SUFFIX, MEDIA_TYPE, text.encode())
    except registry.RegistryError as exc:
        raise SbomError(str(exc)) from None


def fetch_bytes(image: registry.ImageName, digest: str) -> bytes:
    """The SBOM document pushed beside `image@digest`, as pushed (its artifact's subject
    checked to be that image)."""
    try:
        return registry.fetch_artifact(image, digest, TAG_SUFFIX, MEDIA_TYPE)
    except registry.RegistryError as exc:
        raise SbomError(f"the SBOM: {exc}") from None


def describing(data: bytes, image: registry.ImageName, digest: str) -> dict[str, Any]:
    """The SBOM document `data`, checked to describe the image `digest`."""
    found: dict[str, Any] = json.loads(data)
    described = ((found.get("metadata") or {}).get("component") or {}).get("version")
    if described != digest:
        raise SbomError(
            f"the SBOM beside {image.pinned(digest)} describes {described}, not this image"
        )
    return found


def fetch(image: registry.ImageName, digest: str) -> dict[str, Any]:
    """The SBOM pushed beside `image@digest`, checked to describe that image."""
    return describing(fetch_bytes(image, digest), image, digest)
