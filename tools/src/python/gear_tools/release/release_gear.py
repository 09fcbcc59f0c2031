"""Releases a gear: its image to a registry, by digest, and the gear version to a Flywheel site.

    bin/release-gear GEAR [--site-key-file F] [--registry NAME] [--dry-run] [--tag TAG]
                     [--signing-key FILE] [--repo DIR]

The API key is read from --site-key-file or $FW_KEY and never printed. NAME is a registry of
pants.toml's `[docker.registries]` (default: `release`). First every check, changing nothing:

1. the working tree is clean for the gear (its directory, its docs, common/, 3rdparty/,
   pants.toml and the plugins), so that what is released is a commit;
2. the gear lints and its tests pass (`./pants lint test GEAR::`);
3. the image is built (`./pants package`) and its ID read;
4. the registry does not hold the version with another image, and the site does not hold the
   version (with another image, or already released with this one).

Then it pushes (`./pants publish`; skipped when the registry already holds this very image, as
after an interrupted release), reads the pushed digest from the registry, pushes beside the
image its CycloneDX SBOM (gear_tools.release.sbom) and a provenance statement signed with the
team key (--signing-key, else $GEAR_SIGNING_KEY_FILE; gear_tools.release.provenance), registers
the gear version on the site pinned to it, and records the release (image by digest, gear id,
commit, tag, engine, and the version's CHANGELOG entry as its notes) in
dist/<gear>.src.docker/<name>.release.json. A rerun after a failure at any step finishes the
job without pushing or registering twice. `--dry-run` runs the checks, prints the plan and sends
nothing.

Any engine may build the release: gear images are written in one canonical form
(gear_tools.engine.canonical_image), so bin/verify-gear rebuilds the same image with podman 4
or 5 or Docker.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import flywheel

from gear_manifest.compatibility import release_tag
from gear_tools.author.bump_version import release_notes
from gear_tools.author.from_manifest import TODO_MARK
from gear_tools.engine.containers import detect_engine, engine_state, inspect_image, recorded
from gear_tools.release import provenance, registry, sbom, site_registration
from gear_tools.repo import Gear as RepoGear
from gear_tools.repo import RepoError, Repository, find_root

DEFAULT_REGISTRY = "release"
# What a release must have committed, besides the gear's own directory and docs.
SHARED_PATHS = ("common", "3rdparty", "pants.toml", "pants-plugins", "BUILD")


class ReleaseError(Exception):
    """The release stops here; the message says why and what to do."""


@dataclass(frozen=True)
class Gear:
    """A gear as a release sees it: its files, its manifest and its image in the registry."""

    files: RepoGear
    manifest: dict[str, Any]
    # The image as the registry will hold it, e.g. 127.0.0.1:5000/flywheel-gears/x:0.1.0.
    image: registry.ImageName

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def directory(self) -> str:
        return self.files.directory

    @property
    def target(self) -> str:
        return self.files.image_target


class Builder(Protocol):
    """What a release asks of the build: checks, the image, and the push."""

    def check(self, gear: Gear) -> None: ...

    def build(self, gear: Gear) -> str:
        """Builds the gear's image; returns its ID (sha256:...)."""
        ...

    def publish(self, gear: Gear, registry_name: str) -> None: ...

    def inventory(self, gear: Gear) -> sbom.Inventory:
        """The packages in the built image (for its SBOM)."""
        ...


def load_gear(repo: Path, gear: str, registry_name: str) -> Gear:
    found = Repository(repo).gear(gear)
    manifest = found.manifest()
    address = found.repo.settings.registry_address(registry_name)
    image = registry.ImageName(address, found.image_repository, str(manifest["version"]))
    return Gear(found, manifest, image)


def check_tag(gear: Gear, tag: str) -> None:
    """A release tag must be `gear/<name>/v<version>` of the gear's manifest."""
    expected = f"gear/{gear.name}/v{gear.version}"
    if tag != expected:
        raise ReleaseError(
            f"the tag {tag!r} does not name the manifest's gear and version: expected {expected!r}"
        )


def read_key(key_file: Path | None) -> str:
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ReleaseError(
                f"cannot read the site key file {key_file}: {exc.strerror}"
            ) from None
        if not key:
            raise ReleaseError(f"the site key file {key_file} is empty")
        return key
    key = os.environ.get("FW_KEY", "").strip()
    if not key:
        raise ReleaseError("no site API key: give --site-key-file FILE or set FW_KEY")
    return key


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def check_clean(repo: Path, gear: Gear) -> str:
    """The commit being released; raises unless the gear's files are all committed."""
    docs = gear.files.docs_dir.relative_to(gear.files.repo.root)
    paths = [gear.directory, str(docs), *SHARED_PATHS]
    existing = [path for path in paths if (repo / path).exists()]
    changed = _git(repo, "status", "--porcelain", "--", *existing).splitlines()
    if changed:
        shown = "\n  ".join(changed[:10])
        raise ReleaseError(
            f"uncommitted changes that {gear.name} is built from; commit them first:\n  {shown}"
        )
    return _git(repo, "rev-parse", "HEAD").strip()


