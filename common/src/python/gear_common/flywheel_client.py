"""Building the Flywheel client a gear runs with: the job's API key, or the gear bot's key.

The gear bot's key is read from AWS SSM Parameter Store (credentials from the environment),
at `<prefix>/apikey`. Keys never appear in logs or error messages.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
import flywheel
from botocore.exceptions import BotoCoreError, ClientError

from gear_common.context import GearContext
from gear_common.errors import GearConfigError, GearError

log = logging.getLogger(__name__)

API_KEY_PARAMETER = "apikey"


class FlywheelConnectionError(GearError):
    """The Flywheel API refused the key or could not be reached."""


def gear_bot_api_key(path_prefix: str, *, ssm_client: Any = None) -> str:
    """The gear bot's API key from the parameter `<path_prefix>/apikey` (decrypted)."""
    name = f"{path_prefix.rstrip('/')}/{API_KEY_PARAMETER}"
    client = ssm_client or boto3.client("ssm")
    try:
        response = client.get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise GearConfigError(
            f"cannot read the gear bot API key from SSM parameter {name}: {code}"
        ) from None
    except BotoCoreError as exc:
        raise GearConfigError(
            f"cannot read the gear bot API key from SSM parameter {name}: {type(exc).__name__}"
        ) from None
    value = response.get("Parameter", {}).get("Value")
    if not isinstance(value, str) or not value:
        raise GearConfigError(f"SSM parameter {name} holds no API key")
    return value


def choose_api_key(job_api_key: str | None, gear_bot_path_prefix: str) -> str:
    """The gear bot's key when a parameter path prefix is configured, else the job's key."""
    if gear_bot_path_prefix:
        return gear_bot_api_key(gear_bot_path_prefix)
    if job_api_key:
        return job_api_key
    raise GearConfigError(
        "no API key: the job has no api-key input and config apikey_path_prefix is empty"
    )


def connect(api_key: str) -> flywheel.Client:
    """A client for the site the key names; checks the key with the server."""
    try:
        return flywheel.Client(api_key)
    except flywheel.ApiException as exc:
        raise FlywheelConnectionError(
            f"the Flywheel API refused the API key ({exc.status} {exc.reason})"
        ) from None
    except Exception as exc:  # connection errors come from several libraries
        raise FlywheelConnectionError(
            f"cannot reach the Flywheel API: {type(exc).__name__}"
        ) from None


def client_for(context: GearContext, gear_bot_path_prefix: str = "") -> flywheel.Client:
    """The client a gear acts with: the gear bot's key if a prefix is set, else the job's."""
    client = connect(choose_api_key(context.api_key(), gear_bot_path_prefix))
    user = client.get_current_user()
    log.info("Connected to Flywheel as %s", getattr(user, "id", None) or "(unknown user)")
    return client
