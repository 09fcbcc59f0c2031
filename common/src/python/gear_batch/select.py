"""Choosing the destinations of a batch run, with the server doing the filtering it can."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass

from gear_batch.site import BatchSite, Container
from gear_batch.spec import BatchSpec, InputSource, Level
from gear_common.errors import GearInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """A destination and the acquisitions below it (or itself, for an acquisition)."""

    container: Container
    acquisitions: tuple[Container, ...]


def _check_regex(value: str | None, field: str) -> None:
    if value is None:
        return
    try:
        re.compile(value)
    except re.error as exc:
        raise GearInputError(f"{field}: not a valid regular expression {value!r}: {exc}") from None


def _label_filters(spec: BatchSpec) -> list[str]:
    selection = spec.select
    filters = [f"tags={tag}" for tag in selection.tags]
    filters += [f"tags!={tag}" for tag in selection.exclude_tags]
    if selection.label:
        filters.append(f"label=~{selection.label}")
    if selection.level is Level.ACQUISITION and selection.file and selection.file.type:
        filters.append(f"files.type={selection.file.type}")
    return filters


def _acquisition_label_filter(spec: BatchSpec) -> str | None:
    """A server-side acquisition label filter, when every use of acquisitions agrees on one."""
    wanted: set[str | None] = set()
    if spec.select.acquisition_label:
        wanted.add(spec.select.acquisition_label)
    if spec.select.file is not None and not spec.select.acquisition_label:
        wanted.add(None)  # the file may be in any acquisition
    for entry in spec.inputs.values():
        if entry.source is InputSource.ACQUISITION:
            wanted.add(entry.acquisition_label)
    if len(wanted) == 1:
        (label,) = wanted
        return f"label=~{label}" if label else None
    return None


def _needs_acquisitions(spec: BatchSpec) -> bool:
    return (
        spec.select.acquisition_label is not None
        or spec.select.file is not None
        or any(entry.source is InputSource.ACQUISITION for entry in spec.inputs.values())
    )


def _own_filters_match(container: Container, spec: BatchSpec) -> bool:
    """Re-checks label and tags on the client (the project itself is not listed by a filter)."""
    selection = spec.select
    if selection.label and not re.search(selection.label, container.label):
        return False
    if any(tag not in container.tags for tag in selection.tags):
        return False
    return not any(tag in container.tags for tag in selection.exclude_tags)


def _has_required_content(target: Target, spec: BatchSpec) -> bool:
    selection = spec.select
    acquisitions = target.acquisitions
    if selection.acquisition_label:
        pattern = selection.acquisition_label
        acquisitions = tuple(a for a in acquisitions if re.search(pattern, a.label))
        if not acquisitions:
            return False
    if selection.file is not None:
        match = selection.file
        holders = (target.container, *acquisitions)
        return any(file.matches(match) for holder in holders for file in holder.files)
    return True


def select_targets(site: BatchSite, spec: BatchSpec, project: Container) -> list[Target]:
    """The destinations of a spec's selection, in a stable order."""
    selection = spec.select
    _check_regex(selection.label, "select.label")
    _check_regex(selection.acquisition_label, "select.acquisition_label")
    for name, entry in spec.inputs.items():
        _check_regex(entry.acquisition_label, f"inputs.{name}.acquisition_label")
    level = selection.level
    if level is Level.PROJECT:
        candidates = [project] if _own_filters_match(project, spec) else []
    else:
        candidates = site.containers(level, project.id, _label_filters(spec))
    below: dict[str, list[Container]] = defaultdict(list)
    if level is Level.ACQUISITION:
        targets = [Target(c, (c,)) for c in candidates]
    else:
        if _needs_acquisitions(spec):
            label_filter = _acquisition_label_filter(spec)
            acquisitions = site.containers(
                Level.ACQUISITION, project.id, [label_filter] if label_filter else []
            )
            for acquisition in acquisitions:
                owner = (
                    project.id if level is Level.PROJECT else acquisition.parents.get(level.value)
                )
                if owner:
                    below[owner].append(acquisition)
        targets = [Target(c, tuple(below.get(c.id, ()))) for c in candidates]
    chosen = [t for t in targets if _has_required_content(t, spec)]
    log.info(
        "Selected %d of %d %s(s) in %s", len(chosen), len(candidates), level.value, spec.project
    )
    return sorted(chosen, key=lambda t: (t.container.label, t.container.id))
