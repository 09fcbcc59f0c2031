"""A gear's packages, read from the repository's own lockfile (real data: python-default)."""

from __future__ import annotations

import json
from pathlib import Path

from gear_tools.author.lock_closure import closure, describe, lock_changes
from gear_tools.author.lockfile import read_lock

LOCK = Path("3rdparty/python/python-default.lock")
TOOLS_LOCK = Path("3rdparty/python/gear-tools.lock")


def _with_version(text: str, project: str, version: str) -> str:
    """The lockfile text with one project's version changed (as an update would)."""
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("//"))
    document = json.loads(
        "".join(line for line in text.splitlines(keepends=True) if not line.startswith("//"))
    )
    for entry in document["locked_resolves"][0]["locked_requirements"]:
        if entry["project_name"] == project:
            entry["version"] = version
    return header + json.dumps(document)


def test_a_closure_follows_the_locked_requirements_for_linux_and_python_3_11() -> None:
    lock = read_lock(LOCK.read_text())
    packages = closure(lock, ["fw-gear>=0.3.7,<0.4"])
    assert packages["fw-gear"] == lock["fw-gear"].version
    # fw-gear's own dependencies and theirs, as locked.
    assert {"pydantic", "pydantic-core", "fw-meta", "typing-extensions"} <= set(packages)
    # Not what nothing reaches from fw-gear (boto3 is another root of the resolve).
    assert "boto3" not in packages
    assert closure(lock, ["no-such-project"]) == {}


def test_an_extra_brings_its_own_requirements() -> None:
    lock = read_lock(TOOLS_LOCK.read_text())
    plain = closure(lock, ["securesystemslib"])
    with_crypto = closure(lock, ["securesystemslib[crypto]"])
    assert "cryptography" not in plain
    assert "cryptography" in with_crypto


def test_an_update_of_one_package_changes_only_the_closures_that_hold_it() -> None:
    text = LOCK.read_text()
    old, new = read_lock(text), read_lock(_with_version(text, "pydicom", "3.9.9"))
    changes = lock_changes(old, new)
    assert changes == {"pydicom": (old["pydicom"].version, "3.9.9")}
    assert describe(changes) == [f"pydicom {old['pydicom'].version} -> 3.9.9"]
    fw_gear_only = closure(old, ["fw-gear"])
    assert closure(new, ["fw-gear"]) == fw_gear_only
    assert closure(new, ["pydicom"]) != closure(old, ["pydicom"])
