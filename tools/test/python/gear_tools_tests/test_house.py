"""bin/ holds only short commands through tools/launch, each listed in README.md's table.

(That nothing in common/ depends on the tools is Pants' visibility rule in common/BUILD.)"""

from __future__ import annotations

from pathlib import Path


def test_every_command_goes_through_the_launcher_and_is_listed() -> None:
    readme = Path("README.md").read_text(encoding="utf-8")
    commands = sorted(p for p in Path("bin").iterdir() if p.name not in ("BUILD", "README.md"))
    assert commands
    for command in commands:
        lines = command.read_text(encoding="utf-8").splitlines()
        assert len(lines) <= 4, f"{command}: {len(lines)} lines"
        assert lines[-1].startswith('exec "$(dirname "${BASH_SOURCE[0]}")/../tools/launch" ')
        assert f"`{command} " in readme or f"`{command}`" in readme, f"{command} not in the table"
