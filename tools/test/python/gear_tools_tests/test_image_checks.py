"""The checks a gear image runs in its own Python, run here in this CPython 3.11."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gear_tools.images import image_checks


def test_the_reference_is_python_3_11_slims_standard_library() -> None:
    modules = set(image_checks.slim_modules())
    # What Debian packages apart, and python:3.11-slim has.
    assert {"distutils.util", "lib2to3.pgen2.driver", "ensurepip", "_gdbm", "venv"} <= modules
    # What python:3.11-slim deletes, or cannot use (no Tk libraries), or is for other systems.
    assert not {m for m in modules if m.split(".")[0] in ("test", "tkinter", "idlelib", "msvcrt")}
    assert not {m for m in modules if ".tests" in m or m.startswith("ctypes.macholib")}


def run_script(script: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, *args], capture_output=True, text=True, check=True
    )
    return image_checks._findings(done.stdout)


def test_the_find_script_names_what_the_python_lacks() -> None:
    missing = run_script(
        image_checks._FIND_SCRIPT, "json", "email.mime.text", "distutils.no_such", "no_such_top"
    )
    assert missing[0].startswith("distutils.no_such") and missing[1] == "no_such_top"
    assert len(missing) == 2


def test_the_import_script_imports_every_module_but_the_entry_point(tmp_path: Path) -> None:
    package = tmp_path / "demo_app"
    (package / "utils").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "utils" / "good.py").write_text("import json\nprint('a module that prints')\n")
    (package / "utils" / "bad.py").write_text("import no_such_dependency\n")
    (package / "run.py").write_text("raise SystemExit('the entry point ran')\n")
    failed = run_script(image_checks._IMPORT_SCRIPT, str(tmp_path), "demo_app.run")
    assert failed == [
        "demo_app.utils.bad: ModuleNotFoundError: No module named 'no_such_dependency'"
    ]
    assert run_script(image_checks._IMPORT_SCRIPT, str(tmp_path))[-1].startswith(
        "demo_app.utils.bad"
    )
