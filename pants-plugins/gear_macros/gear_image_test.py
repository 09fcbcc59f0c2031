"""The shared gear image definition: its Dockerfile, and `gear_image()` as a BUILD prelude."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pants.backend.docker.target_types import (
    DockerImageInstructionsField,
    DockerImageRepositoryField,
    DockerImageSourceField,
    DockerImageTagsField,
    DockerImageTarget,
)
from pants.core.target_types import FileSourceField, FileTarget
from pants.engine.addresses import Address
from pants.engine.target import Dependencies
from pants.testutil.rule_runner import RuleRunner

from gear_macros import gear_image
from gear_manifest.checker import parse_dockerfile

PEX = "my_gear/src/python/my_app:bin"
PRELUDE = "build-support/gear_image.py"


def dockerfile() -> tuple[str, ...]:
    return gear_image.gear_dockerfile(
        name="my-gear",
        version="1.2.0",
        pex_path=gear_image.pex_context_path(PEX),
        manifest_path="my_gear/src/docker/manifest.json",
    )


def final_stage(lines: tuple[str, ...]) -> list[str]:
    starts = [index for index, line in enumerate(lines) if line.startswith("FROM ")]
    return list(lines[starts[-1] :])


def test_pex_context_path_is_where_pants_puts_the_pex() -> None:
    assert gear_image.pex_context_path(PEX) == "my_gear.src.python.my_app/bin.pex"
    assert gear_image.pex_context_path("//a/b:gear") == "a.b/gear.pex"


@pytest.mark.parametrize("address", ["my_gear/src/python/my_app", ":bin", "a/b:", "a:b:c"])
def test_pex_that_is_not_an_address_is_refused_with_the_value(address: str) -> None:
    with pytest.raises(ValueError, match=f"pex={address!r} is not the address of a pex_binary"):
        gear_image.pex_context_path(address)


def test_the_pex_becomes_a_compiled_venv_in_a_build_stage_only() -> None:
    lines = dockerfile()
    assert lines[0] == f"ARG BASE_IMAGE={gear_image.GEAR_BASE_IMAGE}"
    assert "COPY my_gear.src.python.my_app/bin.pex /tmp/gear.pex" in lines
    assert any(
        "PEX_TOOLS=1" in line and " venv --compile " in line and line.endswith(gear_image.GEAR_VENV)
        for line in lines
    )
    final = final_stage(lines)
    assert not any(".pex" in line for line in final)
    assert f"COPY --from=venv {gear_image.GEAR_VENV} {gear_image.GEAR_VENV}" in final


def test_the_gear_runs_as_a_numeric_non_root_user_that_owns_output_and_work() -> None:
    final = final_stage(dockerfile())
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users == [f"{gear_image.GEAR_UID}:{gear_image.GEAR_UID}"]
    assert gear_image.GEAR_UID != 0
    (setup,) = (line for line in final if line.startswith("RUN "))
    assert "chown gear:gear /flywheel/v0/output /flywheel/v0/work" in setup
    assert final.index(setup) < final.index(f"USER {users[0]}")


def test_the_manifest_command_is_the_entrypoint_of_the_final_stage() -> None:
    parsed = parse_dockerfile("Dockerfile", "\n".join(dockerfile()))
    assert parsed.entrypoint == (gear_image.GEAR_COMMAND,)
    assert parsed.pex_destinations == ()


def test_labels_name_the_gear_version_and_base_image() -> None:
    (label,) = (line for line in final_stage(dockerfile()) if line.startswith("LABEL "))
    assert 'org.opencontainers.image.title="my-gear"' in label
    assert 'org.opencontainers.image.version="1.2.0"' in label
    assert 'org.opencontainers.image.base.name="${BASE_IMAGE}"' in label


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(target_types=[DockerImageTarget, FileTarget])
    runner.write_files({PRELUDE: Path(gear_image.__file__).read_text()})
    runner.set_options([f"--build-file-prelude-globs=['{PRELUDE}']"])
    return runner


def test_gear_image_in_a_build_file_defines_the_manifest_and_the_image(
    rule_runner: RuleRunner,
) -> None:
    rule_runner.write_files(
        {
            "my_gear/src/docker/BUILD": f'gear_image(name="my-gear", version="1.2.0", pex="{PEX}")',
            "my_gear/src/docker/manifest.json": "{}",
        }
    )
    manifest = rule_runner.get_target(Address("my_gear/src/docker", target_name="manifest"))
    assert manifest[FileSourceField].value == "manifest.json"
    image = rule_runner.get_target(Address("my_gear/src/docker", target_name="my-gear"))
    assert image[DockerImageTagsField].value == ("1.2.0", "latest")
    assert image[DockerImageSourceField].value is None
    assert image[Dependencies].value == (":manifest", PEX)
    assert image[DockerImageInstructionsField].value == dockerfile()


def test_gear_image_passes_other_docker_image_fields_on(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "g/BUILD": f'gear_image(name="g", version="2.0.0", pex="{PEX}", repository="x/g")',
            "g/manifest.json": "{}",
        }
    )
    image = rule_runner.get_target(Address("g", target_name="g"))
    assert image[DockerImageRepositoryField].value == "x/g"


def test_the_base_image_line_is_the_one_bin_container_engine_reads() -> None:
    # bin/container-engine: sed -n 's/^GEAR_BASE_IMAGE = "\([^"]*\)".*/\1/p'
    source = Path(gear_image.__file__).read_text()
    found = re.findall(r'^GEAR_BASE_IMAGE = "([^"]*)"', source, flags=re.MULTILINE)
    assert found == [gear_image.GEAR_BASE_IMAGE]
