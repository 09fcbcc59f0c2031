"""The gear's view of its run: config, inputs, output and work directories.

This module and legacy_context (for gears written before fw-gear) import fw-gear, so gears
do not depend on its API directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gear_common.config import parse_config
from gear_common.errors import GearInputError
from gear_common.metadata import DestinationMetadata, FileMetadata, write_metadata
from gear_common.problems import pydantic_problems

if TYPE_CHECKING:
    import fw_gear

ModelT = TypeVar("ModelT", bound=BaseModel)


class ContainerRef(BaseModel):
    """A Flywheel container: its type (`acquisition`, `session`, `analysis`...) and id."""

    model_config = ConfigDict(frozen=True)

    type: str
    id: str


class FileRecord(BaseModel):
    """An input file's record in Flywheel, as config.json's `object` gives it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str | None = None
    mimetype: str | None = None
    modality: str | None = None
    size: int | None = None
    classification: dict[str, list[str]] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


class InputFile(BaseModel):
    """A file input: where it is, its record, and the container it belongs to (if known)."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: Path
    record: FileRecord
    parent: ContainerRef | None


class GearContext:
    """What a running gear can see, read through fw-gear's `GearContext`."""

    def __init__(self, fw_context: fw_gear.GearContext, config_path: Path) -> None:
        self._fw = fw_context
        self.config_path = config_path

    @property
    def config_values(self) -> Mapping[str, Any]:
        """The `config` section of config.json (no defaults applied)."""
        return dict(self._fw.config.opts)

    @property
    def destination(self) -> Mapping[str, Any]:
        """The destination container, e.g. {"type": "analysis", "id": "..."}."""
        return dict(self._fw.config.destination)

    @property
    def destination_ref(self) -> ContainerRef:
        """The destination container, typed."""
        return self._parse(ContainerRef, self.destination, "destination")

    def input(self, name: str) -> InputFile:
        """The file input `name` with its record (`object`) and parent container (`hierarchy`)."""
        path = self.input_file(name)
        entry = self._fw.config.get_input(name)
        record = self._parse(FileRecord, entry.get("object") or {}, f'input "{name}" object')
        hierarchy = entry.get("hierarchy")
        parent = (
            self._parse(ContainerRef, hierarchy, f'input "{name}" hierarchy') if hierarchy else None
        )
        return InputFile(name=name, path=path, record=record, parent=parent)

    def _parse(self, model: type[ModelT], value: Any, what: str) -> ModelT:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            problems = pydantic_problems(
                exc.errors(), lambda path: f"{what}.{path}" if path else what
            )
            raise GearInputError(f"{self.config_path}: " + "; ".join(problems)) from None

    @property
    def output_dir(self) -> Path:
        return Path(self._fw.output_dir)

    @property
    def work_dir(self) -> Path:
        return Path(self._fw.work_dir)

    def write_output_metadata(
        self, files: Sequence[FileMetadata], destination: DestinationMetadata | None = None
    ) -> Path:
        """Writes .metadata.json (validated first) for output files, which Flywheel puts on the
        destination, and for the destination itself (its info and tags)."""
        destination_type = str(self.destination.get("type", ""))
        return write_metadata(self.output_dir, destination_type, files, destination)

    def parse_config(self, model: type[ModelT]) -> ModelT:
        """The config values validated against a gear's config model."""
        return parse_config(model, self.config_values, source=str(self.config_path))

    def api_key(self) -> str | None:
        """The key of the job's api-key input, if it has one (never log it)."""
        for entry in self._fw.config.inputs.values():
            if isinstance(entry, dict) and entry.get("base") == "api-key" and entry.get("key"):
                return str(entry["key"])
        return None

    def optional_input_file(self, name: str) -> Path | None:
        """The path of the file input `name`, or None when the job was run without it."""
        if self._fw.config.get_input(name) is None:
            return None
        return self.input_file(name)

    def input_file(self, name: str) -> Path:
        """The path of the file input `name`, which must be given and exist."""
        entry = self._fw.config.get_input(name)
        if entry is None:
            raise GearInputError(
                f'{self.config_path}: input "{name}" is required'
                " but config.json has no such input"
            )
        base = entry.get("base")
        if base != "file":
            raise GearInputError(
                f'{self.config_path}: input "{name}" has base {base!r}, expected "file"'
            )
        location = entry.get("location") or {}
        raw_path = location.get("path")
        if not raw_path:
            raise GearInputError(f'{self.config_path}: input "{name}" has no location.path')
        path = Path(raw_path)
        if not path.is_file():
            raise GearInputError(f'input "{name}": file {path} does not exist')
        return path
