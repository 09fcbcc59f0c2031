"""What a finished job's `.metadata.json` must be for Flywheel to take it, checked locally.

Flywheel reads `output/.metadata.json` when a job ends and fails the job when it cannot apply
it: a document outside the engine's metadata schema (the one fw-gear ships), an entry for a
file the job did not write, or (since Flywheel 23) a classification its site does not have for
the file's modality. `bin/run-gear` and the image smoke cases check the same, naming the entry
that is wrong. Classifications are checked against a site's modalities (`GET /api/modalities`,
as `flywheel.Client.get_all_modalities()` returns them) when there is one to ask.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gear_common.metadata import DESTINATION_TYPES, METADATA_FILE, metadata_problems

# Free-form classification every modality accepts.
CUSTOM = "Custom"
# A site's modalities: modality -> classification key -> the values it allows.
Modalities = Mapping[str, Mapping[str, Sequence[str]]]


def site_modalities(client: Any) -> dict[str, dict[str, list[str]]]:
    """A site's modalities and their classifications, through the Flywheel SDK."""
    found: dict[str, dict[str, list[str]]] = {}
    for modality in client.get_all_modalities():
        classification = modality.classification or {}
        found[str(modality.id)] = {str(k): [str(v) for v in vs] for k, vs in classification.items()}
    return found


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON (Python's json writes it for a float that is not finite)")


def _file_entries(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`<container>.files[<i>]`, entry) for every file entry of the document."""
    for container in DESTINATION_TYPES:
        section = document.get(container)
        files = section.get("files") if isinstance(section, dict) else None
        for index, entry in enumerate(files if isinstance(files, list) else []):
            if isinstance(entry, dict):
                yield f"{container}.files[{index}]", entry


def _classification_problems(
    where: str, entry: dict[str, Any], modalities: Modalities
) -> Iterator[str]:
    classification = entry.get("classification")
    if not isinstance(classification, dict) or not classification:
        return
    modality = entry.get("modality")
    if modality is None:
        return  # What a site accepts without a modality is not checked here.
    if modality not in modalities:
        known = ", ".join(sorted(modalities)) or "none"
        yield (
            f"{where} ({entry.get('name')}) has modality {modality!r}, which the site has not "
            f"(it has: {known})"
        )
        return
    allowed = modalities[modality]
    for key, values in classification.items():
        if key == CUSTOM:
            continue
        if key not in allowed:
            known = ", ".join([*sorted(allowed), CUSTOM])
            yield (
                f"{where} ({entry.get('name')}): modality {modality} has no classification "
                f"{key!r} (it has: {known})"
            )
            continue
        for value in values if isinstance(values, list) else []:
            if value not in allowed[key]:
                shown = ", ".join(list(allowed[key])[:12])
                more = f" and {len(allowed[key]) - 12} more" if len(allowed[key]) > 12 else ""
                yield (
                    f"{where} ({entry.get('name')}): classification {key} {value!r} is not one "
                    f"modality {modality} allows ({shown}{more})"
                )


def metadata_failures(output_dir: Path, modalities: Modalities | None = None) -> list[str]:
    """Why Flywheel would refuse the job's `.metadata.json` (none when there is no file)."""
    path = output_dir / METADATA_FILE
    if not path.is_file():
        return []
    shown = f"output/{METADATA_FILE}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"), parse_constant=_not_json)
    except UnicodeDecodeError as exc:
        return [f"{shown}: not UTF-8 text (byte {exc.start})"]
    except json.JSONDecodeError as exc:
        return [f"{shown}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
    except ValueError as exc:
        return [f"{shown}: {exc}"]
    if not isinstance(document, dict):
        return [f"{shown}: expected a JSON object"]
    failures = [f"{shown}: {problem}" for problem in metadata_problems(document)]
    written = {p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*") if p.is_file()}
    for where, entry in _file_entries(document):
        name = entry.get("name")
        if isinstance(name, str) and name not in written:
            present = ", ".join(sorted(written - {METADATA_FILE})[:8]) or "no files"
            failures.append(
                f"{shown}: {where} names {name!r}, which the job did not write to output/ "
                f"(it wrote: {present})"
            )
        if modalities is not None:
            failures += [
                f"{shown}: {p}" for p in _classification_problems(where, entry, modalities)
            ]
    return failures
