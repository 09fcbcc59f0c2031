"""Runs one gear job: opens the context, sets up logging, runs the gear, maps errors to exits."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from gear_common.api_errors import describe_api_error
from gear_common.errors import GearConfigError, GearError, GearInputError
from gear_common.input_files import load_json_input

log = logging.getLogger(__name__)

DEFAULT_GEAR_PATH = Path("/flywheel/v0")
# Lets a gear run outside a container against a /flywheel/v0-shaped directory elsewhere.
GEAR_PATH_ENV = "FLYWHEEL_GEAR_PATH"

if TYPE_CHECKING:
    import fw_gear

    from gear_common.context import GearContext

GearBody = Callable[["GearContext"], None]
# Gear directories whose start has been logged in this process (see `start_gear`).
_started: set[Path] = set()


def check_config_json(config_path: Path) -> None:
    """Fails with a message naming the file unless it holds a JSON object (within limits)."""
    if not os.path.lexists(config_path):
        raise GearConfigError(f"{config_path}: not found (the gear needs its config.json)")
    try:
        content = load_json_input(config_path)
    except GearInputError as exc:
        raise GearConfigError(str(exc)) from None
    if not isinstance(content, dict):
        raise GearConfigError(
            f"{config_path}: expected a JSON object, found {type(content).__name__}"
        )


def _open_fw_context(gear_path: Path, config_path: Path) -> fw_gear.GearContext:
    """fw-gear's context, without its eager Flywheel client.

    Clients are made by `gear_common.flywheel_client`, which can also use the gear bot's key
    and reports a refused key as one clear error; gears without an API key need no SDK.
    fw-gear (and the SDK it imports) takes most of a second to import, so it is imported here,
    after the gear has announced itself, rather than when run.py starts.
    """
    import fw_gear

    class _FwGearContext(fw_gear.GearContext):  # type: ignore[misc]
        def get_client(self) -> None:
            return None

    return _FwGearContext(
        gear_path=str(gear_path),
        manifest_path=str(gear_path / "manifest.json"),
        config_path=str(config_path),
    )


def gear_identity(manifest_path: Path) -> str:
    """`name version (image)` from the gear's manifest, or the path when it cannot be read."""
    try:
        manifest: Any = json.loads(manifest_path.read_text(encoding="utf-8"))
        name, version = manifest["name"], manifest["version"]
        image = manifest.get("custom", {}).get("gear-builder", {}).get("image")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"the gear at {manifest_path.parent}"
    return f"{name} {version}" + (f" ({image})" if image else "")


class JobRunner:
    """Runs a gear body inside a gear context.

    A `GearError` becomes one log line with its message and exit code 1; any other exception is
    logged with its traceback and also gives exit code 1. Exit code 0 means success.
    """

    def __init__(self, gear_path: Path = DEFAULT_GEAR_PATH) -> None:
        self.gear_path = gear_path

    def start(self) -> None:
        """Sets up logging and logs which gear (and image) is starting, once per process.

        This module imports only the standard library, so this line comes before the gear's
        own imports (pydantic, fw-gear and the Flywheel SDK take most of a second).
        """
        # Until fw-gear configures logging from the manifest, messages still reach stderr.
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="[%(levelname)-8s] %(message)s")
        if self.gear_path not in _started:
            _started.add(self.gear_path)
            log.info("Starting %s", gear_identity(self.gear_path / "manifest.json"))

    def run(self, body: GearBody) -> int:
        from gear_common.context import GearContext

        self.start()
        config_path = self.gear_path / "config.json"
        try:
            check_config_json(config_path)
            with _open_fw_context(self.gear_path, config_path) as fw_context:
                fw_context.init_logging()
                fw_context.log_config()
                body(GearContext(fw_context, config_path))
        except GearError as exc:
            log.error("%s", exc)
            return 1
        except Exception as exc:
            api_error = describe_api_error(exc)
            if api_error is None:
                log.exception("The gear failed with an unexpected error")
            else:
                # One line; the traceback when the gear logs at debug level (config debug).
                log.error("%s", api_error)
                log.debug("The Flywheel API error in full:", exc_info=True)
            return 1
        log.info("The gear finished successfully")
        return 0


def _runner() -> JobRunner:
    """The job runner for /flywheel/v0, or the directory named by $FLYWHEEL_GEAR_PATH."""
    return JobRunner(Path(os.environ.get(GEAR_PATH_ENV) or DEFAULT_GEAR_PATH))


def start_gear() -> None:
    """Logs the gear's first line; run.py calls it before importing the gear's code."""
    _runner().start()


def run_gear(body: GearBody) -> NoReturn:
    """Runs `body` with a `JobRunner` and exits with its exit code (for run.py)."""
    sys.exit(_runner().run(body))
