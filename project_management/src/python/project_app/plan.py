"""What a study file asks for in Flywheel: groups, projects and their names.

Naming (see docs/project_management/README.md):

* one group per active center, id = center-id, label = center label;
* in it, for each datatype: `ingest-<datatype>` and `sandbox-<datatype>`, and one `accepted`
  project; projects of an affiliated study end in `-<study-id>` (primary studies have none);
* for a published study, a `release[-<study-id>]` project in the admin group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gear_common.study_models import Study, StudyType

PIPELINE_STAGES = ("ingest", "sandbox")


@dataclass(frozen=True)
class GroupPlan:
    group_id: str
    label: str
    projects: tuple[str, ...]


def project_suffix(study: Study) -> str:
    return "" if study.study_type is StudyType.PRIMARY else f"-{study.study_id}"


def center_projects(study: Study) -> tuple[str, ...]:
    suffix = project_suffix(study)
    stages = [
        f"{stage}-{datatype}{suffix}" for datatype in study.datatypes for stage in PIPELINE_STAGES
    ]
    return (*stages, f"accepted{suffix}")


def plan_groups(studies: Sequence[Study], *, admin_group: str, new_only: bool) -> list[GroupPlan]:
    """The groups and projects to ensure, in a stable order; one entry per group."""
    projects: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for study in studies:
        for center in study.centers:
            if not center.active or (new_only and not center.new):
                continue
            labels.setdefault(center.center_id, center.group_label)
            group_projects = projects.setdefault(center.center_id, [])
            group_projects.extend(p for p in center_projects(study) if p not in group_projects)
        if study.published:
            release = projects.setdefault(admin_group, [])
            label = f"release{project_suffix(study)}"
            if label not in release:
                release.append(label)
    return [
        GroupPlan(group_id, labels.get(group_id, group_id), tuple(group_projects))
        for group_id, group_projects in projects.items()
    ]
