"""The Flywheel calls a batch run makes, returning plain records instead of SDK models.

Listings use `find` filter strings and large pages, so that selecting from a project with
thousands of containers costs a handful of requests.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import flywheel

from gear_batch.spec import FileMatch, Level
from gear_common.errors import GearInputError

DESTINATION_LEVELS = ("acquisition", "session", "subject", "project")
OPEN_STATES = frozenset({"pending", "running"})


@dataclass(frozen=True)
class FileInfo:
    name: str
    type: str | None

    def matches(self, match: FileMatch) -> bool:
        if match.type is not None and self.type != match.type:
            return False
        return match.name is None or fnmatch.fnmatchcase(self.name, match.name)


@dataclass(frozen=True)
class Container:
    id: str
    level: str
    label: str
    tags: tuple[str, ...] = ()
    files: tuple[FileInfo, ...] = ()
    parents: dict[str, str] = field(default_factory=dict)

    def ref(self) -> dict[str, str]:
        return {"type": self.level, "id": self.id}


@dataclass(frozen=True)
class Gear:
    id: str
    name: str
    version: str
    category: str
    config: dict[str, Any]
    inputs: dict[str, Any]

    @property
    def is_analysis(self) -> bool:
        return self.category == "analysis"


@dataclass(frozen=True)
class Job:
    id: str
    state: str
    gear_name: str
    gear_version: str
    config: dict[str, Any]
    destination_id: str
    analysis_id: str | None
    tags: tuple[str, ...]
    created: datetime | None


@dataclass(frozen=True)
class Analysis:
    id: str
    label: str
    parent_id: str
    job_id: str | None
    created: datetime | None
    files: tuple[FileInfo, ...]


def _plain(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    if isinstance(model, dict):
        return model
    return dict(model.to_dict())


def _files(entries: Iterable[Any] | None) -> tuple[FileInfo, ...]:
    files = (_plain(entry) for entry in entries or ())
    return tuple(FileInfo(str(f.get("name")), f.get("type")) for f in files)


def container_from(model: Any, level: str) -> Container:
    data = _plain(model)
    parents = {k: v for k, v in _plain(data.get("parents")).items() if v}
    return Container(
        id=str(data["id"]),
        level=level,
        label=str(data.get("label") or ""),
        tags=tuple(data.get("tags") or ()),
        files=_files(data.get("files")),
        parents=parents,
    )


def job_from(model: Any) -> Job:
    """A job; its destination is the container it ran on (an analysis's parent for analyses)."""
    data = _plain(model)
    destination = _plain(data.get("destination"))
    parents = _plain(data.get("parents"))
    analysis_id = None
    destination_id = str(destination.get("id") or "")
    if destination.get("type") == "analysis":
        analysis_id = destination_id
        destination_id = next((str(parents[k]) for k in DESTINATION_LEVELS if parents.get(k)), "")
    gear_info = _plain(data.get("gear_info"))
    config = _plain(data.get("config"))
    return Job(
        id=str(data["id"]),
        state=str(data.get("state")),
        gear_name=str(gear_info.get("name")),
        gear_version=str(gear_info.get("version")),
        config=dict(config.get("config") or {}),
        destination_id=destination_id,
        analysis_id=analysis_id,
        tags=tuple(data.get("tags") or ()),
        created=data.get("created"),
    )


def analysis_from(model: Any) -> Analysis:
    data = _plain(model)
    job = data.get("job")
    return Analysis(
        id=str(data["id"]),
        label=str(data.get("label") or ""),
        parent_id=str(_plain(data.get("parent")).get("id") or ""),
        job_id=str(job) if isinstance(job, str) else (_plain(job).get("id") if job else None),
        created=data.get("created"),
        files=_files(data.get("files")),
    )


def filter_value(value: str) -> str:
    """A value quoted for a filter string (commas and quotes would split or end it)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace(",", "\\,") + '"'


class BatchSite:
    """A Flywheel site as a batch run sees it."""

    def __init__(self, client: flywheel.Client, page_size: int = 500) -> None:
        self.client = client
        self.page_size = page_size

    def find_project(self, group_id: str, label: str) -> Container:
        try:
            project = self.client.lookup(f"{group_id}/{label}")
        except flywheel.ApiException as exc:
            if exc.status == 404:
                raise GearInputError(
                    f"project: no project {label!r} in group {group_id!r}"
                ) from None
            raise
        return container_from(project, "project")

    def find_gear(self, name: str, version: str | None) -> Gear:
        filters = [f"gear.name={filter_value(name)}"]
        if version:
            filters.append(f"gear.version={filter_value(version)}")
        gears = list(self._iter("gears", filters))
        if not gears:
            wanted = f"{name} {version}" if version else name
            raise GearInputError(f"gear: no gear {wanted} is installed on the site")
        newest = max(gears, key=lambda gear: _plain(gear).get("created") or datetime.min)
        data = _plain(newest)
        manifest = _plain(data.get("gear"))
        return Gear(
            id=str(data["id"]),
            name=str(manifest["name"]),
            version=str(manifest["version"]),
            category=str(data.get("category") or "utility"),
            config=dict(manifest.get("config") or {}),
            inputs=dict(manifest.get("inputs") or {}),
        )

    def _iter(self, collection: str, filters: Iterable[str]) -> Iterator[Any]:
        """All matching items, a page at a time; a short page is the last one."""
        list_page = getattr(self.client, f"get_all_{collection}")
        query: dict[str, Any] = {"filter": ",".join(filters), "limit": self.page_size}
        while True:
            page = list_page(**query)
            items = list(getattr(page, "results", page) or [])
            yield from items
            if len(items) < self.page_size:
                return
            query["after_id"] = _plain(items[-1])["id"]

    def containers(self, level: Level, project_id: str, filters: Iterable[str]) -> list[Container]:
        """Containers of one level in a project, filtered by the server."""
        collection = f"{level.value}s"
        return [
            container_from(item, level.value)
            for item in self._iter(collection, [f"parents.project={project_id}", *filters])
        ]

    def jobs(self, project_id: str, gear_name: str, *filters: str) -> list[Job]:
        """Jobs of a gear (any version) in a project."""
        base = [f"parents.project={project_id}", f"gear_info.name={filter_value(gear_name)}"]
        return [job_from(item) for item in self._iter("jobs", [*base, *filters])]

    def analyses(self, project_id: str, gear_name: str) -> list[Analysis]:
        base = [f"parents.project={project_id}", f"gear_info.name={filter_value(gear_name)}"]
        return [analysis_from(item) for item in self._iter("analyses", base)]

    def submit(
        self,
        gear: Gear,
        destination: Container,
        inputs: dict[str, dict[str, str]],
        config: dict[str, Any],
        tags: list[str],
        analysis_label: str,
    ) -> tuple[str | None, str | None]:
        """Submits one job; returns (job id, analysis id) as far as the response tells."""
        job = flywheel.Job(gear_id=gear.id, inputs=inputs, config=config, tags=tags)
        if gear.is_analysis:
            add_analysis = getattr(self.client, f"add_{destination.level}_analysis")
            analysis_id = add_analysis(
                destination.id, flywheel.AnalysisInput(label=analysis_label, job=job)
            )
            return None, str(analysis_id)
        job.destination = destination.ref()
        return str(self.client.add_job(job)), None

    def cancel(self, job_id: str) -> None:
        self.client.modify_job(job_id, {"state": "cancelled"})

    def download_analysis_file(self, analysis_id: str, name: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.client.download_file_from_analysis(analysis_id, name, str(path))
