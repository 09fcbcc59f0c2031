"""Selection and planning against the fake API: filters, request counts, skip rules."""

from __future__ import annotations

from fake_flywheel.server import FakeFlywheel
from gear_batch.commands import make_plan
from gear_batch.plan import Mode
from gear_batch.select import select_targets
from gear_batch.site import BatchSite, Container
from gear_batch.spec import parse_batch_spec
from gear_common.flywheel_client import connect
from gear_testing.batch_project import DEFAULT_CONFIG, BatchProject, build_batch_project

from .conftest import MakeSpec, spec_document


def _project(site: BatchSite, project: BatchProject) -> Container:
    return site.find_project(project.group_id, project.project_label)


def test_sessions_with_a_dwi_acquisition_are_selected(
    site: BatchSite, project: BatchProject, make_spec: MakeSpec
) -> None:
    targets = select_targets(site, make_spec(), _project(site, project))
    assert sorted(t.container.id for t in targets) == sorted(project.dwi_session_ids)
    assert all(t.acquisitions[0].label == "dwi" for t in targets)


def test_label_tag_and_file_filters(
    fake_flywheel: FakeFlywheel, site: BatchSite, project: BatchProject, make_spec: MakeSpec
) -> None:
    tagged = project.session_ids[:3]
    for session_id in tagged:
        fake_flywheel.items["sessions"][session_id]["tags"] = ["ready"]
    fake_flywheel.items["sessions"][tagged[0]]["tags"].append("skip")
    spec = make_spec(
        select={
            "level": "session",
            "tags": ["ready"],
            "exclude_tags": ["skip"],
            "label": "^ses-000[0-9]$",
            "file": {"type": "nifti", "name": "T1w.*"},
        }
    )
    targets = select_targets(site, spec, _project(site, project))
    assert [t.container.id for t in targets] == tagged[1:]


def test_selection_costs_pages_not_requests_per_session() -> None:
    """Doubling the sessions doubles only the pages (of 5 here), not one request per session."""
    counts = []
    for sessions in (10, 20):
        with FakeFlywheel() as fake:
            project = build_batch_project(fake, sessions=sessions, earlier_analyses=False)
            site = BatchSite(connect(fake.api_key), 50)
            spec = parse_batch_spec(spec_document(project.path, page_size=50), source="s")
            fake.reset_requests()
            make_plan(site, spec, mode=Mode.DEFAULT, state=None)
            counts.append(len(fake.requests))
    assert counts[0] == counts[1] <= 8


def test_default_skips_done_underway_and_failed_work(
    fake_flywheel: FakeFlywheel, site: BatchSite, project: BatchProject, make_spec: MakeSpec
) -> None:
    sessions = project.dwi_session_ids
    fake = fake_flywheel
    for job in list(fake.items["jobs"].values()):  # start from a clean history
        del fake.items["jobs"][job["_id"]]
    states = ["complete", "running", "failed", "cancelled"]
    for session_id, state in zip(sessions, states):
        fake.add_analysis(
            "session", session_id, project.gear_id, "old", config=DEFAULT_CONFIG, state=state
        )
    # Same gear and version, another config: does not count.
    other_config = {**DEFAULT_CONFIG, "mode": "full"}
    fake.add_analysis("session", sessions[4], project.gear_id, "old", config=other_config)

    def decisions(mode: Mode) -> dict[str, bool]:
        plan = make_plan(site, make_spec(), mode=mode, state=None)
        return {item.destination.id: item.submit for item in plan.items}

    default = decisions(Mode.DEFAULT)
    assert [default[s] for s in sessions[:5]] == [False, False, False, True, True]
    assert all(default[s] for s in sessions[5:])
    rerun = decisions(Mode.RERUN_FAILED)
    assert [rerun[s] for s in sessions[:5]] == [False, False, True, True, True]
    assert all(decisions(Mode.FORCE).values())


def test_a_destination_without_the_input_file_is_skipped_with_the_reason(
    fake_flywheel: FakeFlywheel, site: BatchSite, project: BatchProject, make_spec: MakeSpec
) -> None:
    spec = make_spec(
        select={"level": "session"},
        inputs={"dwi": {"from": "acquisition", "acquisition_label": "^dwi$", "type": "nifti"}},
    )
    plan = make_plan(site, spec, mode=Mode.FORCE, state=None)
    without_dwi = [i for i in plan.items if i.destination.id not in project.dwi_session_ids]
    assert without_dwi and not any(item.submit for item in without_dwi)
    assert without_dwi[0].reason == ("input dwi: no file matching type nifti in the acquisition")
    assert plan.to_submit[0].inputs["dwi"]["name"] == "dwi.nii.gz"
