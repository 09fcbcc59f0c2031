"""Checks GitHub workflow files: GitHub's workflow schema, and zizmor's offline security audit.

    ./pants run tools/src/python/workflow_check:check [-- FILE ...]

Without FILE it checks every `.github/workflows/*.yml` and `*.yaml` under the current
directory (`./pants run` runs in the repository root). Each file must be YAML, valid by the
GitHub workflow schema that check-jsonschema vendors (`--builtin-schema
vendor.github-workflows`: no network), every problem printed as `FILE:LINE: ...`; and zizmor
(`--offline`) must find nothing of medium or high severity. A finding that is accepted goes,
with the reason, into `.github/zizmor.yml`, which zizmor reads. Exits 1 on any problem.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from check_jsonschema import main as check_jsonschema_main  # type: ignore[import-untyped]
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

WORKFLOWS = Path(".github/workflows")
SCHEMA = "vendor.github-workflows"
# One step of a JSON path as jsonschema writes it: `.key`, `['key']` or `[0]`.
PATH_STEP = re.compile(r"\.([^.\[]+)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")


def workflow_files() -> list[Path]:
    """The workflow files under the current directory, as relative paths."""
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def path_steps(json_path: str) -> list[str | int]:
    """`$.jobs.ci.steps[0]` -> ["jobs", "ci", "steps", 0]."""
    steps: list[str | int] = []
    for key, quoted, index in PATH_STEP.findall(json_path.removeprefix("$")):
        steps.append(int(index) if index else key or quoted.replace("\\'", "'"))
    return steps


def line_of(document: Any, steps: Sequence[str | int]) -> int:
    """The 1-based line of the deepest node of `steps` that the YAML document has."""
    line = 1
    node = document
    for step in steps:
        try:
            position = node.lc.item(step) if isinstance(step, int) else node.lc.key(step)
            line = position[0] + 1
            node = node[step]
        except (AttributeError, KeyError, IndexError, TypeError):
            break
    return line


def yaml_problem(path: Path) -> str | None:
    """`FILE:LINE:COLUMN: not valid YAML: ...` for a file that does not parse, else None."""
    try:
        YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        return f"{path}:{where}: not valid YAML: {error.problem or error.context}"
    except (OSError, UnicodeDecodeError) as error:
        return f"{path}: cannot be read: {error}"
    return None


def schema_problems(files: Sequence[Path]) -> list[str]:
    """Every file's YAML and schema problems, as `FILE:LINE: ...` lines."""
    output = io.StringIO()
    arguments = ["--builtin-schema", SCHEMA, "--output-format", "json", *map(str, files)]
    quiet = contextlib.redirect_stderr(io.StringIO())
    with contextlib.redirect_stdout(output), quiet, contextlib.suppress(SystemExit):
        check_jsonschema_main(arguments)
    report = json.loads(output.getvalue())
    problems = []
    for failure in report.get("parse_errors", []):
        path = Path(failure["filename"])
        problems.append(yaml_problem(path) or f"{path}: {failure['message']}")
    documents: dict[str, Any] = {}
    for error in report.get("errors", []):
        filename = error["filename"]
        if filename not in documents:
            documents[filename] = YAML(typ="rt").load(Path(filename).read_text(encoding="utf-8"))
        best = error.get("best_deep_match") or error
        line = line_of(documents[filename], path_steps(best["path"]))
        problems.append(
            f"{filename}:{line}: {best['path']}: {best['message']} (GitHub workflow schema)"
        )
    return problems


def zizmor_executable() -> str:
    """zizmor's program, installed with its Python distribution (a binary in `bin/`)."""
    beside_python = Path(sys.executable).parent / "zizmor"
    if beside_python.is_file():
        return str(beside_python)
    for file in importlib.metadata.distribution("zizmor").files or []:
        if file.name == "zizmor":
            located = Path(str(file.locate()))
            if located.is_file() and os.access(located, os.X_OK):
                return str(located)
    raise SystemExit("workflow_check: zizmor is installed but its program was not found")


def zizmor_problems(files: Sequence[Path]) -> tuple[int, str]:
    """zizmor's exit code and findings (medium and high severity) for the files."""
    command = [zizmor_executable(), "--offline", "--no-progress", "--min-severity=medium"]
    result = subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, check=False
    )
    return result.returncode, result.stdout.strip()


def main(argv: Sequence[str]) -> int:
    files = [Path(argument) for argument in argv] or workflow_files()
    if not files:
        print(f"workflow_check: no workflow files under {WORKFLOWS}/", file=sys.stderr)
        return 1
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        print(f"workflow_check: no such file: {', '.join(missing)}", file=sys.stderr)
        return 1
    problems = schema_problems(files)
    for problem in problems:
        print(problem)
    parsed = [path for path in files if not any(p.startswith(f"{path}:") for p in problems)]
    status, findings = zizmor_problems(parsed) if parsed else (0, "")
    if status != 0:
        print(findings or f"zizmor exited {status}")
    names = ", ".join(str(path) for path in files)
    if problems or status != 0:
        print(f"workflow check failed: {names}", file=sys.stderr)
        return 1
    print(f"workflows ok (GitHub workflow schema, zizmor --offline): {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
