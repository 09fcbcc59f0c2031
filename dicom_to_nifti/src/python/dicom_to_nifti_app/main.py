"""The dicom-to-nifti gear's work: a DICOM series (zip or file) to NIfTI with dcm2niix.

The input is unpacked into the work directory, dcm2niix converts it into a staging directory
there, and only a conversion that succeeded is moved to the output directory, so a failed job
leaves no partial output behind.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from gear_common.errors import GearError, GearInputError
from gear_common.metadata import FileMetadata

log = logging.getLogger(__name__)

DCM2NIIX = "dcm2niix"
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# dcm2niix -m: merge 2D slices regardless of echo, exposure etc. (2 lets dcm2niix decide).
MERGE_FLAGS = {"auto": "2", "yes": "y", "no": "n"}
# The lines of dcm2niix's output that explain a failure.
PROBLEM_PREFIXES = ("Error", "Warning", "No valid DICOM", "Unable to")


@dataclass(frozen=True)
class ConversionOptions:
    filename: str = "%f_%p_%t_%s"
    compress: bool = True
    bids_sidecar: bool = True
    merge_2d: Literal["auto", "yes", "no"] = "auto"


@dataclass(frozen=True)
class Converted:
    """One NIfTI file dcm2niix wrote, and its BIDS sidecar (if one was written)."""

    nifti: Path
    sidecar: Path | None

    def sidecar_fields(self) -> dict[str, Any]:
        if self.sidecar is None:
            return {}
        fields: dict[str, Any] = json.loads(self.sidecar.read_text(encoding="utf-8"))
        return fields


def dcm2niix_executable() -> str:
    found = shutil.which(DCM2NIIX)
    if found is None:
        raise GearError(
            f"{DCM2NIIX} is not installed (not on PATH); the gear's image has it: run the gear "
            "in its image (bin/run-gear --image)"
        )
    return found


def _member_path(archive: Path, name: str) -> PurePosixPath | None:
    """Where a zip member goes below the extraction directory; None for a directory entry."""
    member = PurePosixPath(name.replace("\\", "/"))
    if member.is_absolute() or ".." in member.parts:
        raise GearInputError(f"input {archive.name}: zip member {name!r} points outside the zip")
    return None if name.endswith("/") else member


def stage_dicom(dicom: Path, directory: Path) -> int:
    """Puts the DICOM files of the input (a zip, or one file) in `directory`; returns how many."""
    directory.mkdir(parents=True, exist_ok=True)
    if not zipfile.is_zipfile(dicom):
        shutil.copyfile(dicom, directory / dicom.name)
        return 1
    try:
        with zipfile.ZipFile(dicom) as archive:
            count = 0
            for info in archive.infolist():
                member = _member_path(dicom, info.filename)
                if member is None:
                    continue
                target = directory.joinpath(*member.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                count += 1
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise GearInputError(f"input {dicom.name}: cannot read the zip: {exc}") from None
    if count == 0:
        raise GearInputError(f"input {dicom.name}: the zip holds no files")
    return count


def dcm2niix_arguments(options: ConversionOptions, source: Path, output: Path) -> list[str]:
    return [
        "-z",
        "y" if options.compress else "n",
        "-b",
        "y" if options.bids_sidecar else "n",
        "-m",
        MERGE_FLAGS[options.merge_2d],
        "-f",
        options.filename,
        "-o",
        str(output),
        str(source),
    ]


def _problem(output: str) -> str:
    """dcm2niix's own explanation of a failure: its error and warning lines, or its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    problems = [line for line in lines if line.startswith(PROBLEM_PREFIXES)]
    chosen = problems or lines[-1:] or ["no output"]
    return "; ".join(dict.fromkeys(chosen))


def _nifti_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(NIFTI_SUFFIXES))


def convert(source: Path, staging: Path, options: ConversionOptions, input_name: str) -> None:
    """Runs dcm2niix on `source` into `staging`; a failure is one GearError in its own words."""
    staging.mkdir(parents=True, exist_ok=True)
    argv = [dcm2niix_executable(), *dcm2niix_arguments(options, source, staging)]
    log.debug("Running %s", " ".join(argv))
    result = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
    output = result.stdout + result.stderr
    for line in output.splitlines():
        log.debug("dcm2niix: %s", line)
    if result.returncode != 0 or not _nifti_files(staging):
        raise GearInputError(
            f"input {input_name}: dcm2niix converted nothing (exit code {result.returncode}): "
            f"{_problem(output)}"
        )


def _sidecar_of(nifti: Path) -> Path:
    stem = nifti.name.removesuffix(".gz").removesuffix(".nii")
    return nifti.with_name(f"{stem}.json")


def publish(staging: Path, output_dir: Path) -> list[Converted]:
    """Moves every file dcm2niix wrote to `output_dir`; returns the NIfTI files and sidecars."""
    for produced in sorted(staging.iterdir()):
        target = output_dir / produced.name
        if target.exists():
            raise GearError(f"{target} already exists; refusing to overwrite it")
    for produced in sorted(staging.iterdir()):
        shutil.move(str(produced), output_dir / produced.name)
    converted = []
    for nifti in _nifti_files(output_dir):
        sidecar = _sidecar_of(nifti)
        converted.append(Converted(nifti, sidecar if sidecar.is_file() else None))
    return converted


def run(
    *, dicom: Path, options: ConversionOptions, work_dir: Path, output_dir: Path
) -> list[Converted]:
    """Converts the DICOM input; writes NIfTI files (and sidecars) to `output_dir`."""
    source = work_dir / "dicom"
    count = stage_dicom(dicom, source)
    log.info("%s: %d file(s); converting with %s", dicom.name, count, DCM2NIIX)
    staging = work_dir / "nifti"
    convert(source, staging, options, dicom.name)
    converted = publish(staging, output_dir)
    for item in converted:
        sidecar = f" and {item.sidecar.name}" if item.sidecar else ""
        log.info("Wrote %s%s", item.nifti.name, sidecar)
    return converted


def output_metadata(converted: list[Converted]) -> list[FileMetadata]:
    """For each NIfTI file: type `nifti`, and the modality and fields of its BIDS sidecar."""
    files = []
    for item in converted:
        fields = item.sidecar_fields()
        modality = fields.get("Modality")
        files.append(
            FileMetadata(
                name=item.nifti.name,
                type="nifti",
                modality=modality if isinstance(modality, str) else None,
                info=fields or None,
            )
        )
    return files
