"""What a moved-in gear's Dockerfile installs is read by Docker's own line rules."""

from __future__ import annotations

from pathlib import Path

from gear_tools.author.upstream_dockerfile import dockerfile_text, instructions, read_dockerfile

DOCKERFILE = """# Dockerfile of a DICOM sender
FROM ubuntu:20.04
RUN apt-get update && apt-get install -y software-properties-common \\
# a comment line inside the continuation (Docker drops it)
                                         dcmtk=3.6.4-2.1build2 python3-pip
RUN add-apt-repository -y ppa:deadsnakes/ppa
RUN pip3 install -r requirements.txt && pip install flywheel-sdk 'backoff~=1.10'
RUN wget -q https://example.org/tool.zip && unzip tool.zip
RUN apk add --no-cache bash
ENV FLYWHEEL /flywheel/v0
ENV LD_LIBRARY_PATH=/opt/tool/lib
COPY ["requirements.txt", "/opt/requirements.txt"]
COPY bin/tool /usr/local/bin/tool
COPY run.py ${FLYWHEEL}/run.py
"""


def test_continuations_join_and_comment_lines_inside_them_are_dropped() -> None:
    parsed = instructions(DOCKERFILE)
    assert parsed[1][0] == "RUN"
    assert parsed[1][1].endswith("dcmtk=3.6.4-2.1build2 python3-pip")
    assert "comment" not in parsed[1][1]


def test_apt_packages_are_carried_and_the_rest_is_named(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    plan = read_dockerfile(tmp_path / "Dockerfile")
    assert plan.base_image == "ubuntu:20.04"
    assert plan.apt_packages == ["software-properties-common", "dcmtk"]
    assert plan.pip_requirements == ["flywheel-sdk", "backoff~=1.10"]
    notes = "\n".join(plan.notes)
    for expected in (
        "dcmtk=3.6.4-2.1build2: the version is the upstream distribution's",
        "add-apt-repository -y ppa:deadsnakes/ppa: another package source",
        "wget https://example.org/tool.zip: a download, not carried",
        "apk add bash: Alpine packages, not carried",
        "ENV LD_LIBRARY_PATH=/opt/tool/lib: not carried",
        "COPY bin/tool /usr/local/bin/tool: not carried",
    ):
        assert expected in notes
    assert "FLYWHEEL" not in notes and "requirements.txt" not in notes and "run.py" not in notes
    assert "FROM ubuntu" not in notes


def test_another_base_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM flywheel/python:3.7.4-dcmtk3.6.4\n")
    plan = read_dockerfile(tmp_path / "Dockerfile")
    assert plan.notes == [
        "FROM flywheel/python:3.7.4-dcmtk3.6.4: what that image adds to its system is not "
        "carried (add the packages the gear needs to its Dockerfile)"
    ]


def test_the_gears_dockerfile_installs_the_packages_and_names_what_was_not_carried() -> None:
    text = dockerfile_text(["dcmtk"], ["wget https://x: a download"], "ubuntu:20.04")
    lines = text.splitlines()
    assert "FROM ${BASE_IMAGE}" in lines
    assert " && apt-get install -y --no-install-recommends dcmtk \\" in lines
    assert "# From the gear's Dockerfile: wget https://x: a download" in lines
    assert read_dockerfile(Path("/nonexistent/Dockerfile")).apt_packages == []
