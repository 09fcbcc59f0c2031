"""Requests and wall time of a batch run over a large project, against the naive notebook loop.

    ./pants run tools/benchmarks/batch_run_requests.py -- [--sessions 2000] [--latency-ms 0 20]

Builds a fake project (sessions with 3-4 acquisitions each, 0-3 earlier analyses of the gear),
then measures, for each per-request latency:
  batch-run  select+plan (server-side filters, large pages, one jobs listing), then submit
             (bounded concurrency, one request per job);
  naive      the SDK tutorials' loop: list the sessions, reload each, list its acquisitions and
             look for a dwi file, then run the gear on each match, one after the other.
"""

from __future__ import annotations

import argparse
import io
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import flywheel

from fake_flywheel.server import FakeFlywheel
from gear_batch import commands
from gear_batch.plan import Mode
from gear_batch.site import BatchSite
from gear_batch.spec import BatchSpec, parse_batch_spec
from gear_common.flywheel_client import connect
from gear_testing.batch_project import BatchProject, build_batch_project


@dataclass(frozen=True)
class Measure:
    approach: str
    latency_ms: int
    phase: str
    requests: int
    seconds: float
    jobs: int


def _spec(project: BatchProject, concurrency: int) -> BatchSpec:
    return parse_batch_spec(
        {
            "project": project.path,
            "gear": {"name": "dwi-qa", "version": "1.2.0"},
            "select": {"level": "session", "acquisition_label": "^dwi$"},
            "inputs": {
                "dwi": {"from": "acquisition", "acquisition_label": "^dwi$", "type": "nifti"}
            },
            "concurrency": concurrency,
            "page_size": 1000,
        },
        source="benchmark",
    )


def _timed(fake: FakeFlywheel, work: Callable[[], int]) -> tuple[int, float, int]:
    fake.reset_requests()
    start = time.perf_counter()
    jobs = work()
    return len(fake.requests), time.perf_counter() - start, jobs


def measure_batch_run(sessions: int, latency: float, concurrency: int) -> list[Measure]:
    with FakeFlywheel() as fake, tempfile.TemporaryDirectory() as tmp:
        project = build_batch_project(fake, sessions=sessions)
        spec = _spec(project, concurrency)
        site = BatchSite(connect(fake.api_key), spec.page_size)
        fake.latency = latency
        state_path = Path(tmp) / "state.jsonl"

        def plan() -> int:
            return len(commands.make_plan(site, spec, mode=Mode.DEFAULT, state=None).to_submit)

        def submit() -> int:
            return commands.submit(site, spec, state_path, out=io.StringIO()).submitted

        planned = _timed(fake, plan)
        # submit plans again (it cannot trust a plan made before its state file existed).
        submitted = _timed(fake, submit)
        ms = round(latency * 1000)
        return [
            Measure("batch-run", ms, "select+plan", *planned),
            Measure("batch-run", ms, "select+plan+submit", *submitted),
        ]


def measure_naive(sessions: int, latency: float) -> list[Measure]:
    with FakeFlywheel() as fake:
        project = build_batch_project(fake, sessions=sessions)
        client = flywheel.Client(fake.api_key)
        fake.latency = latency
        matches: list[tuple[str, str, str]] = []

        def select() -> int:
            found = client.get_project(project.project_id)
            for session in found.sessions():
                session = session.reload()
                for acquisition in session.acquisitions():
                    for file in acquisition.files:
                        if acquisition.label == "dwi" and file.type == "nifti":
                            matches.append((session.id, acquisition.id, file.name))
            return len(matches)

        def submit() -> int:
            for session_id, acquisition_id, name in matches:
                job = flywheel.Job(
                    gear_id=project.gear_id,
                    inputs={"dwi": {"type": "acquisition", "id": acquisition_id, "name": name}},
                    config={},
                )
                client.add_session_analysis(
                    session_id, flywheel.AnalysisInput(label="dwi-qa", job=job)
                )
            return len(matches)

        selected = _timed(fake, select)
        submitted = _timed(fake, submit)
        ms = round(latency * 1000)
        total = (selected[0] + submitted[0], selected[1] + submitted[1], submitted[2])
        return [
            Measure("naive", ms, "select+plan", *selected),
            Measure("naive", ms, "select+plan+submit", *total),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 20])
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results: list[Measure] = []
    for latency_ms in args.latency_ms:
        latency = latency_ms / 1000
        print(f"measuring {args.sessions} sessions at {latency_ms} ms per request ...", flush=True)
        results += measure_batch_run(args.sessions, latency, args.concurrency)
        results += measure_naive(args.sessions, latency)
    print()
    print(
        f"{'approach':<10} {'latency':>7} {'phase':<19} {'requests':>8} {'wall s':>8} {'jobs':>5}"
    )
    for m in results:
        print(
            f"{m.approach:<10} {m.latency_ms:>5}ms {m.phase:<19} {m.requests:>8}"
            f" {m.seconds:>8.2f} {m.jobs:>5}"
        )
    print()
    for latency_ms in args.latency_ms:
        ours = {
            m.phase: m for m in results if m.approach == "batch-run" and m.latency_ms == latency_ms
        }
        naive = {
            m.phase: m for m in results if m.approach == "naive" and m.latency_ms == latency_ms
        }
        plan_ratio = naive["select+plan"].requests / ours["select+plan"].requests
        submit = ours["select+plan+submit"]
        per_job = (submit.requests - ours["select+plan"].requests) / max(1, submit.jobs)
        print(
            f"{latency_ms} ms: select+plan uses {plan_ratio:.0f}x fewer requests than naive"
            f" ({ours['select+plan'].requests} vs {naive['select+plan'].requests}),"
            f" {naive['select+plan'].seconds / ours['select+plan'].seconds:.0f}x less time;"
            f" submit costs {per_job:.2f} requests per job beyond planning"
            f" ({submit.jobs} jobs; naive submits {naive['select+plan+submit'].jobs},"
            " skipping nothing already done)"
        )


if __name__ == "__main__":
    main()
