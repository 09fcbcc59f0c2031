"""bin/verify-gear's check of what is pushed beside a released image: the signed provenance
and the SBOM, fetched by the image's digest from a real registry on 127.0.0.1, and each kind
of tampering reported by name. (The rebuild itself runs in CI's podman release pass.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gear_tools_tests.conftest import commit_all
from gear_tools_tests.registry_server import push_image, registry_server
from gear_tools_tests.test_release import StandInBuilder, gear_at, release, team_key

from fake_flywheel import FakeFlywheel
from gear_tools.release import provenance, sbom
from gear_tools.release.release_gear import Gear
from gear_tools.release.verify_gear import VerifyError, attestations


@pytest.fixture
def repo(repo: Path) -> Path:
    """The template gear's repository, committed to git."""
    return commit_all(repo)


@pytest.fixture
def released(
    repo: Path, tmp_path: Path, fake_flywheel: FakeFlywheel
) -> Iterator[tuple[Gear, str, str, Path]]:
    """template-gear released to a registry on 127.0.0.1: (gear, digest, commit, public key)."""
    with registry_server(tmp_path / "registry") as address:
        gear = gear_at(repo, address)
        assert release(repo, gear, StandInBuilder(), fake_flywheel, []).run(dry_run=False) == 0
        record = json.loads(gear.files.release_record.read_text())
        yield (
            gear,
            record["digest"],
            record["commit"],
            team_key(repo).with_name("signing-key.pub.pem"),
        )


def check(repo: Path, released: tuple[Gear, str, str, Path]) -> str:
    gear, digest, commit, public = released
    return attestations(gear, gear.image, digest, commit, repo, public)


def test_an_untampered_release_passes(repo: Path, released: tuple[Gear, str, str, Path]) -> None:
    said = check(repo, released)
    assert said.startswith("provenance signed by the team key, its lockfile, Dockerfile and BUILD")
    assert "SBOM of this image (" in said


def test_a_statement_signed_by_another_key_is_refused(
    repo: Path, released: tuple[Gear, str, str, Path], tmp_path: Path
) -> None:
    gear, digest, _, _ = released
    other = provenance.new_key(tmp_path / "other")[0]
    team = provenance.load_public_key(released[3])
    found = provenance.verified_statement(provenance.fetch(gear.image, digest), team)
    provenance.push(gear.image, digest, provenance.sign(found, provenance.load_signer(other)))
    with pytest.raises(VerifyError, match="provenance .*its signature is not the team key's"):
        check(repo, released)


def test_an_unsigned_statement_is_refused(
    repo: Path, released: tuple[Gear, str, str, Path]
) -> None:
    gear, digest, _, _ = released
    envelope = provenance.fetch(gear.image, digest)
    envelope["signatures"] = []
    provenance.push(gear.image, digest, envelope)
    with pytest.raises(VerifyError, match="its signature is not the team key's"):
        check(repo, released)


def test_a_changed_sbom_is_refused(repo: Path, released: tuple[Gear, str, str, Path]) -> None:
    gear, digest, _, _ = released
    document = sbom.fetch(gear.image, digest)
    document["components"] = document["components"][1:]
    sbom.push(gear.image, digest, json.dumps(document, indent=2))
    with pytest.raises(VerifyError, match="the SBOM beside .* is not the one its provenance"):
        check(repo, released)


def test_attestations_of_another_image_are_refused(
    repo: Path, released: tuple[Gear, str, str, Path]
) -> None:
    gear, digest, commit, public = released
    other = push_image(gear.image.registry, gear.image.repository, "other", {"x": b"y"})
    # The release's statement, copied beside another image: its subject is not that image.
    provenance.push(gear.image, other.manifest_digest, provenance.fetch(gear.image, digest))
    with pytest.raises(VerifyError, match=f"its subject is not {other.manifest_digest}"):
        attestations(gear, gear.image, other.manifest_digest, commit, repo, public)


def test_a_lockfile_or_dockerfile_other_than_the_commits_is_named(
    repo: Path, released: tuple[Gear, str, str, Path]
) -> None:
    dockerfile = repo / "template_gear/src/docker/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN true\n")
    with pytest.raises(VerifyError, match="its template_gear/src/docker/Dockerfile is"):
        check(repo, released)


def test_no_attestations_beside_the_image(
    repo: Path, released: tuple[Gear, str, str, Path]
) -> None:
    gear, _, commit, public = released
    bare = push_image(gear.image.registry, gear.image.repository, "bare", {"x": b"z"})
    with pytest.raises(VerifyError, match="the provenance beside .*: nothing beside .*no tag"):
        attestations(gear, gear.image, bare.manifest_digest, commit, repo, public)
