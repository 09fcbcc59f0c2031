"""The shared gear image definition: its Dockerfile, and `gear_image()` as a BUILD prelude."""

from __future__ import annotations

from pathlib import Path

import pytest
from pants.backend.docker.target_types import (
    DockerImageInstructionsField,
    DockerImageRepositoryField,
    DockerImageSkipPushField,
    DockerImageSourceField,
    DockerImageTagsField,
    DockerImageTarget,
)
from pants.backend.python.target_types import (
    EntryPoint,
    PexBinary,
    PexEntryPointField,
    PexIncludeRequirementsField,
    PexIncludeSourcesField,
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
        system_image="my_gear/src/docker:my-gear-system",
        deps_pex_path="my_gear.src.docker/my-gear-deps.pex",
        srcs_pex_path="my_gear.src.docker/my-gear-srcs.pex",
        manifest_path="my_gear/src/docker/manifest.json",
    )


def stages(lines: tuple[str, ...]) -> list[list[str]]:
    starts = [index for index, line in enumerate(lines) if line.startswith("FROM ")]
    return [list(lines[start:end]) for start, end in zip(starts, [*starts[1:], len(lines)])]


def final_stage(lines: tuple[str, ...]) -> list[str]:
    return stages(lines)[-1]


def test_pex_context_path_is_where_pants_puts_the_pex() -> None:
    assert gear_image.pex_context_path(PEX) == "my_gear.src.python.my_app/bin.pex"
    assert gear_image.pex_context_path("//a/b:gear") == "a.b/gear.pex"


@pytest.mark.parametrize("address", ["my_gear/src/python/my_app", ":bin", "a/b:", "a:b:c"])
def test_pex_that_is_not_an_address_is_refused_with_the_value(address: str) -> None:
    with pytest.raises(ValueError, match=f"pex={address!r} is not the address of a pex_binary"):
        gear_image.pex_context_path(address)


def test_the_sources_pex_runs_the_gear_pexs_entry_point_as_a_module() -> None:
    assert gear_image.entry_point_module(PEX, "run.py") == "my_app.run"
    assert gear_image.entry_point_module("//g/src/python/a/b:bin", "cli/main.py") == "a.b.cli.main"
    assert gear_image.entry_point_module("elsewhere:bin", "my_app.run:main") == "my_app.run:main"


@pytest.mark.parametrize("address", ["tools:bin", "g/src:bin", "g/lib/my_app:bin"])
def test_an_entry_point_file_outside_a_source_root_is_refused_with_the_way_out(
    address: str,
) -> None:
    with pytest.raises(ValueError, match=r"give entry_point as a module instead") as error:
        gear_image.entry_point_module(address, "run.py")
    assert repr(address) in str(error.value)


def test_every_stage_starts_from_the_gears_system_image_named_by_its_address() -> None:
    lines = dockerfile()
    assert lines[0] == "ARG GEAR_SYSTEM=my_gear/src/docker:my-gear-system"
    assert [stage[0] for stage in stages(lines)] == [
        "FROM ${GEAR_SYSTEM} AS deps",
        "FROM ${GEAR_SYSTEM} AS srcs",
        "FROM ${GEAR_SYSTEM}",
    ]


def test_dependencies_and_code_become_compiled_venvs_in_build_stages_only() -> None:
    deps, srcs, final = stages(dockerfile())
    assert "COPY my_gear.src.docker/my-gear-deps.pex /tmp/deps.pex" in deps
    assert any(" venv --scope=deps --compile /opt/gear" in line for line in deps)
    assert "COPY my_gear.src.docker/my-gear-srcs.pex /tmp/srcs.pex" in srcs
    assert any(" venv --scope=srcs --compile /opt/gear" in line for line in srcs)
    assert not any(".pex" in line for line in final)


def test_layers_go_from_least_to_most_often_changed() -> None:
    final = final_stage(dockerfile())
    order = [
        next(i for i, line in enumerate(final) if line.startswith(prefix))
        for prefix in (
            "RUN ",
            "ENTRYPOINT ",
            "COPY --from=deps /opt/gear /opt/gear",
            "COPY my_gear/src/docker/manifest.json /flywheel/v0/manifest.json",
            "LABEL ",
            "COPY --from=srcs /opt/gear /opt/gear",
        )
    ]
    assert order == sorted(order)
    # A change to the code re-commits one layer, with no instruction after it.
    assert final[-1] == "COPY --from=srcs /opt/gear /opt/gear"


