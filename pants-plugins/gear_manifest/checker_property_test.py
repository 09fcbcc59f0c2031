"""Generated manifests and Dockerfiles through the checker, as the linter runs it (fw-gear,
jsonschema and RE2 installed): every input gets a verdict (no exception, none of the checker's
own "could not be checked" lines), within the output limit, and no manifest that fw-gear itself
refuses passes. Manifests are generated from fw-gear's own manifest schema (hypothesis-jsonschema)
and from hostile shapes: deep, huge, non-ASCII, not JSON at all.

How many examples: HYPOTHESIS_PROFILE=ci (the default, run by `pants test`) or =benchmark
(tools/benchmarks/manifest_checker.py prints figures from more). A failure prints the example
and the `@reproduce_failure` blob that replays it.
"""

from __future__ import annotations

import copy
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from gear_manifest import checker, compatibility, dockerfile_reader
from gear_manifest.checker import (
    MAX_OUTPUT,
    DockerfileCommands,
    ImageTarget,
    check_manifest,
    parse_dockerfile,
    time_limit,
    within_output_limit,
)

# No deadline (the machines are shared and noisy: time is measured by the benchmark, not
# asserted), no example database in the sandbox, and the blob that replays a failure printed.
PROFILE = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}
settings.register_profile("ci", max_examples=60, **PROFILE)  # type: ignore[arg-type]
settings.register_profile("benchmark", max_examples=1000, **PROFILE)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PATH = "g/src/docker/manifest.json"
TARGET = ImageTarget(
    address="g/src/docker:my-gear", name="my-gear", tags=("1.2.0", "latest"),
    repositories=("org/my-gear",),
)  # fmt: skip
DOCKERFILE = DockerfileCommands("g/src/docker/Dockerfile", pex_destinations=("/bin/run",))
NOT_CHECKED = "could not be checked"
# A config directive's schema: the gear spec refers to JSON Schema's own meta-schema (by URL,
# which neither this linter nor the generator fetches); this is the part gears use.
DIRECTIVE = {
    "type": "object",
    "properties": {
        "description": {"type": "string"},
        "default": {},
        "optional": {"type": "boolean"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "pattern": {"type": "string"},
        "enum": {"type": "array"},
        "items": {"type": "object"},
        "$ref": {"type": "string"},
    },
}


def gear_spec_schema() -> dict[str, Any]:
    """fw-gear's manifest schema, its references to JSON Schema's meta-schema made local."""
    schema = json.loads(resources.files("fw_gear").joinpath("manifest.schema.json").read_text())

    def local(node: Any) -> Any:
        if isinstance(node, dict):
            if str(node.get("$ref", "")).startswith("http"):
                return {"$ref": "#/definitions/any-directive"}
            return {key: local(value) for key, value in node.items()}
        if isinstance(node, list):
            return [local(item) for item in node]
        return node

    made_local: dict[str, Any] = local(schema)
    made_local["definitions"]["any-directive"] = DIRECTIVE
    return made_local


def aligned(generated: Any) -> dict[str, Any]:
    """The manifest named and versioned as the image target is, so that the checks go deep."""
    manifest: dict[str, Any] = copy.deepcopy(generated)
    manifest.update(name="my-gear", version="1.2.0", command="/bin/run")
    custom = manifest.setdefault("custom", {})
    if isinstance(custom, dict):
        builder = custom.setdefault("gear-builder", {})
        if isinstance(builder, dict):
            builder["image"] = "org/my-gear:1.2.0"
        custom.pop("docker-image", None)
    return manifest


SPEC_MANIFESTS = from_schema(gear_spec_schema()).map(aligned)

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.sampled_from(["file", "api-key", "context", "string", "integer", "number", "(a+)+$"]),
)
HOSTILE_JSON = st.recursive(
    JSON_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(st.text(max_size=20), children, max_size=6),
    ),
    max_leaves=60,
)


@st.composite
def deep(draw: st.DrawFn) -> Any:
    """A value nested far deeper than any gear needs (the linter names its depth limit)."""
    value: Any = draw(JSON_LEAVES)
    for _ in range(draw(st.integers(min_value=50, max_value=400))):
        value = draw(
            st.sampled_from([[value], {"items": value}, {"type": "array", "items": value}])
        )
    return value


