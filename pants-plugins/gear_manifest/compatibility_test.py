from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gear_manifest.compatibility import (
    MAJOR,
    MINOR,
    Release,
    bumped,
    changes,
    gate,
    latest_release,
    release_tag,
    required_level,
)

TESTDATA = Path(__file__).parent / "testdata"


def real(name: str) -> dict[str, Any]:
    """A public gear's manifest as one of its commits had it (testdata/README.md)."""
    manifest: dict[str, Any] = json.loads((TESTDATA / f"{name}.json").read_text())
    return manifest


def released(manifest: dict[str, Any]) -> Release:
    return Release(
        release_tag(manifest["name"], manifest["version"]), manifest["version"], manifest
    )


# Real manifest histories: what public gears changed between two versions.


def test_a_type_change_and_a_narrowed_enum_need_a_major_version() -> None:
    before, after = real("bids-fmriprep-1.0.9_1.5.9"), real("bids-fmriprep-1.0.10_1.5.9")
    tag = "gear/bids-fmriprep/v1.0.9_1.5.9"
    assert gate(released(before), after) == [
        f'changes config "bold2t1w-dof" from type "string" to "number" since {tag}: that needs '
        "a major version (2.0.0 or later), but version is 1.0.10_1.5.9",
        f'config "skull-strip-template" no longer allows "" since {tag}: that needs a major '
        "version (2.0.0 or later), but version is 1.0.10_1.5.9",
    ]
    after["version"] = "2.0.0_1.5.9"
    assert gate(released(before), after) == []


def test_a_renamed_input_or_config_is_named_as_a_rename() -> None:
    found = changes(real("bids-fmriprep-1.2.2_20.2.6"), real("bids-fmriprep-1.2.3_20.2.6"))
    assert [(c.level, c.text) for c in found] == [
        (MAJOR, 'renames input "work-dir" to "previous-results"')
    ]
    found = changes(real("recon-all-1.0.8_7.1.1"), real("recon-all-1.0.9_7.1.1"))
    assert [c.text for c in found] == [
        'renames config "gear-thalamic-nuclei" to "gear-thalamic_nuclei"'
    ]


def test_a_removed_input_is_named_with_the_version_it_needs() -> None:
    before, after = real("recon-all-0.0.11_7.1.1"), real("recon-all-0.0.12_7.1.1")
    problems = gate(released(before), after)
    assert problems[0] == (
        'removes input "bidsignore" since gear/freesurfer-recon-all/v0.0.11_7.1.1: that needs '
        "a major version (1.0.0 or later), but version is 0.0.12_7.1.1"
    )
    assert [p.split(" since ")[0] for p in problems[1:]] == [
        'removes config "gear-bids"',
        'removes config "gear-ignore-bids-errors"',
        'removes config "gear-run-bids-validation"',
    ]


def test_additions_with_a_minor_version_pass() -> None:
    before, after = real("cmrr-physio-1.0.12"), real("cmrr-physio-1.1.0")
    assert required_level(changes(before, after)) == MINOR
    assert gate(released(before), after) == []
    after["version"] = "1.0.13"
    assert [p.split(" since ")[0] for p in gate(released(before), after)] == [
        'adds config "Process_Data"',
        'adds config "Missing_Data"',
        'adds config "Interpolation_Method"',
        'adds config "Fill_Value"',
    ]
    assert gate(released(before), after)[0].endswith(
        "that needs a minor version (1.1.0 or later), but version is 1.0.13"
    )


def test_a_version_lower_than_the_release_fails() -> None:
    before, after = real("cmrr-physio-1.1.6"), real("cmrr-physio-1.1.0_dev1")
    assert gate(released(before), after) == [
        "version 1.1.0_dev1 is lower than the last release, gear/extract-cmrr-physio/v1.1.6"
    ]


# Each kind of change, by hand.

