"""Shared set-up for the project management tests: a fake Flywheel with an admin group."""

from __future__ import annotations

from pathlib import Path

from fake_flywheel import FakeFlywheel

EXAMPLE = Path("project_management/data/example-studies.yaml")
MANIFEST = Path("project_management/src/docker/manifest.json")
ADMINS = ("admin@example.org", "curator@example.org")


def seed_admin_group(fake: FakeFlywheel, group_id: str = "nacc") -> None:
    fake.add(
        "groups",
        {
            "_id": group_id,
            "label": "NACC",
            "permissions": [{"_id": admin, "access": "admin"} for admin in ADMINS]
            + [{"_id": "viewer@example.org", "access": "ro"}],
        },
    )


def project_labels(fake: FakeFlywheel, group_id: str) -> list[str]:
    return sorted(project["label"] for project in fake.find("projects", group=group_id))
