"""The machine-local Pants options (from ./pants' .pants.rc) that plugin tests need too.

A RuleRunner does not read pants.toml or .pants.rc, so on a machine that cannot download the
pex tool from GitHub its rules would fail; these options point it at the locally built one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import toml

# Set by [test] extra_env_vars in pants.toml.
PANTS_RC_ENV = "PANTS_MACHINE_RC"


def _flag(scope: str, key: str, value: Any) -> str:
    option = key.replace("_", "-")
    rendered = repr(list(value)) if isinstance(value, list) else str(value)
    return f"--{scope}-{option}={rendered}"


def pex_cli_options(rc_path: str | None = None) -> list[str]:
    """`--pex-cli-*` flags copied from the [pex-cli] section of the machine's .pants.rc."""
    path = rc_path or os.environ.get(PANTS_RC_ENV)
    if not path or not Path(path).is_file():
        return []
    section = toml.loads(Path(path).read_text()).get("pex-cli", {})
    return [_flag("pex-cli", key, value) for key, value in section.items()]
