from __future__ import annotations

from typing import Any

import pytest

from fake_flywheel import FakeFlywheel
from gear_common.errors import GearConfigError
from gear_common.flywheel_client import (
    FlywheelConnectionError,
    choose_api_key,
    connect,
    gear_bot_api_key,
)


def test_gear_bot_key_is_read_decrypted(aws_ssm: Any) -> None:
    aws_ssm.put_parameter(Name="/gb/apikey", Value="site:secret", Type="SecureString")
    assert gear_bot_api_key("/gb/") == "site:secret"
    assert choose_api_key("job:key", "/gb") == "site:secret"


def test_missing_parameter_names_it(aws_ssm: Any) -> None:
    with pytest.raises(GearConfigError, match="SSM parameter /nope/apikey: ParameterNotFound"):
        gear_bot_api_key("/nope")


def test_job_key_without_prefix_and_no_key_at_all() -> None:
    assert choose_api_key("job:key", "") == "job:key"
    with pytest.raises(GearConfigError, match="no API key"):
        choose_api_key(None, "")


def test_connect_checks_the_key_and_never_shows_it(fake_flywheel: FakeFlywheel) -> None:
    assert connect(fake_flywheel.api_key).get_current_user().firstname == "Ada"
    secret = "do-not-print-me"
    with pytest.raises(FlywheelConnectionError) as error:
        connect(f"127.0.0.1:{fake_flywheel.port}:__force_insecure:{secret}")
    assert "refused the API key (401" in str(error.value)
    assert secret not in str(error.value)


def test_unreachable_site(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_SDK_TOTAL_RETRIES", "0")
    with pytest.raises(FlywheelConnectionError, match="cannot reach the Flywheel API"):
        connect("127.0.0.1:9:__force_insecure:k")
