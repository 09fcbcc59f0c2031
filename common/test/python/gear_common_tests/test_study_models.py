from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gear_common.errors import GearInputError
from gear_common.study_models import StudyType, parse_studies

SOURCE = Path("studies.yaml")


def study(**changes: Any) -> dict[str, Any]:
    return {
        "study": "S",
        "study-id": "s",
        "centers": [{"center-id": "c1"}],
        "datatypes": ["form"],
        **changes,
    }


def test_defaults() -> None:
    (parsed,) = parse_studies([study()], source=SOURCE)
    assert parsed.study_type is StudyType.PRIMARY
    assert parsed.published is False
    center = parsed.centers[0]
    assert (center.active, center.new, center.group_label) == (True, False, "c1")


def test_every_error_in_every_document_is_listed() -> None:
    documents = [
        study(centers=[{"center-id": "Bad Id"}], colour="red"),
        "just a string",
        study(),
        study(),
    ]
    with pytest.raises(GearInputError) as error:
        parse_studies(documents, source=SOURCE)
    message = str(error.value)
    assert message.startswith("studies.yaml: 4 problem(s):")
    assert "document 1: centers[0].center-id is 'Bad Id' (str): String should match" in message
    assert "document 1: colour is not a known field" in message
    assert "document 2 is 'just a string' (str): Input should be a valid dictionary" in message
    assert "study-id 's' appears in more than one document" in message


def test_duplicate_centers_and_bad_datatypes() -> None:
    documents = [study(centers=[{"center-id": "c1"}, {"center-id": "c1"}], datatypes=["a b"])]
    with pytest.raises(GearInputError) as error:
        parse_studies(documents, source=SOURCE)
    assert "centers listed more than once: c1" in str(error.value)


def test_empty_file_is_an_error() -> None:
    with pytest.raises(GearInputError, match="no study documents"):
        parse_studies([], source=SOURCE)
