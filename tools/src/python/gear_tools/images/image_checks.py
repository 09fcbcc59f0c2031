"""What a gear image must be able to import: the standard library of python:3.11-slim, and
every module of its code layer (the gear's code and common/, /opt/gear/code).

The tests run on the host's CPython; a gear runs on its image's. These checks catch what only
the image lacks: a standard-library module its base image splits off (Debian packages
distutils, lib2to3, ensurepip and dbm.gnu apart; the offline stand-in must carry them), or a
module of the gear's code that does not import there (a missing dependency or system library).
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

from gear_tools.engine.containers import Engine, run_in_image

GEAR_PYTHON = "/opt/gear/bin/python3"
BASE_PYTHON = "python3"
GEAR_CODE = "/opt/gear/code"
# Modules of CPython 3.11's standard library that python:3.11-slim has no use of: those for
# other systems, and Tk (the image's tkinter has no Tk libraries, so it cannot import there).
NOT_IN_SLIM = {
    "_msi", "msilib", "msvcrt", "nt", "winreg", "winsound", "_winapi", "_overlapped",
    "_scproxy", "ctypes.macholib", "distutils._msvccompiler", "distutils.msvc9compiler",
    "distutils.msvccompiler", "distutils.bcppcompiler", "distutils.command.bdist_msi",
    "tkinter", "_tkinter", "turtle", "turtledemo", "idlelib",
}  # fmt: skip
# Extension modules python:3.11-slim builds (its build has their libraries) that a host's
# CPython may lack, so the reference list cannot come from the host's build alone.
SLIM_EXTENSIONS = {
    "_gdbm",
    "_dbm",
    "_curses",
    "_curses_panel",
    "readline",
    "_uuid",
    "nis",
    "_crypt",
}
# Directories python:3.11-slim's Dockerfile deletes from the standard library.
SLIM_REMOVED_DIRS = {"test", "tests", "idle_test", "__pycache__", "site-packages"}

# The scripts' lines of findings start with MARK (a module may print warnings of its own).
MARK = "image-check: "
# Run by the image's Python: argv names modules; prints those it cannot find or import.
_FIND_SCRIPT = (
    f"MARK = {MARK!r}\n"
    + """
import importlib, importlib.util, sys
missing = []
for name in sys.argv[1:]:
    try:
        if importlib.util.find_spec(name) is None:
            missing.append(name)
    except Exception as exc:
        missing.append(f"{name} ({type(exc).__name__}: {exc})")
print("\\n".join(f"{MARK}{line}" for line in missing))
"""
)

# Run by the image's Python: imports every module under the code layer but the entry point.
_IMPORT_SCRIPT = (
    f"MARK = {MARK!r}\n"
    + """
import importlib, sys
from pathlib import Path
root, skipped = Path(sys.argv[1]), set(sys.argv[2:])
sys.path.insert(0, str(root))
failed = []
for path in sorted(root.rglob("*.py")):
    relative = path.relative_to(root).with_suffix("")
    if "__pycache__" in relative.parts or not all(p.isidentifier() for p in relative.parts):
        continue
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    name = ".".join(parts)
    if not name or name in skipped:
        continue
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(f"{MARK}{line}" for line in failed))
"""
)


def slim_modules() -> list[str]:
    """The standard library python:3.11-slim has: this CPython 3.11's, less what the image
    deletes (test directories) and what it has no use of (NOT_IN_SLIM), plus the extension
    modules its build has."""
    if sys.version_info[:2] != (3, 11) or sys.implementation.name != "cpython":
        raise RuntimeError("the reference module list is read from CPython 3.11")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    names = set(SLIM_EXTENSIONS)
    for path in stdlib.rglob("*.py"):
        relative = path.relative_to(stdlib).with_suffix("")
        if SLIM_REMOVED_DIRS & set(relative.parts) or not all(
            part.isidentifier() for part in relative.parts
        ):
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        if parts:
            names.add(".".join(parts))
    dynload = Path(sysconfig.get_paths()["platstdlib"]) / "lib-dynload"
    for path in dynload.glob("*.so"):
        names.add(path.name.split(".")[0])
    return sorted(name for name in names if not _not_in_slim(name))


def _not_in_slim(name: str) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:end]) in NOT_IN_SLIM for end in range(1, len(parts) + 1))


def stdlib_failures(engine: Engine, image: str, python: str = GEAR_PYTHON) -> list[str]:
    """The python:3.11-slim standard-library modules the image's Python cannot find."""
    # -S: the base image's standard library, without the gear's site-packages (setuptools
    # there replaces distutils with its own copy, which python:3.11-slim would do too).
    run = run_in_image(engine, image, [python, "-I", "-S", "-c", _FIND_SCRIPT, *slim_modules()])
    missing = _findings(run.log)
    if run.exit_code != 0:
        return [f"the image's Python failed (exit code {run.exit_code}): {run.log.strip()}"]
    if not missing:
        return []
    return [
        f"{len(missing)} standard-library modules of python:3.11-slim are missing, e.g. "
        + ", ".join(missing[:8])
        + " (the base image splits them off; see gear_tools/engine/offline_base_image.sh)"
    ]


def entry_module(engine: Engine, image: str) -> str:
    """The module /bin/run runs (`python3 -I -m MODULE` or `from MODULE import ...`)."""
    script = run_in_image(engine, image, ["cat", "/bin/run"]).log
    found = re.search(r" -m ([\w.]+)|from ([\w.]+) import", script)
    return (found.group(1) or found.group(2)) if found else ""


def code_import_failures(engine: Engine, image: str) -> list[str]:
    """The code layer's modules that do not import in the image (the entry point, which runs
    the gear, is left to the smoke cases)."""
    entry = entry_module(engine, image)
    command = [GEAR_PYTHON, "-I", "-W", "ignore", "-c", _IMPORT_SCRIPT, GEAR_CODE, entry]
    run = run_in_image(engine, image, command)
    if run.exit_code != 0:
        return [f"the import check failed (exit code {run.exit_code}): {run.log.strip()}"]
    return _findings(run.log)


def _findings(log: str) -> list[str]:
    """The scripts' findings in a log (lines that start with MARK)."""
    return [line[len(MARK) :] for line in log.splitlines() if line.startswith(MARK)]
