"""A moved-in gear's requirements, read from each place gears keep them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_tools.author.upstream_requirements import poetry_range, read_requirements

PIPFILE = """[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[packages]
flywheel-gear-toolkit = "*"
pandas = "~=1.5"
nibabel = {version = ">=3.2", extras = ["all"]}
fw-file = {git = "https://gitlab.com/flywheel-io/tools/lib/fw-file.git", ref = "main"}

[dev-packages]
pytest = "*"
pytest-mock = "==3.6.1"

[requires]
python_version = "3.9"
"""
PIPFILE_LOCK = {
    "_meta": {"hash": {"sha256": "0"}, "requires": {"python_version": "3.9"}},
    "default": {
        "flywheel-gear-toolkit": {"version": "==0.6.22"},
        "pandas": {"version": "==1.5.0"},
        "nibabel": {"version": "==5.1.0"},
        "numpy": {"version": "==1.23.2"},
    },
    "develop": {"pytest": {"version": "==7.1.2"}},
}
POETRY_PYPROJECT = """[tool.poetry]
name = "fw-gear-dicom-fixer"
version = "0.6.0"

[tool.poetry.dependencies]
python = "^3.9"
fw-file = {version = "^3.0.1", extras = ["dicom"]}
flywheel-sdk = "^16.4"
pydantic = "~1.10"
tzdata = "2023.3"

[tool.poetry.group.dev.dependencies]
pytest = "^7.1"
pytest-mock = "^3.10"

[build-system]
requires = ["poetry-core"]
"""
POETRY_LOCK = """[[package]]
name = "flywheel-sdk"
version = "16.19.0"

[[package]]
name = "fw-file"
version = "3.0.5"

[[package]]
name = "pydantic"
version = "1.10.13"
"""
PEP621 = """[project]
name = "bids-app"
dependencies = ["pybids>=0.15", "nipype==1.8.6; python_version >= '3.8'"]

[project.optional-dependencies]
test = ["pytest-cov"]
docs = ["sphinx"]
"""
SETUP_PY = """from setuptools import setup, find_packages

setup(
    name="gear",
    packages=find_packages(),
    install_requires=["pydicom>=2,<3", "requests"],
)
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_pipfile_and_its_lock_give_the_released_versions(tmp_path: Path) -> None:
    found = read_requirements(
        write(tmp_path, {"Pipfile": PIPFILE, "Pipfile.lock": json.dumps(PIPFILE_LOCK)})
    )
    assert found.requirements == [
        "flywheel-gear-toolkit==0.6.22",
        "pandas==1.5.0",
        "nibabel[all]==5.1.0",
    ]
    # Only direct requirements are pinned: numpy, locked as pandas' dependency, is not one.
    assert found.test_requirements == ["pytest", "pytest-mock==3.6.1"]
    assert found.sources == ["Pipfile", "Pipfile.lock"]
    assert any("fw-file comes from git" in entry for entry in found.unread)


def test_poetry_dependencies_with_caret_and_tilde_and_its_lock(tmp_path: Path) -> None:
    found = read_requirements(
        write(tmp_path, {"pyproject.toml": POETRY_PYPROJECT, "poetry.lock": POETRY_LOCK})
    )
    assert found.requirements == [
        "fw-file[dicom]==3.0.5",
        "flywheel-sdk==16.19.0",
        "pydantic==1.10.13",
        "tzdata==2023.3",
    ]
    assert found.test_requirements == ["pytest>=7.1,<8", "pytest-mock>=3.10,<4"]


def test_a_locked_version_outside_the_declared_range_is_not_taken(tmp_path: Path) -> None:
    lock = POETRY_LOCK.replace('version = "1.10.13"', 'version = "2.5.0"')
    found = read_requirements(
        write(tmp_path, {"pyproject.toml": POETRY_PYPROJECT, "poetry.lock": lock})
    )
    assert "pydantic>=1.10,<1.11" in found.requirements


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("^1.2.3", "x>=1.2.3,<2"),
        ("^0.2.3", "x>=0.2.3,<0.3"),
        ("^0.0.3", "x>=0.0.3,<0.0.4"),
        ("~1.2.3", "x>=1.2.3,<1.3"),
        ("~1", "x>=1,<2"),
        ("*", "x"),
        ("1.2.3", "x==1.2.3"),
        (">=1.0, <2.0", "x>=1.0,<2.0"),
    ],
)
def test_poetry_ranges_are_pep_440_ones(constraint: str, expected: str) -> None:
    assert poetry_range("x", constraint) == expected


def test_pep_621_setup_py_and_setup_cfg(tmp_path: Path) -> None:
    found = read_requirements(write(tmp_path, {"pyproject.toml": PEP621, "setup.py": SETUP_PY}))
    assert found.requirements == [
        "pydicom>=2,<3",
        "requests",
        "pybids>=0.15",
        "nipype==1.8.6; python_version >= '3.8'",
    ]
    assert found.test_requirements == ["pytest-cov"]
    cfg = "[metadata]\nname = gear\n\n[options]\ninstall_requires =\n    pyyaml>=6\n    click\n"
    found = read_requirements(write(tmp_path / "cfg", {"setup.cfg": cfg}))
    assert found.requirements == ["pyyaml>=6", "click"]


def test_what_cannot_be_read_is_named(tmp_path: Path) -> None:
    computed = 'REQS = open("requirements.in").read().split()\nsetup(install_requires=REQS)\n'
    found = read_requirements(
        write(tmp_path, {"setup.py": computed, "Pipfile": "[packages\npandas = '*'\n"})
    )
    assert found.requirements == []
    assert any("install_requires is computed" in entry for entry in found.unread)
    assert any(entry.startswith("Pipfile: not valid TOML") for entry in found.unread)


def test_installers_are_not_requirements(tmp_path: Path) -> None:
    found = read_requirements(write(tmp_path, {"requirements.txt": "pipenv==2022.1.8\npandas\n"}))
    assert found.requirements == ["pandas"]
