from __future__ import annotations

import flywheel
import pytest

from fake_flywheel import FakeFlywheel, Fault
from gear_common.errors import GearConfigError
from gear_common.flywheel_adaptor import FlywheelApiError, FlywheelProxy
from gear_common.study_models import parse_studies
from gear_common.yaml_input import load_yaml_documents

from project_app.main import Changes, run
from project_app_tests.helpers import ADMINS, EXAMPLE, project_labels, seed_admin_group

ADRC = ["accepted", "ingest-dicom", "ingest-form", "sandbox-dicom", "sandbox-form"]
LEADS = ["accepted-leads", "ingest-form-leads", "sandbox-form-leads"]


def run_example(fake: FakeFlywheel, *, dry_run: bool = False, new_only: bool = False) -> Changes:
    studies = parse_studies(load_yaml_documents(EXAMPLE), source=EXAMPLE)
    proxy = FlywheelProxy(flywheel.Client(fake.api_key), dry_run=dry_run)
    return run(proxy=proxy, studies=studies, admin_group="nacc", new_only=new_only)


def test_creates_documented_groups_projects_and_permissions(fake_flywheel: FakeFlywheel) -> None:
    seed_admin_group(fake_flywheel)
    changes = run_example(fake_flywheel)

    assert sorted(g["_id"] for g in fake_flywheel.find("groups")) == [
        "alpha",
        "beta",
        "gamma",
        "nacc",
    ]
    assert fake_flywheel.find("groups", _id="alpha")[0]["label"] == (
        "Alpha Alzheimer's Disease Research Center"
    )
    assert project_labels(fake_flywheel, "alpha") == sorted(ADRC + LEADS)
    assert project_labels(fake_flywheel, "beta") == ADRC
    assert project_labels(fake_flywheel, "gamma") == sorted(ADRC + LEADS)
    assert project_labels(fake_flywheel, "nacc") == ["release"]
    admin_role = fake_flywheel.find("roles", label="admin")[0]["_id"]
    for project in fake_flywheel.find("projects"):
        assert sorted(p["_id"] for p in project["permissions"]) == sorted(ADMINS)
        assert all(p["role_ids"] == [admin_role] for p in project["permissions"])
    for group_id in ("alpha", "beta", "gamma"):
        group = fake_flywheel.find("groups", _id=group_id)[0]
        assert sorted((p["_id"], p["access"]) for p in group["permissions"]) == [
            (admin, "admin") for admin in ADMINS
        ]
    assert changes == Changes(groups=3, projects=22, permissions=2 * 3 + 2 * 22)


def test_second_run_changes_nothing(fake_flywheel: FakeFlywheel) -> None:
    seed_admin_group(fake_flywheel)
    run_example(fake_flywheel)
    fake_flywheel.reset_requests()

    assert run_example(fake_flywheel) == Changes()
    assert fake_flywheel.mutating_requests() == []


def test_dry_run_sends_no_change_and_reports_the_plan(
    fake_flywheel: FakeFlywheel, caplog: pytest.LogCaptureFixture
) -> None:
    seed_admin_group(fake_flywheel)
    caplog.set_level("INFO")
    changes = run_example(fake_flywheel, dry_run=True)

    assert fake_flywheel.mutating_requests() == []
    assert [g["_id"] for g in fake_flywheel.find("groups")] == ["nacc"]
    assert changes == Changes(groups=3, projects=22, permissions=2 * 3 + 2 * 22)
    assert "dry run: would create group alpha (Alpha Alzheimer's Disease Research Center)" in (
        caplog.text
    )
    assert "dry run: would create project beta/ingest-dicom" in caplog.text
    assert "Would create 3 groups and 22 projects" in caplog.text


def test_new_only_sets_up_only_new_centers(fake_flywheel: FakeFlywheel) -> None:
    seed_admin_group(fake_flywheel)
    run_example(fake_flywheel, new_only=True)
    assert sorted(g["_id"] for g in fake_flywheel.find("groups")) == ["gamma", "nacc"]


def test_fault_half_way_stops_and_rerun_completes(fake_flywheel: FakeFlywheel) -> None:
    seed_admin_group(fake_flywheel)
    fake_flywheel.inject(Fault("POST", "/api/projects", nth=7, status=500))

    with pytest.raises(FlywheelApiError, match=r"creating project alpha/sandbox-form-leads: 500"):
        run_example(fake_flywheel)
    assert len(fake_flywheel.find("projects")) == 6

    changes = run_example(fake_flywheel)
    assert changes.projects == 22 - 6
    assert project_labels(fake_flywheel, "beta") == ADRC
    assert len(fake_flywheel.find("projects")) == 22


def test_missing_admin_group_is_an_error_before_any_change(fake_flywheel: FakeFlywheel) -> None:
    with pytest.raises(GearConfigError, match='config admin_group: group "nacc" does not exist'):
        run_example(fake_flywheel)
    assert fake_flywheel.mutating_requests() == []
