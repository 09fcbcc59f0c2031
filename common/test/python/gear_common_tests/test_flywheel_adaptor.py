from __future__ import annotations

import flywheel
import pytest

from fake_flywheel import FakeFlywheel, Fault
from gear_common.flywheel_adaptor import ContainerRef, FlywheelApiError, FlywheelProxy


def proxy(fake: FakeFlywheel, *, dry_run: bool = False) -> FlywheelProxy:
    return FlywheelProxy(flywheel.Client(fake.api_key), dry_run=dry_run)


def test_ensure_group_and_project_are_idempotent(fake_flywheel: FakeFlywheel) -> None:
    fw = proxy(fake_flywheel)
    group = fw.ensure_group("alpha", "Alpha")
    assert group == ContainerRef("alpha", "Alpha", created=True)
    project = fw.ensure_project(group, "alpha", "ingest-form")
    assert project.created and project.id
    fake_flywheel.reset_requests()

    assert fw.ensure_group("alpha", "Alpha").created is False
    again = fw.ensure_project(group, "alpha", "ingest-form")
    assert (again.id, again.created) == (project.id, False)
    assert fake_flywheel.mutating_requests() == []
    assert fake_flywheel.find("projects", group="alpha")[0]["label"] == "ingest-form"


def test_dry_run_logs_and_sends_nothing(
    fake_flywheel: FakeFlywheel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    fw = proxy(fake_flywheel, dry_run=True)
    group = fw.ensure_group("beta", "Beta")
    project = fw.ensure_project(group, "beta", "accepted")
    assert fw.ensure_project_role(project, ["u@x"], "admin") == 1
    assert fw.ensure_group_access(group, "beta", ["u@x"], "admin") == 1
    assert fake_flywheel.mutating_requests() == []
    assert "dry run: would create group beta (Beta)" in caplog.text
    assert "dry run: would create project beta/accepted" in caplog.text
    assert "dry run: would give u@x the admin role on project accepted" in caplog.text


def test_roles_by_label_and_permissions(fake_flywheel: FakeFlywheel) -> None:
    fw = proxy(fake_flywheel)
    group = fw.ensure_group("g1", "G1")
    project = fw.ensure_project(group, "g1", "p")
    assert fw.ensure_project_role(project, ["u@x", "v@x"], "read-only") == 2
    again = fw.ensure_project(group, "g1", "p")
    fake_flywheel.reset_requests()
    assert fw.ensure_project_role(again, ["u@x", "v@x"], "read-only") == 0
    assert fake_flywheel.requests == []
    stored = fake_flywheel.find("projects", label="p")[0]["permissions"]
    assert stored == [
        {"_id": "u@x", "role_ids": ["role-read-only"]},
        {"_id": "v@x", "role_ids": ["role-read-only"]},
    ]
    with pytest.raises(FlywheelApiError, match=r"no role labelled 'boss' \(roles: admin, "):
        fw.role_id("boss")


def test_group_admins_and_access(fake_flywheel: FakeFlywheel) -> None:
    fake_flywheel.add(
        "groups",
        {"_id": "nacc", "label": "N", "permissions": [{"_id": "a@x", "access": "admin"}]},
    )
    fw = proxy(fake_flywheel)
    assert fw.group_admins("nacc") == ["a@x"]
    group = fw.ensure_group("nacc", "N")
    assert fw.ensure_group_access(group, "nacc", ["a@x", "b@x"], "rw") == 1
    assert fw.ensure_group_access(fw.ensure_group("nacc", "N"), "nacc", ["b@x"], "rw") == 0
    assert fw.group_admins("nacc") == ["a@x"]
    assert fw.group_admins("other") is None


def test_api_failure_names_the_change(fake_flywheel: FakeFlywheel) -> None:
    fw = proxy(fake_flywheel)
    fake_flywheel.inject(Fault("POST", "/api/groups", status=502))
    with pytest.raises(FlywheelApiError, match="while creating group g: 502"):
        fw.ensure_group("g", "G")


def test_gears_and_gear_rules(fake_flywheel: FakeFlywheel) -> None:
    fake_flywheel.add(
        "gears", {"gear": {"name": "qc", "version": "1.0.0"}, "created": "2024-01-01"}
    )
    newer = fake_flywheel.add(
        "gears", {"gear": {"name": "qc", "version": "1.1.0"}, "created": "2025-01-01"}
    )
    fw = proxy(fake_flywheel)
    latest, first = fw.find_gear("qc"), fw.find_gear("qc", "1.0.0")
    assert latest is not None and latest.id == newer["_id"]
    assert first is not None and first.gear.version == "1.0.0"
    assert fw.find_gear("absent") is None

    project = fw.ensure_project(fw.ensure_group("g", "G"), "g", "p")
    assert project.id is not None
    rule = flywheel.GearRuleInput(name="run-qc", gear_id=newer["_id"], any=[], all=[], _not=[])
    assert fw.ensure_gear_rule(project.id, rule) is True
    assert fw.ensure_gear_rule(project.id, rule) is False
    assert [r.name for r in fw.gear_rules(project.id)] == ["run-qc"]
