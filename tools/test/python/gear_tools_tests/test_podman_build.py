from __future__ import annotations

from pathlib import Path

from gear_tools.engine.podman_build import (
    Podman,
    build_key,
    build_timestamp,
    context_digest,
    local_name,
    named_images,
    parse_build_arguments,
    resolved_build_args,
    stale_images,
    step_images,
    timing_options,
    used_context_paths,
)

# The arguments Pants 2.17 passes to `docker build` for a gear image.
PANTS_ARGUMENTS = [
    "--pull=False",
    "--tag",
    "flywheel-gears/template-gear:0.1.0",
    "--tag",
    "flywheel-gears/template-gear:latest",
    "--build-arg",
    "BASE_IMAGE=localhost/offline-debian-python:3.11-bookworm-3",
    "--build-arg",
    "GEAR_SYSTEM=flywheel-gears/template-gear-system:0.1.0",
    "--build-arg",
    "VERSION=1.2.0",
    "--file",
    "template_gear/src/docker/Dockerfile.template-gear",
    ".",
]


def test_parses_what_pants_passes() -> None:
    request = parse_build_arguments(PANTS_ARGUMENTS)
    assert request.tags == (
        "flywheel-gears/template-gear:0.1.0",
        "flywheel-gears/template-gear:latest",
    )
    assert request.dockerfile == "template_gear/src/docker/Dockerfile.template-gear"
    assert request.context == "."
    assert parse_build_arguments(["-t=a:1", "-f", "D", "ctx"]).tags == ("a:1",)


def test_images_a_build_starts_from_are_named_by_build_args_and_literal_froms() -> None:
    request = parse_build_arguments(PANTS_ARGUMENTS)
    dockerfile = "ARG GEAR_SYSTEM\nFROM ${GEAR_SYSTEM} AS deps\nfrom debian:bookworm\nRUN true\n"
    assert named_images(request, dockerfile) == [
        "localhost/offline-debian-python:3.11-bookworm-3",
        "flywheel-gears/template-gear-system:0.1.0",
        "debian:bookworm",
    ]


def test_the_context_digest_follows_paths_contents_and_modes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    pex = tmp_path / "a/bin.pex"
    pex.write_bytes(b"zip")
    first = context_digest(tmp_path)
    assert context_digest(tmp_path) == first
    pex.write_bytes(b"zip2")
    second = context_digest(tmp_path)
    assert second != first
    pex.chmod(0o755)
    assert context_digest(tmp_path) != second
    pex.rename(tmp_path / "a/other.pex")
    assert context_digest(tmp_path) not in (first, second)


def test_the_key_changes_with_arguments_dockerfile_and_upstream_images() -> None:
    request = parse_build_arguments(PANTS_ARGUMENTS)
    key = build_key(request, "FROM a", "ctx", "sha256:1")
    assert build_key(request, "FROM a", "ctx", "sha256:1") == key
    assert build_key(request, "FROM a", "ctx", "sha256:2") != key
    assert build_key(request, "FROM a", "ctx2", "sha256:1") != key
    assert build_key(request, "FROM b", "ctx", "sha256:1") != key
    other = parse_build_arguments([*PANTS_ARGUMENTS[:-1], "--build-arg", "X=1", "."])
    assert build_key(other, "FROM a", "ctx", "sha256:1") != key


def test_a_bare_build_arg_takes_its_value_from_the_environment_into_key_and_timestamp() -> None:
    # How Pants passes a build argument whose value comes from its environment: the name only.
    request = parse_build_arguments(
        [
            *PANTS_ARGUMENTS[:-1],
            "--build-arg",
            "GIT_COMMIT",
            "--build-arg",
            "SOURCE_DATE_EPOCH",
            ".",
        ]
    )
    first = resolved_build_args(request.build_args, {"GIT_COMMIT": "a1", "SOURCE_DATE_EPOCH": "7"})
    second = resolved_build_args(request.build_args, {"GIT_COMMIT": "b2", "SOURCE_DATE_EPOCH": "9"})
    assert first["GIT_COMMIT"] == "a1"
    assert build_key(request, "FROM a", "ctx", "", first) != build_key(
        request, "FROM a", "ctx", "", second
    )
    assert build_timestamp(first) == "7"
    # Helper images take no commit time: their files and creation time are the epoch.
    assert build_timestamp(resolved_build_args(request.build_args, {})) == "0"
    assert build_timestamp({"SOURCE_DATE_EPOCH": "yesterday"}) == "0"
    # Without buildah's cache, whose steps keep the history of the build that made them.
    assert timing_options(first) == ["--timestamp", "7", "--no-cache"]
    assert timing_options({"BASE_IMAGE": "x"}) == ["--timestamp", "0", "--no-cache"]


