from __future__ import annotations

from pathlib import Path

from gear_common.study_models import parse_studies
from gear_common.yaml_input import load_yaml_documents

from project_app.plan import GroupPlan, plan_groups

EXAMPLE = Path("project_management/data/example-studies.yaml")
ADRC = ("ingest-form", "sandbox-form", "ingest-dicom", "sandbox-dicom", "accepted")
LEADS = ("ingest-form-leads", "sandbox-form-leads", "accepted-leads")


def example_plan(new_only: bool = False) -> list[GroupPlan]:
    studies = parse_studies(load_yaml_documents(EXAMPLE), source=EXAMPLE)
    return plan_groups(studies, admin_group="nacc", new_only=new_only)


def test_example_plan_matches_its_documentation() -> None:
    assert example_plan() == [
        GroupPlan("alpha", "Alpha Alzheimer's Disease Research Center", ADRC + LEADS),
        GroupPlan("beta", "Beta ADRC", ADRC),
        GroupPlan("gamma", "Gamma ADRC", ADRC + LEADS),
        GroupPlan("nacc", "nacc", ("release",)),
    ]


def test_new_only_keeps_centers_marked_new() -> None:
    plans = example_plan(new_only=True)
    assert [plan.group_id for plan in plans] == ["gamma", "nacc"]
    assert plans[0].projects == ADRC + LEADS
