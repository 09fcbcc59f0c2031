"""A thin proxy over flywheel-sdk for the containers gears manage, with a dry-run mode.

In dry-run mode every change is logged ("dry run: would ...") and none is sent; look-ups are
still made, so the log shows exactly what a real run would do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import flywheel

from gear_common.errors import GearError

log = logging.getLogger(__name__)

ADMIN = "admin"


class FlywheelApiError(GearError):
    """A Flywheel API call failed; the message says which change was being made."""


@dataclass(frozen=True)
class ContainerRef:
    """A group or project that exists, or (in a dry run) would be created.

    `permissions` holds the (user id, access or role id) pairs it had when looked up, so
    permission changes need no second read.
    """

    id: str | None
    label: str
    created: bool
    permissions: frozenset[tuple[str, str]] = frozenset()


def _access(permission: Any) -> str:
    return str(getattr(permission.access, "value", permission.access))


def _is_not_found(exc: flywheel.ApiException) -> bool:
    return getattr(exc, "status", None) == 404


class FlywheelProxy:
    def __init__(self, client: flywheel.Client, *, dry_run: bool = False) -> None:
        self._client = client
        self.dry_run = dry_run

    def _call(self, action: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except flywheel.ApiException as exc:
            raise FlywheelApiError(
                f"Flywheel API error while {action}: {exc.status} {exc.reason}"
            ) from None

    # --- groups ------------------------------------------------------------------------------

    def find_group(self, group_id: str) -> Any | None:
        try:
            return self._client.get_group(group_id)
        except flywheel.ApiException as exc:
            if _is_not_found(exc):
                return None
            raise FlywheelApiError(
                f"Flywheel API error while looking up group {group_id}: {exc.status} {exc.reason}"
            ) from None

    def ensure_group(self, group_id: str, label: str) -> ContainerRef:
        group = self.find_group(group_id)
        if group is not None:
            permissions = frozenset((p.id, _access(p)) for p in group.permissions or [])
            return ContainerRef(group_id, label, created=False, permissions=permissions)
        if self.dry_run:
            log.info("dry run: would create group %s (%s)", group_id, label)
            return ContainerRef(None, label, created=True)
        self._call(
            f"creating group {group_id}",
            self._client.add_group,
            flywheel.Group(id=group_id, label=label),
        )
        log.info("Created group %s (%s)", group_id, label)
        return ContainerRef(group_id, label, created=True)

    def group_admins(self, group_id: str) -> list[str] | None:
        """Users with admin access to the group; None if there is no such group."""
        group = self.find_group(group_id)
        if group is None:
            return None
        return sorted(p.id for p in group.permissions or [] if _access(p) == ADMIN)

    def ensure_group_access(
        self, group: ContainerRef, group_id: str, user_ids: Iterable[str], access: str
    ) -> int:
        """Gives each user `access` to the group unless it has some; returns how many changed."""
        has_access = {user for user, _ in group.permissions}
        changed = 0
        for user_id in user_ids:
            if user_id in has_access:
                continue
            changed += 1
            if self.dry_run:
                log.info("dry run: would give %s %s access to group %s", user_id, access, group_id)
                continue
            self._call(
                f"giving {user_id} {access} access to group {group_id}",
                self._client.add_group_permission,
                group_id,
                flywheel.AccessPermission(id=user_id, access=access),
            )
            log.info("Gave %s %s access to group %s", user_id, access, group_id)
        return changed

    # --- projects ----------------------------------------------------------------------------

    def find_project(self, group_id: str, label: str) -> Any | None:
        return self._call(
            f"looking up project {group_id}/{label}",
            self._client.projects.find_first,
            f"parents.group={group_id},label={label}",
        )

    def ensure_project(self, group: ContainerRef, group_id: str, label: str) -> ContainerRef:
        """The project `label` in the group, created if missing."""
        if group.id is not None:
            project = self.find_project(group_id, label)
            if project is not None:
                permissions = frozenset(
                    (p.id, role_id)
                    for p in project.permissions or []
                    for role_id in p.role_ids or []
                )
                return ContainerRef(project.id, label, created=False, permissions=permissions)
        if self.dry_run:
            log.info("dry run: would create project %s/%s", group_id, label)
            return ContainerRef(None, label, created=True)
        project_id = self._call(
            f"creating project {group_id}/{label}",
            self._client.add_project,
            flywheel.Project(group=group_id, label=label),
        )
        log.info("Created project %s/%s", group_id, label)
        return ContainerRef(str(project_id), label, created=True)

    @cached_property
    def _role_ids(self) -> dict[str, str]:
        roles = self._call("listing roles", self._client.get_all_roles)
        return {role.label: role.id for role in roles}

    def role_id(self, label: str) -> str:
        try:
            return self._role_ids[label]
        except KeyError:
            known = ", ".join(sorted(self._role_ids)) or "none"
            raise FlywheelApiError(f"no role labelled {label!r} (roles: {known})") from None

    def ensure_project_role(
        self, project: ContainerRef, user_ids: Iterable[str], role_label: str
    ) -> int:
        """Gives each user the role on the project unless they have it; returns how many changed."""
        role_id = self.role_id(role_label)
        where = f"project {project.label}"
        changed = 0
        for user_id in user_ids:
            if (user_id, role_id) in project.permissions:
                continue
            changed += 1
            if self.dry_run:
                log.info("dry run: would give %s the %s role on %s", user_id, role_label, where)
                continue
            assert project.id is not None
            self._call(
                f"giving {user_id} the {role_label} role on {where}",
                self._client.add_project_permission,
                project.id,
                flywheel.RolesRoleAssignment(id=user_id, role_ids=[role_id]),
            )
            log.info("Gave %s the %s role on %s", user_id, role_label, where)
        return changed

    # --- gears and gear rules ----------------------------------------------------------------

    def find_gear(self, name: str, version: str | None = None) -> Any | None:
        """The gear `name` (at `version`, or its latest version)."""
        query = f"gear.name={name}" + (f",gear.version={version}" if version else "")
        gears = self._call(f"looking up gear {name}", self._client.gears.find, query)
        if not gears:
            return None
        return sorted(gears, key=lambda gear: str(gear.created or ""))[-1]

    def gear_rules(self, project_id: str) -> list[Any]:
        rules = self._call(
            f"listing gear rules of project {project_id}",
            self._client.get_project_rules,
            project_id,
        )
        return list(rules)

    def ensure_gear_rule(self, project_id: str, rule: flywheel.GearRuleInput) -> bool:
        """Adds the gear rule unless one with its name exists; True if changed."""
        if any(existing.name == rule.name for existing in self.gear_rules(project_id)):
            return False
        if self.dry_run:
            log.info("dry run: would add gear rule %s to project %s", rule.name, project_id)
            return True
        self._call(
            f"adding gear rule {rule.name} to project {project_id}",
            self._client.add_project_rule,
            project_id,
            rule,
        )
        log.info("Added gear rule %s to project %s", rule.name, project_id)
        return True
