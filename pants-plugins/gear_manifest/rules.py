"""`pants lint` rules for the gear-manifest linter: one sandboxed, cached process checks every
image linted (its start-up, mostly importing fw-gear, is paid once per lint run).

Per image it gathers what the checker reads: the manifest, the Dockerfile and those of the
images it is built FROM, the files of the gear's code, and the manifest of the gear's last
release, read from git (`gear/<name>/v<version>` tags; asked once per Pants run, so a new tag
counts at once)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pants.backend.docker.goals.package_image import DockerPackageFieldSet
from pants.backend.docker.subsystems.docker_options import DockerOptions
from pants.backend.docker.subsystems.dockerfile_parser import DockerfileInfo, DockerfileInfoRequest
from pants.backend.docker.target_types import (
    DockerImageSourceField,
    DockerImageTagsField,
    DockerImageTarget,
)
from pants.backend.docker.util_rules.docker_build_args import (
    DockerBuildArgs,
    DockerBuildArgsRequest,
)
from pants.backend.docker.util_rules.docker_build_context import (
    DockerBuildContext,
    DockerBuildContextError,
)
from pants.backend.docker.util_rules.docker_build_env import (
    DockerBuildEnvironment,
    DockerBuildEnvironmentRequest,
)
from pants.backend.docker.value_interpolation import DockerBuildArgsInterpolationValue
from pants.backend.python.util_rules import pex
from pants.backend.python.util_rules.pex import PexRequest, VenvPex, VenvPexProcess
from pants.base.build_root import BuildRoot
from pants.core.goals.lint import LintResult, LintTargetsRequest
from pants.core.util_rules.partitions import PartitionerType
from pants.core.util_rules.system_binaries import MaybeGitBinary
from pants.engine.addresses import Addresses
from pants.engine.fs import EMPTY_DIGEST, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    Dependencies,
    DependenciesRequest,
    FieldSet,
    HydratedSources,
    HydrateSourcesRequest,
    SingleSourceField,
    SourcesField,
    Target,
    Targets,
    TransitiveTargets,
    TransitiveTargetsRequest,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.util.logging import LogLevel
from pants.util.value_interpolation import InterpolationContext, InterpolationError

from gear_manifest import checker, compatibility
from gear_manifest.subsystem import (
    GearManifestLinter,
    GearManifestRequireLatestField,
    SkipGearManifestField,
)

MANIFEST_FILE_NAME = "manifest.json"
# The checker's package, as the linter's process gets it.
CHECKER_MODULES = ("__init__.py", "checker.py", "compatibility.py", "dockerfile_reader.py")
REQUEST_FILE = "__gear_manifest_request.json"
RELEASED_DIR = "__released"


@dataclass(frozen=True)
class GearManifestFieldSet(FieldSet):
    required_fields = (DockerImageSourceField, DockerImageTagsField)

    source: DockerImageSourceField
    dependencies: Dependencies
    require_latest: GearManifestRequireLatestField

    @classmethod
    def opt_out(cls, tgt: Target) -> bool:
        return bool(tgt.get(SkipGearManifestField).value)


class GearManifestRequest(LintTargetsRequest):
    field_set_type = GearManifestFieldSet
    tool_subsystem = GearManifestLinter  # type: ignore[assignment]
    partitioner_type = PartitionerType.DEFAULT_SINGLE_PARTITION


def _manifest_source(targets: Targets) -> SingleSourceField | None:
    for target in targets:
        for field in target.field_values.values():
            if not isinstance(field, SingleSourceField) or not field.value:
                continue
            if os.path.basename(field.file_path) == MANIFEST_FILE_NAME:
                return field
    return None


async def _interpolation_context(target: Target) -> InterpolationContext:
    """`{build_args.X}` as `pants package` resolves it, with Pants' own rules.

    The build args of `[docker] build_args` and the target's `extra_build_args`; one given
    without a value takes it from the environment (`[docker] env_vars`), else from the
    Dockerfile's `ARG X=default`, as in Pants' docker build context.
    """
    build_args, build_env, dockerfile_info = await MultiGet(
        Get(DockerBuildArgs, DockerBuildArgsRequest(target)),
        Get(DockerBuildEnvironment, DockerBuildEnvironmentRequest(target)),
        Get(DockerfileInfo, DockerfileInfoRequest(target.address)),
    )
    values = DockerBuildContext._merge_build_args(dockerfile_info, build_args, build_env)
    return InterpolationContext.from_dict({"build_args": DockerBuildArgsInterpolationValue(values)})


async def _upstream_images(dependencies: Targets) -> list[Target]:
    """The docker_image targets among `dependencies` and theirs, each after its own."""
    levels: list[list[Target]] = []
    seen: set[Target] = set()
    level = [t for t in dependencies if t.has_field(DockerImageSourceField)]
    while level:
        levels.append(level)
        seen.update(level)
        addresses = await MultiGet(
            Get(Addresses, DependenciesRequest(t[Dependencies])) for t in level
        )
        targets = await Get(Targets, Addresses(sorted({a for found in addresses for a in found})))
        level = [t for t in targets if t.has_field(DockerImageSourceField) and t not in seen]
    return [target for level in reversed(levels) for target in level]


def image_target(
    target: Target, docker: DockerOptions, context: InterpolationContext
) -> checker.ImageTarget:
    """What Pants will build for `target`: its name, tags and expanded repositories."""
    field_set = DockerPackageFieldSet.create(target)
    refs = list(
        field_set.image_refs(
            default_repository=docker.default_repository,
            registries=docker.registries(),
            interpolation_context=context,
        )
    )
    tags = tuple(dict.fromkeys(tag.formatted for ref in refs for tag in ref.tags))
    repositories = tuple(
        dict.fromkeys(tag.full_name[: -len(tag.formatted) - 1] for ref in refs for tag in ref.tags)
    )
    return checker.ImageTarget(
        address=str(target.address),
        name=target.address.target_name,
        tags=tags,
        repositories=repositories,
        require_latest=bool(target[GearManifestRequireLatestField].value),
    )


@dataclass(frozen=True)
class ImageCheck:
    """One image's part of the checker's request, and the files it reads."""

    request: dict[str, Any]
    digest: Digest


@dataclass(frozen=True)
class ReleasedManifestRequest:
    name: str
    manifest_path: str


@dataclass(frozen=True)
class ReleasedManifest:
    """The gear's last release: its tag, version and manifest text (none: not released)."""

    tag: str | None = None
    version: str | None = None
    text: bytes = b""


