"""Gears (listing, registering versions), jobs (adding, their config.json, moving their state)
and analyses of the fake site."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fake_flywheel.store import (
    DESTINATION_LEVELS,
    GEAR_CATEGORIES,
    JOB_STATES,
    JSON,
    OPEN_JOB_STATES,
    ApiError,
    RecordedRequest,
    Store,
    creation_order,
    field_value,
    not_served,
    now,
)


class GearAndJobRoutes(Store):
    """`/api/gears`, `/api/jobs` and `/api/<containers>/<id>/analyses`."""

    def add_gear(self, manifest: JSON, category: str = "utility") -> JSON:
        """Registers a gear from its manifest (test set-up); returns the gear document."""
        return self.add("gears", {"gear": dict(manifest), "category": category})

    def add_job(self, body: JSON, *, state: str = "pending") -> str:
        """A job as `POST /jobs/add` makes it (test set-up); `body["gear"]` may name the gear
        (its latest version) instead of `gear_id`, and `body["_id"]` fix the job's id."""
        with self._lock:
            body = dict(body)
            if "gear" in body:
                name = str(body.pop("gear"))
                versions = self._gear_versions(name)
                if not versions:
                    raise ValueError(f"no gear named {name!r} on the fake site")
                body["gear_id"] = versions[-1]["_id"]
            job_id = self._add_job(body)
            wanted = body.get("_id")
            if wanted:
                job = self.items["jobs"].pop(job_id)
                job["_id"] = job_id = str(wanted)
                self.items["jobs"][job_id] = job
            self.set_job_state(job_id, state)
            return job_id

    def set_job_state(self, job_id: str, state: str) -> None:
        """Moves a job to any state (test set-up: what the site's engine would do)."""
        if state not in JOB_STATES:
            raise ValueError(f"unknown job state {state!r}")
        with self._lock:
            job = self._get("jobs", job_id)
            job["state"] = state
            job["modified"] = now()

    def add_analysis(
        self,
        level: str,
        container_id: str,
        gear_id: str,
        label: str,
        *,
        config: JSON | None = None,
        state: str = "complete",
        tags: tuple[str, ...] = (),
    ) -> tuple[str, str]:
        """An analysis with its job in `state` (test set-up); returns (analysis id, job id)."""
        with self._lock:
            body = {"gear_id": gear_id, "config": config or {}, "tags": list(tags)}
            analysis_id = self._add_analysis(
                f"{level}s", container_id, {"label": label, "job": body}
            )
            job_id = str(self.items["analyses"][analysis_id]["job"])
            self.set_job_state(job_id, state)
            return analysis_id, job_id

    def _gear_versions(self, name: str) -> list[JSON]:
        """Every version of the gear `name`, oldest first (by creation)."""
        versions = [g for g in self.items["gears"].values() if field_value(g, "gear.name") == name]
        return sorted(versions, key=creation_order)

    def _latest_gears(self, gears: list[JSON]) -> list[JSON]:
        latest: dict[Any, JSON] = {}
        for gear in sorted(gears, key=creation_order):
            latest[field_value(gear, "gear.name")] = gear
        return list(latest.values())

    def _gears(
        self, method: str, rest: list[str], request: RecordedRequest
    ) -> tuple[HTTPStatus, Any]:
        """`GET /gears` (latest version of each, or `all_versions=true`), `GET /gears/<id or
        name>`, and `POST /gears/<name>`: a new gear version, which the site refuses when that
        name and version exist."""
        if not rest and method == "GET":
            listed = self._list("gears", request.query)
            if request.query.get("all_versions", ["false"])[0].lower() != "true":
                listed = self._latest_gears(listed)
            return HTTPStatus.OK, listed
        if len(rest) == 1 and method == "GET":
            if rest[0] in self.items["gears"]:
                return HTTPStatus.OK, self.items["gears"][rest[0]]
            versions = self._gear_versions(rest[0])
            if not versions:
                raise ApiError(HTTPStatus.NOT_FOUND, f"gear {rest[0]} not found")
            return HTTPStatus.OK, versions[-1]
        if len(rest) == 1 and method == "POST":
            return HTTPStatus.OK, {"_id": self._add_gear_version(rest[0], request.body)}
        raise not_served(method, request.path)

    def _add_gear_version(self, name: str, body: Any) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("gear"), dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "a gear document needs a gear manifest")
        manifest = body["gear"]
        if manifest.get("name") != name:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f"gear name {manifest.get('name')!r} does not match the path's {name!r}",
            )
        version = manifest.get("version")
        if any(field_value(g, "gear.version") == version for g in self._gear_versions(name)):
            raise ApiError(HTTPStatus.CONFLICT, f"Gear {name} version {version} already exists")
        category = body.get("category")
        if category not in GEAR_CATEGORIES:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f"category {category!r} is not one of {', '.join(GEAR_CATEGORIES)}",
            )
        exchange = body.get("exchange") or {}
        if not isinstance(exchange, dict) or not exchange.get("rootfs-url"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "a gear document needs exchange.rootfs-url")
        document = {"gear": dict(manifest), "category": category, "exchange": dict(exchange)}
        return str(self.add("gears", document)["_id"])

    def _gear(self, gear_id: Any) -> JSON:
        if not isinstance(gear_id, str):
            raise ApiError(HTTPStatus.BAD_REQUEST, "a job needs a gear_id")
        return self._get("gears", gear_id)

    def _container_parents(self, level: str, container_id: str) -> JSON:
        if level not in DESTINATION_LEVELS:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"cannot run a job on a {level}")
        container = self._get(f"{level}s", container_id)
        return {**container.get("parents", {}), level: container_id}

    def _job_input(self, gear: JSON, name: str, ref: Any) -> JSON:
        """A job input as the site writes it into the job's config.json: a file input's
        container (`hierarchy`), `location` in the gear directory and file record (`object`),
        or an api-key input (the site adds the key only when the job runs)."""
        spec = (gear["gear"].get("inputs") or {}).get(name)
        if spec is None:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"gear {gear['gear']['name']} has no input {name}"
            )
        if spec.get("base") == "api-key":
            return {"base": "api-key"}
        if not isinstance(ref, dict) or not {"type", "id", "name"} <= set(ref):
            raise ApiError(HTTPStatus.BAD_REQUEST, f"input {name}: expected a file reference")
        collection = f"{ref['type']}s"
        if collection not in self.items:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"input {name}: unknown container {ref['type']}")
        container = self._get(collection, str(ref["id"]))
        entries = [f for f in container.get("files", []) if f["name"] == ref["name"]]
        if not entries:
            raise ApiError(
                HTTPStatus.NOT_FOUND, f"input {name}: no file {ref['name']} in {ref['id']}"
            )
        record = {
            key: entries[0].get(key)
            for key in ("type", "mimetype", "modality", "size", "file_id", "version")
        }
        for key, empty in (("classification", {}), ("info", {}), ("tags", [])):
            record[key] = entries[0].get(key) or empty
        return {
            "base": "file",
            "hierarchy": {"type": ref["type"], "id": ref["id"]},
            "location": {"name": ref["name"], "path": f"/flywheel/v0/input/{name}/{ref['name']}"},
            "object": record,
        }

    def _new_job(self, body: JSON, destination: JSON, parents: JSON) -> JSON:
        gear = self._gear(body.get("gear_id"))
        config = body.get("config") or {}
        inputs = body.get("inputs") or {}
        job_inputs = {name: self._job_input(gear, name, ref) for name, ref in inputs.items()}
        return self.add(
            "jobs",
            {
                "gear_id": gear["_id"],
                "gear_info": {
                    "id": gear["_id"],
                    "name": gear["gear"]["name"],
                    "version": gear["gear"]["version"],
                    "category": gear["category"],
                },
                "destination": destination,
                "inputs": {
                    name: ref for name, ref in inputs.items() if job_inputs[name]["base"] == "file"
                },
                "config": {"config": config, "inputs": job_inputs, "destination": destination},
                "tags": list(body.get("tags") or []),
                "state": "pending",
                "parents": parents,
                "attempt": 1,
            },
        )

    def _add_job(self, body: Any) -> str:
        if not isinstance(body, dict) or not isinstance(body.get("destination"), dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "a job needs a destination")
        destination = body["destination"]
        if self._gear(body.get("gear_id"))["category"] == "analysis":
            raise ApiError(HTTPStatus.BAD_REQUEST, "an analysis gear runs through an analysis")
        parents = self._container_parents(destination.get("type", ""), destination.get("id", ""))
        return str(self._new_job(body, destination, parents)["_id"])

    def _add_analysis(self, collection: str, container_id: str, body: Any) -> str:
        level = collection[:-1]
        parents = self._container_parents(level, container_id)
        if not isinstance(body, dict) or not body.get("label"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "an analysis needs a label")
        analysis_id = self.new_id()
        job_body = body.get("job")
        job = None
        if isinstance(job_body, dict):
            destination = {"type": "analysis", "id": analysis_id}
            job = self._new_job(job_body, destination, {**parents, "analysis": analysis_id})
        self.add(
            "analyses",
            {
                "_id": analysis_id,
                "label": body["label"],
                "parent": {"type": level, "id": container_id},
                "parents": parents,
                "gear_info": job["gear_info"] if job else None,
                "job": job["_id"] if job else None,
                "files": [],
            },
        )
        return analysis_id

    def _modify_job(self, job_id: str, body: Any) -> JSON:
        """Changes a pending or running job; answers like the API ({"modified": 1})."""
        job = self._get("jobs", job_id)
        if job["state"] not in OPEN_JOB_STATES:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"job {job_id} is {job['state']} and cannot be changed"
            )
        state = (body or {}).get("state")
        if state is not None and state not in JOB_STATES:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"unknown job state {state!r}")
        job.update(body or {})
        job["modified"] = now()
        return {"modified": 1}
