"""Releasing a gear end to end: a real registry on 127.0.0.1 and the fake Flywheel site.

The build is stood in for by a builder that pushes a small real image over the registry's API
(Pants cannot run inside its own tests); .ci/run releases a gear with the real ./pants build,
pulls it back by digest and runs it.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import flywheel
import pytest
from gear_tools_tests.conftest import commit_all
from gear_tools_tests.registry_server import config_digest_of, push_image, registry_server

from fake_flywheel import FakeFlywheel, Fault
from gear_tools.release import provenance, registry, release_gear, sbom
from gear_tools.release.release_gear import (
    Gear,
    Release,
    ReleaseError,
    builder_id,
    check_tag,
    load_gear,
    read_key,
)
from gear_tools.repo import RepoError

GEAR_FILES = {"flywheel/v0/manifest.json": b"{}", "bin/run": b"#!/bin/sh\necho gear\n"}


class StandInBuilder:
    """Checks pass; the image is a one-layer image of `files`, pushed over the registry API."""

    def __init__(self, files: dict[str, bytes] = GEAR_FILES, fail_push: bool = False) -> None:
        self.files = files
        self.fail_push = fail_push
        self.pushes = 0

    def check(self, gear: Gear) -> None:
        pass

    def build(self, gear: Gear) -> str:
        return config_digest_of(self.files)

    def inventory(self, gear: Gear) -> sbom.Inventory:
        """The inventory script run by this test's own Python: its real distributions and
        this machine's Debian packages (the stand-in image has no Python to run it)."""
        script = [sys.executable, "-I", "-c", sbom.INVENTORY_SCRIPT]
        found = json.loads(subprocess.run(script, capture_output=True, check=True).stdout)
        return sbom.Inventory(found["python"], found["debian"])

    def publish(self, gear: Gear, registry_name: str) -> None:
        if self.fail_push:
            raise ReleaseError("push refused")
        self.pushes += 1
        image = gear.image
        push_image(image.registry, image.repository, image.tag, self.files)
        push_image(image.registry, image.repository, "latest", self.files)


@pytest.fixture
def repo(repo: Path) -> Path:
    """The template gear's repository, committed to git."""
    return commit_all(repo)


@pytest.fixture
def registry_address(tmp_path: Path) -> Iterator[str]:
    with registry_server(tmp_path / "registry") as address:
        yield address


def gear_at(repo: Path, address: str) -> Gear:
    """The template gear, released to the registry at `address`."""
    gear = load_gear(repo, "template-gear", "release")
    image = registry.ImageName(address, gear.image.repository, gear.image.tag)
    return Gear(gear.files, gear.manifest, image)


def team_key(repo: Path) -> Path:
    """The team's signing key for the test's releases (made once per repository)."""
    private = repo.parent / "keys/signing-key.pem"
    if not private.exists():
        provenance.new_key(private.parent)
    return private


def release(
    repo: Path, gear: Gear, builder: StandInBuilder, fake: FakeFlywheel, said: list[str]
) -> Release:
    return Release(
        repo,
        gear,
        "release",
        builder,
        lambda: flywheel.Client(fake.api_key),
        said.append,
        signing_key=team_key(repo),
    )


