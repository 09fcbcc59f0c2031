"""`gear_code`: the Python code a gear image runs, as a directory of sources and bytecode.

    gear_code(name="my-gear-code", dependencies=["my_gear/src/python/my_app:bin"],
              entry_point="my_app.run")

`pants package` makes a directory (`<dir>.<name>/` in dist/ and in a docker_image's build
context) of every first-party Python source and resource its dependencies reach (the gear's
code and `common/`), with source roots stripped as in a pex, and a `__pycache__/*.pyc` beside
each module. The bytecode is hash-checked (PEP 552): it does not depend on file times, so the
same sources give the same directory, and Python uses it wherever the sources are copied to
(a read-only image, where it could not write bytecode of its own).

Third-party requirements are left out: the gear image installs them in a layer of their own.
This is what `pex venv --scope=srcs` makes from a sources-only pex, without the pex tool or
a container: one Python process compiles the modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.util_rules import pex, python_sources
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.backend.python.util_rules.python_sources import (
    PythonSourceFilesRequest,
    StrippedPythonSourceFiles,
)
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    OutputPathField,
    PackageFieldSet,
)
from pants.engine.fs import AddPrefix, Digest
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    Dependencies,
    StringField,
    Target,
    TransitiveTargets,
    TransitiveTargetsRequest,
)
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

# Compiles every module under the directory given, with hash-checked bytecode; exits 1, having
# printed the error, if one does not compile.
COMPILE_SCRIPT = (
    "import compileall, py_compile, sys; "
    "sys.exit(0 if compileall.compile_dir(sys.argv[1], quiet=1, "
    "invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH) else 1)"
)


class GearCodeDependenciesField(Dependencies):
    help = "The gear's pex_binary (or its sources): their first-party code is the layer's."


class GearCodeEntryPointField(StringField):
    alias = "entry_point"
    required = True
    help = (
        "The module the image runs (`my_app.run`, or `my_app.run:main`); the package fails, "
        "naming it, if the layer has no such module."
    )


class GearCodeTarget(Target):
    alias = "gear_code"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        GearCodeDependenciesField,
        GearCodeEntryPointField,
        OutputPathField,
    )
    help = (
        "A gear's own code and the first-party code it uses, stripped of source roots and "
        "compiled, as a directory: the last layer of its image (see gear_image())."
    )


@dataclass(frozen=True)
class GearCodeFieldSet(PackageFieldSet):
    required_fields = (GearCodeDependenciesField, GearCodeEntryPointField)

    dependencies: GearCodeDependenciesField
    entry_point: GearCodeEntryPointField
    output_path: OutputPathField


def module_files(entry_point: str) -> tuple[str, str]:
    """The files that can hold an entry point's module: `a/b.py` or `a/b/__main__.py`."""
    module = entry_point.partition(":")[0].replace(".", "/")
    return f"{module}.py", f"{module}/__main__.py"


class GearCodeError(Exception):
    pass


@rule(desc="Package gear code", level=LogLevel.DEBUG)
async def package_gear_code(field_set: GearCodeFieldSet, python_setup: PythonSetup) -> BuiltPackage:
    transitive = await Get(TransitiveTargets, TransitiveTargetsRequest([field_set.address]))
    stripped = await Get(
        StrippedPythonSourceFiles,
        PythonSourceFilesRequest(transitive.closure, include_resources=True, include_files=False),
    )
    files = stripped.stripped_source_files.snapshot.files
    entry_point = field_set.entry_point.value or ""
    if not set(module_files(entry_point)) & set(files):
        raise GearCodeError(
            f"{field_set.address}: entry_point={entry_point!r} is not a module of its code: "
            f"none of {' or '.join(module_files(entry_point))} is among the {len(files)} "
            "files its dependencies reach (is the gear pex's entry point a file beside it, "
            "under a source root 'src/<language>/'?)"
        )
    output_path = field_set.output_path.value_or_default(file_ending=None)
    interpreter_constraints = InterpreterConstraints.create_from_targets(
        transitive.closure, python_setup
    ) or InterpreterConstraints(python_setup.interpreter_constraints)
    python, sources = await MultiGet(
        Get(PythonExecutable, InterpreterConstraints, interpreter_constraints),
        Get(Digest, AddPrefix(stripped.stripped_source_files.snapshot.digest, output_path)),
    )
    result = await Get(
        ProcessResult,
        Process(
            argv=(python.path, "-I", "-c", COMPILE_SCRIPT, output_path),
            input_digest=sources,
            output_directories=(output_path,),
            description=f"Compile the {len(files)} files of {field_set.address}",
            level=LogLevel.DEBUG,
        ),
    )
    return BuiltPackage(result.output_digest, (BuiltPackageArtifact(output_path),))


def rules() -> list[Any]:
    return [
        *collect_rules(),
        *pex.rules(),  # type: ignore[no-untyped-call]
        *python_sources.rules(),  # type: ignore[no-untyped-call]
        UnionRule(PackageFieldSet, GearCodeFieldSet),
    ]
