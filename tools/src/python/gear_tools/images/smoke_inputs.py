"""Input files of image smoke cases, made at run time from files in the case or in a package.

In a case.json, each input is either a path or a zip built at run time:

    "inputs": {
        "text_file": "fox.txt",                                   # a file in the case directory
        "dicom": "pydicom:data/test_files/MR_small.dcm",          # a file a Python package ships
        "series": {"zip": "two.dicom.zip", "files": ["pydicom:data/test_files/CT_small.dcm",
                                                     "notes.txt"]}
    }

`PACKAGE:PATH` names a data file that an installed Python package ships (pydicom's test DICOM
files, for one), so that real public data is used without committing binaries. The packages
smoke cases may use are dependencies of this module (see its BUILD).
"""

from __future__ import annotations

import importlib.util
import zipfile
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

# A smoke case names one of these as PACKAGE in PACKAGE:PATH.
DATA_PACKAGES = ("pydicom",)


class ZippedInput(BaseModel):
    """A zip made at run time from files (paths or PACKAGE:PATH), each at the zip's top level."""

    model_config = ConfigDict(extra="forbid")

    zip: str
    files: list[str]


InputSpec = str | ZippedInput


class SmokeInputError(Exception):
    """A case names an input file that does not exist or a package it may not use."""


def source_file(case_dir: Path, spec: str) -> Path:
    """The file a case means by `spec`: a path in the case directory, or PACKAGE:PATH."""
    package, colon, inner = spec.partition(":")
    if not colon:
        path = case_dir / spec
        if not path.is_file():
            raise SmokeInputError(f"{case_dir / 'case.json'}: input file {path} does not exist")
        return path
    if package not in DATA_PACKAGES:
        raise SmokeInputError(
            f"{case_dir / 'case.json'}: {spec!r} names package {package!r}; smoke cases may use "
            f"data files of {', '.join(DATA_PACKAGES)}"
        )
    if importlib.util.find_spec(package) is None:
        raise SmokeInputError(f"{case_dir / 'case.json'}: package {package!r} is not installed")
    resource = resources.files(package).joinpath(inner)
    if not resource.is_file():
        raise SmokeInputError(f"{case_dir / 'case.json'}: {package} ships no file {inner!r}")
    return Path(str(resource))


def make_input(case_dir: Path, spec: InputSpec, scratch: Path) -> Path:
    """The input file for one case input; zips are written to `scratch`."""
    if isinstance(spec, str):
        return source_file(case_dir, spec)
    archive = scratch / spec.zip
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for member in spec.files:
            path = source_file(case_dir, member)
            zipped.write(path, path.name)
    return archive
