"""Rules that run `ruff format` with the repository's pinned Ruff.

Pants 2.17 runs Ruff only as a linter and fixer (`ruff --fix`); this adds its formatter:

* `RuffFormatRequest`: a formatter for Python sources, so `pants fmt` rewrites them and
  `pants lint` fails on unformatted code;
* `FormatBuildFileWithRuffRequest`: a BUILD-file rewrite, so `pants update-build-files`
  formats BUILD files with the same tool and settings (set `[update-build-files] fmt = false`
  to turn off the built-in Black/Yapf formatting).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pants.backend.python.lint.ruff.subsystem import Ruff, RuffFieldSet
from pants.backend.python.util_rules import pex
from pants.backend.python.util_rules.pex import PexRequest, VenvPex, VenvPexProcess
from pants.core.goals.fmt import FmtResult, FmtTargetsRequest
from pants.core.goals.update_build_files import RewrittenBuildFile, RewrittenBuildFileRequest
from pants.core.util_rules.config_files import ConfigFiles, ConfigFilesRequest
from pants.core.util_rules.partitions import PartitionerType
from pants.engine.fs import CreateDigest, Digest, DigestContents, FileContent, MergeDigests
from pants.engine.internals.native_engine import Snapshot
from pants.engine.process import ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel
from pants.util.meta import classproperty
from pants.util.strutil import pluralize

# `ruff format` decides what a file is by its name, and BUILD files have no `.py` suffix.
BUILD_FILE_STAND_IN = "__pants_build_file__.py"


async def _ruff_format(ruff: Ruff, snapshot: Snapshot, config_dirs: Iterable[str]) -> ProcessResult:
    """Runs `ruff format` on every file of `snapshot` and returns the process result."""
    ruff_pex, config_files = await MultiGet(
        Get(VenvPex, PexRequest, ruff.to_pex_request()),
        Get(ConfigFiles, ConfigFilesRequest, ruff.config_request(config_dirs)),
    )
    input_digest = await Get(Digest, MergeDigests((snapshot.digest, config_files.snapshot.digest)))
    conf_args = [f"--config={ruff.config}"] if ruff.config else []
    return await Get(
        ProcessResult,
        VenvPexProcess(
            ruff_pex,
            argv=("format", *conf_args, *snapshot.files),
            input_digest=input_digest,
            output_files=snapshot.files,
            description=f"Run ruff format on {pluralize(len(snapshot.files), 'file')}.",
            level=LogLevel.DEBUG,
        ),
    )


class RuffFormatRequest(FmtTargetsRequest):
    field_set_type = RuffFieldSet
    tool_subsystem = Ruff  # type: ignore[assignment]  # (as in Pants' own Ruff rules)
    partitioner_type = PartitionerType.DEFAULT_SINGLE_PARTITION

    @classproperty
    def tool_name(cls) -> str:  # noqa: N805 (a classproperty)
        return "ruff format"


@rule(desc="Format with ruff format", level=LogLevel.DEBUG)
async def ruff_format(request: RuffFormatRequest.Batch, ruff: Ruff) -> FmtResult:
    result = await _ruff_format(ruff, request.snapshot, request.snapshot.dirs)
    return await FmtResult.create(request, result, strip_chroot_path=True)


class FormatBuildFileWithRuffRequest(RewrittenBuildFileRequest):
    pass


@rule(desc="Format BUILD file with ruff format", level=LogLevel.DEBUG)
async def format_build_file_with_ruff(
    request: FormatBuildFileWithRuffRequest, ruff: Ruff
) -> RewrittenBuildFile:
    content = ("\n".join(request.lines) + "\n").encode("utf-8")
    snapshot = await Get(Snapshot, CreateDigest([FileContent(BUILD_FILE_STAND_IN, content)]))
    result = await _ruff_format(ruff, snapshot, ("",))
    formatted = await Get(DigestContents, Digest, result.output_digest)
    new_content = next(fc.content for fc in formatted if fc.path == BUILD_FILE_STAND_IN)
    lines = tuple(new_content.decode("utf-8").splitlines())
    changes = ("Format with ruff format",) if lines != request.lines else ()
    return RewrittenBuildFile(request.path, lines, change_descriptions=changes)


def rules() -> list[Any]:
    return [
        *collect_rules(),
        *RuffFormatRequest.rules(),
        UnionRule(RewrittenBuildFileRequest, FormatBuildFileWithRuffRequest),
        *pex.rules(),
    ]
