from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gear_manifest.checker import (
    MAX_DEPTH,
    MAX_KEYS,
    DockerfileCommands,
    ImageTarget,
    _TooSlowError,
    check_manifest,
    load_manifest,
    main,
    one_of,
    parse_dockerfile,
    read_text,
    spec_problems,
    time_limit,
)

PATH = "g/src/docker/manifest.json"
ADDRESS = "g/src/docker:my-gear"

MANIFEST: dict[str, Any] = {
    "name": "my-gear",
    "label": "My gear",
    "description": "Does one thing.",
    "version": "1.2.0",
    "author": "A",
    "maintainer": "A",
    "cite": "",
    "license": "MIT",
    "source": "",
    "url": "",
    "command": "/bin/run",
    "custom": {"gear-builder": {"category": "utility", "image": "org/my-gear:1.2.0"}},
    "inputs": {"infile": {"base": "file"}, "api-key": {"base": "api-key"}},
    "config": {"n": {"type": "integer", "default": 3, "minimum": 0}},
}

TARGET = ImageTarget(
    address=ADDRESS, name="my-gear", tags=("1.2.0", "latest"), repositories=("org/my-gear",)
)
DOCKERFILE = DockerfileCommands("g/src/docker/Dockerfile", pex_destinations=("/bin/run",))
# How a gear's Dockerfile puts its manifest where the gear spec wants it.
COPY_MANIFEST = "COPY g/src/docker/manifest.json /flywheel/v0/manifest.json\n"


def check(
    manifest: dict[str, Any] | str = MANIFEST,
    target: ImageTarget = TARGET,
    dockerfile: DockerfileCommands | None = DOCKERFILE,
    code: list[str] | None = None,
) -> list[str]:
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    return check_manifest(PATH, text, target, dockerfile, validate_spec=False, code=code)