BASE: dict[str, Any] = {
    "name": "g",
    "version": "1.2.3",
    "inputs": {
        "scan": {"base": "file", "type": {"enum": ["nifti", "dicom"]}},
        "extra": {"base": "file", "optional": True},
        "key": {"base": "api-key"},
    },
    "config": {
        "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
        "n": {"type": "integer", "minimum": 1, "maximum": 10, "default": 2},
        "label": {"type": "string", "optional": True},
    },
}


def edited(**edits: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(BASE)
    for dotted, value in edits.items():
        *parents, last = dotted.split("__")
        node = manifest
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(last)
        else:
            node[last] = value
    return manifest


@pytest.mark.parametrize(
    ("edits", "level", "text"),
    [
        ({"inputs__extra__optional": False}, MAJOR, 'makes input "extra" required'),
        ({"inputs__scan__optional": True}, MINOR, 'makes input "scan" optional'),
        (
            {"inputs__scan__type": {"enum": ["nifti"]}},
            MAJOR,
            'input "scan" file type no longer allows "dicom"',
        ),
        (
            {"inputs__scan__base": "context"},
            MAJOR,
            'changes input "scan" from base "file" to "context"',
        ),
        ({"inputs__new": {"base": "file"}}, MAJOR, 'adds required file input "new"'),
        ({"inputs__new": {"base": "file", "optional": True}}, MINOR, 'adds input "new"'),
        ({"config__new": {"type": "string"}}, MAJOR, 'adds required config "new" with no default'),
        ({"config__new": {"type": "string", "default": "x"}}, MINOR, 'adds config "new"'),
        ({"config__label__optional": None}, MAJOR, 'makes config "label" required with no default'),
        ({"config__n__default": None}, MAJOR, 'makes config "n" required with no default'),
        ({"config__mode__enum": ["fast"]}, MAJOR, 'config "mode" no longer allows "slow"'),
        ({"config__mode__enum": ["fast", "slow", "x"]}, MINOR, 'config "mode" also allows "x"'),
        ({"config__n__minimum": 2}, MAJOR, 'config "n" minimum is 2, was 1'),
        ({"config__n__maximum": 20}, MINOR, 'config "n" maximum is 20, was 10'),
        (
            {"config__n__type": "number"},
            MAJOR,
            'changes config "n" from type "integer" to "number"',
        ),
        (
            {"config__mode__default": "slow"},
            MINOR,
            'changes the default of config "mode" from "fast" to "slow"',
        ),
    ],
)
def test_each_kind_of_change_and_the_bump_it_needs(
    edits: dict[str, Any], level: int, text: str
) -> None:
    assert [(c.level, c.text) for c in changes(BASE, edited(**edits))] == [(level, text)]


def test_descriptions_labels_and_the_environment_need_no_more_than_a_patch() -> None:
    new = edited(inputs__scan__description="The scan.", config__n__description="How many.")
    new["environment"] = {"PATH": "/usr/bin"}
    assert changes(BASE, new) == []
    assert gate(released(BASE), new) == []  # the same version too: not the gate's business


def test_the_latest_release_is_the_highest_version_not_the_last_tag() -> None:
    tags = ["gear/g/v1.10.0", "gear/g/v1.9.0", "gear/other/v9.0.0", "gear/g/vnext", "gear/g/v"]
    assert latest_release(tags, "g") == ("gear/g/v1.10.0", "1.10.0")
    assert latest_release(["gear/other/v1.0.0"], "g") is None


def test_bumped_drops_what_follows_the_part_bumped() -> None:
    assert [bumped("1.2.3_20.2.6", level) for level in (1, 2, 3)] == ["1.2.4", "1.3.0", "2.0.0"]
    with pytest.raises(ValueError, match="MAJOR.MINOR.PATCH"):
        bumped("0.7", MINOR)


def test_versions_that_are_not_major_minor_patch() -> None:
    assert gate(released(edited(version="0.7")), edited(version="0.8")) == []
    assert gate(released(BASE), edited(version="next")) == [
        'version is "next"; the last release (gear/g/v1.2.3) is compared by MAJOR.MINOR.PATCH, '
        "so give a version that starts with one"
    ]
