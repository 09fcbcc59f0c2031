"""Files of the fake site: uploads, file records (info, classification, tags) and downloads,
and `POST /api/lookup`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fake_flywheel.gears_jobs import GearAndJobRoutes
from fake_flywheel.store import (
    JSON,
    ApiError,
    RecordedRequest,
    apply_classification_delta,
    apply_info_delta,
    not_served,
    now,
)


class FileRoutes(GearAndJobRoutes):
    """`/api/<containers>/<id>/files...` and `/api/lookup`."""

    def _upload(self, container: JSON, request: RecordedRequest) -> tuple[HTTPStatus, Any]:
        """Files uploaded to a container (or an analysis's outputs): added, or replaced."""
        body = request.body
        if not isinstance(body, dict) or not body.get("files"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "expected a multipart upload with a file")
        files: list[JSON] = container.setdefault("files", [])
        uploaded = []
        for upload in body["files"]:
            name = upload["name"]
            entry = {
                "name": name,
                "size": len(upload["content"]),
                "type": None,
                "modality": None,
                "classification": {},
                "info": {},
                "tags": [],
                "file_id": self.new_id(),
                "created": now(),
                "modified": now(),
            }
            container["files"] = files = [f for f in files if f["name"] != name] + [entry]
            self.file_contents[(container["_id"], name)] = upload["content"]
            uploaded.append(entry)
        return HTTPStatus.OK, uploaded

    def _modify_file(
        self, method: str, container: JSON, name: str, rest: list[str], request: RecordedRequest
    ) -> tuple[HTTPStatus, Any]:
        """A file's fields (PUT), info and classification (PATCH), or its removal (DELETE)."""
        entries = [f for f in container.get("files", []) if f["name"] == name]
        if not entries:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no file {name} in {container['_id']}")
        entry = entries[0]
        if not rest and method == "DELETE":
            container["files"].remove(entry)
            self.file_contents.pop((container["_id"], name), None)
            return HTTPStatus.OK, {"deleted": 1}
        if not rest and method == "PUT" and isinstance(request.body, dict):
            entry.update(request.body)
        elif rest == ["info"] and method in ("PATCH", "POST", "PUT"):
            entry["info"] = apply_info_delta(entry.get("info", {}), request.body)
        elif rest == ["classification"] and method in ("PATCH", "POST", "PUT"):
            delta = request.body
            entry["classification"] = apply_classification_delta(
                entry.get("classification", {}), delta
            )
            if isinstance(delta, dict) and "modality" in delta:
                entry["modality"] = delta["modality"]
        else:
            raise not_served(method, request.path)
        entry["modified"] = now()
        return HTTPStatus.OK, {"modified": 1}

    def _file(self, container: JSON, name: str, rest: list[str]) -> tuple[HTTPStatus, Any]:
        entries = [f for f in container.get("files", []) if f["name"] == name]
        if not entries:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no file {name} in {container['_id']}")
        if rest == ["info"]:
            return HTTPStatus.OK, entries[0]
        if rest:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no such file endpoint {'/'.join(rest)}")
        return HTTPStatus.OK, self.file_contents.get((container["_id"], name), b"")

    def _lookup(self, body: Any) -> JSON:
        path = body.get("path") if isinstance(body, dict) else None
        if not isinstance(path, list) or not path:
            raise ApiError(HTTPStatus.BAD_REQUEST, "lookup needs a non-empty path list")
        if path[0] == "gears" and len(path) == 2:
            versions = self._gear_versions(path[1])
            if not versions:
                raise ApiError(HTTPStatus.NOT_FOUND, f"cannot resolve gears/{path[1]}")
            return {**versions[-1], "container_type": "gear"}
        group = self.items["groups"].get(path[0])
        if group is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no group {path[0]}")
        if len(path) == 1:
            return {**group, "container_type": "group"}
        # group/project/subject/session/acquisition, each by label, and then a file's name.
        levels = (
            ("projects", "project"),
            ("subjects", "subject"),
            ("sessions", "session"),
            ("acquisitions", "acquisition"),
        )
        found, kind = group, "group"
        for index, label in enumerate(path[1:], start=1):
            if index <= len(levels):
                collection, child_kind = levels[index - 1]
                children = self.find(collection, **{kind: found["_id"]})
                matches = [item for item in children if item.get("label") == label]
                if matches:
                    found, kind = matches[0], child_kind
                    continue
            files = [f for f in found.get("files", []) if f["name"] == label]
            if files and index == len(path) - 1:
                return {**files[0], "container_type": "file"}
            raise ApiError(HTTPStatus.NOT_FOUND, f"cannot resolve {'/'.join(path)}")
        return {**found, "container_type": kind}
