"""Verifies a released gear image: rebuilds it from the commit it was built from and compares.

    bin/verify-gear GEAR [--registry NAME] [REF] [--commit SHA] [--public-key FILE]
                    [--engine podman|docker] [--pants-install DIR | --shared-install]
                    [--keep DIR] [--repo DIR]

REF is the image in the registry (`registry/repository:tag` or `...@sha256:...`); without it,
the gear's release record (dist/<gear>.src.docker/<name>.release.json, the image by digest),
else the manifest's version in the `--registry` (default: `release`). The commit is --commit,
else the image's `org.opencontainers.image.revision` label, else the release record's.

In a clean clone of that commit (gear_tools.images.scratch_build), with a Pants install and
caches of its own (as on a machine that never built this repository: new ones, removed after,
or those in --pants-install DIR, kept for the next verification; --shared-install uses this
checkout's, faster and proving less) and, with podman, a storage of its own, `./pants
package` builds the gear's image with --engine (default: the engine ./pants uses here); its ID
(the digest of its canonical configuration) must be the registry's, whatever engine built
either. Then what was pushed beside it, found by the image's digest alone: the
provenance statement must be signed by the team key (--public-key, else
$GEAR_SIGNING_PUBLIC_KEY), be of this image, and name the commit and that commit's files
(release_gear.build_inputs: lockfile, Dockerfile, BUILD, image definition) by hash; the SBOM
must describe this image and be the one the statement names.
It prints one line: `verified: ...` saying each of these, or what is wrong, exit code 1:
`NOT verified` naming each layer that differs and what it holds; or the provenance's or
SBOM's problem. When only the gear's system-package layers differ and the Debian packages
the rebuild installed are other versions than the release's SBOM lists, the mirror has moved
on since the release: exit code 3, `mirror moved`, naming each package whose version moved
and saying that every other layer was rebuilt the same.
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

from gear_tools.engine.containers import Engine, detect_engine, engine_state, recorded
from gear_tools.images import scratch_build
from gear_tools.release import provenance, registry, sbom
from gear_tools.release.release_gear import Gear, build_inputs, load_gear
from gear_tools.repo import RepoError, find_root

REVISION_LABEL = "org.opencontainers.image.revision"
COMMIT = re.compile(r"^[0-9a-f]{40}$")


# Exit codes: verified 0, not verified (or cannot be checked) 1, the mirror moved 3.
MIRROR_MOVED_EXIT = 3


class VerifyError(Exception):
    """Verification cannot be done, or fails; the message says why."""


class MirrorMovedError(VerifyError):
    """The rebuild installed other Debian package versions than the release holds."""


def released_debian_packages(document: dict[str, Any]) -> dict[str, str]:
    """The Debian packages (name: version) an SBOM lists."""
    return {
        str(component["name"]): str(component.get("version", ""))
        for component in document.get("components", [])
        if str(component.get("purl", "")).startswith("pkg:deb/")
    }


def moved_packages(released: dict[str, str], rebuilt: dict[str, str]) -> list[str]:
    """Each package whose version differs between the release and the rebuild, in words."""
    moved = []
    for name in sorted({*released, *rebuilt}):
        before, after = released.get(name), rebuilt.get(name)
        if before != after:
            moved.append(f"{name} {before or '(absent)'} -> {after or '(absent)'}")
    return moved


def layer_verdict(
    expected: dict[str, Any],
    rebuilt: dict[str, Any],
    base_layers: int,
    released: dict[str, str],
    rebuilt_packages: dict[str, str] | None,
    what: str = "the image is not what the commit builds",
) -> VerifyError:
    """Why a rebuild is not the release: MirrorMovedError when only system-package layers differ
    and their packages moved (`rebuilt_packages` None: not read), else NOT verified naming
    every differing layer."""
    differing = scratch_build.differing_layers(expected, rebuilt)
    count = len(rebuilt.get("rootfs", {}).get("diff_ids", []))
    if not differing or len(expected.get("rootfs", {}).get("diff_ids", [])) != count:
        # The configuration alone, or another number of layers: first_difference says which.
        return VerifyError(
            f"NOT verified: {what}: {scratch_build.first_difference(expected, rebuilt)}"
        )
    told = "; ".join(
        scratch_build.describe_layer(index, expected, rebuilt, base_layers) for index in differing
    )
    only_system = all(
        scratch_build.is_system_layer(index, count, base_layers) for index in differing
    )
    moved = moved_packages(released, rebuilt_packages) if rebuilt_packages is not None else []
    if only_system and moved:
        same = count - len(differing)
        return MirrorMovedError(
            f"mirror moved: {what}, as the Debian mirror no longer serves the package versions "
            f"of the release ({', '.join(moved)}), so its system-package layers cannot be "
            f"rebuilt; the other {same} of {count} layers are what the commit builds ({told})"
        )
    return VerifyError(f"NOT verified: {what}: {told}")


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
    engine: Engine | None = None,
    install: Path | None | bool = True,
) -> str:
    """`install`: the rebuild's own Pants install (True: a new one; a directory: that one;
    False: this checkout's)."""
    """Rebuilds and compares; returns the line to print, or raises VerifyError."""
    gear = load_gear(repo, gear_arg, registry_name)
    record = release_record(gear)
    if reference is not None:
        image = registry.parse_reference(reference)
    elif record is not None:
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
    engine = engine or detect_engine(engine_state(repo))
    scratch = (keep or Path(tempfile.mkdtemp(prefix="verify-gear-"))).resolve()
    clone = None
    try:
        # As another machine would: another path, umask and TMPDIR, its own Pants install and
        # caches, and (podman) its own storage.
        clone = scratch_build.make_clone(
            repo,
            scratch,
            sha,
            depth=2,
            umask=0o077,
            engine=engine,
            install=own_install(install, scratch),
        )
        told = "its own Pants install" if install is not False else "this checkout's Pants install"
        print(
            f"verify-gear: rebuilding {gear.name} at {sha[:12]} with {engine} in {clone.repo} "
            f"({told}) ...",
            file=sys.stderr,
        )
        scratch_build.build(repo, clone, gear.target)
        rebuilt = scratch_build.built_image_id(clone, gear.directory)
        if rebuilt == expected:
            checked = attestations(gear, image, digest, sha, clone.repo, public_key)
            return (
                f"verified: {image} is {gear.name} built from {sha} (image {expected}, "
                f"rebuilt with {engine}); {checked}"
            )
        rebuilt_config = clone.image_config(rebuilt)
        base_layers = len(clone.image_config(base_image(clone))["rootfs"]["diff_ids"])
        count = len(rebuilt_config["rootfs"]["diff_ids"])
        system_differs = any(
            scratch_build.is_system_layer(index, count, base_layers)
            for index in scratch_build.differing_layers(config, rebuilt_config)
        )
        released: dict[str, str] = {}
        rebuilt_packages: dict[str, str] | None = None
        if system_differs:  # the mirror may have moved: what the release and the rebuild hold
            released, rebuilt_packages = system_packages(image, digest, clone, rebuilt)
        what = f"{image} (image {expected}) is not what {sha[:12]} builds ({rebuilt})"
        verdict = layer_verdict(
            config, rebuilt_config, base_layers, released, rebuilt_packages, what
        )
        if isinstance(verdict, MirrorMovedError):
            checked = attestations(gear, image, digest, sha, clone.repo, public_key)
            raise MirrorMovedError(f"{verdict}; {checked}")
        raise verdict
    except (scratch_build.ScratchBuildError, sbom.SbomError) as exc:
        raise VerifyError(str(exc)) from None
    finally:
        if keep is None:
            if clone is not None:
                clone.remove()
            shutil.rmtree(scratch, ignore_errors=True)