def test_release_pushes_the_image_and_registers_it_pinned_by_digest(
    repo: Path, registry_address: str, fake_flywheel: FakeFlywheel
) -> None:
    gear, builder = gear_at(repo, registry_address), StandInBuilder()
    said: list[str] = []

    assert release(repo, gear, builder, fake_flywheel, said).run(dry_run=False) == 0

    digest = registry.manifest_digest(gear.image)
    assert digest is not None and digest.startswith("sha256:")
    # The version, latest, and the provenance and SBOM beside the image (tagged by its digest).
    assert registry.tags(registry_address, gear.image.repository) == [
        "0.1.0",
        "latest",
        provenance.artifact_tag(digest),
        sbom.artifact_tag(digest),
    ]
    (registered,) = fake_flywheel.find("gears", gear__name="template-gear")
    pinned = f"{registry_address}/flywheel-gears/template-gear@{digest}"
    assert registered["gear"]["custom"]["gear-builder"]["image"] == pinned
    assert registered["exchange"]["rootfs-url"] == f"docker://{pinned}"
    assert registered["exchange"]["rootfs-hash"] == digest
    assert len(registered["exchange"]["git-commit"]) == 40
    assert registered["category"] == "utility"
    assert f"  image: {pinned}" in said
    assert f"  gear:  {registered['_id']} (registered)" in said
    mutating = [(r.method, r.path) for r in fake_flywheel.mutating_requests()]
    assert mutating == [("POST", "/api/gears/template-gear")]
    # Auth status, the check's look-up of the version, and the POST.
    assert len(fake_flywheel.requests) == 3
    record = json.loads(
        (repo / "dist/template_gear.src.docker/template-gear.release.json").read_text()
    )
    assert (record["image"], record["gear_id"]) == (pinned, registered["_id"])
    assert record["tag"] == "gear/template-gear/v0.1.0"
    assert record["engine"] == "podman"
    # The base image as pants.toml pins it (no engine here to give its image ID).
    assert record["base_image"] == "docker.io/library/python:3.11-slim"
    # The release notes are the version's CHANGELOG entry.
    assert record["notes"].startswith("- First version: text statistics (lines, words,")
    assert record["notes"].endswith("input that is not UTF-8 text.")
    client = flywheel.Client(fake_flywheel.api_key)
    assert client.lookup("gears/template-gear").id == registered["_id"]
    # The SBOM, fetched by the image's digest alone, lists what the inventory found.
    fetched = sbom.fetch(gear.image, digest)
    assert fetched["metadata"]["component"]["version"] == digest
    purls = {component["purl"] for component in fetched["components"]}
    assert f"pkg:pypi/flywheel-sdk@{importlib.metadata.version('flywheel-sdk')}" in purls
    assert record["sbom"]["manifest"].startswith("sha256:")
    written = repo / "dist/template_gear.src.docker" / record["sbom"]["file"]
    assert json.loads(written.read_text()) == fetched
    # The provenance beside it is signed by the team key and names the image and the commit.
    public = provenance.load_public_key(team_key(repo).with_name("signing-key.pub.pem"))
    statement = provenance.verified_statement(provenance.fetch(gear.image, digest), public)
    assert statement["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert dependencies[0]["digest"] == {"gitCommit": record["commit"]}
    assert "template_gear/src/docker/Dockerfile" in {d["uri"] for d in dependencies}
    # The build type is under the repository's own address (SOURCE_URL in pants.toml), and the
    # builder a URI with the engine's version beside it.
    definition = statement["predicate"]["buildDefinition"]
    source = definition["externalParameters"]["source"]
    assert definition["buildType"].startswith(source + "/blob/main/docs/releasing.md#")
    builder = statement["predicate"]["runDetails"]["builder"]
    assert builder["id"].startswith("urn:gear-release:host:")
    assert builder["version"]["engine"]


def test_a_second_release_of_the_version_is_refused_before_any_push(
    repo: Path, registry_address: str, fake_flywheel: FakeFlywheel
) -> None:
    gear, builder = gear_at(repo, registry_address), StandInBuilder()
    release(repo, gear, builder, fake_flywheel, []).run(dry_run=False)
    fake_flywheel.reset_requests()

    with pytest.raises(ReleaseError, match="template-gear 0.1.0 is already released"):
        release(repo, gear, builder, fake_flywheel, []).run(dry_run=False)

    assert builder.pushes == 1
    assert fake_flywheel.mutating_requests() == []
    assert len(fake_flywheel.find("gears")) == 1


def test_a_version_in_the_registry_as_another_image_is_refused(
    repo: Path, registry_address: str, fake_flywheel: FakeFlywheel
) -> None:
    gear = gear_at(repo, registry_address)
    push_image(registry_address, gear.image.repository, gear.image.tag, {"other": b"image"})
    builder = StandInBuilder()

    with pytest.raises(ReleaseError, match="already in the registry as another image"):
        release(repo, gear, builder, fake_flywheel, []).run(dry_run=False)
    assert builder.pushes == 0 and fake_flywheel.mutating_requests() == []


def test_registry_down_then_rerun_ends_with_one_tag_and_one_gear_version(
    repo: Path, tmp_path: Path, fake_flywheel: FakeFlywheel
) -> None:
    storage = tmp_path / "registry"
    with registry_server(storage) as address:
        pass  # the registry has stopped: its address refuses connections
    gear, builder = gear_at(repo, address), StandInBuilder()

    with pytest.raises(registry.RegistryError, match=f"cannot reach the registry {address}"):
        release(repo, gear, builder, fake_flywheel, []).run(dry_run=False)
    assert builder.pushes == 0 and fake_flywheel.mutating_requests() == []

    port = int(address.rsplit(":", 1)[1])
    with registry_server(storage, port=port):
        assert release(repo, gear, builder, fake_flywheel, []).run(dry_run=False) == 0
        assert registry.tags(address, gear.image.repository)[:2] == ["0.1.0", "latest"]
    assert builder.pushes == 1 and len(fake_flywheel.find("gears")) == 1


def test_api_500_after_the_push_then_rerun_registers_once_without_pushing_again(
    repo: Path, registry_address: str, fake_flywheel: FakeFlywheel
) -> None:
    gear, builder = gear_at(repo, registry_address), StandInBuilder()
    said: list[str] = []
    fake_flywheel.inject(Fault("POST", "/api/gears/template-gear", status=500))

    with pytest.raises(flywheel.ApiException) as failed:
        release(repo, gear, builder, fake_flywheel, said).run(dry_run=False)
    assert failed.value.status == 500
    assert builder.pushes == 1 and fake_flywheel.find("gears") == []

    assert release(repo, gear, builder, fake_flywheel, said).run(dry_run=False) == 0
    assert builder.pushes == 1
    assert len(fake_flywheel.find("gears")) == 1
    assert any(line.startswith("  image: ") for line in said)
    # One SBOM and one provenance beside the image, pushed by the run that registered it.
    assert len(registry.tags(registry_address, gear.image.repository)) == 4


def test_dry_run_checks_prints_the_plan_and_sends_nothing(
    repo: Path, registry_address: str, fake_flywheel: FakeFlywheel
) -> None:
    gear, builder = gear_at(repo, registry_address), StandInBuilder()
    said: list[str] = []

    assert release(repo, gear, builder, fake_flywheel, said).run(dry_run=True) == 0

    assert builder.pushes == 0
    assert fake_flywheel.mutating_requests() == []
    assert registry.tags(registry_address, gear.image.repository) == []
    assert "dry run: the checks passed; a release would" in said
    assert f"  push {gear.image} (image {config_digest_of(GEAR_FILES)})" in said


def test_uncommitted_changes_to_the_gear_stop_the_release_before_anything(
    repo: Path, registry_address: str, fake_flywheel: FakeFlywheel
) -> None:
    main = repo / "template_gear/src/python/template_app/main.py"
    main.write_text(main.read_text() + "# edited\n")
    builder = StandInBuilder()

    with pytest.raises(ReleaseError, match="uncommitted changes that template-gear is built from"):
        release(repo, gear_at(repo, registry_address), builder, fake_flywheel, []).run(
            dry_run=False
        )
    assert builder.pushes == 0 and fake_flywheel.requests == []


def test_the_site_key_comes_from_a_file_or_fw_key_and_must_be_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FW_KEY", raising=False)
    with pytest.raises(
        ReleaseError, match="no site API key: give --site-key-file FILE or set FW_KEY"
    ):
        read_key(None)
    key_file = tmp_path / "key"
    key_file.write_text("site:secret\n")
    assert read_key(key_file) == "site:secret"
    key_file.write_text("")
    with pytest.raises(ReleaseError, match=f"the site key file {key_file} is empty"):
        read_key(key_file)
    monkeypatch.setenv("FW_KEY", "site:other")
    assert read_key(None) == "site:other"


def test_unknown_registry_and_gear_are_named(repo: Path) -> None:
    with pytest.raises(RepoError, match=r"no registry 'nowhere' in \[docker.registries\]"):
        load_gear(repo, "template-gear", "nowhere")
    with pytest.raises(RepoError, match="no gear 'no-gear'"):
        load_gear(repo, "no-gear", "release")
    manifest = json.loads((repo / "template_gear/src/docker/manifest.json").read_text())
    gear = load_gear(repo, "template_gear", "release")
    assert (
        str(gear.image)
        == f"registry.example.org/flywheel-gears/template-gear:{manifest['version']}"
    )


def test_a_release_tag_must_name_the_manifests_gear_and_version(repo: Path) -> None:
    gear = load_gear(repo, "template-gear", "release")
    check_tag(gear, "gear/template-gear/v0.1.0")
    for tag in ("gear/template-gear/v0.1.1", "gear/other/v0.1.0", "v0.1.0"):
        with pytest.raises(ReleaseError, match=f"the tag '{tag}' does not name the manifest's"):
            check_tag(gear, tag)


def test_the_command_line_never_shows_the_key(
    repo: Path,
    registry_address: str,
    fake_flywheel: FakeFlywheel,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (repo / "local.toml").write_text(
        f'[docker.registries.local]\naddress = "{registry_address}"\ndefault = false\n'
    )
    monkeypatch.setenv("PANTS_CONFIG_FILES", "local.toml")
    monkeypatch.setenv("FW_KEY", fake_flywheel.api_key)
    # As the release workflow builds: with podman, whose builds bin/verify-gear can check.
    monkeypatch.setenv("GEAR_CONTAINER_ENGINE", "podman")
    monkeypatch.setenv("GEAR_SIGNING_KEY_FILE", str(team_key(repo)))
    monkeypatch.setattr(release_gear, "PantsBuilder", lambda repo: StandInBuilder())
    argv = ["template-gear", "--registry", "local", "--repo", str(repo)]

    with fake_flywheel.fault("POST", "/api/gears/template-gear", status=500):
        assert release_gear.main(argv) == 1
    assert release_gear.main(argv) == 0
    assert release_gear.main(argv) == 1

    out, err = capsys.readouterr()
    assert "release-gear: the site answered 500" in err
    assert "is already released" in err
    assert f"  image: {registry_address}/flywheel-gears/template-gear@sha256:" in out
    assert fake_flywheel.api_key_secret not in out + err
    assert len(fake_flywheel.find("gears")) == 1


def test_a_gear_with_new_gear_todo_marks_is_not_released(
    repo: Path, registry_address: str, fake_flywheel: FakeFlywheel
) -> None:
    readme = repo / "docs/template_gear/README.md"
    readme.write_text(readme.read_text() + "\n> TODO(new-gear): describe the gear here.\n")
    identity = ["-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run(["git", *identity, "commit", "-qam", "todo"], cwd=repo, check=True)
    builder = StandInBuilder()

    with pytest.raises(ReleaseError) as error:
        release(repo, gear_at(repo, registry_address), builder, fake_flywheel, []).run(
            dry_run=False
        )
    lines = len(readme.read_text().splitlines())
    assert f"docs/template_gear/README.md:{lines}" in str(error.value)
    assert "TODO(new-gear)" in str(error.value)
    assert builder.pushes == 0 and fake_flywheel.requests == []


def test_an_image_built_with_docker_is_released_like_any_other(
    repo: Path, registry_address: str, fake_flywheel: FakeFlywheel
) -> None:
    """Gear images are canonical whatever engine built them: no engine is refused."""
    gear, builder = gear_at(repo, registry_address), StandInBuilder()
    said: list[str] = []
    docker = release(repo, gear, builder, fake_flywheel, said)
    docker.engine = "docker"
    assert docker.run(dry_run=False) == 0
    assert not any(line.startswith("warning") for line in said)
    record = json.loads(
        (repo / "dist/template_gear.src.docker/template-gear.release.json").read_text()
    )
    assert record["engine"] == "docker" and "verifiable" not in record


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"GITHUB_SERVER_URL": "https://github.com",
             "GITHUB_WORKFLOW_REF": "org/gears/.github/workflows/release.yml@refs/tags/gear/a/v1"},
            "https://github.com/org/gears/.github/workflows/release.yml@refs/tags/gear/a/v1",
        ),
        ({"GEAR_RELEASE_BUILDER": "https://ci.example.org/gears", "GITHUB_WORKFLOW_REF": "x"},
         "https://ci.example.org/gears"),
    ],
)  # fmt: skip
def test_the_builder_is_the_workflow_that_ran_the_release(
    environ: dict[str, str], expected: str
) -> None:
    assert builder_id(environ) == expected
