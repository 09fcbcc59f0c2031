"""The machine-local Pants options (from ./pants' .pants.rc) that plugin tests need too.

A RuleRunner does not read pants.toml or .pants.rc, so on a machine that cannot download the
pex tool from GitHub, or whose pip configuration must be kept out of resolves, its rules would
fail; these options carry the launcher's settings for both over.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import toml

# .pants.rc's text: exported by ./pants, passed to plugin tests by pants-plugins/BUILD.
PANTS_RC_TEXT_ENV = "PANTS_MACHINE_RC_TEXT"
# The .pants.rc sections (and, for GLOBAL, keys) that building a pex depends on.
SECTIONS = {"pex-cli": None, "subprocess-environment": None, "GLOBAL": ("ca_certs_path",)}


def _flag(scope: str, key: str, value: Any) -> str:
    option = key.replace("_", "-")
    prefix = "" if scope == "GLOBAL" else f"{scope}-"
    if isinstance(value, dict) and set(value) == {"add"}:
        rendered = "+" + repr(list(value["add"]))
    elif isinstance(value, list):
        rendered = repr(value)
    else:
        rendered = str(value)
    return f"--{prefix}{option}={rendered}"


def machine_options(rc_path: str | None = None) -> list[str]:
    """Flags for the pex tool, CA bundle and subprocess environment in the machine's .pants.rc
    (the file at `rc_path`, else the text ./pants exports)."""
    if rc_path is not None:
        text = Path(rc_path).read_text() if Path(rc_path).is_file() else ""
    else:
        text = os.environ.get(PANTS_RC_TEXT_ENV, "")
    if not text.strip():
        return []
    rc = toml.loads(text)
    flags = []
    for scope, keys in SECTIONS.items():
        for key, value in rc.get(scope, {}).items():
            if keys is None or key in keys:
                flags.append(_flag(scope, key, value))
    return flags
