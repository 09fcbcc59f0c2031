"""The SBOM of a released image: CycloneDX from real package data, pushed beside the image in
a real registry on 127.0.0.1 and fetched back by the image's digest alone."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gear_tools_tests.registry_server import push_image, registry_server

from gear_tools.release import registry, sbom


@pytest.fixture
def registry_address(tmp_path: Path) -> Iterator[str]:
    with registry_server(tmp_path / "registry") as address:
        yield address


def this_environment() -> sbom.Inventory:
    """The inventory script run by this test's Python: real distributions and Debian packages."""
    script = [sys.executable, "-I", "-c", sbom.INVENTORY_SCRIPT]
    found = json.loads(subprocess.run(script, capture_output=True, check=True).stdout)
    return sbom.Inventory(found["python"], found["debian"])


def test_the_document_lists_every_python_distribution_and_debian_package() -> None:
    inventory = this_environment()
    image = registry.ImageName("127.0.0.1:5000", "flywheel-gears/x", "0.1.0")
    digest = "sha256:" + "1" * 64
    found = json.loads(sbom.document(image, digest, inventory))
    assert found["bomFormat"] == "CycloneDX" and found["specVersion"] == "1.6"
    assert found["metadata"]["component"]["version"] == digest
    purls = {component["purl"] for component in found["components"]}
    listed = {(c["name"], c["version"]) for c in found["components"]}
    # What dpkg says is installed on this machine is listed, with its version.
    shown = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Status}\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    installed = [line.split()[:2] for line in shown if line.endswith(" installed")]
    assert installed
    for name, version in installed:
        assert (name, version) in listed, name
    assert any(p.startswith("pkg:pypi/cyclonedx-python-lib@") for p in purls)
    # Licences: a distribution's declared licence, a Debian copyright file's License fields
    # (where the file is machine-readable).
    pyyaml = next(c for c in found["components"] if c["name"].lower() == "pyyaml")
    assert pyyaml["licenses"] == [{"license": {"id": "MIT"}}]
    debian = [c for c in found["components"] if c["purl"].startswith("pkg:deb/")]
    assert sum(1 for c in debian if c.get("licenses")) > len(debian) // 2


def test_pushed_beside_the_image_and_fetched_by_its_digest(
    tmp_path: Path, registry_address: str
) -> None:
    pushed = push_image(registry_address, "flywheel-gears/x", "0.1.0", {"a": b"gear"})
    image = registry.ImageName(registry_address, "flywheel-gears/x", "0.1.0")
    text = sbom.document(image, pushed.manifest_digest, sbom.Inventory())
    sbom.push(image, pushed.manifest_digest, text)
    fetched = sbom.fetch(image, pushed.manifest_digest)
    assert fetched == json.loads(text)
    tag = f"sha256-{pushed.manifest_digest.removeprefix('sha256:')}.sbom"
    assert tag in registry.tags(registry_address, "flywheel-gears/x")


def test_an_sbom_of_another_image_under_the_tag_is_refused(registry_address: str) -> None:
    first = push_image(registry_address, "flywheel-gears/x", "0.1.0", {"a": b"one"})
    other = push_image(registry_address, "flywheel-gears/x", "0.2.0", {"a": b"two"})
    image = registry.ImageName(registry_address, "flywheel-gears/x", "0.1.0")
    # The other image's SBOM, pushed where the first one's belongs.
    text = sbom.document(image, other.manifest_digest, sbom.Inventory())
    manifest_of_other = sbom.push(image, other.manifest_digest, text)
    found = registry.manifest(
        registry.ImageName(registry_address, "flywheel-gears/x", manifest_of_other)
    )
    assert found is not None
    registry.push_manifest(
        registry_address, "flywheel-gears/x", sbom.artifact_tag(first.manifest_digest), found
    )
    with pytest.raises(
        sbom.SbomError, match="the SBOM: .* is not a application/vnd.cyclonedx\\+json of"
    ):
        sbom.fetch(image, first.manifest_digest)
    with pytest.raises(sbom.SbomError, match="the SBOM: nothing beside"):
        sbom.fetch(image, "sha256:" + "9" * 64)