async def _git(git: MaybeGitBinary, description: str, *args: str) -> FallibleProcessResult:
    """git run in the repository (not the sandbox), once per Pants run."""
    assert git.git_binary is not None
    return await Get(
        FallibleProcessResult,
        Process(
            argv=(git.git_binary.path, "-C", BuildRoot().path, *args),
            description=description,
            level=LogLevel.DEBUG,
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )


@rule(desc="Find a gear's last release", level=LogLevel.DEBUG)
async def released_manifest(
    request: ReleasedManifestRequest, git: MaybeGitBinary
) -> ReleasedManifest:
    if git.git_binary is None:
        return ReleasedManifest()
    prefix = compatibility.release_tag(request.name, "")[: -len("v")]
    tags = await _git(
        git,
        f"List the release tags of {request.name}",
        "for-each-ref",
        "--format=%(refname:strip=2)",
        f"refs/tags/{prefix}",
    )
    if tags.exit_code != 0:
        return ReleasedManifest()  # Not a git repository: nothing released from here.
    latest = compatibility.latest_release(tags.stdout.decode().split(), request.name)
    if latest is None:
        return ReleasedManifest()
    tag, version = latest
    shown = await _git(
        git, f"Read {request.manifest_path} at {tag}", "show", f"{tag}:{request.manifest_path}"
    )
    return ReleasedManifest(tag, version, shown.stdout if shown.exit_code == 0 else b"")


def _code_sources(transitive: TransitiveTargets) -> list[SourcesField]:
    """The sources of what an image is made of (its code, files and scripts), not Dockerfiles."""
    return [
        target[SourcesField]
        for target in transitive.dependencies
        if target.has_field(SourcesField) and not target.has_field(DockerImageSourceField)
    ]


@rule(desc="Gather a gear image's manifest check", level=LogLevel.DEBUG)
async def image_check(field_set: GearManifestFieldSet, docker: DockerOptions) -> ImageCheck:
    wrapped, dependency_addresses = await MultiGet(
        Get(
            WrappedTarget,
            WrappedTargetRequest(field_set.address, description_of_origin="gear-manifest lint"),
        ),
        Get(Addresses, DependenciesRequest(field_set.dependencies)),
    )
    dependency_targets = await Get(Targets, Addresses, dependency_addresses)
    manifest_source = _manifest_source(dependency_targets)
    if manifest_source is None:
        return ImageCheck({"skip": str(field_set.address)}, EMPTY_DIGEST)
    try:
        context = await _interpolation_context(wrapped.target)
        target = image_target(wrapped.target, docker, context)
    except (InterpolationError, DockerBuildContextError) as exc:
        return ImageCheck(
            {"error": f"{field_set.address}: cannot work out its image: {exc}"}, EMPTY_DIGEST
        )

    manifest_sources, dockerfile_sources, transitive, released = await MultiGet(
        Get(HydratedSources, HydrateSourcesRequest(manifest_source)),
        Get(
            HydratedSources,
            HydrateSourcesRequest(
                field_set.source, for_sources_types=(DockerImageSourceField,), enable_codegen=True
            ),
        ),
        Get(TransitiveTargets, TransitiveTargetsRequest([field_set.address])),
        Get(ReleasedManifest, ReleasedManifestRequest(target.name, manifest_source.file_path)),
    )
    # Images this one is built FROM (a gear's runtime and system images): their ENV and
    # ENTRYPOINT are the image's too.
    upstream_targets = await _upstream_images(dependency_targets)
    upstream_sources = await MultiGet(
        Get(
            HydratedSources,
            HydrateSourcesRequest(
                t[DockerImageSourceField],
                for_sources_types=(DockerImageSourceField,),
                enable_codegen=True,
            ),
        )
        for t in upstream_targets
    )
    code_sources = await MultiGet(
        Get(HydratedSources, HydrateSourcesRequest(field)) for field in _code_sources(transitive)
    )
    upstream = [
        {"dockerfile": sources.snapshot.files[0], "names": [str(t.address)]}
        for t, sources in zip(upstream_targets, upstream_sources)
        if sources.snapshot.files
    ]
    dockerfiles = dockerfile_sources.snapshot.files
    digests = [
        manifest_sources.snapshot.digest,
        dockerfile_sources.snapshot.digest,
        *(sources.snapshot.digest for sources in upstream_sources),
        *(sources.snapshot.digest for sources in code_sources),
    ]
    request_json: dict[str, Any] = {
        "manifest": manifest_source.file_path,
        "dockerfile": dockerfiles[0] if dockerfiles else None,
        "upstream": upstream,
        "code": sorted({f for sources in code_sources for f in sources.snapshot.files}),
        "target": {
            "address": target.address,
            "name": target.name,
            "tags": list(target.tags),
            "repositories": list(target.repositories),
            "require_latest": target.require_latest,
        },
    }
    if released.tag is not None and released.text:
        released_path = f"{RELEASED_DIR}/{released.tag}/{MANIFEST_FILE_NAME}"
        request_json["released"] = {
            "tag": released.tag,
            "version": released.version,
            "manifest": released_path,
        }
        digests.append(await Get(Digest, CreateDigest([FileContent(released_path, released.text)])))
    return ImageCheck(request_json, await Get(Digest, MergeDigests(digests)))


def _result(
    request: GearManifestRequest.Batch[GearManifestFieldSet, Any], exit_code: int, stdout: str
) -> LintResult:
    return LintResult(
        exit_code=exit_code,
        stdout=stdout,
        stderr="",
        linter_name=request.tool_name,
        partition_description=request.partition_metadata.description,
    )


def base_image_warning(build_args: tuple[str, ...] | list[str]) -> str | None:
    """A warning when `[docker] build_args` names the base image by tag, not by digest."""
    values = [arg.split("=", 1)[1] for arg in build_args if arg.startswith("BASE_IMAGE=")]
    if not values or re.search(r"@sha256:[0-9a-f]{64}$", values[-1]):
        return None
    return (
        f"warning: the base image BASE_IMAGE={values[-1]} ([docker] build_args) is named by "
        "tag, not digest: a release built from it cannot be rebuilt from the same base later; "
        "pin it with `bin/container-engine pin-base`"
    )


@rule(desc="Check gear manifests", level=LogLevel.DEBUG)
async def check_gear_manifests(
    request: GearManifestRequest.Batch[GearManifestFieldSet, Any],
    linter: GearManifestLinter,
    docker: DockerOptions,
) -> LintResult:
    checks = await MultiGet(Get(ImageCheck, GearManifestFieldSet, fs) for fs in request.elements)
    skipped = [c.request["skip"] for c in checks if "skip" in c.request]
    notes = (
        [f"not gear images (no {MANIFEST_FILE_NAME} dependency): {', '.join(skipped)}"]
        if skipped
        else []
    )
    warning = base_image_warning(tuple(docker.build_args))
    notes += [warning] if warning else []
    errors = [c.request["error"] for c in checks if "error" in c.request]
    runnable = [c for c in checks if "manifest" in c.request]
    if not runnable:
        lines = [*errors, *notes]
        return _result(request, 1 if errors else 0, "".join(f"{line}\n" for line in lines))
    package = Path(checker.__file__).parent
    checker_digest, request_digest = await MultiGet(
        Get(
            Digest,
            CreateDigest(
                [
                    FileContent(f"gear_manifest/{name}", (package / name).read_bytes())
                    for name in CHECKER_MODULES
                ]
            ),
        ),
        Get(
            Digest,
            CreateDigest(
                [
                    FileContent(
                        REQUEST_FILE, json.dumps({"checks": [c.request for c in runnable]}).encode()
                    )
                ]
            ),
        ),
    )
    linter_pex, input_digest = await MultiGet(
        Get(VenvPex, PexRequest, linter.to_pex_request(sources=checker_digest)),
        Get(Digest, MergeDigests((request_digest, *(c.digest for c in runnable)))),
    )
    manifests = ", ".join(c.request["manifest"] for c in runnable)
    result = await Get(
        FallibleProcessResult,
        VenvPexProcess(
            linter_pex,
            argv=(REQUEST_FILE,),
            input_digest=input_digest,
            description=f"Check gear manifests {manifests}",
            level=LogLevel.DEBUG,
        ),
    )
    if not errors and not notes:
        return LintResult.create(request, result)
    extra = "".join(f"{line}\n" for line in [*errors, *notes])
    return _result(request, 1 if errors else result.exit_code, extra + result.stdout.decode())


def rules() -> list[Any]:
    return [
        *collect_rules(),
        *GearManifestRequest.rules(),
        *pex.rules(),
        DockerImageTarget.register_plugin_field(SkipGearManifestField),
        DockerImageTarget.register_plugin_field(GearManifestRequireLatestField),
    ]
