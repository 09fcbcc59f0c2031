"""Submitting a plan: bounded concurrency, retries with backoff, every outcome recorded."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone

import flywheel

from gear_batch.plan import BatchPlan, PlannedJob
from gear_batch.site import BatchSite
from gear_batch.state import StateFile

log = logging.getLogger(__name__)

# HTTP statuses worth retrying; other 4xx answers mean the request itself is wrong.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class SubmitResult:
    submitted: int
    failed: int


def is_transient(exc: Exception) -> bool:
    """Server errors, throttling, timeouts and dropped connections; not bad requests."""
    if isinstance(exc, flywheel.ApiException):
        return exc.status in TRANSIENT_STATUSES or not exc.status
    return True


def describe(exc: Exception) -> str:
    if isinstance(exc, flywheel.ApiException):
        return f"{exc.status} {exc.reason}".strip()
    return type(exc).__name__


def _destination(item: PlannedJob) -> dict[str, str]:
    container = item.destination
    return {"type": container.level, "id": container.id, "label": container.label}


class Submitter:
    """Submits the planned jobs of one run and records each outcome in the state file."""

    def __init__(
        self,
        site: BatchSite,
        plan: BatchPlan,
        state: StateFile,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.site = site
        self.plan = plan
        self.state = state
        self.sleep = sleep
        self.now = datetime.now(timezone.utc)

    def _already_landed(self, item: PlannedJob) -> tuple[str | None, str | None] | None:
        """After an unclear failure: the job this run made for the destination, if any."""
        level = item.destination.level
        jobs = self.site.jobs(
            self.plan.project.id,
            self.plan.gear.name,
            f"tags={self.state.run.run_tag}",
            f"parents.{level}={item.destination.id}",
        )
        mine = [job for job in jobs if job.destination_id == item.destination.id]
        if not mine:
            return None
        return mine[-1].id, mine[-1].analysis_id

    def _submit_one(self, item: PlannedJob) -> tuple[str | None, str | None]:
        spec = self.plan.spec
        attempt = 0
        while True:
            try:
                if attempt:
                    landed = self._already_landed(item)
                    if landed is not None:
                        log.info("%s: the earlier attempt went through", item.destination.label)
                        return landed
                return self.site.submit(
                    self.plan.gear,
                    item.destination,
                    item.inputs,
                    self.plan.config,
                    [*spec.tags, self.state.run.run_tag],
                    self.plan.analysis_label(item.destination, self.now),
                )
            except Exception as exc:
                if not is_transient(exc) or attempt >= spec.retries:
                    raise
                delay = spec.retry_backoff_seconds * (2**attempt) * random.uniform(0.5, 1.0)
                attempt += 1
                log.warning(
                    "%s: %s; retry %d of %d in %.1f s",
                    item.destination.label,
                    describe(exc),
                    attempt,
                    spec.retries,
                    delay,
                )
                self.sleep(delay)

    def record_unrecorded(self) -> int:
        """Writes down this run's jobs that a stopped run made but did not record."""
        items = [item for item in self.plan.items if item.unrecorded and item.existing_job]
        for item in items:
            job = item.existing_job
            assert job is not None
            self.state.record(
                "submitted",
                destination=_destination(item),
                job_id=job.id,
                analysis_id=job.analysis_id,
                recovered=True,
            )
        if items:
            log.info("Recorded %d job(s) submitted before the run stopped", len(items))
        return len(items)

    def _record(self, item: PlannedJob, future: Future[tuple[str | None, str | None]]) -> bool:
        destination = _destination(item)
        exc = future.exception()
        if exc is None:
            job_id, analysis_id = future.result()
            self.state.record(
                "submitted", destination=destination, job_id=job_id, analysis_id=analysis_id
            )
            return True
        error = describe(exc) if isinstance(exc, Exception) else type(exc).__name__
        log.error("%s: not submitted: %s", item.destination.label, error)
        self.state.record("failed", destination=destination, error=error)
        return False

    def run(self) -> SubmitResult:
        """Submits every planned job; at most `spec.concurrency` requests are in flight."""
        self.record_unrecorded()
        pending = list(reversed(self.plan.to_submit))
        total = len(pending)
        submitted = failed = 0
        in_flight: dict[Future[tuple[str | None, str | None]], PlannedJob] = {}
        with ThreadPoolExecutor(max_workers=self.plan.spec.concurrency) as pool:
            while pending or in_flight:
                while pending and len(in_flight) < self.plan.spec.concurrency:
                    item = pending.pop()
                    in_flight[pool.submit(self._submit_one, item)] = item
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    if self._record(in_flight.pop(future), future):
                        submitted += 1
                    else:
                        failed += 1
                finished = submitted + failed
                if finished == total or finished % max(1, total // 20) == 0:
                    log.info("Submitted %d of %d (%d failed)", submitted, total, failed)
        return SubmitResult(submitted=submitted, failed=failed)