@st.composite
def hostile_manifests(draw: st.DrawFn) -> str:
    """Manifest text: a spec-shaped manifest with hostile parts put in, or not JSON at all."""
    base: dict[str, Any] = draw(SPEC_MANIFESTS)
    kind = draw(st.sampled_from(["part", "deep", "huge-number", "text", "bytes", "bom"]))
    if kind == "part":
        section = draw(st.sampled_from(["config", "inputs", "custom", "environment", "name"]))
        base[section] = draw(HOSTILE_JSON)
    elif kind == "deep":
        base["config"] = {"x": {"type": "array", "items": draw(deep())}}
    elif kind == "huge-number":
        digits = draw(st.integers(min_value=300, max_value=20000))
        return json.dumps(base).replace('"my-gear"', "1" * digits, 1)
    elif kind == "text":
        return draw(st.text(max_size=500))
    elif kind == "bytes":
        return draw(st.binary(max_size=500)).decode("utf-8", errors="surrogateescape")
    else:
        return "\ufeff" + json.dumps(base, ensure_ascii=draw(st.booleans()))
    return json.dumps(base)


DOCKERFILE_LINES = st.one_of(
    st.sampled_from(
        [
            "ARG BASE_IMAGE",
            "FROM ${BASE_IMAGE}",
            "FROM scratch AS build",
            "# escape=`",
            "# syntax=docker/dockerfile:1",
            "ENV LD_LIBRARY_PATH=/opt/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}",
            "ENV A=${B:-x} C=${D:?missing}",
            "COPY g/src/docker/manifest.json /flywheel/v0/manifest.json",
            "COPY --from=build /x /flywheel/v0/",
            'ENTRYPOINT ["/bin/run"]',
            "WORKDIR ${FLYWHEEL}",
            "RUN a && \\",
            "COPY <<EOF /flywheel/v0/manifest.json",
            "EOF",
            "USER 1000:1000",
        ]
    ),
    st.text(max_size=80).map(lambda text: text.replace("\r", "")),
)
DOCKERFILES = st.lists(DOCKERFILE_LINES, max_size=30).map("\n".join)


def verdict(text: str, *, released: Any = None) -> list[str]:
    """What the linter prints for the manifest text (problems, then warnings)."""
    warnings: list[str] = []
    problems = check_manifest(
        PATH, text, TARGET, DOCKERFILE, validate_spec=True, released=released, warnings=warnings
    )
    kept = within_output_limit(PATH, problems, warnings)
    lines = [*kept[0], *kept[1]]
    assert all(isinstance(line, str) for line in lines)
    assert sum(len(line) + 1 for line in lines) <= MAX_OUTPUT
    assert not any(NOT_CHECKED in line for line in lines), lines
    return list(problems)


def fw_gear_refuses(manifest: dict[str, Any]) -> bool | None:
    """Whether fw-gear's own Manifest validation refuses the manifest (None: it took too long
    or crashed, so it gives no verdict to compare with)."""
    from fw_gear.manifest import Manifest, ManifestValidationError

    try:
        with time_limit(checker.PATTERN_SECONDS):
            Manifest(copy.deepcopy(manifest)).validate()
    except ManifestValidationError:
        return True
    except Exception:  # fw-gear's own crash on a hostile manifest: no verdict.
        return None
    return False


@given(SPEC_MANIFESTS)
def test_a_manifest_fw_gear_refuses_never_passes(manifest: dict[str, Any]) -> None:
    refused = fw_gear_refuses(manifest)
    assume(refused is not None)
    problems = verdict(json.dumps(manifest))
    if refused:
        assert problems, f"fw-gear refuses this manifest, the linter passed it: {manifest}"


@given(hostile_manifests())
def test_any_manifest_text_gets_a_bounded_verdict(text: str) -> None:
    verdict(text)


@given(SPEC_MANIFESTS, SPEC_MANIFESTS)
def test_the_compatibility_gate_judges_any_pair_of_releases(
    released: dict[str, Any], manifest: dict[str, Any]
) -> None:
    release = compatibility.Release("gear/my-gear/v1.0.0", "1.0.0", released)
    verdict(json.dumps(manifest), released=release)


@given(DOCKERFILES)
def test_any_dockerfile_is_read_or_named(text: str) -> None:
    try:
        commands = parse_dockerfile("g/src/docker/Dockerfile", text, {})
    except dockerfile_reader.DockerfileError as exc:
        assert str(exc) and len(str(exc)) <= checker.MAX_MESSAGE * 2
        return
    assert isinstance(commands, DockerfileCommands)
    problems = check_manifest(
        PATH, json.dumps(aligned(MINIMAL)), TARGET, commands, validate_spec=False
    )
    assert all(isinstance(problem, str) for problem in problems)


MINIMAL: dict[str, Any] = {
    "name": "my-gear", "label": "g", "description": "d", "version": "1.2.0", "author": "a",
    "license": "MIT", "source": "", "url": "", "inputs": {}, "config": {},
}  # fmt: skip


TESTDATA = Path(__file__).parent / "testdata"


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*.json")), ids=lambda path: path.name)
def test_public_manifests_get_a_verdict(path: Path) -> None:
    """Real manifests of public gears (testdata/README.md), as they are."""
    verdict(path.read_text())
