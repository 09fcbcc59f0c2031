"""Reading YAML input files (safe loading only) with errors that name file, document and line.

Loading is bounded (`gear_common.input_files`): the file's size, its number of documents, the
nesting depth, and the number of values counted with every alias expanded, so that a file of
a few lines whose aliases stand for millions of values (an "alias bomb") is refused while it
is parsed, before anything expands it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gear_common.errors import GearInputError
from gear_common.input_files import LIMITS, InputLimits, check_shape, read_input_text


class _LimitExceededError(Exception):
    """A limit of InputLimits was passed while composing the YAML (the message says which)."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting depth, aliases and values (aliases expanded) as it goes."""

    def __init__(self, stream: str, limits: InputLimits) -> None:
        super().__init__(stream)
        self.limits = limits
        self._depth = 0
        self._values = 0
        self._aliases = 0
        self._documents = 0
        # Values under each anchored node (what an alias to it stands for), by node identity.
        self._sizes: dict[int, int] = {}

    def _count(self, values: int) -> None:
        self._values += values
        if self._values > self.limits.max_values:
            raise _LimitExceededError(
                f"more than {self.limits.max_values:,} values (counting each alias as the "
                "values it stands for)"
            )

    def compose_document(self) -> Any:
        self._documents += 1
        if self._documents > self.limits.max_documents:
            raise _LimitExceededError(f"more than {self.limits.max_documents:,} documents")
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_aliases:
                raise _LimitExceededError(f"more than {self.limits.max_aliases:,} aliases")
            anchored = self.anchors.get(self.peek_event().anchor)  # type: ignore[no-untyped-call]
            if anchored is not None:
                self._count(self._sizes.get(id(anchored), 1))
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > self.limits.max_depth:
            raise _LimitExceededError(f"nested more than {self.limits.max_depth} levels deep")
        anchor = self.peek_event().anchor  # type: ignore[no-untyped-call]
        before = self._values
        self._count(1)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if anchor is not None:
            self._sizes[id(node)] = self._values - before
        return node


def load_yaml_documents(path: Path, *, limits: InputLimits = LIMITS) -> list[Any]:
    """All documents of a YAML file (`---`-separated), in order; empty documents are dropped."""
    text = read_input_text(path, limits=limits)
    loader = _BoundedLoader(text, limits)
    documents: list[Any] = []
    try:
        # PyYAML's own loop (yaml.load_all), with the loader made with its limits.
        while loader.check_data():  # type: ignore[no-untyped-call]
            documents.append(loader.get_data())
    except _LimitExceededError as exc:
        raise GearInputError(f"{path}: {exc}; refused (a limit of input files)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise GearInputError(f"{path}: document {len(documents) + 1}: {problem}{where}") from None
    except yaml.YAMLError as exc:
        raise GearInputError(f"{path}: document {len(documents) + 1}: {exc}") from None
    finally:
        loader.dispose()
    for document in documents:
        check_shape(document, source=path, limits=limits)
    return [document for document in documents if document is not None]
