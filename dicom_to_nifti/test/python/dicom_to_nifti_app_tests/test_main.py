"""main.run with the real dcm2niix on real DICOM data (pydicom's test files), read back with
nibabel."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from gear_common.errors import GearInputError

from dicom_to_nifti_app import main
from dicom_to_nifti_app_tests.dicom_inputs import (
    CT_SLICE,
    MR_SLICE,
    RT_PLAN,
    mr_series,
    pydicom_file,
    zip_files,
)


def convert(tmp_path: Path, dicom: Path, **options: object) -> tuple[list[main.Converted], Path]:
    output = tmp_path / "output"
    output.mkdir()
    converted = main.run(
        dicom=dicom,
        options=main.ConversionOptions(**options),  # type: ignore[arg-type]
        work_dir=tmp_path / "work",
        output_dir=output,
    )
    return converted, output


def test_dcm2niix_is_on_path() -> None:
    # Tests run it for real: a missing dcm2niix is an error here, never a skipped test.
    assert shutil.which("dcm2niix"), "dcm2niix must be installed (./pants installs it)"


def test_a_single_mr_file_becomes_a_nifti_with_its_pixels_and_a_sidecar(tmp_path: Path) -> None:
    source = pydicom_file(MR_SLICE)
    converted, output = convert(tmp_path, source, filename="%p_%s")

    (item,) = converted
    assert item.nifti.name.endswith(".nii.gz") and item.nifti.parent == output
    image = nib.Nifti1Image.from_filename(item.nifti)
    data = np.asarray(image.dataobj)
    assert data.shape == (64, 64, 1)
    assert image.affine.shape == (4, 4) and np.linalg.det(image.affine[:3, :3]) != 0
    pixels = pydicom.dcmread(source).pixel_array
    # NIfTI stores columns first and rows from the bottom up.
    assert np.array_equal(data[:, :, 0], np.flipud(pixels).T)
    assert item.sidecar is not None
    assert item.sidecar_fields()["Modality"] == "MR"
    assert item.sidecar_fields()["ConversionSoftware"] == "dcm2niix"


def in_plane_views(pixels: np.ndarray) -> list[np.ndarray]:
    """The 8 ways a slice can be laid out in a NIfTI volume (flips and transposes)."""
    views = []
    for image in (pixels, pixels.T):
        views += [image, image[::-1], image[:, ::-1], image[::-1, ::-1]]
    return views


def test_a_zipped_series_becomes_one_volume_with_each_slice_in_place(tmp_path: Path) -> None:
    slices = mr_series(tmp_path / "series", 3)
    archive = zip_files(tmp_path / "series.dicom.zip", sorted((tmp_path / "series").iterdir()))

    (item,), _ = convert(tmp_path, archive, filename="volume")

    assert item.nifti.name == "volume.nii.gz"
    data = np.asarray(nib.Nifti1Image.from_filename(item.nifti).dataobj)
    assert data.shape == (64, 64, 3)
    # One in-plane layout for all slices, and the slices in the order of their positions (the
    # slices differ, so a slice out of place cannot match).
    layouts = [
        index
        for index in range(8)
        if all(
            np.array_equal(data[:, :, k], in_plane_views(dataset.pixel_array)[index])
            for k, dataset in enumerate(slices)
        )
    ]
    assert layouts, "the volume's slices are not the DICOM slices in order"


def test_uncompressed_without_sidecar(tmp_path: Path) -> None:
    (item,), output = convert(
        tmp_path, pydicom_file(CT_SLICE), filename="ct", compress=False, bids_sidecar=False
    )
    assert sorted(p.name for p in output.iterdir()) == ["ct.nii"]
    assert item.sidecar is None
    assert np.asarray(nib.Nifti1Image.from_filename(item.nifti).dataobj).shape == (128, 128, 1)
    (metadata,) = main.output_metadata([item])
    assert metadata.model_dump(exclude_none=True) == {"name": "ct.nii", "type": "nifti"}


def test_metadata_gives_type_modality_and_sidecar_fields(tmp_path: Path) -> None:
    converted, _ = convert(tmp_path, pydicom_file(CT_SLICE), filename="ct")
    (metadata,) = main.output_metadata(converted)
    assert (metadata.name, metadata.type, metadata.modality) == ("ct.nii.gz", "nifti", "CT")
    assert metadata.info is not None and metadata.info["Modality"] == "CT"


def test_a_zip_without_dicom_is_refused_in_dcm2niixs_words(tmp_path: Path) -> None:
    archive = tmp_path / "notes.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("readme.txt", "no images here")
    with pytest.raises(GearInputError) as error:
        convert(tmp_path, archive)
    message = str(error.value)
    assert message.startswith("input notes.zip: dcm2niix converted nothing (exit code 2): ")
    assert "Unable to find any DICOM images" in message
    assert list((tmp_path / "output").iterdir()) == []


def test_a_corrupt_file_is_refused_with_dcm2niixs_warning(tmp_path: Path) -> None:
    corrupt = tmp_path / "truncated.dcm"
    corrupt.write_bytes(pydicom_file(MR_SLICE).read_bytes()[:3000])
    with pytest.raises(GearInputError, match="File not large enough to store image data"):
        convert(tmp_path, corrupt)
    assert list((tmp_path / "output").iterdir()) == []


def test_dicom_that_holds_no_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GearInputError, match="No valid DICOM images were found"):
        convert(tmp_path, pydicom_file(RT_PLAN))


def test_an_empty_zip_and_a_zip_member_outside_the_zip_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(GearInputError, match="input empty.zip: the zip holds no files"):
        main.stage_dicom(empty, tmp_path / "a")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zipped:
        zipped.writestr("../../etc/passwd", "x")
    with pytest.raises(GearInputError, match="zip member '../../etc/passwd' points outside"):
        main.stage_dicom(evil, tmp_path / "b")
    assert not (tmp_path / "etc").exists()


def test_output_that_exists_is_not_overwritten(tmp_path: Path) -> None:
    output = tmp_path / "output"
    output.mkdir()
    (output / "mr.nii.gz").write_text("earlier")
    with pytest.raises(Exception, match="already exists; refusing to overwrite"):
        main.run(
            dicom=pydicom_file(MR_SLICE),
            options=main.ConversionOptions(filename="mr"),
            work_dir=tmp_path / "work",
            output_dir=output,
        )
    assert (output / "mr.nii.gz").read_text() == "earlier"
    assert sorted(p.name for p in output.iterdir()) == ["mr.nii.gz"]
