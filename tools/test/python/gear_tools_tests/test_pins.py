"""Pins are checked against a package index on 127.0.0.1 that answers PyPI's JSON API, and
against what common/'s libraries need (the repository's own lockfile)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gear_tools_tests.pypi_server import pypi_server, release_files
from packaging.specifiers import SpecifierSet

from gear_tools.author.pins import (
    Constraint,
    PyPI,
    check_pins,
    common_constraints,
    settle_pins,
    tightest,
)

CP311 = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
CP37 = "cp37-cp37m-manylinux1_x86_64"
OLD_UTIL = "import collections\n\nclass Box(collections.MutableMapping):\n    pass\n"
NEW_UTIL = "import collections.abc\n\nclass Box(collections.abc.MutableMapping):\n    pass\n"
PROJECTS: dict[str, dict[str, Any]] = {
    # A compiled project: 1.0.x has wheels up to CPython 3.7 only; 1.5.0 has 3.11's.
    "tables": {
        "releases": {
            "1.0.1": release_files("1.0.1", CP37),
            "1.0.5": release_files("1.0.5", CP37),
            "1.5.0": release_files("1.5.0", CP311),
            "2.0.0rc1": release_files("2.0.0rc1", CP311),
        }
    },
    # Its newest release needs Python 3.12: pip on 3.11 takes the one before.
    "modern": {
        "releases": {
            "1.0.0": release_files("1.0.0", CP311),
            "2.0.0": release_files("2.0.0", "cp312-cp312-manylinux_2_17_x86_64", python=">=3.12"),
        }
    },
    # Pure Python whose 1.x uses collections.MutableMapping (gone since Python 3.10), as
    # flywheel-sdk 12 does; 2.x does not.
    "oldsdk": {
        "releases": {
            v: release_files(v, "py2.py3-none-any") for v in ("1.0.0", "1.4.0", "2.0.0", "2.1.0")
        },
        "modules_by_version": {
            "1.0.0": {"oldsdk/util.py": OLD_UTIL},
            "1.4.0": {"oldsdk/util.py": OLD_UTIL},
            "2.0.0": {"oldsdk/util.py": NEW_UTIL},
            "2.1.0": {"oldsdk/util.py": NEW_UTIL},
        },
    },
    # Pure Python, shipped as an sdist only: fine for any Python.
    "oldpure": {"releases": {"0.3.0": release_files("0.3.0")}},
    "schemas": {
        "releases": {v: release_files(v, "py3-none-any") for v in ("3.2.0", "4.0.0", "4.2.1")}
    },
    "uses-schemas": {
        "releases": {v: release_files(v, "py3-none-any") for v in ("1.0.0", "1.0.1", "1.1.0")},
        "requires": {
            "1.0.0": ["schemas<4", "colorama; sys_platform == 'win32'"],
            "1.0.1": ["schemas<4"],
            "1.1.0": ["schemas>=4"],
        },
    },
    # pandas and numpy as PyPI has them (upload dates of their files): pandas 1.5.0 was built
    # against numpy 1 before numpy 2 existed; 2.2.2 is the first built against numpy 2.
    "pandas": {
        "releases": {
            "1.5.0": release_files(
                "1.5.0", CP311, uploaded="2022-09-19T16:02:47.000Z", project="pandas"
            ),
            "2.2.1": release_files(
                "2.2.1", CP311, uploaded="2024-02-23T16:40:36.000Z", project="pandas"
            ),
            "2.2.2": release_files(
                "2.2.2", CP311, uploaded="2024-04-10T19:44:10.000Z", project="pandas"
            ),
        },
        "requires": {v: ["numpy>=1.22.4"] for v in ("1.5.0", "2.2.1", "2.2.2")},
    },
    "numpy": {
        "releases": {
            "1.26.4": release_files("1.26.4", CP311, uploaded="2024-02-05T23:48:01.000Z"),
            "2.0.0b1": release_files("2.0.0b1", CP311, uploaded="2024-03-11T20:38:06.000Z"),
            "2.2.6": release_files("2.2.6", CP311, uploaded="2025-05-17T21:27:58.000Z"),
        },
    },
}
NEEDS_NUMPY_2 = {"numpy": [Constraint(SpecifierSet(">=2,<3"), "common/'s requirements")]}
NEEDS_NEW_SCHEMAS = {"schemas": [Constraint(SpecifierSet(">=4,<5"), "fw-gear 0.3.7")]}


def check(pins: list[str], constraints: dict[str, list[Constraint]] | None = None) -> list[str]:
    with pypi_server(PROJECTS) as url:
        problems = check_pins(pins, constraints or {}, pypi=PyPI(url), machine="x86_64")
    return [str(problem) for problem in problems]


def test_working_pins_pass() -> None:
    assert check(["tables~=1.5.0", "oldpure==0.3.0", "schemas>=4"], NEEDS_NEW_SCHEMAS) == []


def test_a_pin_without_a_wheel_for_python_3_11_names_the_release_and_the_nearest_pin() -> None:
    assert check(["tables~=1.0.1"]) == [
        "tables~=1.0.1: tables 1.0.5 has no wheel for CPython 3.11 on Linux x86_64 (and its "
        "source builds compiled code); nearest release with one: tables~=1.5.0"
    ]
    assert check(["tables==1.0.1"])[0].endswith("nearest release with one: tables==1.5.0")
    with pypi_server(PROJECTS) as url:
        (problem,) = check_pins(["tables~=1.0.1"], {}, pypi=PyPI(url), machine="x86_64")
    assert problem.proposal == "tables~=1.5.0"


def test_a_wheel_for_another_platform_does_not_count() -> None:
    assert check(["tables==1.5.0"]) == []
    with pypi_server(PROJECTS) as url:
        problems = check_pins(["tables==1.5.0"], {}, pypi=PyPI(url), machine="aarch64")
    assert problems and "on Linux aarch64" in str(problems[0])


def test_releases_for_newer_pythons_are_not_what_pip_would_choose() -> None:
    assert check(["modern"]) == []
    assert check(["modern>=2"]) == [
        "modern>=2: no release of modern matches (latest that works here: 1.0.0)"
    ]


def test_a_release_using_what_python_3_10_removed_is_named_with_the_first_without() -> None:
    assert check(["oldsdk~=1.0"]) == [
        "oldsdk~=1.0: oldsdk 1.4.0 uses collections.MutableMapping, which Python 3.10 removed (it "
        "fails when that code runs); nearest release without: oldsdk~=2.0.0"
    ]
    assert check(["oldsdk>=2"]) == []


def test_a_project_that_does_not_exist_is_named() -> None:
    with pypi_server(PROJECTS) as url:
        problems = check_pins(["no-such-thing==1.0"], {}, pypi=PyPI(url))
        assert [str(problem) for problem in problems] == [
            f"no-such-thing==1.0: there is no project 'no-such-thing' on {url}"
        ]


def test_a_pin_no_release_matches_is_named() -> None:
    assert check(["schemas>=9"]) == [
        "schemas>=9: no release of schemas matches (latest that works here: 4.2.1)"
    ]


def test_a_pin_that_conflicts_with_common_names_the_library_and_what_it_needs() -> None:
    assert check(["schemas~=3.2.0"], NEEDS_NEW_SCHEMAS) == [
        "schemas~=3.2.0: conflicts with common/'s libraries (fw-gear 0.3.7 needs schemas<5,>=4);"
        " pin schemas<5,>=4 or drop the pin"
    ]


def test_a_pinned_projects_own_dependency_that_conflicts_is_named() -> None:
    assert check(["uses-schemas==1.0.0"], NEEDS_NEW_SCHEMAS) == [
        "uses-schemas==1.0.0: uses-schemas 1.0.0 needs schemas<4, which conflicts with fw-gear "
        "0.3.7 (needs schemas<5,>=4); nearest release that agrees: uses-schemas==1.1.0"
    ]


def test_a_pin_another_pin_of_the_gear_needs_newer_is_named_with_what_it_needs() -> None:
    assert check(["uses-schemas==1.0.0", "schemas>=4"]) == [
        "schemas>=4: uses-schemas 1.0.0 (the gear's pin uses-schemas==1.0.0) needs schemas<4; "
        "pin schemas<4"
    ]


def test_commons_constraints_come_from_its_requirements_and_lockfile() -> None:
    constraints = common_constraints(Path.cwd(), ["pydicom"])
    sources = {c.source.split()[0] for c in constraints["jsonschema"]}
    assert {"common/'s", "fw-gear"} <= sources
    # A gear's pin replaces common/'s own line for that project.
    assert all("requirements.txt" not in c.source for c in constraints.get("pydicom", []))


def test_a_compiled_pin_built_against_numpy_1_is_named_when_numpy_2_is_installed() -> None:
    """pandas 1.5.0 resolves beside numpy 2 (its metadata allows any numpy), then fails at
    import: its wheel predates numpy 2's binary interface."""
    assert check(["pandas==1.5.0"], NEEDS_NUMPY_2) == [
        "pandas==1.5.0: pandas 1.5.0 is compiled against numpy 1 (its files were uploaded "
        "2022-09-19, before numpy 2 existed, 2024-03-11) and every gear here installs numpy 2 "
        "(common/'s requirements needs numpy<3,>=2): it fails at import (numpy.dtype size "
        "changed); nearest release built for numpy 2: pandas==2.2.2"
    ]
    assert check(["pandas==2.2.2"], NEEDS_NUMPY_2) == []
    # A range that admits numpy 1 still installs numpy 2 (pip takes the newest).
    assert check(["pandas==1.5.0"], {"numpy": [Constraint(SpecifierSet(">=1.21"), "x")]})
    # A gear that pins numpy 1 (in place of common/'s line) installs numpy 1: the old build fits.
    assert check(["pandas==1.5.0", "numpy==1.26.4"]) == []


