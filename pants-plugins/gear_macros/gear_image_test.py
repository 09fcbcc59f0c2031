"""The shared gear image definition: its Dockerfile, and `gear_image()` as a BUILD prelude."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from gear_code.rules import GearCodeEntryPointField, GearCodeTarget
from pants.backend.docker.target_types import (
    DockerImageBuildArgsField,
    DockerImageInstructionsField,
    DockerImageRegistriesField,
    DockerImageRepositoryField,
    DockerImageSkipPushField,
    DockerImageSourceField,
    DockerImageTagsField,
    DockerImageTarget,
)
from pants.backend.python.target_types import PexBinary, PexIncludeSourcesField
from pants.core.target_types import FileSourceField, FileTarget
from pants.engine.addresses import Address
from pants.engine.target import Dependencies
from pants.testutil.rule_runner import RuleRunner

from gear_macros import gear_image
from gear_manifest.checker import parse_dockerfile

PEX = "my_gear/src/python/my_app:bin"
PRELUDE = "build-support/gear_image.py"


def runtime_dockerfile(entry_point: str = "my_app.run") -> tuple[str, ...]:
    return gear_image.runtime_dockerfile(
        system_image="my_gear/src/docker:my-gear-system",
        deps_pex_path="my_gear.src.docker/my-gear-deps.pex",
        entry_point=entry_point,
    )


def dockerfile() -> tuple[str, ...]:
    return gear_image.gear_dockerfile(
        name="my-gear",
        version="1.2.0",
        runtime_image="my_gear/src/docker:my-gear-runtime",
        code_path="my_gear.src.docker/my-gear-code",
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
    # A gear_code directory goes where its default output_path says.
    assert gear_image.code_context_path("a/b:gear-code") == "a.b/gear-code"


@pytest.mark.parametrize("address", ["my_gear/src/python/my_app", ":bin", "a/b:", "a:b:c"])
def test_pex_that_is_not_an_address_is_refused_with_the_value(address: str) -> None:
    with pytest.raises(ValueError, match=f"pex={address!r} is not the address of a pex_binary"):
        gear_image.pex_context_path(address)


def test_the_image_runs_the_gear_pexs_entry_point_as_a_module() -> None:
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


def test_the_runtime_image_is_built_from_the_system_image_named_by_its_address() -> None:
    lines = runtime_dockerfile()
    assert lines[0] == "ARG GEAR_SYSTEM=my_gear/src/docker:my-gear-system"
    assert [stage[0] for stage in stages(lines)] == [
        "FROM ${GEAR_SYSTEM} AS deps",
        "FROM ${GEAR_SYSTEM}",
    ]


def test_the_gear_image_is_built_from_its_runtime_image_named_by_its_address() -> None:
    lines = dockerfile()
    assert lines[0] == "ARG GEAR_RUNTIME=my_gear/src/docker:my-gear-runtime"
    assert [stage[0] for stage in stages(lines)] == ["FROM ${GEAR_RUNTIME}"]


def test_dependencies_become_a_compiled_venv_in_a_build_stage_only() -> None:
    deps, final = stages(runtime_dockerfile())
    assert "COPY my_gear.src.docker/my-gear-deps.pex /tmp/deps.pex" in deps
    (unpack,) = (line for line in deps if line.startswith("RUN "))
    assert " venv --scope=deps --compile /opt/gear " in unpack
    # The venv finds the code layer, which the gear image adds.
    assert '"gear-code.pth").write_text("/opt/gear/code\\n")' in unpack
    assert not any(".pex" in line for line in final)
    assert final[-1] == "COPY --from=deps /opt/gear /opt/gear"


def test_the_gear_image_adds_the_manifest_label_and_last_the_code_layer() -> None:
    lines = dockerfile()
    assert lines[2:] == (
        "ARG GIT_COMMIT=unknown",
        "ARG GIT_COMMIT_TIME=unknown",
        "ARG SOURCE_URL=unknown",
        "ARG SOURCE_DATE_EPOCH=0",
        "COPY my_gear/src/docker/manifest.json /flywheel/v0/manifest.json",
        'LABEL io.flywheel.gear.name="my-gear" org.opencontainers.image.title="my-gear" '
        'org.opencontainers.image.version="1.2.0" '
        'org.opencontainers.image.revision="${GIT_COMMIT}" '
        'org.opencontainers.image.created="${GIT_COMMIT_TIME}" '
        'org.opencontainers.image.source="${SOURCE_URL}"',
        # A change to the code makes this one layer, with no instruction after it; no RUN.
        "COPY my_gear.src.docker/my-gear-code /opt/gear/code",
    )


def test_run_steps_see_source_date_epoch_and_the_gear_image_takes_the_commit() -> None:
    deps, final = stages(runtime_dockerfile())
    for stage in (deps, final):
        first_run = next(index for index, line in enumerate(stage) if line.startswith("RUN "))
        assert "ARG SOURCE_DATE_EPOCH=0" in stage[:first_run]
        assert not any(line.startswith("ENV SOURCE_DATE_EPOCH") for line in stage)
    assert gear_image.GEAR_IMAGE_BUILD_ARGS == (
        "GIT_COMMIT",
        "GIT_COMMIT_TIME",
        "SOURCE_DATE_EPOCH",
    )


def test_the_gear_runs_as_a_numeric_non_root_user_that_owns_output_and_work() -> None:
    final = final_stage(runtime_dockerfile())
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    # root only to create the user, whatever USER the gear's Dockerfile ended with.
    assert users == ["root", f"{gear_image.GEAR_UID}:{gear_image.GEAR_UID}"]
    assert gear_image.GEAR_UID != 0
    (setup,) = (line for line in final if line.startswith("RUN "))
    assert "chown 1000:1000 /flywheel/v0/output /flywheel/v0/work" in setup
    assert "getent passwd 1000 >/dev/null || (useradd" in setup
    assert final.index(setup) < final.index(f"USER {users[1]}")
    assert not any(line.startswith("USER ") for line in dockerfile())


def test_the_gear_users_shadow_entry_has_no_date(tmp_path: Path) -> None:
    """useradd dates the entry by the build's day unless it reads SOURCE_DATE_EPOCH (Docker's
    builds differed there): the step blanks the date of the gear user's entry only."""
    (setup,) = (line for line in final_stage(runtime_dockerfile()) if line.startswith("RUN "))
    sed = setup[setup.index("sed -i ") : setup.index(" /etc/shadow")]
    shadow = tmp_path / "shadow"
    shadow.write_text("root:*:19000:0:99999:7:::\ngear:!:20429:0:99999:7:::\n")
    subprocess.run(["sh", "-c", f"{sed} {shadow}"], check=True)
    assert shadow.read_text() == "root:*:19000:0:99999:7:::\ngear:!::0:99999:7:::\n"