# A gear image's Dockerfile: its context also holds the pexes and images Pants built first.
GEAR_DOCKERFILE = """\
ARG GEAR_RUNTIME=g/src/docker:g-runtime
FROM ${GEAR_RUNTIME}
# the manifest
COPY --chown=0:0 g/src/docker/manifest.json \\
  /flywheel/v0/manifest.json
COPY --from=deps /opt/gear /opt/gear
ADD https://example.org/x.tar /tmp/x.tar
COPY ["g.src.docker/g-code", "/opt/gear/code"]
"""


def test_the_context_paths_a_build_reads_are_those_copy_and_add_name() -> None:
    assert used_context_paths(GEAR_DOCKERFILE) == (
        "g/src/docker/manifest.json",
        "g.src.docker/g-code",
    )
    assert used_context_paths("FROM a\nRUN true\n") == ()


def test_any_context_path_a_build_may_read_unseen_means_the_whole_context() -> None:
    for dockerfile in (
        "FROM a\nCOPY *.json /x/\n",
        "FROM a\nARG P\nCOPY ${P} /x\n",
        "FROM a\nCOPY <<EOF /x\nhello\nEOF\n",
        "FROM a\nRUN --mount=type=bind,target=/src make\n",
        'FROM a\nCOPY ["unterminated /x\n',
    ):
        assert used_context_paths(dockerfile) is None, dockerfile


def test_a_change_to_a_file_the_build_does_not_copy_keeps_the_digest(tmp_path: Path) -> None:
    used = used_context_paths(GEAR_DOCKERFILE)
    (tmp_path / "g/src/docker").mkdir(parents=True)
    (tmp_path / "g/src/docker/manifest.json").write_text("{}")
    (tmp_path / "g.src.docker/g-code/my_app").mkdir(parents=True)
    module = tmp_path / "g.src.docker/g-code/my_app/run.py"
    module.write_text("x = 1\n")
    unused = tmp_path / "g.src.docker/g-deps.pex"
    unused.write_bytes(b"zip")
    first = context_digest(tmp_path, used)
    unused.write_bytes(b"zip2")
    assert context_digest(tmp_path, used) == first
    assert context_digest(tmp_path) != context_digest(tmp_path, used)
    module.write_text("x = 2\n")
    second = context_digest(tmp_path, used)
    assert second != first
    (tmp_path / "g/src/docker/manifest.json").unlink()
    assert context_digest(tmp_path, used) not in (first, second)


def test_step_images_from_podman_output() -> None:
    output = [
        "[1/3] STEP 2/3: COPY x.pex /tmp/deps.pex\n",
        "--> Using cache 5112fd6cefff25446d7a559fb4e9a2a68bcb68ff895e982d3b98e8be5ea9afd6\n",
        "--> 5112fd6ceff\n",
        "[3/3] COMMIT x:3\n",
        "--> 8db823923ad\n",
        "Successfully tagged localhost/x:3\n",
    ]
    assert step_images(output) == [
        "5112fd6cefff25446d7a559fb4e9a2a68bcb68ff895e982d3b98e8be5ea9afd6",
        "5112fd6ceff",
        "8db823923ad",
    ]


def test_only_images_no_current_build_uses_are_stale() -> None:
    shared = "391d335b86014a10cdc57257b62d64f129baf35dc2c762d44ea25a227484d627"
    previous = ["aaaaaaaaaaa", "bbbbbbbbbbbb", shared[:11], "ccccccccccc"]
    current = ["bbbbbbbbbbbb0000", "ddddddddddd"]
    # The shared step image (another gear's build uses it, by full ID) is kept.
    assert stale_images(previous, current, others=[shared]) == {"aaaaaaaaaaa", "ccccccccccc"}
    assert stale_images([], current, others=[]) == set()


def test_podman_names_unqualified_tags_under_localhost() -> None:
    assert local_name("flywheel-gears/x:1") == "localhost/flywheel-gears/x:1"
    assert local_name("x:1") == "localhost/x:1"
    assert local_name("127.0.0.1:5055/flywheel-gears/x:1") == "127.0.0.1:5055/flywheel-gears/x:1"
    assert local_name("docker.io/library/python:3.11") == "docker.io/library/python:3.11"
    assert local_name("localhost/x:1") == "localhost/x:1"


def test_untagged_images_are_listed_by_one_podman_call(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    podman = tmp_path / "podman"
    # What `podman images --all --no-trunc --format '{{.ID}} {{len .Names}}'` prints.
    podman.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        "printf 'sha256:aaaa1111 0\\nsha256:bbbb2222 2\\n'\n"
        "printf 'sha256:bbbb2222 2\\nsha256:cccc3333 0\\n'\n"
    )
    podman.chmod(0o755)
    assert Podman(str(podman)).untagged_images() == {"aaaa1111", "cccc3333"}
    assert calls.read_text().splitlines() == [
        "images --all --no-trunc --format {{.ID}} {{len .Names}}"
    ]
