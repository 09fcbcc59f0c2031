"""The work of the dicom-headers gear: a DICOM file's header as DICOM JSON.

Read with pydicom 2 (the gear-pydicom2 resolve pins it): the output names the pydicom version
that read the file, so a job's output says which one ran.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from gear_common.errors import GearInputError

log = logging.getLogger(__name__)


def read_header(path: Path, *, include_private: bool) -> dict[str, object]:
    """The header of the DICOM file at `path` (no pixel data) as a DICOM JSON model."""
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise GearInputError(f"input file {path} is not a DICOM file: {exc}") from None
    if not include_private:
        dataset.remove_private_tags()
    header: dict[str, object] = dataset.to_json_dict()
    return header


def run(*, dicom: Path, include_private: bool, output_dir: Path) -> Path:
    """Writes `<input name>.header.json` to `output_dir` and returns its path."""
    header = read_header(dicom, include_private=include_private)
    output = output_dir / f"{dicom.name}.header.json"
    payload = {"input": dicom.name, "pydicom_version": pydicom.__version__, "header": header}
    output.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    log.info("%s: %d elements, read with pydicom %s", dicom.name, len(header), pydicom.__version__)
    log.info("Wrote %s", output)
    return output
