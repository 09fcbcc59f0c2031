"""`pants lint` rules for the gear-manifest linter: one sandboxed, cached check per image."""

from __future__ import annotations

import json
import os
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
from pants.core.goals.lint import LintResult, LintTargetsRequest
from pants.core.util_rules.partitions import PartitionerType
from pants.engine.addresses import Addresses
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    Dependencies,
    DependenciesRequest,
    FieldSet,
    HydratedSources,
    HydrateSourcesRequest,
    SingleSourceField,
    Target,
    Targets,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.util.logging import LogLevel
from pants.util.value_interpolation import InterpolationContext, InterpolationError

from gear_manifest import checker
from gear_manifest.subsystem import (
    GearManifestLinter,
    GearManifestRequireLatestField,
    SkipGearManifestField,
)

MANIFEST_FILE_NAME = "manifest.json"
CHECKER_MODULE = "gear_manifest_checker.py"
REQUEST_FILE = "__gear_manifest_request.json"


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
    partitioner_type = PartitionerType.DEFAULT_ONE_PARTITION_PER_INPUT


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


@rule(desc="Check gear manifest", level=LogLevel.DEBUG)
async def check_gear_manifest(
    request: GearManifestRequest.Batch[GearManifestFieldSet, Any],
    linter: GearManifestLinter,
    docker: DockerOptions,
) -> LintResult:
    field_set: GearManifestFieldSet = request.elements[0]
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
        return _result(
            request,
            0,
            f"{field_set.address}: no {MANIFEST_FILE_NAME} dependency, not a gear image\n",
        )
    try:
        context = await _interpolation_context(wrapped.target)
        target = image_target(wrapped.target, docker, context)
    except (InterpolationError, DockerBuildContextError) as exc:
        return _result(request, 1, f"{field_set.address}: cannot work out its image: {exc}\n")

    manifest_sources, dockerfile_sources = await MultiGet(
        Get(HydratedSources, HydrateSourcesRequest(manifest_source)),
        Get(
            HydratedSources,
            HydrateSourcesRequest(
                field_set.source, for_sources_types=(DockerImageSourceField,), enable_codegen=True
            ),
        ),
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
    upstream = [
        {"dockerfile": sources.snapshot.files[0], "names": [str(t.address)]}
        for t, sources in zip(upstream_targets, upstream_sources)
        if sources.snapshot.files
    ]
    dockerfiles = dockerfile_sources.snapshot.files
    request_json = {
        "manifest": manifest_source.file_path,
        "dockerfile": dockerfiles[0] if dockerfiles else None,
        "upstream": upstream,
        "target": {
            "address": target.address,
            "name": target.name,
            "tags": list(target.tags),
            "repositories": list(target.repositories),
            "require_latest": target.require_latest,
        },
    }
    checker_digest, request_digest = await MultiGet(
        Get(
            Digest, CreateDigest([FileContent(CHECKER_MODULE, Path(checker.__file__).read_bytes())])
        ),
        Get(Digest, CreateDigest([FileContent(REQUEST_FILE, json.dumps(request_json).encode())])),
    )
    linter_pex = await Get(VenvPex, PexRequest, linter.to_pex_request(sources=checker_digest))
    input_digest = await Get(
        Digest,
        MergeDigests(
            (
                request_digest,
                manifest_sources.snapshot.digest,
                dockerfile_sources.snapshot.digest,
                *(sources.snapshot.digest for sources in upstream_sources),
            )
        ),
    )
    result = await Get(
        FallibleProcessResult,
        VenvPexProcess(
            linter_pex,
            argv=(REQUEST_FILE,),
            input_digest=input_digest,
            description=f"Check gear manifest {manifest_source.file_path} of {target.address}",
            level=LogLevel.DEBUG,
        ),
    )
    return LintResult.create(request, result)


def rules() -> list[Any]:
    return [
        *collect_rules(),
        *GearManifestRequest.rules(),
        *pex.rules(),
        DockerImageTarget.register_plugin_field(SkipGearManifestField),
        DockerImageTarget.register_plugin_field(GearManifestRequireLatestField),
    ]
