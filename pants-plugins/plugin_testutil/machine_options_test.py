from __future__ import annotations

from pathlib import Path

from plugin_testutil.machine_options import pex_cli_options


def test_pex_cli_section_becomes_flags(tmp_path: Path) -> None:
    rc = tmp_path / ".pants.rc"
    rc.write_text(
        '[pex-cli]\nversion = "v2.1.137"\nknown_versions = ["v2.1.137|linux_x86_64|abc|12"]\n'
        'url_template = "file:///x/pex-{version}"\n\n[docker]\nenv_vars = ["A=1"]\n'
    )
    assert pex_cli_options(str(rc)) == [
        "--pex-cli-version=v2.1.137",
        "--pex-cli-known-versions=['v2.1.137|linux_x86_64|abc|12']",
        "--pex-cli-url-template=file:///x/pex-{version}",
    ]


def test_no_rc_file_means_no_flags(tmp_path: Path) -> None:
    assert pex_cli_options(str(tmp_path / "missing")) == []
