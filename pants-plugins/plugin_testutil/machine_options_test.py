from __future__ import annotations

from pathlib import Path

from plugin_testutil.machine_options import machine_options


def test_download_settings_become_flags(tmp_path: Path) -> None:
    rc = tmp_path / ".pants.rc"
    rc.write_text(
        '[GLOBAL]\nca_certs_path = "/etc/ssl/certs/ca.crt"\ncolors = false\n\n'
        '[subprocess-environment]\nenv_vars.add = ["PIP_CONFIG_FILE=/dev/null"]\n\n'
        '[pex-cli]\nversion = "v2.1.137"\nknown_versions = ["v2.1.137|linux_x86_64|abc|12"]\n'
        'url_template = "file:///x/pex-{version}"\n\n[docker]\nenv_vars = ["A=1"]\n'
    )
    assert machine_options(str(rc)) == [
        "--pex-cli-version=v2.1.137",
        "--pex-cli-known-versions=['v2.1.137|linux_x86_64|abc|12']",
        "--pex-cli-url-template=file:///x/pex-{version}",
        "--subprocess-environment-env-vars=+['PIP_CONFIG_FILE=/dev/null']",
        "--ca-certs-path=/etc/ssl/certs/ca.crt",
    ]


def test_no_rc_file_means_no_flags(tmp_path: Path) -> None:
    assert machine_options(str(tmp_path / "missing")) == []