def test_settling_applies_every_proposal_and_checks_the_whole_set_again() -> None:
    """One suggestion for the whole set, not one pin a round: every pin here has a problem,
    and the set the proposals lead to is checked again before it is suggested."""
    constraints = {**NEEDS_NEW_SCHEMAS, **NEEDS_NUMPY_2}
    with pypi_server(PROJECTS) as url:
        settled = settle_pins(
            ["tables~=1.0.1", "uses-schemas==1.0.0", "pandas==1.5.0"],
            constraints,
            pypi=PyPI(url),
            machine="x86_64",
        )
        assert settled.pins == ["tables~=1.5.0", "uses-schemas==1.1.0", "pandas==2.2.2"]
        assert settled.problems == []
        assert (len(settled.first_problems), settled.rounds) == (3, 2)
        assert check_pins(settled.pins, constraints, pypi=PyPI(url), machine="x86_64") == []
        # A problem with no proposal is left for a person, named.
        left = settle_pins(["nosuch==1.0"], {}, pypi=PyPI(url), machine="x86_64")
        assert [str(p) for p in left.problems] == [
            f"nosuch==1.0: there is no project 'nosuch' on {url}"
        ]


def test_combined_ranges_keep_only_the_tightest_bounds() -> None:
    ranges = [SpecifierSet("<3,>=2.1"), SpecifierSet(">=2.7.0"), SpecifierSet(">=2.8.2,!=2.9")]
    assert str(tightest(ranges)) == "!=2.9,<3,>=2.8.2"
    assert str(tightest([SpecifierSet(">=1"), SpecifierSet(">1")])) == ">1"
    assert str(tightest([SpecifierSet("<=2"), SpecifierSet("<2")])) == "<2"