def test_the_venvs_record_files_list_no_bytecode(tmp_path: Path) -> None:
    """Whether pex's cache had compiled a wheel decided whether its RECORD listed .pyc files."""
    (unpack,) = (line for line in runtime_dockerfile() if " venv --scope=deps" in line)
    find = unpack[unpack.index("find /opt/gear ") :].replace("/opt/gear", str(tmp_path))
    record = tmp_path / "lib/site-packages/attrs-26.1.0.dist-info/RECORD"
    record.parent.mkdir(parents=True)
    record.write_text(
        "attr/__init__.py,sha256=abc,100\n"
        "attr/__pycache__/__init__.cpython-311.pyc,,\n"
        "attrs-26.1.0.dist-info/RECORD,,\n"
    )
    subprocess.run(["sh", "-c", find], check=True)
    assert (
        record.read_text() == "attr/__init__.py,sha256=abc,100\nattrs-26.1.0.dist-info/RECORD,,\n"
    )


@pytest.mark.parametrize("entry_point", ["my_app.run", "my_app.cli:main"])
def test_bin_run_is_written_as_run_script_says(entry_point: str, tmp_path: Path) -> None:
    (setup,) = (line for line in final_stage(runtime_dockerfile(entry_point)) if "printf" in line)
    printf = setup[setup.index("printf ") : setup.index(f" > {gear_image.GEAR_COMMAND}")]
    written = tmp_path / "run"
    subprocess.run(["sh", "-c", f"{printf} > {written}"], check=True)
    assert written.read_text() == gear_image.run_script(entry_point)


def test_bin_run_runs_the_entry_point_isolated_with_its_arguments() -> None:
    assert gear_image.run_script("my_app.run") == (
        '#!/bin/sh\nexec /opt/gear/bin/python3 -I -m my_app.run "$@"\n'
    )
    assert gear_image.run_script("my_app.cli:main") == (
        "#!/bin/sh\nexec /opt/gear/bin/python3 -I -c "
        "'import sys; from my_app.cli import main; sys.exit(main())' \"$@\"\n"
    )


def test_the_manifest_command_is_the_entrypoint_the_gear_image_inherits() -> None:
    runtime = parse_dockerfile("Dockerfile.runtime", "\n".join(runtime_dockerfile()))
    parsed = parse_dockerfile(
        "Dockerfile", "\n".join(dockerfile()), {"my_gear/src/docker:my-gear-runtime": runtime}
    )
    assert parsed.entrypoint == (gear_image.GEAR_COMMAND,)
    assert parsed.pex_destinations == ()
    assert dict(parsed.env) == {"FLYWHEEL": "/flywheel/v0"}


def test_labels_mark_a_gear_image_and_name_its_version() -> None:
    (label,) = (line for line in dockerfile() if line.startswith("LABEL "))
    assert f'{gear_image.GEAR_LABEL}="my-gear"' in label
    assert 'org.opencontainers.image.version="1.2.0"' in label


def test_upstream_image_names_reach_no_instruction_but_from() -> None:
    # `publish` passes them with the registry's name: the image must be the one `package` built.
    for lines in (runtime_dockerfile(), dockerfile()):
        uses = [line for line in lines if "${GEAR_" in line and not line.startswith("FROM ")]
        assert uses == []
        arguments = [line for line in lines if line.startswith("ARG ")]
        assert arguments[0] == lines[0]
        assert all("GEAR_" not in line for line in arguments[1:])


