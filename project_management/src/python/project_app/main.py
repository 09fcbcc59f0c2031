"""The project management gear's work: make Flywheel match the plan, idempotently."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from gear_common.errors import GearConfigError
from gear_common.flywheel_adaptor import ADMIN, FlywheelProxy
from gear_common.study_models import Study

from project_app.plan import plan_groups

log = logging.getLogger(__name__)


@dataclass
class Changes:
    groups: int = 0
    projects: int = 0
    permissions: int = 0

    def __bool__(self) -> bool:
        return bool(self.groups or self.projects or self.permissions)


def run(
    *,
    proxy: FlywheelProxy,
    studies: Sequence[Study],
    admin_group: str,
    new_only: bool,
) -> Changes:
    """Creates what is missing; returns what was (or, in a dry run, would be) changed."""
    admins = proxy.group_admins(admin_group)
    if admins is None:
        raise GearConfigError(
            f'config admin_group: group "{admin_group}" does not exist in Flywheel'
        )
    plans = plan_groups(studies, admin_group=admin_group, new_only=new_only)
    log.info(
        "Plan: %d groups, %d projects, admins %s",
        len(plans),
        sum(len(plan.projects) for plan in plans),
        ", ".join(admins) or "(none)",
    )
    changes = Changes()
    for plan in plans:
        group = proxy.ensure_group(plan.group_id, plan.label)
        changes.groups += group.created
        if plan.group_id != admin_group:
            changes.permissions += proxy.ensure_group_access(group, plan.group_id, admins, ADMIN)
        for label in plan.projects:
            project = proxy.ensure_project(group, plan.group_id, label)
            changes.projects += project.created
            changes.permissions += proxy.ensure_project_role(project, admins, ADMIN)
    verb = "Would create" if proxy.dry_run else "Created"
    if changes:
        log.info(
            "%s %d groups and %d projects, and %s %d permissions",
            verb,
            changes.groups,
            changes.projects,
            "would add" if proxy.dry_run else "added",
            changes.permissions,
        )
    else:
        log.info("Nothing to change: every planned group, project and permission exists")
    return changes
