"""Verifies a released gear image: rebuilds it from the commit it was built from and compares.

    bin/verify-gear GEAR [--registry NAME] [REF] [--commit SHA] [--public-key FILE]
                    [--keep DIR] [--repo DIR]

REF is the image in the registry (`registry/repository:tag` or `...@sha256:...`); without it,
the gear's release record (dist/<gear>.src.docker/<name>.release.json, the image by digest),
else the manifest's version in the `--registry` (default: `release`). The commit is --commit,
else the image's `org.opencontainers.image.revision` label, else the release record's.

In a clean clone of that commit, with a podman storage of its own (gear_tools.images.scratch_build),
`./pants package` builds the gear's image; its ID (the digest of its configuration) must be
the registry's. Then what was pushed beside it, found by the image's digest alone: the
provenance statement must be signed by the team key (--public-key, else
$GEAR_SIGNING_PUBLIC_KEY), be of this image, and name the commit and that commit's files
(release_gear.build_inputs: lockfile, Dockerfile, BUILD, image definition) by hash; the SBOM
must describe this image and be the one the statement names.
It prints one line: `verified: ...` saying each of these, or what is wrong (which layer
differs and the instruction that made it; or the provenance's or SBOM's problem), exit code 1.
Builds are reproducible with podman only (docs/development.md, "Reproducible images"), so the
rebuild uses podman whatever the engine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from gear_tools.images import scratch_build
from gear_tools.release import provenance, registry, sbom
from gear_tools.release.release_gear import Gear, build_inputs, load_gear
from gear_tools.repo import RepoError, find_root

REVISION_LABEL = "org.opencontainers.image.revision"
COMMIT = re.compile(r"^[0-9a-f]{40}$")


class VerifyError(Exception):
    """Verification cannot be done; the message says why."""


def release_record(gear: Gear) -> dict[str, Any] | None:
    path = gear.files.release_record
    if not path.is_file():
        return None
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def choose_commit(given: str | None, config: dict[str, Any], record: dict[str, Any] | None) -> str:
    """The commit to rebuild: given, else the image's revision label, else the release record's."""
    labels = config.get("config", {}).get("Labels") or {}
    commit = given or labels.get(REVISION_LABEL) or (record or {}).get("commit")
    if not commit:
        raise VerifyError(f"the image has no {REVISION_LABEL} label: give --commit SHA")
    if commit.endswith("-dirty"):
        raise VerifyError(
            f"the image was built from uncommitted changes ({REVISION_LABEL} is {commit}); "
            "it cannot be rebuilt"
        )
    if not COMMIT.match(commit):
        raise VerifyError(f"{commit!r} is not a full commit SHA (40 hexadecimal digits)")
    return str(commit)


def attestations(
    gear: Gear, image: registry.ImageName, digest: str, commit: str, clone_root: Path, key: Path
) -> str:
    """Checks the provenance and SBOM pushed beside `image@digest`: the statement is signed by
    the team key, is of this image, names `commit` and the commit's lockfile and Dockerfile
    (hashed in the clean clone); the SBOM describes this image and is the one the statement
    names. Returns what was checked, in words; raises VerifyError naming what is wrong."""
    try:
        envelope = provenance.fetch(image, digest)
        found = provenance.verified_statement(envelope, provenance.load_public_key(key))
        materials = [provenance.file_material(clone_root, path) for path in build_inputs(gear)]
        provenance.check(found, digest, commit, materials)
    except provenance.ProvenanceError as exc:
        raise VerifyError(f"NOT verified: the provenance beside {image}: {exc}") from None
    try:
        data = sbom.fetch_bytes(image, digest)
        document = sbom.describing(data, image, digest)
    except sbom.SbomError as exc:
        raise VerifyError(f"NOT verified: {exc}") from None
    named = provenance.built_from(found).get(
        f"{image.registry}/{image.repository}:{sbom.artifact_tag(digest)}", {}
    )
    if named.get("sha256") != hashlib.sha256(data).hexdigest():
        raise VerifyError(
            f"NOT verified: the SBOM beside {image} is not the one its provenance names "
            f"(sha256 {named.get('sha256')}, found {hashlib.sha256(data).hexdigest()})"
        )
    return (
        f"provenance signed by the team key, its lockfile, Dockerfile and BUILD those of the "
        f"commit; "
        f"SBOM of this image ({len(document.get('components', []))} packages)"
    )


def verify(
    repo: Path,
    gear_arg: str,
    registry_name: str,
    reference: str | None,
    commit: str | None,
    keep: Path | None,
    public_key: Path | None = None,
) -> str:
    """Rebuilds and compares; returns the line to print, or raises VerifyError."""
    gear = load_gear(repo, gear_arg, registry_name)
    record = release_record(gear)
    if reference is not None:
        image = registry.parse_reference(reference)
    elif record is not None:
        if record.get("verifiable") is False:
            raise VerifyError(
                f"{record['image']} was released with --allow-unverifiable: it was built with "
                f"{record.get('engine', 'docker')}, whose builds do not reproduce, so a rebuild "
                "cannot match it; release it again built with podman to make it verifiable"
            )
        image = registry.parse_reference(record["image"])
    else:
        image = gear.image
    expected = registry.config_digest(image)
    config = registry.image_config(image)
    if expected is None or config is None:
        raise VerifyError(f"{image} is not in the registry (or is a multi-platform index)")
    sha = choose_commit(commit, config, record)
    if public_key is None:
        raise VerifyError(
            "no public key to check the release's provenance with: give --public-key FILE or "
            "set GEAR_SIGNING_PUBLIC_KEY"
        )
    digest = image.tag if image.tag.startswith("sha256:") else registry.manifest_digest(image)
    if digest is None:
        raise VerifyError(f"{image} is not in the registry")
    scratch = (keep or Path(tempfile.mkdtemp(prefix="verify-gear-"))).resolve()
    clone = None
    try:
        # As another machine would: another path, umask and TMPDIR, and its own storage.
        clone = scratch_build.make_clone(repo, scratch, sha, depth=2, umask=0o077)
        print(
            f"verify-gear: rebuilding {gear.name} at {sha[:12]} in {clone.repo} ...",
            file=sys.stderr,
        )
        scratch_build.build(repo, clone, gear.target)
        rebuilt = scratch_build.built_image_id(clone, gear.directory)
        if rebuilt == expected:
            checked = attestations(gear, image, digest, sha, clone.repo, public_key)
            return (
                f"verified: {image} is {gear.name} built from {sha} (image {expected}); "
                f"{checked}"
            )
        difference = scratch_build.first_difference(config, clone.image_config(rebuilt))
        raise VerifyError(
            f"NOT verified: {image} (image {expected}) is not what {sha[:12]} builds "
            f"({rebuilt}): {difference}"
        )
    except scratch_build.ScratchBuildError as exc:
        raise VerifyError(str(exc)) from None
    finally:
        if keep is None:
            if clone is not None:
                clone.remove()
            shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bin/verify-gear", description=__doc__.split("\n\n")[0])
    parser.add_argument("gear", help="gear name or directory, e.g. template-gear")
    parser.add_argument(
        "reference", nargs="?", help="the image in the registry (default: the release)"
    )
    parser.add_argument("--registry", default="release", help="a [docker.registries] name")
    parser.add_argument("--commit", help="the commit to rebuild (default: the image's label)")
    parser.add_argument("--keep", type=Path, help="make the clone here and keep it")
    parser.add_argument(
        "--public-key",
        type=Path,
        default=os.environ.get("GEAR_SIGNING_PUBLIC_KEY") or None,
        help="the team's public key (PEM) the provenance must be signed with "
        "(default: $GEAR_SIGNING_PUBLIC_KEY)",
    )
    parser.add_argument("--repo", type=Path, help="repository root (default: this one)")
    # REF may come after the options (argparse's plain parse takes it with GEAR, or not at all).
    args = parser.parse_intermixed_args(argv)
    try:
        print(
            verify(
                find_root(args.repo),
                args.gear,
                args.registry,
                args.reference,
                args.commit,
                args.keep,
                args.public_key,
            )
        )
        return 0
    except (VerifyError, RepoError, registry.RegistryError) as exc:
        print(f"verify-gear: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
