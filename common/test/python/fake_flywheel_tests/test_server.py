"""The fake_flywheel Flywheel API, driven by the real flywheel-sdk client."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import flywheel
import pytest

from fake_flywheel import FakeFlywheel, Fault


def test_client_authenticates_and_sees_current_user(fake_flywheel: FakeFlywheel) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    assert client.get_current_user().email == "admin@example.org"
    # SDK 23 checks the key with /api/auth/status, SDK 16 with /api/users/self.
    assert fake_flywheel.requests[0].path in ("/api/auth/status", "/api/users/self")


def test_find_filters_and_pages_with_after_id(fake_flywheel: FakeFlywheel) -> None:
    for index in range(7):
        fake_flywheel.add(
            "groups", {"_id": f"g{index}", "label": "even" if index % 2 == 0 else "odd"}
        )
    client = flywheel.Client(fake_flywheel.api_key)
    assert [g.id for g in client.groups.find("label=odd")] == ["g1", "g3", "g5"]
    fake_flywheel.reset_requests()
    assert len(list(client.groups.iter_find(limit=3))) == 7
    after_ids = [r.query.get("after_id") for r in fake_flywheel.requests]
    # The SDK asks again with after_id until a page comes back empty.
    assert after_ids == [None, ["g2"], ["g5"], ["g6"]]


def test_containers_hierarchy_and_lookup(fake_flywheel: FakeFlywheel) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    client.add_group(flywheel.Group(id="grp", label="Group"))
    project_id = client.add_project(flywheel.Project(group="grp", label="proj"))
    subject = fake_flywheel.add("subjects", {"label": "s1", "project": project_id})
    fake_flywheel.add("sessions", {"label": "ses", "subject": subject["_id"]})
    assert client.lookup("grp/proj").id == project_id
    assert [s.label for s in client.get_project_subjects(project_id)] == ["s1"]
    with pytest.raises(flywheel.ApiException) as error:
        client.lookup("grp/missing")
    assert error.value.status == 404


def test_faults_fail_or_delay_the_nth_match(fake_flywheel: FakeFlywheel) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    fake_flywheel.inject(Fault("POST", "/api/groups", nth=2, status=500))
    client.add_group(flywheel.Group(id="a", label="A"))
    with pytest.raises(flywheel.ApiException) as error:
        client.add_group(flywheel.Group(id="b", label="B"))
    assert error.value.status == 500
    client.add_group(flywheel.Group(id="c", label="C"))
    assert sorted(fake_flywheel.items["groups"]) == ["a", "c"]

    with fake_flywheel.fault("GET", r"/api/groups/a", delay=0.3, status=0):
        started = time.monotonic()
        assert client.get_group("a").label == "A"
        assert time.monotonic() - started >= 0.3


def test_records_request_bodies_and_rejects_wrong_keys(fake_flywheel: FakeFlywheel) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    client.add_group(flywheel.Group(id="x", label="X"))
    posted = fake_flywheel.mutating_requests()[-1]
    assert (posted.method, posted.path, posted.body) == (
        "POST",
        "/api/groups",
        {"_id": "x", "label": "X"},
    )
    with pytest.raises(flywheel.ApiException) as error:
        # SDK 23 checks the key when the client is made, SDK 16 on its first call.
        flywheel.Client(f"127.0.0.1:{fake_flywheel.port}:__force_insecure:wrong").get_current_user()
    assert error.value.status == 401


def test_conflicts_like_the_real_api(fake_flywheel: FakeFlywheel) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    client.add_group(flywheel.Group(id="x", label="X"))
    with pytest.raises(flywheel.ApiException) as error:
        client.add_group(flywheel.Group(id="x", label="X"))
    assert error.value.status == 409


def test_files_are_listed_and_downloaded(fake_flywheel: FakeFlywheel, tmp_path: Path) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    client.add_group(flywheel.Group(id="grp", label="Group"))
    project_id = client.add_project(flywheel.Project(group="grp", label="proj"))
    subject = fake_flywheel.add("subjects", {"label": "s1", "project": project_id})
    session = fake_flywheel.add("sessions", {"label": "ses", "subject": subject["_id"]})
    acquisition = fake_flywheel.add("acquisitions", {"label": "T1w", "session": session["_id"]})
    fake_flywheel.add_file(
        "acquisitions", acquisition["_id"], "scan 1.nii.gz", b"\x00\x01", type="nifti"
    )

    listed = client.get_acquisition(acquisition["_id"]).files
    assert [(f.name, f.size, f.type) for f in listed] == [("scan 1.nii.gz", 2, "nifti")]
    destination = tmp_path / "scan.nii.gz"
    client.download_file_from_acquisition(acquisition["_id"], "scan 1.nii.gz", str(destination))
    assert destination.read_bytes() == b"\x00\x01"
    assert [a.label for a in client.get_session_acquisitions(session["_id"])] == ["T1w"]


# Gear documents are made by bin/release-gear, which runs SDK 23 (python-default); older SDKs
# name the model otherwise, so these tests run on SDK 23 only.
needs_sdk_23_gear_documents = pytest.mark.skipif(
    not hasattr(flywheel, "GearDocumentLegacyInput"),
    reason="gear documents are registered by the release tools, on SDK 23",
)


def gear_document(version: str, category: str = "utility") -> flywheel.GearDocumentLegacyInput:
    manifest = {"name": "my-gear", "version": version, "label": "My gear", "inputs": {}}
    digest = "sha256:" + version.replace(".", "") * 16
    return flywheel.GearDocumentLegacyInput(
        category=category,
        gear=manifest,
        exchange=flywheel.GearExchange(
            git_commit="0" * 40,
            rootfs_hash=digest,
            rootfs_url=f"docker://127.0.0.1:5000/org/my-gear@{digest}",
        ),
    )


@needs_sdk_23_gear_documents
def test_gear_versions_are_registered_once_found_by_lookup_and_listed(
    fake_flywheel: FakeFlywheel,
) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    first = client.add_gear("my-gear", gear_document("1.0.0"))
    second = client.add_gear("my-gear", gear_document("1.1.0"))
    assert first != second

    with pytest.raises(flywheel.ApiException) as refused:
        client.add_gear("my-gear", gear_document("1.0.0"))
    assert refused.value.status == 409
    assert "Gear my-gear version 1.0.0 already exists" in str(refused.value.body)
    assert len(fake_flywheel.find("gears", gear__name="my-gear")) == 2

    found = client.lookup("gears/my-gear")
    assert (found.id, found.gear.version) == (second, "1.1.0")
    assert found.exchange.rootfs_url.endswith("@sha256:" + "110" * 16)
    assert [g.gear.version for g in client.get_all_gears()] == ["1.1.0"]
    assert sorted(g.gear.version for g in client.get_all_gears(all_versions=True)) == [
        "1.0.0",
        "1.1.0",
    ]
    assert client.get_gear(first).gear.version == "1.0.0"


@needs_sdk_23_gear_documents
def test_a_gear_document_the_site_would_refuse(fake_flywheel: FakeFlywheel) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    with pytest.raises(flywheel.ApiException) as wrong_name:
        client.add_gear("other-gear", gear_document("1.0.0"))
    assert wrong_name.value.status == 400
    with pytest.raises(flywheel.ApiException) as no_such:
        client.lookup("gears/my-gear")
    assert no_such.value.status == 404
    assert fake_flywheel.find("gears") == []


def test_an_endpoint_the_fake_does_not_serve_answers_501_naming_it(
    fake_flywheel: FakeFlywheel,
) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{fake_flywheel.port}/api/site/rules",
        headers={"Authorization": f"scitran-user {fake_flywheel.api_key_secret}"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 501
    body = json.loads(error.value.read())
    assert body["message"].startswith(
        "the fake Flywheel API does not implement GET /api/site/rules"
    )
    # A missing object is still a 404.
    client = flywheel.Client(fake_flywheel.api_key)
    with pytest.raises(flywheel.ApiException) as missing:
        client.get_project("0123456789abcdef01234567")
    assert missing.value.status == 404


def _hierarchy(fake_flywheel: FakeFlywheel, client: flywheel.Client) -> dict[str, str]:
    client.add_group(flywheel.Group(id="grp", label="Group"))
    project = client.add_project(flywheel.Project(group="grp", label="proj"))
    subject = fake_flywheel.add("subjects", {"label": "s1", "project": project})["_id"]
    session = fake_flywheel.add("sessions", {"label": "ses", "subject": subject})["_id"]
    acquisition = fake_flywheel.add("acquisitions", {"label": "acq", "session": session})["_id"]
    return {
        "groups": "grp",
        "projects": project,
        "subjects": subject,
        "sessions": session,
        "acquisitions": acquisition,
    }


def test_tags_on_every_container_type(fake_flywheel: FakeFlywheel) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    ids = _hierarchy(fake_flywheel, client)
    getters = {
        "groups": client.get_group,
        "projects": client.get_project,
        "subjects": client.get_subject,
        "sessions": client.get_session,
        "acquisitions": client.get_acquisition,
    }
    for collection, get in getters.items():
        container = get(ids[collection])
        container.add_tag("qc-passed")
        container.add_tag("Needs Review")
        container.rename_tag("Needs Review", "reviewed")
        container.delete_tag("qc-passed")
        assert get(ids[collection]).tags == ["reviewed"], collection
        with pytest.raises(flywheel.ApiException) as missing:
            container.delete_tag("never-added")
        assert missing.value.status == 404


def test_info_updates_on_containers_and_files(fake_flywheel: FakeFlywheel, tmp_path: Path) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    ids = _hierarchy(fake_flywheel, client)
    session = client.get_session(ids["sessions"])
    session.update_info({"a": 1, "b": {"c": 2}})
    session.update_info({"a": 3})
    session.delete_info("b")
    assert client.get_session(ids["sessions"]).info == {"a": 3}
    session.replace_info({"z": True})
    assert client.get_session(ids["sessions"]).info == {"z": True}

    scan = tmp_path / "scan.nii.gz"
    scan.write_bytes(b"\x1f\x8b not really gzip")
    acquisition = client.get_acquisition(ids["acquisitions"])
    acquisition.upload_file(str(scan))
    acquisition.update_file_info("scan.nii.gz", {"Manufacturer": "ACME"})
    acquisition.update_file("scan.nii.gz", {"modality": "MR", "type": "nifti"})
    acquisition.update_file_classification("scan.nii.gz", {"Intent": ["Structural"]})
    acquisition.replace_file_classification(
        "scan.nii.gz", {"Intent": ["Functional"], "Measurement": ["T2"]}, modality="MR"
    )
    acquisition.delete_file_classification("scan.nii.gz", {"Measurement": ["T2"]})
    (stored,) = client.get_acquisition(ids["acquisitions"]).files
    assert (stored.name, stored.size, stored.type, stored.modality) == (
        "scan.nii.gz",
        len(scan.read_bytes()),
        "nifti",
        "MR",
    )
    assert stored.info == {"Manufacturer": "ACME"}
    assert stored.classification == {"Intent": ["Functional"], "Measurement": []}
    assert acquisition.read_file("scan.nii.gz") == scan.read_bytes()


def test_uploads_to_an_analysis_and_lookup_by_path(
    fake_flywheel: FakeFlywheel, tmp_path: Path
) -> None:
    client = flywheel.Client(fake_flywheel.api_key)
    ids = _hierarchy(fake_flywheel, client)
    gear = fake_flywheel.add_gear({"name": "qc", "version": "1.0.0", "inputs": {}, "config": {}})
    analysis_id, _ = fake_flywheel.add_analysis("session", ids["sessions"], gear["_id"], "qc")
    report = tmp_path / "report.json"
    report.write_text('{"ok": true}')
    client.get_analysis(analysis_id).upload_output(str(report))
    (output,) = client.get_analysis(analysis_id).files
    assert output.name == "report.json"
    assert fake_flywheel.file_contents[(analysis_id, "report.json")] == b'{"ok": true}'
    assert client.lookup("grp/proj/s1/ses/acq").id == ids["acquisitions"]


def test_the_sdks_container_methods_build_a_hierarchy(fake_flywheel: FakeFlywheel) -> None:
    """What gear code calls on containers: add_subject, add_session (whose body names the
    subject as an object), add_acquisition, fw.get by id, info and tags."""
    fw = flywheel.Client(fake_flywheel.api_key)
    fw.add_group(flywheel.Group(id="lab", label="Lab"))
    project = fw.get_project(fw.add_project(flywheel.Project(group="lab", label="study")))
    subject = project.add_subject(label="sub-01")
    session = subject.add_session(label="ses-01")
    acquisition = session.add_acquisition(label="T1w")
    assert (session.subject.id, session.parents.subject) == (subject.id, subject.id)
    assert acquisition.parents.session == session.id
    for container, kind in ((project, "project"), (subject, "subject"), (session, "session")):
        fetched = fw.get(container.id)
        # The class the SDK's own getter returns (SDK 23: get_project's; SDK 16: its
        # Container<Kind>Output, as from a real site), told apart by container_type.
        assert fetched.container_type == kind and fetched.id == container.id
        assert type(fetched).__name__ in (
            type(container).__name__,
            f"Container{kind.title()}Output",
        )
    acquisition.update_info({"quality": "good"})
    acquisition.add_tag("checked")
    reloaded = fw.get(acquisition.id)
    assert (reloaded.info, reloaded.tags) == ({"quality": "good"}, ["checked"])


def test_a_session_may_name_a_new_subject_by_its_label(fake_flywheel: FakeFlywheel) -> None:
    fw = flywheel.Client(fake_flywheel.api_key)
    fw.add_group(flywheel.Group(id="lab", label="Lab"))
    project_id = fw.add_project(flywheel.Project(group="lab", label="study"))
    session_id = fw.add_session(
        {"label": "ses-01", "project": project_id, "subject": {"label": "s2"}}
    )
    subject_id = fw.get_session(session_id).subject.id
    assert fw.get_subject(subject_id).label == "s2"
    assert fw.get_subject(subject_id).parents.project == project_id


def test_a_failing_handler_answers_500_with_the_reason(
    fake_flywheel: FakeFlywheel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("unhashable type: 'dict'")

    monkeypatch.setattr(fake_flywheel, "_lookup", broken)
    fw = flywheel.Client(fake_flywheel.api_key)
    with pytest.raises(flywheel.ApiException) as error:
        fw.lookup("lab/study")
    assert error.value.status == 500
    assert "TypeError: unhashable type: 'dict'" in str(error.value.body)
