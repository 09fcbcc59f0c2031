"""A Flywheel job, downloaded to replay it locally: its gear, config, destination and inputs.

`download_job` reads the job from the site with flywheel-sdk (only reads: nothing is written
to the site) into a job directory:

    job.json                   the job's id, site, gear name and version, state, destination
                               and the config.json the site wrote for it
    files/<input>/<file name>  each file input, as downloaded

`load_job` reads a job directory back, so a job is rerun offline once downloaded.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gear_common.api_errors import describe_api_error
from gear_common.input_files import load_json_input

JOB_RECORD = "job.json"
FILES_DIR = "files"
FORMAT = 1


class JobReplayError(Exception):
    """The job cannot be read from the site or from its job directory."""


@dataclass(frozen=True)
class ReplayJob:
    """What a local run of a site's job needs, read from the site or from a job directory."""

    job_id: str
    site: str
    gear_name: str
    gear_version: str
    state: str
    config: dict[str, Any]
    destination: dict[str, str]
    inputs: dict[str, Path]
    input_objects: dict[str, dict[str, Any]]
    input_parents: dict[str, dict[str, str]]


def site_of(api_key: str) -> str:
    """The site an API key names (`host[:port]`), without the secret part."""
    parts = api_key.split(":")
    if len(parts) < 2:
        return "(the site of the API key)"
    host = parts[0]
    return f"{host}:{parts[1]}" if parts[1].isdigit() else host


def _job_config(client: Any, job_id: str) -> dict[str, Any]:
    """The config.json the site wrote for the job (`GET /jobs/<id>/config.json`), as sent."""
    data = client.api_client.call_api(
        "/jobs/{job_id}/config.json",
        "GET",
        path_params={"job_id": job_id},
        header_params={"Accept": "application/json"},
        response_type="object",
        auth_settings=["ApiKey"],
        _return_http_data_only=True,
        _preload_content=True,
    )
    if not isinstance(data, dict) or not isinstance(data.get("inputs", {}), dict):
        raise JobReplayError(f"job {job_id}: the site's config.json is not a JSON object")
    return data


def _api_call(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:
        line = describe_api_error(exc)
        if line is None:
            raise
        if getattr(exc, "status", None) == 404:
            raise JobReplayError(f"{what}: not found on the site ({line})") from None
        raise JobReplayError(f"{what}: {line}") from None


def _download(client: Any, name: str, parent: dict[str, Any], file_name: str, target: Path) -> None:
    _api_call(
        f"input {name} ({file_name} in {parent.get('type')} {parent['id']})",
        lambda: client.download_file_from_container(parent["id"], file_name, str(target)),
    )


def download_job(
    client: Any, job_id: str, job_dir: Path, *, site: str, progress: Callable[[str], None]
) -> ReplayJob:
    """Reads the job and downloads its input files into `job_dir` (replaced only when the
    whole download succeeded); returns the job."""
    job = _api_call(f"job {job_id}", lambda: client.get_job(job_id))
    config = _api_call(f"job {job_id} config.json", lambda: _job_config(client, job_id))
    gear_info = getattr(job, "gear_info", None)
    record = {
        "format": FORMAT,
        "job_id": job_id,
        "site": site,
        "gear": {
            "name": getattr(gear_info, "name", None),
            "version": getattr(gear_info, "version", None),
        },
        "state": str(getattr(job, "state", "") or ""),
        "config_json": config,
    }
    job_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".job-", dir=job_dir.parent))
    try:
        for name, entry in sorted(config.get("inputs", {}).items()):
            if not isinstance(entry, dict) or entry.get("base") != "file":
                continue
            parent = entry.get("hierarchy") or {}
            file_name = (entry.get("location") or {}).get("name")
            if not parent.get("id") or not file_name or "/" in file_name:
                raise JobReplayError(
                    f"job {job_id}: input {name} names no file (hierarchy and location.name "
                    "expected in its config.json entry)"
                )
            target = staging / FILES_DIR / name / file_name
            target.parent.mkdir(parents=True)
            size = (entry.get("object") or {}).get("size")
            progress(f"downloading input {name}: {file_name} ({size or '?'} bytes)")
            _download(client, name, parent, file_name, target)
        (staging / JOB_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if job_dir.exists():
            shutil.rmtree(job_dir)
        staging.rename(job_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_job(job_dir)


def load_job(job_dir: Path) -> ReplayJob:
    """The job a job directory holds (see the module doc)."""
    record_path = job_dir / JOB_RECORD
    if not record_path.is_file():
        raise JobReplayError(f"{job_dir} holds no downloaded job ({JOB_RECORD} is missing)")
    record = load_json_input(record_path)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise JobReplayError(f"{record_path}: not a job record of format {FORMAT}")
    config_json = record.get("config_json") or {}
    inputs: dict[str, Path] = {}
    objects: dict[str, dict[str, Any]] = {}
    parents: dict[str, dict[str, str]] = {}
    for name, entry in sorted((config_json.get("inputs") or {}).items()):
        if not isinstance(entry, dict) or entry.get("base") != "file":
            continue
        path = job_dir / FILES_DIR / name / entry["location"]["name"]
        if not path.is_file():
            raise JobReplayError(f"{path}: input {name}'s file is missing from the job directory")
        inputs[name] = path
        objects[name] = dict(entry.get("object") or {})
        hierarchy = entry.get("hierarchy") or {}
        parents[name] = {"type": str(hierarchy.get("type")), "id": str(hierarchy.get("id"))}
    gear = record.get("gear") or {}
    return ReplayJob(
        job_id=str(record.get("job_id")),
        site=str(record.get("site")),
        gear_name=str(gear.get("name")),
        gear_version=str(gear.get("version")),
        state=str(record.get("state")),
        config=dict(config_json.get("config") or {}),
        destination={k: str(v) for k, v in (config_json.get("destination") or {}).items()},
        inputs=inputs,
        input_objects=objects,
        input_parents=parents,
    )