def check_no_todo(repo: Path, gear: Gear) -> None:
    """Refuses a gear whose files still carry bin/new-gear's TODO(new-gear) marks."""
    marks = []
    for root in (gear.files.path, gear.files.docs_dir):
        for path in sorted(root.rglob("*")) if root.is_dir() else ():
            if not path.is_file():
                continue
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            marks += [
                f"{path.relative_to(repo)}:{number}"
                for number, line in enumerate(lines, start=1)
                if TODO_MARK in line
            ]
    if marks:
        shown = "\n  ".join(marks[:10]) + ("\n  ..." if len(marks) > 10 else "")
        raise ReleaseError(
            f"{gear.name} still has what bin/new-gear left for its author to write "
            f"({TODO_MARK}); replace it first:\n  {shown}"
        )


def base_image_identity(repo: Path, engine: str) -> dict[str, str | None]:
    """The base image the gear images were built from, and its image ID here: a base pinned
    by digest names the public image; a local stand-in (built offline) only has its ID."""
    name = recorded(engine_state(repo), "GEAR_BASE_IMAGE") or Repository(repo).settings.base_image
    try:
        image_id = inspect_image(engine, name).get("Id")  # type: ignore[arg-type]
    except (OSError, RuntimeError, ValueError, IndexError):
        image_id = None  # Not on this machine's engine (or no engine here).
    # podman shows the ID without its algorithm, Docker with it.
    shown = f"sha256:{str(image_id).removeprefix('sha256:')}" if image_id else None
    return {"base_image": name, "base_image_id": shown}


# The definition every gear image is built by (gear_image(): its Dockerfiles' instructions).
IMAGE_DEFINITION = "pants-plugins/gear_macros/gear_image.py"


def build_inputs(gear: Gear) -> list[str]:
    """The repository files a gear image is built from that the provenance names by hash:
    the lockfile of the gear's resolve, the gear's own Dockerfile and BUILD, and the shared
    image definition."""
    root = gear.files.repo.root
    lockfile = gear.files.repo.settings.resolves.get(gear.files.resolve)
    own = [gear.files.docker_dir / "Dockerfile", gear.files.build_file]
    paths = [*([lockfile] if lockfile else []), *(p.relative_to(root).as_posix() for p in own)]
    return [path for path in [*paths, IMAGE_DEFINITION] if (root / path).is_file()]


