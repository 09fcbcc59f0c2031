"""The gear contexts that gears written before fw-gear use, on top of fw-gear.

A gear moved into this repository (`bin/new-gear NAME --from-gear DIR`) keeps its run.py: its
imports of flywheel-gear-toolkit's `GearToolkitContext` and of the Flywheel SDK's old
`flywheel.GearContext` are pointed here. Both offer what such gears call:

    with GearToolkitContext() as context:
        context.init_logging()
        path = context.get_input_path("dicom")
        if context.config["debug"]: ...
        context.update_container_metadata("session", info={"qc": "passed"})

`config` is the config values (a dict), `config_json` the whole config.json, `manifest` the
manifest, `destination` config.json's destination; `client` connects with the job's api-key
input. Leaving the `with` block without an error writes output/.metadata.json (fw-gear's
schema check included). Every method and property of flywheel-gear-toolkit 0.6's context is
here, and what was settable there (its plain attributes, or any new one) is settable here: a
test compares the two, reading the toolkit's own wheel.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any

import fw_gear

log = logging.getLogger(__name__)
# A container's parents, nearest first (the toolkit's BOTTOM_UP_PARENT_HIERARCHY).
PARENT_TYPES = ("acquisition", "session", "subject", "project", "group")


_NO_BIDS = (
    "GearToolkitContext.{method}() needs flywheel-bids (the toolkit's `sdk` extra), which gears "
    "here do not get with the legacy context: download the BIDS files with the gear's client "
    "(context.client) or move the gear to fw-gear"
)


class GearToolkitContext:
    """flywheel-gear-toolkit's `GearToolkitContext`: the gear directory is `gear_path`, or the
    working directory (Flywheel starts a job in /flywheel/v0)."""

    def __init__(
        self,
        gear_path: str | Path | None = None,
        manifest_path: str | Path | None = None,
        config_path: str | Path | None = None,
        *,
        log_metadata: bool = True,
        fail_on_validation: bool = True,
        clean_on_error: bool = False,
        **ignored: Any,
    ) -> None:
        self.path = Path(gear_path or Path.cwd()).resolve()
        config_file = Path(config_path or self.path / "config.json")
        manifest_file = Path(manifest_path or self.path / "manifest.json")
        try:
            self.config_json: dict[str, Any] = json.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.config_json = {"config": {}, "inputs": {}, "destination": {}}
        except json.JSONDecodeError as exc:
            raise ValueError(f"{config_file}: not JSON ({exc})") from None
        self.manifest: dict[str, Any] = (
            json.loads(manifest_file.read_text(encoding="utf-8")) if manifest_file.is_file() else {}
        )
        self.fail_on_validation = fail_on_validation
        if ignored:
            log.debug("legacy context: options not used here: %s", ", ".join(sorted(ignored)))
        self._fw = fw_gear.GearContext(
            gear_path=str(self.path),
            manifest_path=str(manifest_file),
            config_path=str(config_file),
            log_metadata=log_metadata,
            fail_on_validation=fail_on_validation,
            clean_on_error=clean_on_error,
        )

    # What config.json holds.
    @property
    def config(self) -> dict[str, Any]:
        """The config values (config.json's `config`)."""
        return dict(self.config_json.get("config") or {})

    @property
    def destination(self) -> dict[str, Any]:
        return dict(self.config_json.get("destination") or {})

    @property
    def log(self) -> logging.Logger:
        """The logger the toolkit's context offered (`context.log.info(...)`); a gear may set
        its own (`context.log = logger`), as the toolkit's plain attribute allowed."""
        return self.__dict__.get("_log") or logging.getLogger("GearToolkitContext")

    @log.setter
    def log(self, logger: logging.Logger) -> None:
        self.__dict__["_log"] = logger

    @property
    def log_level(self) -> str:
        """ "DEBUG" when the config's `debug` is true, else "INFO"."""
        return "DEBUG" if self.config.get("debug") else "INFO"

    def get_input(self, name: str) -> dict[str, Any] | None:
        """The input's entry in config.json (None when the job has no such input)."""
        inputs = self.config_json.get("inputs") or {}
        value = inputs.get(name)
        return dict(value) if isinstance(value, dict) else None

    def _file_input(self, name: str) -> dict[str, Any] | None:
        value = self.get_input(name)
        if value is not None and value.get("base") != "file":
            raise ValueError(
                f"input {name!r} is not a file input (its base is {value.get('base')!r})"
            )
        return value

    def get_input_path(self, name: str) -> str | None:
        """The path of a file input, or None when the job was not given it."""
        value = self._file_input(name)
        return None if value is None else value.get("location", {}).get("path")

    def get_input_filename(self, name: str) -> str | None:
        value = self._file_input(name)
        return None if value is None else value.get("location", {}).get("name")

    def get_input_file_object(self, name: str) -> dict[str, Any] | None:
        """The file input's `object` (its type, modality, classification, info, tags)."""
        value = self._file_input(name)
        return None if value is None else dict(value.get("object") or {})

    def get_input_file_object_value(self, name: str, key: str) -> Any:
        """One entry of the file input's `object` (None when the input or the key is absent)."""
        found = self.get_input_file_object(name)
        return None if found is None else found.get(key)

    def get_context_value(self, name: str) -> Any:
        return self._fw.get_context_value(name)

    def open_input(self, name: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
        path = self.get_input_path(name)
        if path is None:
            raise FileNotFoundError(f"the job has no input {name!r}")
        return Path(path).open(mode, **kwargs)  # noqa: SIM115 (the caller closes it)

    # Directories and the SDK client.
    @property
    def output_dir(self) -> Path:
        return Path(self._fw.output_dir)

    @property
    def work_dir(self) -> Path:
        return Path(self._fw.work_dir)

    def open_output(self, name: str, mode: str = "w", **kwargs: Any) -> IO[Any]:
        opened: IO[Any] = self._fw.open_output(name, mode, **kwargs)
        return opened

    @property
    def client(self) -> Any:
        """A Flywheel SDK client for the job's api-key input (None without one)."""
        return self._fw.client

    def get_client(self) -> Any:
        """The toolkit's method form of `client`."""
        return self.client

    def get_container_from_ref(self, ref: dict[str, Any]) -> Any:
        """The container a reference (`{"type": "session", "id": ...}`) names."""
        return getattr(self.client, f"get_{ref.get('type')}")(ref.get("id"))

    def get_parent(self, container: Any) -> Any:
        """The container's parent container (an analysis's, a file's, or the nearest of
        `parents`); TypeError for a group, which has none."""
        kind = container.container_type
        if kind == "analysis":
            return self.get_container_from_ref(container.parent)
        if kind == "file":
            return container.parent
        if kind == "group":
            raise TypeError("a group container has no parent")
        for parent_type in PARENT_TYPES:
            if container.parents.get(parent_type):
                return self.get_container_from_ref(
                    {"type": parent_type, "id": container.parents.get(parent_type)}
                )
        return None

    def get_destination_container(self) -> Any:
        return self.client.get(self.destination["id"])

    def get_destination_parent(self) -> Any:
        container = self.get_destination_container()
        return self.client.get(container.parent.id)

    # Logging and .metadata.json.
    def init_logging(self, *args: Any, **kwargs: Any) -> Any:
        return self._fw.init_logging(*args, **kwargs)

    def log_config(self) -> None:
        self._fw.log_config()

    @property
    def metadata(self) -> Any:
        """fw-gear's `Metadata`: what output/.metadata.json will hold (settable, as the
        toolkit's attribute was)."""
        return self._fw.metadata

    @metadata.setter
    def metadata(self, metadata: Any) -> None:
        self._fw.metadata = metadata

    def update_container_metadata(
        self, container_type: str, deep: bool = True, **kwargs: Any
    ) -> None:
        self.metadata.update_container(container_type, deep=deep, **kwargs)

    def update_destination_metadata(self, deep: bool = True, **kwargs: Any) -> None:
        """The destination container's metadata (the toolkit's deprecated shorthand)."""
        self.update_container_metadata(self.destination["type"], deep, **kwargs)

    def update_file_metadata(
        self, file_: Any, container_type: str | None = None, deep: bool = True, **kwargs: Any
    ) -> None:
        """Updates an output file's metadata; `container_type` defaults to the destination's."""
        self.metadata.update_file_metadata(
            file_, container_type or self.destination.get("type", "acquisition"), deep, **kwargs
        )

    def download_session_bids(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(_NO_BIDS.format(method="download_session_bids"))

    def download_project_bids(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(_NO_BIDS.format(method="download_project_bids"))

    def __enter__(self) -> GearToolkitContext:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._fw.__exit__(*exc_info)


class GearContext(GearToolkitContext):
    """The Flywheel SDK's old `flywheel.GearContext` (removed from the SDK), same interface."""
