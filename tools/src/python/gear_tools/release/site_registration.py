"""Registering a gear version on a Flywheel site, with its image pinned by digest.

What `fw-beta gear upload` does once the image is in a registry, done with flywheel-sdk: the
site gets a gear document (`POST /api/gears/<name>`, `Client.add_gear`) made of

- `gear`: the manifest, its `custom.gear-builder.image` set to `repository@sha256:<digest>`,
  so a job pulls exactly the image that was built and pushed, whatever its tags point at later;
- `category`: the manifest's `custom.gear-builder.category`;
- `exchange`: `rootfs-url` `docker://repository@sha256:<digest>`, `rootfs-hash`
  `sha256:<digest>` and `git-commit`, the commit the image was built from.

A site refuses a name and version it already has, so a release looks the version up first
(`registered_version`, `require_same_image`) and registers it only when the site lacks it.
"""

from __future__ import annotations

import copy
from typing import Any

import flywheel

from gear_tools.release.registry import ImageName


class SiteError(Exception):
    """The site refused the gear, or already has this version with another image."""


def gear_document(
    manifest: dict[str, Any], image: ImageName, digest: str, git_commit: str
) -> flywheel.GearDocumentLegacyInput:
    """The document the site stores for this gear version (see the module doc)."""
    pinned = image.pinned(digest)
    gear = copy.deepcopy(manifest)
    gear.setdefault("custom", {}).setdefault("gear-builder", {})["image"] = pinned
    return flywheel.GearDocumentLegacyInput(
        category=gear["custom"]["gear-builder"].get("category", "utility"),
        gear=gear,
        exchange=flywheel.GearExchange(
            git_commit=git_commit, rootfs_hash=digest, rootfs_url=f"docker://{pinned}"
        ),
    )


def registered_version(client: flywheel.Client, name: str, version: str) -> Any | None:
    """The site's gear document for `name` at `version`, or None."""
    for gear in client.get_all_gears(all_versions=True, filter=f"gear.name={name}"):
        if gear.gear.name == name and gear.gear.version == version:
            return gear
    return None


def require_same_image(existing: Any, digest: str) -> None:
    """Raises SiteError unless the site's gear version was registered with `digest`."""
    found = existing.exchange.rootfs_hash if existing.exchange is not None else None
    if found != digest:
        raise SiteError(
            f"the site already has {existing.gear.name} {existing.gear.version} (gear "
            f"{existing.id}) with image {found or 'unknown'}, not {digest}; bump the version "
            "(bin/bump-version) to release this image"
        )


def register(
    client: flywheel.Client,
    manifest: dict[str, Any],
    image: ImageName,
    digest: str,
    git_commit: str,
) -> str:
    """Registers the gear version pinned to `digest`; returns the site's gear id."""
    document = gear_document(manifest, image, digest, git_commit)
    return str(client.add_gear(str(manifest["name"]), document))
