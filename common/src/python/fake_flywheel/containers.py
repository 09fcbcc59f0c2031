"""Containers of the fake site (groups, projects, subjects, sessions, acquisitions, analyses):
reading, listing, creating and modifying them, their permissions, gear rules and tags."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fake_flywheel.files import FileRoutes
from fake_flywheel.store import (
    CONTAINERS,
    JSON,
    ApiError,
    RecordedRequest,
    apply_info_delta,
    not_served,
    now,
)


class ContainerRoutes(FileRoutes):
    """`/api/<containers>...` and `/api/containers/<id>...`."""

    def _container(
        self, method: str, parts: list[str], request: RecordedRequest
    ) -> tuple[HTTPStatus, Any]:
        collection, rest = parts[0], parts[1:]
        if not rest:
            if method == "GET":
                return HTTPStatus.OK, self._list(collection, request.query)
            if method == "POST":
                return HTTPStatus.OK, {"_id": self._create(collection, request.body)}
        elif len(rest) == 1:
            item = self._get(collection, rest[0])
            if method == "GET":
                return HTTPStatus.OK, self._render(collection, item)
            if method == "PUT":
                item.update(request.body or {})
                item["modified"] = now()
                return HTTPStatus.OK, {"modified": 1}
            if method == "DELETE":
                del self.items[collection][rest[0]]
                return HTTPStatus.OK, {"deleted": 1}
        elif rest[1] == "permissions" and collection in ("groups", "projects"):
            return self._permissions(method, self._get(collection, rest[0]), rest[2:], request)
        elif rest[1] == "tags":
            return self._tags(method, self._get(collection, rest[0]), rest[2:], request)
        elif rest[1] == "info" and len(rest) == 2 and method in ("PATCH", "POST", "PUT"):
            item = self._get(collection, rest[0])
            item["info"] = apply_info_delta(item.get("info", {}), request.body)
            item["modified"] = now()
            return HTTPStatus.OK, {"modified": 1}
        elif rest[1] == "files" and len(rest) == 2 and method == "POST":
            return self._upload(self._get(collection, rest[0]), request)
        elif rest[1] == "files" and len(rest) >= 3 and method != "GET":
            return self._modify_file(
                method, self._get(collection, rest[0]), rest[2], rest[3:], request
            )
        elif rest[1] == "files" and len(rest) >= 3 and method == "GET":
            return self._file(self._get(collection, rest[0]), rest[2], rest[3:])
        elif rest[1] == "rules" and collection == "projects":
            return self._rules(method, self._get(collection, rest[0]), rest[2:], request)
        elif rest[1] == "projects" and collection == "groups" and method == "GET":
            return HTTPStatus.OK, self.find("projects", group=rest[0])
        elif rest[1] in CONTAINERS and method == "GET" and CONTAINERS[rest[1]]:
            # e.g. /projects/<id>/subjects, /projects/<id>/sessions, /sessions/<id>/acquisitions
            scope = {f"parents.{collection[:-1]}": rest[0]}
            return HTTPStatus.OK, self._list(rest[1], request.query, scope)
        raise not_served(method, request.path)

    def _permissions(
        self, method: str, item: JSON, rest: list[str], request: RecordedRequest
    ) -> tuple[HTTPStatus, Any]:
        permissions: list[JSON] = item.setdefault("permissions", [])
        if not rest and method == "POST":
            entry = dict(request.body or {})
            if any(p["_id"] == entry.get("_id") for p in permissions):
                raise ApiError(HTTPStatus.CONFLICT, f"permission for {entry.get('_id')} exists")
            permissions.append(entry)
            return HTTPStatus.OK, entry
        if len(rest) == 1:
            matching = [p for p in permissions if p["_id"] == rest[0]]
            if not matching:
                raise ApiError(HTTPStatus.NOT_FOUND, f"no permission for {rest[0]}")
            if method == "GET":
                return HTTPStatus.OK, matching[0]
            if method == "PUT":
                matching[0].update(request.body or {})
                return HTTPStatus.OK, matching[0]
            if method == "DELETE":
                permissions.remove(matching[0])
                return HTTPStatus.OK, {"deleted": 1}
        raise not_served(method, request.path)

    def _rules(
        self, method: str, project: JSON, rest: list[str], request: RecordedRequest
    ) -> tuple[HTTPStatus, Any]:
        rules = self.rules.setdefault(project["_id"], {})
        if not rest and method == "GET":
            return HTTPStatus.OK, list(rules.values())
        if not rest and method == "POST":
            rule = {**(request.body or {}), "_id": self.new_id(), "project_id": project["_id"]}
            rules[rule["_id"]] = rule
            return HTTPStatus.OK, {"_id": rule["_id"]}
        if len(rest) == 1 and rest[0] in rules:
            if method == "GET":
                return HTTPStatus.OK, rules[rest[0]]
            if method == "DELETE":
                del rules[rest[0]]
                return HTTPStatus.OK, {"deleted": 1}
        raise not_served(method, request.path)

    def _tags(
        self, method: str, item: JSON, rest: list[str], request: RecordedRequest
    ) -> tuple[HTTPStatus, Any]:
        """Tags of any container: add one (POST) or many (PATCH), rename (PUT), delete."""
        tags: list[str] = item.setdefault("tags", [])
        body = request.body
        if not rest and method == "GET":
            return HTTPStatus.OK, tags
        if not rest and method in ("POST", "PATCH", "DELETE"):
            values = [body.get("value")] if isinstance(body, dict) else body
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                raise ApiError(HTTPStatus.BAD_REQUEST, "expected a tag value or a list of tags")
            if method == "DELETE":
                item["tags"] = [tag for tag in tags if tag not in values]
            else:
                item["tags"] = [*tags, *(v for v in dict.fromkeys(values) if v not in tags)]
            return HTTPStatus.OK, {"modified": 1}
        if len(rest) == 1:
            if rest[0] not in tags:
                raise ApiError(HTTPStatus.NOT_FOUND, f"no tag {rest[0]!r} on {item['_id']}")
            if method == "GET":
                return HTTPStatus.OK, {"value": rest[0]}
            if method == "DELETE":
                tags.remove(rest[0])
                return HTTPStatus.OK, {"modified": 1}
            if method == "PUT" and isinstance(body, dict) and body.get("value"):
                item["tags"] = [body["value"] if tag == rest[0] else tag for tag in tags]
                return HTTPStatus.OK, {"modified": 1}
        raise not_served(method, request.path)
