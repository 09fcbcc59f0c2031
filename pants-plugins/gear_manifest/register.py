"""Pants plugin: `pants lint` checks gear manifests against their docker_image targets."""

from __future__ import annotations

from typing import Any

from gear_manifest import rules as gear_manifest_rules


def rules() -> list[Any]:
    return gear_manifest_rules.rules()