def engine_version(engine: str) -> str:
    """The engine's name and version, e.g. `podman version 4.3.1`."""
    try:
        shown = subprocess.run([engine, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return engine
    return shown.stdout.strip() or engine


def builder_id(environ: dict[str, str] | None = None) -> str:
    """A URI naming what ran the release (SLSA's builder.id): the GitHub workflow run, or this
    machine's release-gear (GEAR_RELEASE_BUILDER overrides both)."""
    env = os.environ if environ is None else environ
    if env.get("GEAR_RELEASE_BUILDER"):
        return env["GEAR_RELEASE_BUILDER"]
    if env.get("GITHUB_WORKFLOW_REF"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_WORKFLOW_REF']}"
    return f"urn:gear-release:host:{socket.gethostname()}"


def registry_state(gear: Gear, image_id: str) -> str | None:
    """The pushed digest when the registry holds this very image at the version, else None;
    raises when it holds another image there."""
    digest = registry.manifest_digest(gear.image)
    if digest is None:
        return None
    config = registry.config_digest(gear.image)
    if config != image_id:
        raise ReleaseError(
            f"{gear.image} is already in the registry as another image (config {config}, this "
            f"build is {image_id}); bump the version (bin/bump-version) to release this one"
        )
    return digest


@dataclass
class Release:
    repo: Path
    gear: Gear
    registry_name: str
    builder: Builder
    client: Callable[[], flywheel.Client]
    say: Callable[[str], None] = print
    # The engine the image is built with (gear_tools.engine.containers.detect_engine).
    engine: str = "podman"
    # The team's ed25519 key (PEM) the provenance statement is signed with.
    signing_key: Path | None = None

    def run(self, *, dry_run: bool) -> int:
        gear = self.gear
        signer = self.signer()
        commit = check_clean(self.repo, gear)
        check_no_todo(self.repo, gear)
        self.say(f"checking {gear.name} {gear.version} at {commit[:12]}: lint and tests ...")
        self.builder.check(gear)
        image_id = self.builder.build(gear)
        pushed = registry_state(gear, image_id)
        site = self.client()
        existing = site_registration.registered_version(site, gear.name, gear.version)
        if existing is not None and pushed is None:
            raise ReleaseError(
                f"the site already has {gear.name} {gear.version}, but {gear.image} is not in "
                "the registry; bump the version (bin/bump-version) to release"
            )
        if existing is not None and pushed is not None:
            site_registration.require_same_image(existing, pushed)
            raise ReleaseError(
                f"{gear.name} {gear.version} is already released: {gear.image.pinned(pushed)}"
                f" is gear {existing.id} on the site; bump the version to release again"
            )
        steps = [
            f"push {gear.image} (image {image_id})"
            if pushed is None
            else f"keep {gear.image.pinned(pushed)}, pushed before",
            f"register {gear.name} {gear.version} on the site, pinned to the pushed digest",
        ]
        if dry_run:
            self.say("dry run: the checks passed; a release would")
            for step in steps:
                self.say(f"  {step}")
            return 0
        if pushed is None:
            self.say(f"pushing {gear.image} ...")
            self.builder.publish(gear, self.registry_name)
            pushed = registry.manifest_digest(gear.image)
            if pushed is None:
                raise ReleaseError(f"the push reported success but {gear.image} is not there")
        sbom_file, sbom_manifest = self.write_sbom(gear, pushed)
        self.say(f"  SBOM: {sbom_file.name}, beside the image as {sbom.artifact_tag(pushed)}")
        base = base_image_identity(self.repo, self.engine)
        attestation = self.write_provenance(gear, pushed, commit, sbom_file, signer, base)
        self.say(f"  provenance: signed, beside the image as {provenance.artifact_tag(pushed)}")
        gear_id = site_registration.register(site, gear.manifest, gear.image, pushed, commit)
        record = self.record(gear, pushed, gear_id, commit, sbom_manifest, attestation, base)
        self.say(f"released {gear.name} {gear.version}")
        self.say(f"  image: {gear.image.pinned(pushed)}")
        self.say(f"  gear:  {gear_id} (registered)")
        self.say(f"  recorded in {record}")
        return 0

    def write_sbom(self, gear: Gear, digest: str) -> tuple[Path, str]:
        """The image's SBOM, written beside the release record and pushed beside the image."""
        try:
            text = sbom.document(gear.image, digest, self.builder.inventory(gear))
            path = gear.files.dist(f"{gear.name}.sbom.cdx.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")  # the bytes pushed (and hashed)
            return path, sbom.push(gear.image, digest, text)
        except sbom.SbomError as exc:
            raise ReleaseError(f"the SBOM: {exc}") from None

    def signer(self) -> provenance.Signer:
        if self.signing_key is None:
            raise ReleaseError(
                "no signing key for the provenance statement: give --signing-key FILE or set "
                "GEAR_SIGNING_KEY_FILE (`./pants run tools/src/python/gear_tools/release/"
                "provenance.py -- new-key DIR` makes a pair)"
            )
        try:
            return provenance.load_signer(self.signing_key)
        except provenance.ProvenanceError as exc:
            raise ReleaseError(f"the signing key: {exc}") from None

    def write_provenance(
        self,
        gear: Gear,
        digest: str,
        commit: str,
        sbom_file: Path,
        signer: provenance.Signer,
        base: dict[str, str | None],
    ) -> str:
        """The signed provenance statement, written beside the record and pushed beside the
        image; returns its artifact's manifest digest. `base`: base_image_identity."""
        base_digest = (base["base_image"] or "").rpartition("@")[2] or base["base_image_id"]
        materials = [
            *(provenance.file_material(self.repo, path) for path in build_inputs(gear)),
            provenance.Material(
                str(base["base_image"]), {"sha256": str(base_digest).removeprefix("sha256:")}
            ),
            provenance.Material(
                f"{gear.image.registry}/{gear.image.repository}:{sbom.artifact_tag(digest)}",
                {"sha256": hashlib.sha256(sbom_file.read_bytes()).hexdigest()},
            ),
        ]
        settings = gear.files.repo.settings
        document = provenance.statement(
            gear.image,
            digest,
            gear=gear.name,
            version=gear.version,
            commit=commit,
            source=settings.build_args.get("SOURCE_URL", str(self.repo)),
            materials=materials,
            builder=builder_id(),
            engine=engine_version(self.engine),
        )
        envelope = provenance.sign(document, signer)
        path = gear.files.dist(f"{gear.name}.provenance.dsse.json")
        path.write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
        try:
            return provenance.push(gear.image, digest, envelope)
        except provenance.ProvenanceError as exc:
            raise ReleaseError(f"the provenance: {exc}") from None

    def record(
        self,
        gear: Gear,
        digest: str,
        gear_id: str,
        commit: str,
        sbom_manifest: str,
        attestation: str,
        base: dict[str, str | None],
    ) -> Path:
        """Writes what was released to dist/<gear>.src.docker/<name>.release.json."""
        path = gear.files.release_record
        path.parent.mkdir(parents=True, exist_ok=True)
        released = {
            "gear": gear.name,
            "version": gear.version,
            "image": gear.image.pinned(digest),
            "digest": digest,
            "gear_id": gear_id,
            "commit": commit,
            "tag": release_tag(gear.name, gear.version),
            "engine": self.engine,
            **base,
            # The CycloneDX SBOM beside it: <name>.sbom.cdx.json here, and in the registry
            # under the tag sha256-<digest hex>.sbom (this is that artifact's manifest).
            "sbom": {"file": f"{gear.name}.sbom.cdx.json", "manifest": sbom_manifest},
            # The signed in-toto statement beside it (tag sha256-<digest hex>.att).
            "provenance": {"file": f"{gear.name}.provenance.dsse.json", "manifest": attestation},
            # The version's CHANGELOG entry, as bin/bump-version wrote it.
            "notes": release_notes(gear.files, gear.version),
        }
        path.write_text(json.dumps(released, indent=2) + "\n")
        return path


class PantsBuilder:
    """The real build: ./pants lint, test, package and publish in the repository."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo

    def _pants(self, *args: str) -> None:
        argv = [str(self.repo / "pants"), *args]
        result = subprocess.run(argv, cwd=self.repo, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ReleaseError(
                f"`./pants {' '.join(args)}` failed (exit code {result.returncode}):\n"
                + (result.stdout + result.stderr)[-4000:]
            )

    def check(self, gear: Gear) -> None:
        self._pants("lint", "test", f"{gear.directory}::")

    def build(self, gear: Gear) -> str:
        self._pants("package", gear.target)
        info = gear.files.docker_info
        image_id = json.loads(info.read_text()).get("image_id")
        if not image_id:
            raise ReleaseError(f"{info}: the build recorded no image ID")
        return str(image_id)

    def inventory(self, gear: Gear) -> sbom.Inventory:
        image = f"{gear.files.image_repository}:{gear.version}"
        return sbom.image_inventory(detect_engine(engine_state(self.repo)), image)

    def publish(self, gear: Gear, registry_name: str) -> None:
        registries = {registry_name: {"address": gear.image.registry, "default": True}}
        # A Python literal, as Pants reads dict options.
        self._pants(f"--docker-registries={registries!r}", "publish", gear.target)


def site_client(key: str) -> Callable[[], flywheel.Client]:
    def connect() -> flywheel.Client:
        try:
            return flywheel.Client(key)
        except Exception as exc:  # the SDK raises several kinds for an unreachable site
            raise ReleaseError(f"cannot reach the Flywheel site: {type(exc).__name__}") from None

    return connect


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bin/release-gear", description=__doc__.split("\n\n")[0])
    parser.add_argument("gear", help="gear name or directory, e.g. template-gear")
    parser.add_argument("--site-key-file", type=Path, help="file holding the site's API key")
    parser.add_argument("--registry", default=DEFAULT_REGISTRY, help="a [docker.registries] name")
    parser.add_argument("--dry-run", action="store_true", help="check and print the plan only")
    parser.add_argument("--tag", help="refuse unless this is gear/<name>/v<version> (CI tags)")
    parser.add_argument(
        "--signing-key",
        type=Path,
        default=os.environ.get("GEAR_SIGNING_KEY_FILE") or None,
        help="the team's ed25519 key (PEM) to sign the provenance with "
        "(default: $GEAR_SIGNING_KEY_FILE)",
    )
    parser.add_argument("--repo", type=Path, help="repository root (default: this one)")
    args = parser.parse_args(argv)
    try:
        repo = find_root(args.repo)
        key = read_key(args.site_key_file)
        gear = load_gear(repo, args.gear, args.registry)
        if args.tag is not None:
            check_tag(gear, args.tag)
        release = Release(
            repo,
            gear,
            args.registry,
            PantsBuilder(repo),
            site_client(key),
            engine=detect_engine(engine_state(repo)),
            signing_key=args.signing_key,
        )
        return release.run(dry_run=args.dry_run)
    except (ReleaseError, RepoError, registry.RegistryError, site_registration.SiteError) as exc:
        print(f"release-gear: {exc}", file=sys.stderr)
        return 1
    except flywheel.ApiException as exc:
        print(
            f"release-gear: the site answered {exc.status} {exc.reason}: {exc.body}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
