"""A moved-in gear's imports point at its app package; every other line stays as it was."""

from __future__ import annotations

import ast

from gear_tools.author.import_rewrite import rewrite

OWN = {"utils": "ds_app.utils", "run": "ds_app.run", "tests": "ds_app_tests"}
SOURCE = '''"""A toolkit-era module."""
import os, utils
import utils.dicom as d
import utils.dicom
from utils.tag_and_transmit import (
    tag,
    send,
)
from flywheel_gear_toolkit import GearToolkitContext
from flywheel_gear_toolkit.utils import zip_tools
import flywheel
import run
import tests.conftest
from . import sibling


def f(mocker):
    mocker.patch("utils.tag_and_transmit.send", 1)
    mocker.patch("os.path.exists")
    mocker.patch(f"utils.{name}")
    name = "utils.py"
    with flywheel.GearContext() as context:
        return context, name
'''


def test_imports_of_the_gears_modules_move_under_its_package() -> None:
    result = rewrite(SOURCE, OWN)
    lines = result.text.splitlines()
    assert lines[1].endswith("; import os; from ds_app import utils")
    assert lines[2] == "from ds_app.utils import dicom as d"
    assert lines[3] == "import ds_app.utils.dicom; from ds_app import utils"
    assert lines[4] == "from ds_app.utils.tag_and_transmit import tag, send"
    assert lines[11] == "from ds_app import run"
    assert lines[12] == "import ds_app_tests.conftest; import ds_app_tests as tests"
    assert lines[13] == "from . import sibling"
    assert "mocker.patch('ds_app.utils.tag_and_transmit.send', 1)" in result.text
    assert 'mocker.patch("os.path.exists")' in result.text
    assert 'mocker.patch(f"ds_app.utils.{name}")' in result.text
    assert 'name = "utils.py"' in result.text
    ast.parse(result.text)


def test_every_line_keeps_its_number() -> None:
    result = rewrite(SOURCE, OWN)
    assert len(result.text.splitlines()) == len(SOURCE.splitlines())
    assert result.text.splitlines()[-2] == SOURCE.splitlines()[-2].replace(
        "flywheel.GearContext", "_legacy_context.GearContext"
    )


def test_the_old_contexts_go_to_the_legacy_shim() -> None:
    result = rewrite(SOURCE, OWN)
    lines = result.text.splitlines()
    assert lines[8] == "from gear_common.legacy_context import GearToolkitContext"
    assert lines[1].startswith("from gear_common import legacy_context as _legacy_context; ")
    assert result.toolkit_left == ["from flywheel_gear_toolkit.utils import zip_tools"]


def test_a_module_import_of_the_toolkit_used_only_for_its_context_goes_to_the_shim() -> None:
    source = (
        "import flywheel_gear_toolkit\n\n"
        "with flywheel_gear_toolkit.GearToolkitContext() as c:\n    pass\n"
    )
    result = rewrite(source, OWN)
    assert result.text.splitlines()[0] == (
        "from gear_common import legacy_context as flywheel_gear_toolkit"
    )
    assert result.toolkit_left == []
    other = "import flywheel_gear_toolkit\nflywheel_gear_toolkit.utils.zip_tools\n"
    assert rewrite(other, OWN).toolkit_left == ["import flywheel_gear_toolkit"]


def test_a_module_that_imports_nothing_of_the_gears_is_unchanged() -> None:
    source = "import json\nfrom pathlib import Path\n"
    result = rewrite(source, OWN)
    assert (result.text, result.changes) == (source, [])


def test_a_suites_dotted_package_name_moves_to_the_app_package() -> None:
    """A suite's tests import the gear as `gears.<gear>....` (flywheel-apps' gear suites)."""
    own = {"gears.assign_cases": "ac_app", "utils": "ac_app.utils"}
    source = (
        "from gears.assign_cases.utils.manage_cases import select\n"
        "from gears.other_gear.utils import x\n"
        "def test(mocker):\n"
        "    mocker.patch('gears.assign_cases.utils.manage_cases.select')\n"
    )
    text = rewrite(source, own).text
    assert text.splitlines()[0] == "from ac_app.utils.manage_cases import select"
    assert text.splitlines()[1] == "from gears.other_gear.utils import x"
    assert "mocker.patch('ac_app.utils.manage_cases.select')" in text
