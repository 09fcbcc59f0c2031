"""`gear_code` packages, run by Pants' RuleRunner on a small gear repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pants.backend.python.target_types import PexBinary, PythonSourcesGeneratorTarget
from pants.backend.python.target_types_rules import rules as python_target_types_rules
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.core.goals.package import BuiltPackage
from pants.core.target_types import ResourcesGeneratorTarget
from pants.core.target_types import rules as core_target_types_rules
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import QueryRule, RuleRunner
from plugin_testutil.machine_options import machine_options

from gear_code.rules import GearCodeFieldSet, GearCodeTarget
from gear_code.rules import rules as gear_code_rules

FILES = {
    "my_gear/src/python/my_app/BUILD": (
        'python_sources(dependencies=["common/src/python/lib"])\n'
        'pex_binary(name="bin", entry_point="run.py")'
    ),
    "my_gear/src/python/my_app/__init__.py": "",
    "my_gear/src/python/my_app/run.py": (
        "import sys\nfrom lib.words import greeting\n"
        "if __name__ == '__main__':\n    print(greeting(sys.argv[1]))\n"
    ),
    "common/src/python/lib/BUILD": (
        'python_sources(dependencies=[":data"])\nresources(name="data", sources=["*.txt"])'
    ),
    "common/src/python/lib/__init__.py": "",
    "common/src/python/lib/words.py": (
        "from importlib.resources import files\n"
        "def greeting(name):\n"
        "    return files('lib').joinpath('hello.txt').read_text().strip() + ', ' + name\n"
    ),
    "common/src/python/lib/hello.txt": "Hello\n",
    "common/src/python/unused/BUILD": "python_sources()",
    "common/src/python/unused/other.py": "x = 1\n",
}


# Checks that lib/words.py's bytecode is PEP 552 checked-hash bytecode of its source, then runs
# the entry point as the image's /bin/run does, with the layer on the path.
RUN_FROM_LAYER = """
import importlib.util, runpy, sys
layer = sys.argv.pop(1)
sys.path.insert(0, layer)
source = open(layer + "/lib/words.py", "rb").read()
pyc = open(importlib.util.cache_from_source(layer + "/lib/words.py"), "rb").read()
assert pyc[:4] == importlib.util.MAGIC_NUMBER, "another Python's bytecode"
assert int.from_bytes(pyc[4:8], "little") == 0b11, "not checked-hash bytecode"
assert pyc[8:16] == importlib.util.source_hash(source), "bytecode of other sources"
runpy.run_module("my_app.run", run_name="__main__")
"""


# One engine for the module: each test writes the files it lints (the pexes the rules need
# are then built once, not once per test).
@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    runner = RuleRunner(
        rules=[
            *gear_code_rules(),
            *core_target_types_rules(),  # type: ignore[no-untyped-call]
            *python_target_types_rules(),  # type: ignore[no-untyped-call]
            QueryRule(BuiltPackage, [GearCodeFieldSet]),
            QueryRule(PythonExecutable, [InterpreterConstraints]),
        ],
        target_types=[
            GearCodeTarget,
            PexBinary,
            PythonSourcesGeneratorTarget,
            ResourcesGeneratorTarget,
        ],
    )
    runner.set_options(
        [
            "--source-root-patterns=['src/*']",
            "--python-interpreter-constraints=['==3.11.*']",
            *machine_options(),
        ],
        env_inherit={"PATH", "PYENV_ROOT", "HOME"},
    )
    return runner


def package(
    rule_runner: RuleRunner, build: str, changed: dict[str, str] | None = None
) -> tuple[BuiltPackage, Path]:
    rule_runner.write_files({**FILES, **(changed or {}), "my_gear/src/docker/BUILD": build})
    target = rule_runner.get_target(Address("my_gear/src/docker", target_name="code"))
    built = rule_runner.request(BuiltPackage, [GearCodeFieldSet.create(target)])
    rule_runner.write_digest(built.digest, path_prefix="dist")
    return built, Path(rule_runner.build_root, "dist")


def test_the_layer_holds_the_code_the_gear_reaches_stripped_and_compiled(
    rule_runner: RuleRunner,
) -> None:
    built, dist = package(
        rule_runner,
        'gear_code(name="code", dependencies=["my_gear/src/python/my_app:bin"], '
        'entry_point="my_app.run")',
    )
    (artifact,) = built.artifacts
    assert artifact.relpath == "my_gear.src.docker/code"
    layer = dist / "my_gear.src.docker/code"
    files = sorted(p.relative_to(layer).as_posix() for p in layer.rglob("*") if p.is_file())
    tag = "cpython-311"
    assert files == [
        "lib/__init__.py",
        f"lib/__pycache__/__init__.{tag}.pyc",
        f"lib/__pycache__/words.{tag}.pyc",
        "lib/hello.txt",
        "lib/words.py",
        "my_app/__init__.py",
        f"my_app/__pycache__/__init__.{tag}.pyc",
        f"my_app/__pycache__/run.{tag}.pyc",
        "my_app/run.py",
    ]
    # What the image does, with the interpreter Pants compiled with: its bytecode is current
    # for the sources, and the module runs with the layer on the path and reads its resource.
    python = rule_runner.request(PythonExecutable, [InterpreterConstraints(["==3.11.*"])])
    run = subprocess.run(
        [python.path, "-I", "-c", RUN_FROM_LAYER, str(layer), "gear"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "Hello, gear\n"


def test_an_entry_point_that_is_not_in_the_layer_is_named(rule_runner: RuleRunner) -> None:
    with pytest.raises(ExecutionError) as error:
        package(
            rule_runner,
            'gear_code(name="code", dependencies=["my_gear/src/python/my_app:bin"], '
            'entry_point="my_app.main:run")',
        )
    message = str(error.value)
    assert "entry_point='my_app.main:run' is not a module of its code" in message
    assert "my_app/main.py or my_app/main/__main__.py" in message


def test_code_that_does_not_compile_fails_the_package_naming_the_file(
    rule_runner: RuleRunner,
) -> None:
    with pytest.raises(ExecutionError) as error:
        package(
            rule_runner,
            'gear_code(name="code", dependencies=["my_gear/src/python/my_app:bin"], '
            'entry_point="my_app.run")',
            changed={"common/src/python/lib/words.py": "def greeting(name:\n"},
        )
    assert "lib/words.py" in str(error.value)
