"""A gear's pins resolved by pip's resolver against a package index on 127.0.0.1 (the simple
API, core metadata from each release's `requires`), with common/'s requirements."""

from __future__ import annotations

from typing import Any

import pytest
from gear_tools_tests.pypi_server import pypi_server, release_files
from packaging.specifiers import SpecifierSet

from gear_tools.author.pin_resolution import (
    Resolution,
    pip_import_check,
    pip_resolver,
    resolve_pins,
    widened,
)
from gear_tools.author.pins import Constraint, PinError, PyPI

CP311 = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
BEFORE_NUMPY_2 = "2023-05-01T10:00:00.000Z"
AFTER_NUMPY_2 = "2024-08-01T10:00:00.000Z"


def _compiled(project: str, version: str, uploaded: str) -> list[dict[str, Any]]:
    return release_files(version, CP311, uploaded=uploaded, project=project, sdist=False)


def _pure(project: str, version: str) -> list[dict[str, Any]]:
    return release_files(version, "py3-none-any", project=project, sdist=False)


PROJECTS: dict[str, dict[str, Any]] = {
    # A pure library whose 1.0 needs cext<2 and whose 2.0 takes cext 2.
    "puremix": {
        "releases": {"1.0": _pure("puremix", "1.0"), "2.0": _pure("puremix", "2.0")},
        "requires": {"1.0": ["cext<2"], "2.0": ["cext>=2"]},
    },
    # A compiled library needing numpy: 1.0 was built before numpy 2 existed, 2.0 after.
    "cext": {
        "releases": {
            "1.0": _compiled("cext", "1.0", BEFORE_NUMPY_2),
            "2.0": _compiled("cext", "2.0", AFTER_NUMPY_2),
        },
        "requires": {"1.0": ["numpy>=1.22"], "2.0": ["numpy>=1.22"]},
    },
    "numpy": {
        "releases": {
            "1.26.4": _compiled("numpy", "1.26.4", "2024-02-05T23:48:01.000Z"),
            "2.0.0": _compiled("numpy", "2.0.0", "2024-06-16T10:00:00.000Z"),
        }
    },
    # Two pure libraries the gear pins, whose releases need other versions of `shared`.
    "left": {"releases": {"1.0": _pure("left", "1.0")}, "requires": {"1.0": ["shared<2"]}},
    "right": {
        "releases": {"1.0": _pure("right", "1.0"), "1.1": _pure("right", "1.1")},
        "requires": {"1.0": ["shared>=2"], "1.1": ["shared<3"]},
    },
    "shared": {"releases": {"1.5": _pure("shared", "1.5"), "2.5": _pure("shared", "2.5")}},
    # As requests-toolbelt 0.10 and urllib3 2: the older toolbelt imports what urllib3 2 removed.
    "netlib": {
        "releases": {"1.26": _pure("netlib", "1.26"), "2.0": _pure("netlib", "2.0")},
        "modules_by_version": {
            "1.26": {"netlib/__init__.py": "", "netlib/appengine.py": ""},
            "2.0": {"netlib/__init__.py": ""},
        },
    },
    "toolbelt": {
        "releases": {"0.10": _pure("toolbelt", "0.10"), "1.0": _pure("toolbelt", "1.0")},
        "requires": {"0.10": ["netlib"], "1.0": ["netlib"]},
        "modules_by_version": {
            "0.10": {"toolbelt/__init__.py": "from netlib import appengine\n"},
            "1.0": {"toolbelt/__init__.py": "import netlib\n"},
        },
    },
    # Imports packaging without requiring it (the tools' own environment has packaging).
    "undeclared": {
        "releases": {"1.0": _pure("undeclared", "1.0")},
        "modules": {"undeclared/__init__.py": "import packaging\n"},
    },
    # A client needing the toolbelt: it fails at import because the toolbelt does.
    "client": {
        "releases": {"1.0": _pure("client", "1.0")},
        "requires": {"1.0": ["toolbelt"]},
        "modules": {"client/__init__.py": "import toolbelt\n"},
    },
}
COMMON = ["numpy>=2,<3"]
NEEDS_NUMPY_2 = {"numpy": [Constraint(SpecifierSet(">=2,<3"), "common/'s requirements")]}
NEEDS_SHARED_2 = {"shared": [Constraint(SpecifierSet(">=2"), "fw-gear 0.3.7")]}


