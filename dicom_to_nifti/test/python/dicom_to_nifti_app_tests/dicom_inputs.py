"""Gear inputs made at test time from real DICOM files that pydicom ships in its package."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

# A 64x64 MR slice (Toshiba, modality MR) and a 128x128 CT slice, both in pydicom's wheel.
MR_SLICE = "MR_small.dcm"
CT_SLICE = "CT_small.dcm"
# An RT plan: DICOM, but no image for dcm2niix to convert.
RT_PLAN = "rtplan.dcm"


def pydicom_file(name: str) -> Path:
    """The path of a DICOM file shipped in pydicom's package (never downloaded)."""
    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom ships no test file {name}")
    return Path(str(path))


def mr_series(directory: Path, slices: int) -> list[pydicom.Dataset]:
    """`slices` slices of one MR series, built from pydicom's MR slice; written to `directory`.

    Each slice is the real slice moved along the slice normal by the slice thickness, with its
    pixel values offset by 100 times its index so that the slices can be told apart.
    """
    directory.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    datasets: list[pydicom.Dataset] = []
    for index in range(slices):
        dataset = pydicom.dcmread(pydicom_file(MR_SLICE))
        x, y, z = (float(value) for value in dataset.ImagePositionPatient)
        dataset.ImagePositionPatient = [x, y, z + index * float(dataset.SliceThickness)]
        dataset.InstanceNumber = index + 1
        dataset.SeriesInstanceUID = series_uid
        dataset.SOPInstanceUID = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        pixels = dataset.pixel_array.astype(np.int16) + np.int16(100 * index)
        dataset.PixelData = pixels.tobytes()
        dataset.save_as(directory / f"slice{index + 1:03d}.dcm")
        datasets.append(dataset)
    return datasets


def zip_files(archive: Path, files: list[Path], *, arcdir: str = "series") -> Path:
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in files:
            zipped.write(path, f"{arcdir}/{path.name}")
    return archive