@pytest.fixture
def rule_runner() -> RuleRunner:
    runner = RuleRunner(target_types=[DockerImageTarget, FileTarget, PexBinary, GearCodeTarget])
    runner.write_files({PRELUDE: Path(gear_image.__file__).read_text()})
    runner.set_options([f"--build-file-prelude-globs=['{PRELUDE}']"])
    return runner


def test_gear_image_in_a_build_file_defines_manifest_images_pex_and_code(
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
    runtime = rule_runner.get_target(Address("my_gear/src/docker", target_name="my-gear-runtime"))
    assert runtime[DockerImageInstructionsField].value == runtime_dockerfile()
    assert runtime[Dependencies].value == (":my-gear-system", ":my-gear-deps")
    assert runtime[DockerImageTagsField].value == ("1.2.0",)
    assert runtime[DockerImageSkipPushField].value is True
    code = rule_runner.get_target(Address("my_gear/src/docker", target_name="my-gear-code"))
    assert code[GearCodeEntryPointField].value == "my_app.run"
    assert code[Dependencies].value == (PEX,)
    image = rule_runner.get_target(Address("my_gear/src/docker", target_name="my-gear"))
    assert image[DockerImageTagsField].value == ("1.2.0", "latest")
    assert image[DockerImageSourceField].value is None
    # Not the gear pex itself: unpacking it would unpack every dependency again.
    assert image[Dependencies].value == (":manifest", ":my-gear-runtime", ":my-gear-code")
    assert image[DockerImageInstructionsField].value == dockerfile()
    assert image[DockerImageBuildArgsField].value == gear_image.GEAR_IMAGE_BUILD_ARGS
    for helper in (system, runtime):
        assert not helper[DockerImageBuildArgsField].value
        # Named locally even when `publish` makes a registry the default.
        assert helper[DockerImageRegistriesField].value == ()


def test_a_gears_own_flywheel_files_are_copied_to_flywheel_v0_before_the_code(
    rule_runner: RuleRunner,
) -> None:
    rule_runner.write_files(
        {
            "g/src/docker/BUILD": (
                f'gear_image(name="g", version="2.0.0", pex="{PEX}", '
                'flywheel_files="g/src/flywheel:flywheel")'
            ),
            "g/src/docker/manifest.json": "{}",
            "g/src/docker/Dockerfile": "FROM scratch\n",
            "g/src/flywheel/BUILD": 'files(name="flywheel", sources=["data/**/*"])',
            "g/src/flywheel/data/lut.txt": "1 gray\n",
        }
    )
    image = rule_runner.get_target(Address("g/src/docker", target_name="g"))
    assert image[Dependencies].value == (
        ":manifest",
        ":g-runtime",
        ":g-code",
        "g/src/flywheel:flywheel",
    )
    lines = image[DockerImageInstructionsField].value
    assert lines is not None
    assert lines[-2:] == (
        "COPY g/src/flywheel /flywheel/v0/",
        "COPY g.src.docker/g-code /opt/gear/code",
    )


@pytest.mark.parametrize("address", ["g/src/flywheel", "./data:files", "/abs:files"])
def test_flywheel_files_must_be_a_target_address(address: str) -> None:
    with pytest.raises(ValueError, match=r"gear_image\(flywheel_files=...\): .* is not a target"):
        gear_image.flywheel_files_directory(address, "g/src/docker")


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
    assert stubs and stubs == excluded == set(gear_image.TYPE_STUBS)


def test_a_gear_resolves_stubs_are_its_own_requirements() -> None:
    assert gear_image.not_in_images() == gear_image.NOT_IN_IMAGES
    assert gear_image.not_in_images("gear-x") == tuple(
        f"!!3rdparty/python:gear-x#{stub}" for stub in gear_image.TYPE_STUBS
    )


def test_a_gear_may_own_more_directories_than_output_and_work() -> None:
    lines = gear_image.runtime_dockerfile(
        system_image="my_gear/src/docker:my-gear-system",
        deps_pex_path="my_gear.src.docker/my-gear-deps.pex",
        entry_point="my_app.run",
        writable=("/flywheel/v0/cache", "/opt/tool/state"),
    )
    (setup,) = (line for line in final_stage(lines) if line.startswith("RUN "))
    owned = "/flywheel/v0/output /flywheel/v0/work /flywheel/v0/cache /opt/tool/state"
    assert f"mkdir -p /flywheel/v0/input {owned} " in setup
    assert f"chown 1000:1000 {owned} " in setup


@pytest.mark.parametrize("path", ["cache", "/", "/a b", "/a;rm -rf /", "/x/../etc", "/$HOME"])
def test_a_writable_directory_must_be_a_plain_absolute_path(path: str) -> None:
    with pytest.raises(ValueError, match=rf"gear_image\(writable=...\): '{re.escape(path)}' "):
        gear_image.writable_directories((path,))
