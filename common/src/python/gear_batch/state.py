"""The run's state file: JSON lines written as the run goes, so a stopped run can resume.

The first line describes the run (its id, the spec's fingerprint, project and gear); each later
line is one event: `submitted` (destination, job id and/or analysis id), `failed` (destination
and error), `cancelled` (job id). Lines are flushed and synced one by one; a line cut short by a
crash is ignored when the file is read again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gear_common.errors import GearInputError

log = logging.getLogger(__name__)

RUN_TAG_PREFIX = "batch-run-"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    spec_fingerprint: str
    project_id: str
    gear_name: str
    gear_version: str
    level: str

    @property
    def run_tag(self) -> str:
        """The job tag that marks this run's jobs on the site."""
        return f"{RUN_TAG_PREFIX}{self.run_id}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class StateFile:
    """An append-only JSON-lines record of one batch run."""

    def __init__(self, path: Path, run: RunInfo, events: list[dict[str, Any]]) -> None:
        self.path = path
        self.run = run
        self.events = events
        self._lock = threading.Lock()

    @classmethod
    def read(cls, path: Path) -> StateFile:
        """An existing state file (a missing or foreign file is a clear error)."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise GearInputError(f"{path}: no such state file (run submit first)") from None
        records = []
        for number, line in enumerate(lines, start=1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if number == len(lines):
                    log.warning("%s: ignoring the last line, cut short (line %d)", path, number)
                    continue
                raise GearInputError(f"{path}: line {number} is not JSON") from None
        if not records or records[0].get("event") != "run":
            raise GearInputError(f"{path}: not a batch run state file (no run line first)")
        header = records[0]
        try:
            run = RunInfo(**{k: header[k] for k in RunInfo.__dataclass_fields__})
        except KeyError as exc:
            raise GearInputError(f"{path}: the run line has no {exc}") from None
        return cls(path, run, records[1:])

    @classmethod
    def read_if_exists(cls, path: Path) -> StateFile | None:
        return cls.read(path) if path.exists() and path.stat().st_size else None

    @classmethod
    def start(cls, path: Path, run: RunInfo) -> StateFile:
        """A new state file holding the run line."""
        path.parent.mkdir(parents=True, exist_ok=True)
        state = cls(path, run, [])
        state._append({"event": "run", **run.__dict__, "time": _now()})
        return state

    def ensure_spec(self, fingerprint: str) -> None:
        """Refuses to continue a run that was started from another spec."""
        if self.run.spec_fingerprint != fingerprint:
            raise GearInputError(
                f"{self.path}: this state file belongs to another batch spec (fingerprint"
                f" {self.run.spec_fingerprint}, this spec {fingerprint}); use a new state file"
            )

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def record(self, event: str, **fields: Any) -> None:
        record = {"event": event, **fields, "time": _now()}
        self._append(record)
        self.events.append(record)

    def of(self, event: str) -> Iterator[dict[str, Any]]:
        return (record for record in self.events if record.get("event") == event)

    def submitted(self) -> dict[str, dict[str, Any]]:
        """The latest `submitted` record per destination id."""
        return {record["destination"]["id"]: record for record in self.of("submitted")}
