"""Pins the gears' base image by digest, so that every build (and every rebuild by
bin/verify-gear, a month later) starts from the same image.

    bin/container-engine pin-base [--dry-run]
    (python3 -m gear_tools.engine.base_image pin [--dry-run] [--repo DIR]; standard library)

It asks the base image's registry (over its HTTP API, with the login `docker login` saved)
which digest the tag of `BASE_IMAGE` in pants.toml's `[docker] build_args` points at, and
writes `BASE_IMAGE=<repository>:<tag>@sha256:<digest>` in its place (the tag stays, for
people; engines pull the digest). Run it where the registry is reachable; a base image that is
already pinned is asked again, and the pin moves only when the tag has moved.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from gear_tools.release import registry
from gear_tools.repo import RepoError, Repository, find_root

# Docker Hub's images are named docker.io/...; its registry API answers elsewhere.
API_HOSTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def is_pinned(reference: str) -> bool:
    """Whether an image reference names a digest (`...@sha256:<64 hex>`)."""
    return DIGEST.match(reference.rpartition("@")[2]) is not None


def tag_reference(reference: str) -> str:
    """The reference without its digest: what the tag names now."""
    return reference.partition("@")[0]


def resolve(reference: str) -> str:
    """`reference` pinned to the digest its tag points at in its registry."""
    named = tag_reference(reference)
    image = registry.parse_reference(named)
    asked = registry.ImageName(
        API_HOSTS.get(image.registry, image.registry), image.repository, image.tag
    )
    digest = registry.manifest_digest(asked)
    if digest is None:
        raise registry.RegistryError(f"{named}: the registry has no such tag")
    return f"{named}@{digest}"


def write_pin(pants_toml: Path, old: str, new: str) -> None:
    """Replaces `"BASE_IMAGE=<old>"` with `"BASE_IMAGE=<new>"` in pants.toml, and only that."""
    text = pants_toml.read_text(encoding="utf-8")
    entry = f'"BASE_IMAGE={old}"'
    if text.count(entry) != 1:
        raise RepoError(pants_toml, f"expected {entry} once in [docker] build_args")
    pants_toml.write_text(text.replace(entry, f'"BASE_IMAGE={new}"'), encoding="utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bin/container-engine pin-base", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["pin"], help="pin BASE_IMAGE by digest")
    parser.add_argument("--dry-run", action="store_true", help="print the pin, change nothing")
    parser.add_argument("--repo", type=Path, help="repository root (default: this one)")
    args = parser.parse_args(argv)
    try:
        root = find_root(args.repo)
        current = Repository(root).settings.base_image
        pinned = resolve(current)
    except (RepoError, registry.RegistryError) as exc:
        print(f"pin-base: {exc}", file=sys.stderr)
        return 1
    if pinned == current:
        print(f"pin-base: BASE_IMAGE={current} is pinned to what its tag names now")
        return 0
    if args.dry_run:
        print(f"pin-base: would set BASE_IMAGE={pinned} (was {current}); nothing written")
        return 0
    try:
        write_pin(root / "pants.toml", current, pinned)
    except RepoError as exc:
        print(f"pin-base: {exc}", file=sys.stderr)
        return 1
    print(f"pin-base: BASE_IMAGE={pinned} (was {current}) in {root / 'pants.toml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