def changed(**changes: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(MANIFEST)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = manifest
        for parent in parents:
            node = node.setdefault(parent, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return manifest


def image(value: str | None) -> dict[str, Any]:
    manifest = copy.deepcopy(MANIFEST)
    if value is None:
        del manifest["custom"]["gear-builder"]["image"]
    else:
        manifest["custom"]["gear-builder"]["image"] = value
    return manifest


def test_consistent_manifest_passes() -> None:
    assert check() == []


# 1. name


def test_name_must_equal_target_name() -> None:
    assert check(changed(name="other-gear")) == [
        f'{PATH}: name is "other-gear" but the docker_image target {ADDRESS} is named "my-gear"'
    ]


# 2. version and tags


def test_version_must_equal_the_non_latest_tag() -> None:
    assert check(changed(version="1.3.0")) == [
        f'{PATH}: version is "1.3.0" but the docker_image target {ADDRESS} is tagged "1.2.0"'
    ]


def test_target_needs_exactly_one_version_tag() -> None:
    no_version = ImageTarget(ADDRESS, "my-gear", ("latest",), ("org/my-gear",))
    two_versions = ImageTarget(ADDRESS, "my-gear", ("1.2.0", "1.2", "latest"), ("org/my-gear",))
    assert check(target=no_version) == [
        f"{PATH}: the docker_image target {ADDRESS} must have exactly one image tag besides "
        '"latest" (the gear version), found none'
    ]
    assert check(target=two_versions)[0].endswith('found "1.2.0", "1.2"')


def test_latest_tag_is_required_unless_opted_out() -> None:
    no_latest = ImageTarget(ADDRESS, "my-gear", ("1.2.0",), ("org/my-gear",))
    assert check(target=no_latest) == [
        f'{PATH}: the docker_image target {ADDRESS} has no "latest" image tag; add it, or set '
        "gear_manifest_require_latest=False on the target"
    ]
    opted_out = ImageTarget(ADDRESS, "my-gear", ("1.2.0",), ("org/my-gear",), require_latest=False)
    assert check(target=opted_out) == []


# 3. custom.gear-builder.image


def test_image_must_equal_repository_and_version() -> None:
    assert check(image("org/my-gear:1.1.0")) == [
        f'{PATH}: custom.gear-builder.image is "org/my-gear:1.1.0" but the docker_image target '
        f'{ADDRESS} builds "org/my-gear:1.2.0"'
    ]


def test_manifest_without_custom_section() -> None:
    problems = check(changed(custom=None))
    assert (
        f"{PATH}: custom.gear-builder.image is missing; the docker_image target {ADDRESS} "
        'builds "org/my-gear:1.2.0"'
    ) in problems


def test_registry_with_host_and_port() -> None:
    target = ImageTarget(
        ADDRESS, "my-gear", ("1.2.0", "latest"), ("registry.example.org:5000/gears/my-gear",)
    )
    assert check(image("registry.example.org:5000/gears/my-gear:1.2.0"), target=target) == []
    assert check(image("gears/my-gear:1.2.0"), target=target) == [
        f'{PATH}: custom.gear-builder.image is "gears/my-gear:1.2.0" but the docker_image target '
        f'{ADDRESS} builds "registry.example.org:5000/gears/my-gear:1.2.0"'
    ]


def test_any_of_several_registries_is_accepted() -> None:
    target = ImageTarget(ADDRESS, "my-gear", ("1.2.0", "latest"), ("a.io/my-gear", "b.io/my-gear"))
    assert check(image("b.io/my-gear:1.2.0"), target=target) == []
    assert 'builds "a.io/my-gear:1.2.0" or "b.io/my-gear:1.2.0"' in check(target=target)[0]


# 4. the gear spec is checked with fw-gear, which runs in the linter's own pex: see rules_test.py.


# 5. command and Dockerfile


def test_command_must_run_the_copied_pex() -> None:
    assert check(changed(command="/bin/gear")) == [
        f'{PATH}: command is "/bin/gear" but g/src/docker/Dockerfile copies the pex to "/bin/run"'
    ]
    assert check(changed(command="/bin/run --verbose")) == []


def test_missing_command_means_the_spec_default() -> None:
    assert check(changed(command=None)) == [
        f'{PATH}: command is not set (so Flywheel runs "/flywheel/v0/run") but '
        'g/src/docker/Dockerfile copies the pex to "/bin/run"'
    ]


def test_command_against_entrypoint_when_no_pex_is_copied() -> None:
    dockerfile = DockerfileCommands("D", entrypoint=("/flywheel/v0/run.py",))
    assert check(changed(command="./run.py"), dockerfile=dockerfile) == []
    # The interpreter form runs the same file (the gear spec's `python3 /flywheel/v0/gear.pex`).
    assert check(changed(command="python run.py"), dockerfile=dockerfile) == []
    assert check(changed(command="python other.py"), dockerfile=dockerfile) == [
        f'{PATH}: command is "python other.py" but the ENTRYPOINT of D runs "/flywheel/v0/run.py"'
    ]


def test_dockerfile_parsing() -> None:
    dockerfile = parse_dockerfile(
        "Dockerfile",
        """\
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ENV FLYWHEEL=/flywheel/v0
WORKDIR ${FLYWHEEL}
# a comment
COPY g/src/docker/manifest.json ${FLYWHEEL}/manifest.json
COPY --chown=1000:1000 g.src.python.app/bin.pex \\
     /bin/run
COPY other.src.python.x/bin.pex tools/
ENTRYPOINT ["/bin/run"]
""",
    )
    assert dockerfile.pex_destinations == ("/bin/run", "/flywheel/v0/tools/bin.pex")
    assert dockerfile.entrypoint == ("/bin/run",)


def test_shell_form_entrypoint_relative_to_workdir() -> None:
    dockerfile = parse_dockerfile("D", "FROM x\nWORKDIR /flywheel/v0\nENTRYPOINT ./run.py --x\n")
    assert dockerfile == DockerfileCommands(
        "D",
        (),
        ("/flywheel/v0/run.py", "--x"),
        workdir="/flywheel/v0",
        runtime=(("ENTRYPOINT", "./run.py --x"),),
        manifest_copied=False,
    )


def test_only_the_final_stage_counts() -> None:
    dockerfile = parse_dockerfile(
        "D",
        "ARG BASE_IMAGE=python:3.11-slim\n"
        "FROM ${BASE_IMAGE} AS venv\n"
        "COPY g.src.python.app/bin.pex /tmp/gear.pex\n"
        'ENTRYPOINT ["/tmp/gear.pex"]\n'
        "FROM ${BASE_IMAGE}\n"
        "COPY --from=venv /opt/gear /opt/gear\n"
        f"{COPY_MANIFEST}"
        'ENTRYPOINT ["/bin/run"]\n',
    )
    assert dockerfile == DockerfileCommands(
        "D", (), ("/bin/run",), runtime=(("ENTRYPOINT", '["/bin/run"]'),), manifest_copied=True
    )
    assert check(dockerfile=dockerfile) == []
    assert check(changed(command="/tmp/gear.pex"), dockerfile=dockerfile) == [
        f'{PATH}: command is "/tmp/gear.pex" but the ENTRYPOINT of D runs "/bin/run"'
    ]


def test_a_stage_built_from_an_earlier_stage_keeps_what_it_set() -> None:
    dockerfile = parse_dockerfile(
        "D",
        "FROM python AS base\nWORKDIR /app\nCOPY a/bin.pex run\nFROM base\nWORKDIR sub\n",
    )
    assert dockerfile == DockerfileCommands(
        "D", ("/app/run",), (), workdir="/app/sub", manifest_copied=False
    )


def test_unusual_dockerfiles_do_not_break_the_parser() -> None:
    dockerfile = parse_dockerfile(
        "D",
        "FROM x\n"
        "ENV FLYWHEEL /flywheel/v0\n"
        'RUN echo "unbalanced\n'
        'COPY ["a/bin.pex", "$FLYWHEEL/run"]\n'
        "COPY --from=build /out/app.pex /bin/app\n"
        "ENTRYPOINT\n",
    )
    assert dockerfile.pex_destinations == ("/flywheel/v0/run", "/bin/app")
    assert dockerfile.entrypoint == ()


def test_manifest_with_odd_types_is_reported_not_crashed() -> None:
    manifest = changed(custom="not an object", command="'unbalanced", version=1)
    problems = check(manifest)
    assert (
        f'{PATH}: version is 1 but the docker_image target {ADDRESS} is tagged "1.2.0"' in problems
    )
    assert any("custom.gear-builder.image is missing" in problem for problem in problems)
    assert any('command is "\'unbalanced"' in problem for problem in problems)


# 6. well-formed JSON


def test_invalid_json_is_reported_with_position() -> None:
    problems = check('{"name": "my-gear",\n "version": }')
    assert problems == [f"{PATH}: not valid JSON: Expecting value at line 2 column 13"]


def test_duplicate_keys_are_errors() -> None:
    text = json.dumps(MANIFEST)[:-1] + ', "version": "1.2.0"}'
    assert check(text) == [
        f'{PATH}: key "version" appears more than once (JSON keeps only the last value)'
    ]
    assert load_manifest('{"a": {"b": 1, "b": 2}}')[1] == [
        'key "b" appears more than once (JSON keeps only the last value)'
    ]


def test_every_problem_is_reported_at_once() -> None:
    no_latest = ImageTarget(ADDRESS, "my-gear", ("1.2.0",), ("org/my-gear",))
    manifest = changed(name="x", version="9.9.9", command="/bin/other")
    manifest["custom"]["gear-builder"]["image"] = "org/x:9.9.9"
    problems = check(manifest, target=no_latest)
    assert [p.split(": ")[1].split(" ")[0] for p in problems] == [
        "the",
        "name",
        "version",
        "custom.gear-builder.image",
        "command",
    ]


def test_main_reads_a_request_and_sets_exit_code(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(changed(version="2.0.0")))
    (tmp_path / "Dockerfile").write_text(f"FROM x\n{COPY_MANIFEST}COPY a/bin.pex /bin/run\n")
    request = {
        "manifest": str(tmp_path / "manifest.json"),
        "dockerfile": str(tmp_path / "Dockerfile"),
        "target": {
            "address": ADDRESS,
            "name": "my-gear",
            "tags": ["1.2.0", "latest"],
            "repositories": ["org/my-gear"],
        },
    }
    (tmp_path / "request.json").write_text(json.dumps(request))
    assert main([str(tmp_path / "request.json")], validate_spec=False) == 1
    assert 'version is "2.0.0"' in capsys.readouterr().out
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    assert main([str(tmp_path / "request.json")], validate_spec=False) == 0
    assert "agrees with" in capsys.readouterr().out


def test_programs_map_program_names_to_debian_packages() -> None:
    assert check(changed(custom__programs={"dcm2niix": "dcm2niix", "pigz": "pigz"})) == []
    assert check(changed(custom__programs=["dcm2niix"])) == [
        f'{PATH}: custom.programs is ["dcm2niix"]; expected an object mapping each program the '
        'gear runs to the Debian package that provides it, e.g. {"dcm2niix": "dcm2niix"}'
    ]
    assert check(changed(custom__programs={"dcm2niix": 3, "rm -rf": "x"})) == [
        f"{PATH}: custom.programs.dcm2niix is 3; expected the name of the Debian package that "
        "provides it",
        f'{PATH}: custom.programs has "rm -rf", which is not a program name',
    ]


# Manifest environment against the image's ENV


def test_the_image_env_with_its_upstream_image_is_tracked_and_expanded() -> None:
    upstream = parse_dockerfile(
        "Dockerfile",
        "ARG BASE\nFROM ${BASE}\nENV TOOL_HOME=/opt/tool\nENV PATH=${TOOL_HOME}/bin:$PATH LANG=C\n",
    )
    assert upstream.env == (
        ("TOOL_HOME", "/opt/tool"),
        ("PATH", "/opt/tool/bin:$PATH"),
        ("LANG", "C"),
    )
    gear = parse_dockerfile(
        "Dockerfile.gear",
        "ARG SYS=g:sys\nFROM ${SYS} AS build\nENV ONLY_IN_BUILD=1\n"
        "FROM ${SYS}\nENV FLYWHEEL /flywheel/v0\n",
        {"g:sys": upstream},
    )
    assert dict(gear.env) == {
        "TOOL_HOME": "/opt/tool",
        "PATH": "/opt/tool/bin:$PATH",
        "LANG": "C",
        "FLYWHEEL": "/flywheel/v0",
    }


def test_the_manifest_environment_must_carry_what_the_gear_uses() -> None:
    dockerfile = DockerfileCommands(
        "Dockerfile",
        ("/bin/run",),
        env=(("FLYWHEEL", "/flywheel/v0"), ("PATH", "/opt/tool/bin:$PATH")),
    )
    good = {"FLYWHEEL": "/flywheel/v0", "PATH": "/opt/tool/bin:/usr/bin:/bin", "LANG": "C"}
    assert check(changed(environment=good), dockerfile=dockerfile) == []
    uses_flywheel = ['work = os.environ["FLYWHEEL"] + "/work"\n']
    assert check(
        changed(environment={"PATH": "/usr/bin:/bin"}), dockerfile=dockerfile, code=uses_flywheel
    ) == [
        f"{PATH}: environment has no FLYWHEEL, but the image sets FLYWHEEL=/flywheel/v0 (ENV in "
        "Dockerfile or the image it is built from) and the gear uses it; Flywheel runs the gear "
        'with the manifest\'s environment, so add "FLYWHEEL": "/flywheel/v0"',
        f'{PATH}: environment.PATH is "/usr/bin:/bin" but the image sets '
        "PATH=/opt/tool/bin:$PATH (ENV in Dockerfile or the image it is built from)",
    ]


NACC_DOCKERFILE = """FROM python:3.10
ENV BASE_DIR=/flywheel/v0
RUN mkdir -p ${BASE_DIR}/input
WORKDIR ${BASE_DIR}
COPY project_management/src/docker/manifest.json ${BASE_DIR}
COPY project_management.src.python/bin.pex /bin/run
ENTRYPOINT [ "/bin/run" ]
"""


def test_a_variable_only_the_build_uses_need_not_be_in_the_environment() -> None:
    """NACC's gears set BASE_DIR for the build's own steps; nothing reads it when they run."""
    dockerfile = parse_dockerfile("Dockerfile", NACC_DOCKERFILE)
    manifest = changed(environment=None)
    assert check(manifest, dockerfile=dockerfile, code=["import os\nprint('hi')\n"]) == []
    # Named in the code (or the command, ENTRYPOINT or CMD), or read by Python, it must be there.
    assert [
        p.split(",")[0]
        for p in check(
            manifest, dockerfile=dockerfile, code=["base = Path(os.environ['BASE_DIR'])\n"]
        )
    ] == [f"{PATH}: environment has no BASE_DIR"]
    with_cmd = parse_dockerfile("D", NACC_DOCKERFILE + 'CMD ["sh", "-c", "ls $BASE_DIR"]\n')
    assert len(check(manifest, dockerfile=with_cmd, code=[])) == 1
    python = parse_dockerfile("D", NACC_DOCKERFILE + "ENV PYTHONUNBUFFERED=1\n")
    assert [p.split(",")[0] for p in check(manifest, dockerfile=python, code=[])] == [
        f"{PATH}: environment has no PYTHONUNBUFFERED"
    ]


def test_a_software_home_a_run_time_path_is_made_from_is_used() -> None:
    dockerfile = parse_dockerfile(
        "D",
        f"FROM x\nENV FSLDIR=/opt/fsl\nENV PATH=$FSLDIR/bin:$PATH\n{COPY_MANIFEST}"
        "COPY a/bin.pex /bin/run\n",
    )
    environment = {"PATH": "/opt/fsl/bin:/usr/bin"}
    assert [
        p.split(",")[0]
        for p in check(changed(environment=environment), dockerfile=dockerfile, code=[])
    ] == [f"{PATH}: environment has no FSLDIR"]
    # A variable expanded into another when the image is built is not needed when it runs,
    # nor one that only a comment names.
    build_only = parse_dockerfile(
        "D",
        f"FROM x\nENV BASE=/flywheel/v0\nENV OUT=$BASE/out\n{COPY_MANIFEST}"
        "COPY a/bin.pex /bin/run\n",
    )
    code = ["out = os.environ['OUT']\n# cd $BASE first\n"]
    assert [
        p.split(",")[0] for p in check(changed(environment={}), dockerfile=build_only, code=code)
    ] == [f"{PATH}: environment has no OUT"]


# What held-out inputs slipped past


def test_a_version_that_cannot_be_an_image_tag_fails_although_the_tag_agrees() -> None:
    target = ImageTarget(ADDRESS, "my-gear", ("1.0 beta", "latest"), ("org/my-gear",))
    manifest = changed(version="1.0 beta", custom__gear_builder=None)
    manifest["custom"]["gear-builder"]["image"] = "org/my-gear:1.0 beta"
    assert check(manifest, target=target) == [
        f'{PATH}: version is "1.0 beta", which cannot be an image tag (Flywheel tags the '
        "gear's image with it): use letters, digits, '_', '.' and '-', at most 128, not "
        "starting with '.' or '-', e.g. 1.0.0-beta"
    ]


def test_input_and_config_names_outside_the_spec_pattern_fail() -> None:
    manifest = changed(inputs={"dicom/zip": {"base": "file"}, "a b": {"base": "file"}})
    manifest["config"]["debug.level"] = {"type": "boolean", "default": False}
    assert check(manifest) == [
        f'{PATH}: inputs has "dicom/zip", whose "/" the gear spec does not allow in input '
        "names: use letters, digits, '_' and '-' (^[A-Za-z0-9_-]+$)",
        f'{PATH}: inputs has "a b", whose U+0020 space the gear spec does not allow in input '
        "names: use letters, digits, '_' and '-' (^[A-Za-z0-9_-]+$)",
        f'{PATH}: config has "debug.level", whose "." the gear spec does not allow in config '
        "names: use letters, digits, '_' and '-' (^[A-Za-z0-9_-]+$)",
    ]


def test_a_space_in_a_config_name_is_a_warning_as_published_gears_have_them() -> None:
    manifest = changed()
    manifest["config"]["Generate Bids"] = {"type": "boolean", "default": False}
    warnings: list[str] = []
    text = json.dumps(manifest)
    assert (
        check_manifest(PATH, text, TARGET, DOCKERFILE, validate_spec=False, warnings=warnings) == []
    )
    assert warnings == [
        f'{PATH}: warning: config name "Generate Bids" has a space; the gear spec recommends '
        "letters, digits, '_' and '-' (^[A-Za-z0-9_-]+$)"
    ]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_not_finite_numbers_are_refused_with_the_field_named(constant: str) -> None:
    text = json.dumps(MANIFEST).replace('"default": 3', f'"default": {constant}')
    assert check(text) == [
        f"{PATH}: config.n.default is {constant}, which is not a finite JSON number (Python's "
        "json writes NaN and Infinity for floats that are not finite) and Flywheel refuses it; "
        "give a number or null"
    ]


def test_a_heredoc_is_content_not_instructions() -> None:
    dockerfile = parse_dockerfile(
        "D",
        "FROM python:3.11\n"
        "COPY a/bin.pex /bin/run\n"
        "COPY <<MANIFEST /flywheel/v0/manifest.json\n"
        '{"name": "my-gear"}\n'
        "MANIFEST\n"
        "RUN python3 <<EOF\n"
        "from pathlib import Path\n"
        "FROM python:3.12\n"
        "EOF\n"
        "COPY <<-CONF /etc/gear.conf\n"
        "\tFROM nothing\n"
        "\tCONF\n"
        'ENTRYPOINT ["/bin/run"]\n',
    )
    assert dockerfile.pex_destinations == ("/bin/run",)
    assert check(changed(command="/bin/other"), dockerfile=dockerfile) == [
        f'{PATH}: command is "/bin/other" but D copies the pex to "/bin/run"'
    ]


def test_a_comment_inside_a_continuation_does_not_end_the_instruction() -> None:
    dockerfile = parse_dockerfile(
        "D",
        "FROM x\n"
        "ENV A=1 \\\n"
        "# the tool's home\n"
        "\n"
        "    TOOL_HOME=/opt/tool\n"
        "COPY a/bin.pex \\\n"
        "  # where Flywheel runs it\n"
        "  /bin/run\n",
    )
    assert dict(dockerfile.env) == {"A": "1", "TOOL_HOME": "/opt/tool"}
    assert dockerfile.pex_destinations == ("/bin/run",)


def test_the_escape_directive_sets_the_continuation_character() -> None:
    dockerfile = parse_dockerfile(
        "D", "# escape=`\nFROM x\nCOPY a/bin.pex `\n  /bin/run\nENV A=C:\\dir\n"
    )
    assert dockerfile.pex_destinations == ("/bin/run",)
    assert dict(dockerfile.env) == {"A": "C:\\dir"}
    # Only at the top: after an instruction it is a comment, and backslash continues lines.
    late = parse_dockerfile("D", "FROM x\n# escape=`\nCOPY a/bin.pex \\\n  /bin/run\n")
    assert late.pex_destinations == ("/bin/run",)


def test_long_values_are_cut_so_every_message_stays_short() -> None:
    huge = "x" * 20000
    problems = check(changed(name=huge, inputs={huge: {"base": "file"}}))
    assert problems
    assert all(len(problem) < 1200 for problem in problems), [len(p) for p in problems]
    assert any("more characters)" in problem for problem in problems)


def test_a_long_list_of_values_is_summarised_with_the_closest() -> None:
    values = ["fast", "slow", "medium", *(f"level-{n}" for n in range(20))]
    assert one_of(values, "meduim") == (
        'one of 23 values, e.g. "fast", "slow", "medium"; closest: "medium"'
    )
    assert one_of(["a", "b"], "c") == 'one of "a", "b"'


# --- Hostile manifests and Dockerfiles: a problem named, never a traceback or a hang ---------


def test_an_integer_with_thousands_of_digits_is_a_problem_not_a_crash() -> None:
    text = json.dumps(MANIFEST).replace('"default": 3', '"default": ' + "9" * 5000)
    assert check(text) == [
        f"{PATH}: not a gear manifest: it has an integer of more than 4,300 digits, more than a "
        "JSON reader keeps"
    ]


def test_a_number_that_reads_as_infinity_is_refused_as_infinity_is() -> None:
    text = json.dumps(MANIFEST).replace('"default": 3', '"default": 1e400')
    assert check(text) == [
        f"{PATH}: config.n.default is 1e400, beyond the largest number a JSON reader keeps (it "
        "reads as infinity), which is not a finite JSON number (Python's json writes NaN and "
        "Infinity for floats that are not finite) and Flywheel refuses it; give a number or null"
    ]


@pytest.mark.parametrize(
    ("depth", "told"),
    [
        (MAX_DEPTH + 1, "levels deep, more than the 64 this linter reads"),
        (200, "levels deep, more than the 64 this linter reads"),
        (5000, "its JSON is nested too deeply to read"),
    ],
)
def test_a_config_nested_hundreds_of_levels_deep_is_a_problem_not_a_crash(
    depth: int, told: str
) -> None:
    nested = '{"type": "array", "items": ' * depth + '{"type": "string"}' + "}" * depth
    text = json.dumps(MANIFEST).replace('{"type": "integer", "default": 3, "minimum": 0}', nested)
    (problem,) = check(text)
    assert told in problem and len(problem) < 300


def test_an_invalid_pattern_anywhere_in_a_config_schema_is_named() -> None:
    manifest = changed(
        config={"ids": {"type": "array", "items": {"type": "string", "pattern": "(["}}}
    )
    (problem,) = spec_problems(manifest)
    assert problem.startswith('config.ids.items.pattern is "([", not a regular expression:')


@pytest.mark.parametrize(
    "reference", ["http://127.0.0.1:8765/threads.json", "file:///etc/passwd", "#/definitions/x"]
)
def test_a_reference_is_a_problem_never_followed(reference: str) -> None:
    manifest = changed(config={"threads": {"$ref": reference, "default": 2}})
    assert spec_problems(manifest) == [
        f'config.threads.$ref is "{reference}": a manifest\'s schemas must be written out whole '
        "(Flywheel validates config against the manifest alone), so no reference is followed "
        "or fetched"
    ]


def test_a_regular_expression_that_backtracks_without_end_is_stopped() -> None:
    started = time.monotonic()
    with pytest.raises(_TooSlowError), time_limit(0.5):
        re.search(r"^(a+)+$", "a" * 40 + "b")
    assert time.monotonic() - started < 5


def test_a_key_ending_in_a_newline_fails_and_a_look_alike_is_shown_by_code_point() -> None:
    manifest = changed(inputs={"infile\n": {"base": "file"}, "\u0430pi": {"base": "file"}})
    assert check(manifest) == [
        f'{PATH}: inputs has "infile\\n", whose U+000A control character the gear spec does not '
        "allow in input names: use letters, digits, '_' and '-' (^[A-Za-z0-9_-]+$)",
        f'{PATH}: inputs has "\\u0430pi", whose U+0430 cyrillic small letter a the gear spec '
        "does not allow in input names: use letters, digits, '_' and '-' (^[A-Za-z0-9_-]+$)",
    ]


def test_docker_image_must_agree_with_the_gear_builder_image() -> None:
    manifest = changed()
    manifest["custom"]["docker-image"] = "org/my-gear:1.1.0"
    assert check(manifest) == [
        f'{PATH}: custom.docker-image is "org/my-gear:1.1.0" but custom.gear-builder.image is '
        '"org/my-gear:1.2.0"; fw-gear refuses a manifest where they differ: give one image (or '
        "drop custom.docker-image, the older name)"
    ]
    manifest["custom"]["docker-image"] = "org/my-gear:1.2.0"
    assert check(manifest) == []


def test_a_variable_docker_expands_to_nothing_when_unset_is_not_required() -> None:
    """`${VAR:+word}` is empty when VAR is unset: the image's LD_LIBRARY_PATH is /opt/lib."""
    dockerfile = parse_dockerfile(
        "D",
        f"FROM x\n{COPY_MANIFEST}COPY a/bin.pex /bin/run\n"
        "ENV LD_LIBRARY_PATH=/opt/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\n",
    )
    manifest = changed(environment={"LD_LIBRARY_PATH": "/opt/lib"})
    assert check(manifest, dockerfile=dockerfile) == []
    wrong = changed(environment={"LD_LIBRARY_PATH": "/usr/lib"})
    assert check(wrong, dockerfile=dockerfile)[0].startswith(
        f'{PATH}: environment.LD_LIBRARY_PATH is "/usr/lib" but the image sets'
    )


def test_a_dockerfile_starting_with_a_byte_order_mark_keeps_its_escape_directive() -> None:
    dockerfile = parse_dockerfile("D", "\ufeff# escape=`\nFROM x\nCOPY a/bin.pex `\n  /bin/run\n")
    assert dockerfile.pex_destinations == ("/bin/run",)


def test_a_command_may_run_the_pex_through_an_interpreter_and_a_chain_is_warned() -> None:
    assert check(changed(command="python3 /bin/run --verbose")) == []
    # With the interpreter's own options (`-u`, `-X dev`), and a module run, which names no file.
    assert check(changed(command="python3 -u -X dev /bin/run")) == []
    assert check(changed(command="python3.11 -m my_app.run")) == []
    assert check(changed(command="python3 -u /bin/other")) == [
        f'{PATH}: command is "python3 -u /bin/other" but g/src/docker/Dockerfile copies the pex '
        'to "/bin/run"'
    ]
    warnings: list[str] = []
    text = json.dumps(changed(command="/bin/run && rm -rf /flywheel/v0/work"))
    problems = check_manifest(
        PATH, text, TARGET, DOCKERFILE, validate_spec=False, warnings=warnings
    )
    assert problems == []
    assert warnings[0].startswith(f'{PATH}: warning: command "/bin/run && rm -rf')
    assert 'chains programs with "&&"' in warnings[0]


def test_utf16_is_named_as_utf16(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(json.dumps(MANIFEST).encode("utf-16"))
    assert read_text(str(path))[1] == (
        "is UTF-16 text (every other byte 0, or a UTF-16 byte-order mark); save it as UTF-8"
    )


def test_an_unterminated_string_is_told_without_a_doubled_word() -> None:
    (problem,) = check('{"name": "my-gear}')
    assert problem == f"{PATH}: not valid JSON: Unterminated string starting at line 1 column 10"


def test_the_checker_runs_as_a_script_as_documented(tmp_path: Path) -> None:
    """`python pants-plugins/gear_manifest/checker.py REQUEST.json` finds its sibling modules."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    request = tmp_path / "request.json"
    target = {"address": ADDRESS, "name": "my-gear", "tags": ["1.2.0", "latest"],
              "repositories": ["org/my-gear"]}  # fmt: skip
    request.write_text(json.dumps({"manifest": str(manifest), "target": target}))
    script = Path(__file__).with_name("checker.py")
    ran = subprocess.run(
        [sys.executable, str(script), str(request)], capture_output=True, text=True, check=False
    )
    assert ran.stderr == "" and ran.returncode in (0, 1)
    # This test's environment has no fw-gear (the linter's own has): the line says so.
    (line,) = ran.stdout.splitlines()
    assert line == f"{manifest}: agrees with {ADDRESS} and the gear spec" or re.fullmatch(
        re.escape(f"{manifest}: the gear spec cannot be checked here: ")
        + r"(fw_gear|jsonschema) is not installed \(`pants lint` runs this checker with fw-gear; "
        r"standalone, `pip install fw-gear` first\)",
        line,
    ), line


@pytest.mark.parametrize(
    ("dockerfile", "copied"),
    [
        # Only a builder stage gets it: the image does not.
        (f"FROM x AS build\n{COPY_MANIFEST}RUN make\nFROM x\nCOPY a/bin.pex /bin/run\n", False),
        ("FROM x\nCOPY a/bin.pex /bin/run\n", False),
        (f"FROM x\n{COPY_MANIFEST}COPY a/bin.pex /bin/run\n", True),
        ("FROM x\nWORKDIR /flywheel/v0\nCOPY g/src/docker/manifest.json .\n", True),
        ("FROM x\nCOPY g/src/docker/manifest.json run.sh /flywheel/v0/\n", True),
        ("FROM x\nCOPY . /flywheel/v0\n", True),  # a whole directory may hold it
        ("FROM x\nCOPY g/src/docker/manifest.json /flywheel/v0/other.json\n", False),
        # The final stage starts from a stage that got it.
        (f"FROM x AS base\n{COPY_MANIFEST}FROM base\nCOPY a/bin.pex /bin/run\n", True),
    ],
)
def test_the_final_image_must_get_the_manifest(dockerfile: str, copied: bool) -> None:
    parsed = parse_dockerfile("D", dockerfile)
    assert parsed.manifest_copied is copied
    problems = [p for p in check(dockerfile=parsed) if "never gets the manifest" in p]
    assert problems == ([] if copied else [
        f"{PATH}: D's final image never gets the manifest at /flywheel/v0/manifest.json (the "
        "gear spec: /flywheel/v0 holds manifest.json); COPY it there in the last stage (a COPY "
        "in an earlier build stage does not count)"
    ])  # fmt: skip


def test_an_image_built_from_one_that_got_the_manifest_has_it() -> None:
    upstream = parse_dockerfile("R", f"FROM x\n{COPY_MANIFEST}")
    gear = parse_dockerfile("D", "FROM runtime\nCOPY a/bin.pex /bin/run\n", {"runtime": upstream})
    assert gear.manifest_copied is True


def test_more_keys_than_any_gear_has_are_named_not_checked() -> None:
    many = {f"k{index}": {"type": "integer"} for index in range(MAX_KEYS + 1)}
    assert check(changed(config=many)) == [
        f"{PATH}: not a gear manifest: config has 501 keys, more than the 500 this linter checks "
        "(a gear has tens)"
    ]
