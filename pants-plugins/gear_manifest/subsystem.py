"""The `gear-manifest` linter's options and the target fields it adds to `docker_image`."""

from __future__ import annotations

from pants.backend.python.subsystems.python_tool_base import LockfileRules, PythonToolBase
from pants.backend.python.target_types import EntryPoint
from pants.engine.target import BoolField
from pants.option.option_types import SkipOption


class GearManifestLinter(PythonToolBase):
    options_scope = "gear-manifest"
    name = "gear-manifest"
    help = (
        "Checks each gear's manifest.json against its docker_image target (name, version tag, "
        "image reference), its Dockerfile (command) and Flywheel's gear manifest schema "
        "(as shipped by fw-gear)."
    )

    default_version = "fw-gear>=0.3.7,<0.4"
    # fw-gear's manifest schema and validation; RE2 runs a manifest's patterns in linear time.
    default_extra_requirements = ["jsonschema>=4,<5", "google-re2>=1.1,<2"]  # noqa: RUF012
    default_requirements = [default_version, *default_extra_requirements]  # noqa: RUF012
    default_main = EntryPoint("gear_manifest.checker")
    register_interpreter_constraints = True
    default_interpreter_constraints = ["CPython>=3.9,<3.13"]  # noqa: RUF012
    # Used where [gear-manifest] install_from_resolve is not set (this repository sets it, so
    # these are pinned by manifest-checks.lock; the plugin's tests use this one). Regenerate with
    #   ./pants generate-lockfiles --resolve=gear-manifest --gear-manifest-install-from-resolve= \
    #     --gear-manifest-lockfile=pants-plugins/gear_manifest/gear_manifest.lock
    default_lockfile_resource = ("gear_manifest", "gear_manifest.lock")
    lockfile_rules_type = LockfileRules.SIMPLE

    skip = SkipOption("lint")


class SkipGearManifestField(BoolField):
    alias = "skip_gear_manifest"
    default = False
    help = "If true, `pants lint` does not check this image's gear manifest."


class GearManifestRequireLatestField(BoolField):
    alias = "gear_manifest_require_latest"
    default = True
    help = (
        'If true (the default), the gear-manifest linter requires a "latest" image tag besides '
        "the version tag. Set it to false for an image that is only ever tagged by version."
    )