def test_the_gear_runs_as_a_numeric_non_root_user_that_owns_output_and_work() -> None:
    final = final_stage(dockerfile())
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    # root only to create the user, whatever USER the gear's Dockerfile ended with.
    assert users == ["root", f"{gear_image.GEAR_UID}:{gear_image.GEAR_UID}"]
    assert gear_image.GEAR_UID != 0
    (setup,) = (line for line in final if line.startswith("RUN "))
    assert "chown 1000:1000 /flywheel/v0/output /flywheel/v0/work" in setup
    assert "getent passwd 1000 >/dev/null || useradd" in setup
    assert final.index(setup) < final.index(f"USER {users[1]}")


def test_the_manifest_command_is_the_entrypoint_of_the_final_stage() -> None:
    parsed = parse_dockerfile("Dockerfile", "\n".join(dockerfile()))
    assert parsed.entrypoint == (gear_image.GEAR_COMMAND,)
    assert parsed.pex_destinations == ()


def test_labels_mark_a_gear_image_and_name_its_version_and_system_image() -> None:
    (label,) = (line for line in final_stage(dockerfile()) if line.startswith("LABEL "))
    assert f'{gear_image.GEAR_LABEL}="my-gear"' in label
    assert 'org.opencontainers.image.version="1.2.0"' in label
    assert 'org.opencontainers.image.base.name="${GEAR_SYSTEM}"' in label


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(target_types=[DockerImageTarget, FileTarget, PexBinary])
    runner.write_files({PRELUDE: Path(gear_image.__file__).read_text()})
    runner.set_options([f"--build-file-prelude-globs=['{PRELUDE}']"])
    return runner


def test_gear_image_in_a_build_file_defines_manifest_system_image_pexes_and_image(
    rule_runner: RuleRunner,
) -> None:
    rule_runner.write_files(
        {
            "my_gear/src/docker/BUILD": f'gear_image(name="my-gear", version="1.2.0", pex="{PEX}")',
            "my_gear/src/docker/manifest.json": "{}",
            "my_gear/src/docker/Dockerfile": "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n",
        }
    )
    manifest = rule_runner.get_target(Address("my_gear/src/docker", target_name="manifest"))
    assert manifest[FileSourceField].value == "manifest.json"
    system = rule_runner.get_target(Address("my_gear/src/docker", target_name="my-gear-system"))
    assert system[DockerImageSourceField].value == "Dockerfile"
    assert system[DockerImageTagsField].value == ("1.2.0",)
    assert system[DockerImageSkipPushField].value is True
    deps = rule_runner.get_target(Address("my_gear/src/docker", target_name="my-gear-deps"))
    assert deps[PexIncludeSourcesField].value is False
    assert deps[Dependencies].value == (PEX, *gear_image.NOT_IN_IMAGES)
    srcs = rule_runner.get_target(Address("my_gear/src/docker", target_name="my-gear-srcs"))
    assert srcs[PexIncludeRequirementsField].value is False
    assert srcs[PexEntryPointField].value == EntryPoint("my_app.run")
    assert srcs[Dependencies].value == (PEX,)
    image = rule_runner.get_target(Address("my_gear/src/docker", target_name="my-gear"))
    assert image[DockerImageTagsField].value == ("1.2.0", "latest")
    assert image[DockerImageSourceField].value is None
    # Not the gear pex itself: unpacking it would unpack every dependency again.
    assert image[Dependencies].value == (
        ":manifest",
        ":my-gear-system",
        ":my-gear-deps",
        ":my-gear-srcs",
    )
    assert image[DockerImageInstructionsField].value == dockerfile()


def test_gear_image_passes_other_docker_image_fields_on(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "g/BUILD": f'gear_image(name="g", version="2.0.0", pex="{PEX}", repository="x/g")',
            "g/manifest.json": "{}",
            "g/Dockerfile": "FROM scratch\n",
        }
    )
    image = rule_runner.get_target(Address("g", target_name="g"))
    assert image[DockerImageRepositoryField].value == "x/g"


def test_every_type_stub_requirement_is_kept_out_of_images() -> None:
    requirements = Path("3rdparty/python/requirements.txt").read_text().splitlines()
    stubs = {
        line.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip()
        for line in requirements
        if line.strip().startswith("types-") or "-stubs" in line.split("#")[0]
    }
    excluded = {address.split("#", 1)[1] for address in gear_image.NOT_IN_IMAGES}
    assert stubs and stubs == excluded