def system_packages(
    image: registry.ImageName, digest: str, clone: scratch_build.ScratchClone, rebuilt: str
) -> tuple[dict[str, str], dict[str, str] | None]:
    """The Debian packages the release's SBOM lists and those the rebuild holds; (..., None)
    when the release has no SBOM to tell by (then nothing explains a difference)."""
    try:
        document = sbom.describing(sbom.fetch_bytes(image, digest), image, digest)
    except sbom.SbomError:
        return {}, None
    return released_debian_packages(document), debian_packages(clone, rebuilt)


def own_install(install: Path | None | bool, scratch: Path) -> Path | None:
    """Where the rebuild's Pants install goes (see verify); None: this checkout's."""
    if install is True:
        return scratch / "pants-install"
    if isinstance(install, Path):
        return install.resolve()
    return None


def base_image(clone: scratch_build.ScratchClone) -> str:
    """The base image the clone's build used (its ./pants recorded it)."""
    boot = clone.install / "bootstrap" if clone.install else None
    state = (boot / "container.env") if boot else engine_state()
    found = recorded(state, "GEAR_BASE_IMAGE")
    if not found:
        raise VerifyError(f"the rebuild recorded no base image in {state}")
    return found


def debian_packages(clone: scratch_build.ScratchClone, image: str) -> dict[str, str]:
    """The Debian packages (name: version) of an image the clone built."""
    saved = os.environ.get("CONTAINERS_STORAGE_CONF")
    os.environ.update({k: v for k, v in clone.env().items() if k == "CONTAINERS_STORAGE_CONF"})
    try:
        inventory = sbom.image_inventory(clone.engine, image)
    finally:
        if saved is None:
            os.environ.pop("CONTAINERS_STORAGE_CONF", None)
        else:
            os.environ["CONTAINERS_STORAGE_CONF"] = saved
    return {str(p["name"]): str(p["version"]) for p in inventory.debian}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bin/verify-gear", description=__doc__.split("\n\n")[0])
    parser.add_argument("gear", help="gear name or directory, e.g. template-gear")
    parser.add_argument(
        "reference", nargs="?", help="the image in the registry (default: the release)"
    )
    parser.add_argument("--registry", default="release", help="a [docker.registries] name")
    parser.add_argument("--commit", help="the commit to rebuild (default: the image's label)")
    parser.add_argument(
        "--engine",
        choices=("podman", "docker"),
        help="the engine to rebuild with (default: the one ./pants uses here)",
    )
    installs = parser.add_mutually_exclusive_group()
    installs.add_argument(
        "--pants-install",
        type=Path,
        help="the rebuild's own Pants install and caches, kept in DIR for the next run "
        "(default: new, empty ones, removed after)",
    )
    installs.add_argument(
        "--shared-install",
        action="store_true",
        help="rebuild with this checkout's Pants install and caches (faster, proving less)",
    )
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
                engine=args.engine,
                install=False if args.shared_install else (args.pants_install or True),
            )
        )
        return 0
    except MirrorMovedError as exc:
        print(f"verify-gear: {exc}", file=sys.stderr)
        return MIRROR_MOVED_EXIT
    except (VerifyError, RepoError, registry.RegistryError) as exc:
        print(f"verify-gear: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