def test_pip_resolves_against_the_index_and_reports_what_it_picked() -> None:
    with pypi_server(PROJECTS) as url:
        resolution = pip_resolver(url)(["puremix==1.0"], COMMON)
    assert resolution.conflict == ""
    # numpy 2, as common/'s constraint has it (a constraint alone installs nothing).
    assert resolution.versions == {"puremix": "1.0", "cext": "1.0", "numpy": "2.0.0"}
    assert resolution.requires["puremix"] == ["cext<2"]
    assert resolution.dependencies("puremix") == {"cext", "numpy"}


def test_a_conflict_is_pips_own_account_naming_who_needs_what() -> None:
    with pypi_server(PROJECTS) as url:
        resolution = pip_resolver(url)(["left==1.0", "right==1.0"], [])
    assert resolution.versions == {}
    assert "left 1.0 depends on shared<2" in resolution.conflict
    assert "right 1.0 depends on shared>=2" in resolution.conflict
    assert resolution.conflicting_projects() >= {"left", "right"}


def test_a_dependency_built_for_numpy_1_is_found_in_what_pip_installs_and_resolved_again() -> None:
    # puremix is pure Python, so its own check passes; pip installs cext 1.0 for it, built
    # against numpy 1 beside numpy 2. The fix (cext 2.0) conflicts with puremix 1.0, so pip
    # is asked which puremix takes it.
    with pypi_server(PROJECTS) as url:
        resolved = resolve_pins(
            ["puremix==1.0"], NEEDS_NUMPY_2, resolver=pip_resolver(url), pypi=PyPI(url)
        )
    assert resolved.problems == []
    assert resolved.pins == ["puremix==2.0", "cext==2.0"]
    assert resolved.rounds == 3


def test_pins_whose_dependencies_conflict_are_widened_and_pip_picks_their_versions() -> None:
    with pypi_server(PROJECTS) as url:
        resolved = resolve_pins(
            ["left==1.0", "right==1.0"], {}, resolver=pip_resolver(url), pypi=PyPI(url)
        )
    assert resolved.problems == []
    assert resolved.pins == ["left==1.0", "right==1.1"]


def test_a_conflict_nothing_can_widen_is_named_for_a_person() -> None:
    with pypi_server(PROJECTS) as url:
        resolved = resolve_pins(
            ["left>=1.0"], NEEDS_SHARED_2, resolver=pip_resolver(url), pypi=PyPI(url)
        )
    [problem] = resolved.problems
    assert "pip finds no set of releases" in str(problem)
    assert "left 1.0 depends on shared<2" in str(problem)
    assert "The user requested (constraint) shared>=2" in str(problem)
    assert problem.proposal is None


def test_a_resolver_failure_that_is_no_conflict_is_an_error() -> None:
    with pytest.raises(PinError, match="pip could not resolve the pins"):
        pip_resolver("http://127.0.0.1:9")(["left==1.0"], [])


def test_widening_drops_upper_bounds_and_keeps_extras_and_markers() -> None:
    assert widened("pkga==1.0") == "pkga>=1.0"
    assert (
        widened("pkga[x]~=1.4.2; python_version >= '3'") == 'pkga[x]>=1.4.2; python_version >= "3"'
    )
    assert widened("pkga>=1,<2") == "pkga>=1"


def test_a_resolution_names_the_projects_of_its_conflict() -> None:
    conflict = (
        "ERROR: Cannot install left==1.0 and right==1.0\n"
        "The conflict is caused by:\n"
        "    The user requested left==1.0\n"
        "    The user requested (constraint) shared>=2\n"
        "    right 1.0 depends on shared>=2\n"
    )
    assert Resolution({}, {}, conflict).conflicting_projects() == {"left", "right"}


def test_a_pin_that_fails_at_import_beside_what_pip_picked_is_widened() -> None:
    # The client fails only because the toolbelt does: the toolbelt is blamed and widened,
    # and pip's next pick of it imports.
    with pypi_server(PROJECTS) as url:
        resolved = resolve_pins(
            ["client==1.0", "toolbelt==0.10", "netlib"],
            {},
            resolver=pip_resolver(url),
            pypi=PyPI(url),
            import_check=pip_import_check(url),
        )
    [problem] = resolved.first_problems
    assert str(problem).startswith("toolbelt==0.10: toolbelt 0.10 fails at import")
    assert "cannot import name 'appengine'" in str(problem)
    assert resolved.problems == []
    assert resolved.pins == ["client==1.0", "toolbelt==1.0", "netlib"]


def test_the_import_check_sees_only_what_pip_installed() -> None:
    # packaging is importable here (the tools have it), not beside the gear's releases.
    with pypi_server(PROJECTS) as url:
        check = pip_import_check(url)
        resolution = pip_resolver(url)(["undeclared==1.0"], [])
        [problem] = check(resolution, ["undeclared==1.0"])
    assert "No module named 'packaging'" in str(problem)
