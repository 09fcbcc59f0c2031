"""Reading YAML input files (safe loading only) with errors that name file, document and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gear_common.errors import GearInputError


def load_yaml_documents(path: Path) -> list[Any]:
    """All documents of a YAML file (`---`-separated), in order; empty documents are dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GearInputError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise GearInputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    documents: list[Any] = []
    try:
        for document in yaml.safe_load_all(text):
            documents.append(document)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise GearInputError(f"{path}: document {len(documents) + 1}: {problem}{where}") from None
    except yaml.YAMLError as exc:
        raise GearInputError(f"{path}: document {len(documents) + 1}: {exc}") from None
    return [document for document in documents if document is not None]
