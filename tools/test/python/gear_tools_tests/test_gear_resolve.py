"""A gear's own resolve, made in a copy of the repository's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tomllib

from gear_tools.author import gear_resolve
from gear_tools.author.new_gear import NewGear, NewGearError, create

SHARED = (
    "pants.toml",
    "3rdparty/python/BUILD",
    "3rdparty/python/requirements.txt",
    "pants-plugins/gear_macros/gear_image.py",
)


@pytest.fixture
def shared(repo: Path) -> Path:
    """The `repo` fixture's copy, with the files a new resolve changes."""
    for name in SHARED:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(name, repo / name)
    return repo


def new_gear(name: str, resolve: str | None, *pins: str) -> NewGear:
    return NewGear(
        name=name,
        label=name,
        description=f"{name}.",
        category="utility",
        with_api_key=False,
        resolve=resolve,
        pins=pins,
    )


def test_a_new_resolve_has_commons_requirements_and_the_pins(shared: Path) -> None:
    create(shared, new_gear("old-dicom", "gear-legacy", "pydicom>=2.4,<3", "extra-lib==1.0"))

    requirements = (shared / "3rdparty/python/gear-legacy-requirements.txt").read_text()
    lines = [line for line in requirements.splitlines() if line and not line.startswith("#")]
    default = Path("3rdparty/python/requirements.txt").read_text().splitlines()
    common = [line for line in default if line and not line.startswith(("#", "pydicom"))]
    assert lines == [*common, "pydicom>=2.4,<3", "extra-lib==1.0"]
    assert "./pants generate-lockfiles --resolve=gear-legacy" in requirements

    toml = tomllib.loads((shared / "pants.toml").read_text())
    assert toml["python"]["resolves"]["gear-legacy"] == "3rdparty/python/gear-legacy.lock"
    assert gear_resolve.gear_resolves(shared)[-1] == "gear-legacy"
    build = (shared / "3rdparty/python/BUILD").read_text()
    target = build[build.index('name="gear-legacy"') :]
    assert 'source="gear-legacy-requirements.txt"' in target
    assert 'resolve="gear-legacy"' in target and '"flywheel-sdk": ["flywheel"]' in target

    gear_build = (shared / "old_dicom/BUILD").read_text()
    assert 'dict(resolve="gear-legacy")' in gear_build
    assert 'not_in_images("gear-legacy")' in gear_build
    assert 'resolve="gear-legacy",' in (shared / "old_dicom/src/docker/BUILD").read_text()


def test_a_second_gear_joins_the_resolve_and_may_repin_it(shared: Path) -> None:
    create(shared, new_gear("old-dicom", "gear-legacy", "pydicom>=2.4,<3"))
    toml = (shared / "pants.toml").read_text()
    create(shared, new_gear("older-dicom", "gear-legacy", "pydicom>=2.1,<2.2"))

    assert (shared / "pants.toml").read_text() == toml
    assert gear_resolve.gear_resolves(shared).count("gear-legacy") == 1
    requirements = (shared / "3rdparty/python/gear-legacy-requirements.txt").read_text()
    assert "pydicom>=2.1,<2.2" in requirements and "pydicom>=2.4" not in requirements
    assert requirements.count("generate-lockfiles") == 1
    assert requirements.count(gear_resolve.PINS_HEADING) == 1
    create(shared, new_gear("third-dicom", "gear-legacy", "extra-lib==2.0"))
    requirements = (shared / "3rdparty/python/gear-legacy-requirements.txt").read_text()
    pins = requirements.split(gear_resolve.PINS_HEADING)[1].split()
    assert pins == ["pydicom>=2.1,<2.2", "extra-lib==2.0"]


def test_a_gear_in_the_default_resolve_changes_nothing_shared(shared: Path) -> None:
    before = {name: (shared / name).read_text() for name in SHARED}
    create(shared, new_gear("plain", None))
    assert {name: (shared / name).read_text() for name in SHARED} == before
    assert not (shared / "plain/BUILD").exists()


@pytest.mark.parametrize(
    ("resolve", "pins", "message"),
    [
        ("tools", (), "resolve 'tools': use lower-case letters"),
        ("Gear_X", (), "resolve 'Gear_X': use lower-case letters"),
        ("python-default", ("pydicom<3",), "edit 3rdparty/python/requirements.txt instead"),
        ("gear-x", ("# nothing",), "--requirement '# nothing' is not a requirement"),
        (None, ("pydicom<3",), "give --resolve NAME too"),
    ],
)
def test_bad_resolves_and_pins_write_nothing(
    shared: Path, resolve: str | None, pins: tuple[str, ...], message: str
) -> None:
    with pytest.raises(NewGearError, match="cannot create the gear") as error:
        create(shared, new_gear("old-dicom", resolve, *pins))
    assert message in str(error.value)
    assert not (shared / "old_dicom").exists()
