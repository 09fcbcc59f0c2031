"""The fake site's state: its collections of containers, files, gears and jobs, the requests
it served and the faults to inject, and the reads and writes every resource shares."""

from __future__ import annotations

import email.policy
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from email.parser import BytesParser
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from itertools import count
from typing import Any

from flywheel.flywheel import SDK_VERSION

JSON = dict[str, Any]

# Collections addressed as /api/<name>[/<id>]; the value is the parent field of each item.
CONTAINERS = {
    "groups": None,
    "projects": "group",
    "subjects": "project",
    "sessions": "subject",
    "acquisitions": "session",
    "analyses": None,
    "jobs": None,
    "gears": None,
    "roles": None,
    "users": None,
}
# The `container_type` the API gives each kind of container.
CONTAINER_TYPES = {
    "groups": "group",
    "projects": "project",
    "subjects": "subject",
    "sessions": "session",
    "acquisitions": "acquisition",
    "analyses": "analysis",
}
# The collection of each container type (a new container's parent field names its type).
COLLECTIONS = {kind: collection for collection, kind in CONTAINER_TYPES.items()}
# Containers a job or analysis can be attached to, deepest first.
DESTINATION_LEVELS = ("acquisition", "session", "subject", "project")
# The categories a site accepts for a gear (flywheel.models.GearCategory).
GEAR_CATEGORIES = ("analysis", "converter", "utility", "classifier", "qa")
JOB_STATES = ("pending", "running", "complete", "failed", "cancelled")
OPEN_JOB_STATES = frozenset({"pending", "running"})
MUTATING_METHODS = frozenset({"POST", "PUT", "DELETE"})
# POST endpoints that only read.
READ_ONLY_POSTS = frozenset({"/api/lookup"})


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING_METHODS and self.path not in READ_ONLY_POSTS


@dataclass
class Fault:
    """Fails (or delays) the `nth` request (1-based) whose method and path match."""

    method: str
    path_pattern: str
    nth: int = 1
    status: int = 500
    delay: float = 0.0
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path_pattern, path) is not None


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_served(method: str, path: str) -> ApiError:
    """An endpoint the fake does not serve: 501, so it does not read as a missing object."""
    return ApiError(
        HTTPStatus.NOT_IMPLEMENTED,
        f"the fake Flywheel API does not implement {method} {path} (see docs/testing.md "
        "for what it serves)",
    )


def form_data(content_type: str, raw: bytes) -> JSON:
    """A multipart/form-data upload: {"files": [{"name", "content"}], "fields": {...}}."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    files: list[JSON] = []
    fields: JSON = {}
    for part in message.iter_parts():
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        if filename:
            files.append({"name": filename, "content": content})
        else:
            fields[str(part.get_param("name", header="content-disposition"))] = content.decode()
    return {"files": files, "fields": fields}


def apply_info_delta(info: JSON, delta: Any) -> JSON:
    """`{"set": {...}}`, `{"replace": {...}}` and `{"delete": [keys]}`, as the API takes them."""
    if not isinstance(delta, dict) or not {"set", "replace", "delete"} & set(delta):
        raise ApiError(HTTPStatus.BAD_REQUEST, "expected an info update: set, replace or delete")
    if "replace" in delta:
        info = dict(delta["replace"])
    info = {**info, **delta.get("set", {})}
    for key in delta.get("delete", []):
        info.pop(key, None)
    return info


def apply_classification_delta(classification: JSON, delta: Any) -> JSON:
    """`{"add": {k: [v]}}`, `{"delete": {k: [v]}}` and `{"replace": {k: [v]}}`."""
    if not isinstance(delta, dict):
        raise ApiError(HTTPStatus.BAD_REQUEST, "expected a classification update")
    result = {key: list(values) for key, values in classification.items()}
    if "replace" in delta:
        result = {key: list(values) for key, values in delta["replace"].items()}
    for key, values in delta.get("add", {}).items():
        result[key] = [*result.get(key, []), *(v for v in values if v not in result.get(key, []))]
    for key, values in delta.get("delete", {}).items():
        result[key] = [v for v in result.get(key, []) if v not in values]
    return result


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def sdk_version() -> str:
    """The installed SDK's version, so the client's version check passes quietly."""
    return str(SDK_VERSION)


def field_value(item: JSON, dotted: str) -> Any:
    """The value at a dotted path; through a list of objects it is the list of their values."""
    value: Any = item
    for part in dotted.split("."):
        key = "_id" if part == "id" else part
        if isinstance(value, list):
            value = [entry.get(key) for entry in value if isinstance(entry, dict)]
        elif isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def matches_filter(item: JSON, filter_text: str) -> bool:
    """Flywheel filter strings: comma-separated `key=value`, `key!=value`, `key=~regex`."""
    for clause in filter(None, (part.strip() for part in filter_text.split(","))):
        match = re.fullmatch(r"([\w.\-]+)\s*(!=|=~|=)\s*(.*)", clause)
        if not match:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"unsupported filter clause {clause!r}")
        key, operator, expected = match.groups()
        expected = expected.strip().strip('"')
        actual = field_value(item, key)
        values = [str(v) for v in actual] if isinstance(actual, list) else [str(actual)]
        if operator == "=" and expected not in values:
            return False
        if operator == "!=" and expected in values:
            return False
        if operator == "=~" and not any(re.search(expected, v) for v in values):
            return False
    return True


def creation_order(item: JSON) -> tuple[str, str]:
    return str(item["created"]), str(item["_id"])


class Store:
    """The site's state (the base of FakeFlywheel; see fake_flywheel.server)."""

    def __init__(self, api_key_secret: str = "fake-key", port: int = 0) -> None:
        self.api_key_secret = api_key_secret
        self.requested_port = port
        # Containers, and the site's modalities (GET /api/modalities).
        self.items: dict[str, dict[str, JSON]] = {name: {} for name in (*CONTAINERS, "modalities")}
        self.rules: dict[str, dict[str, JSON]] = {}
        self.file_contents: dict[tuple[str, str], bytes] = {}
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        # Seconds every request waits before it is answered (to model a remote site).
        self.latency = 0.0
        self._ids = count(1)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.current_user: JSON = {
            "_id": "admin@example.org",
            "firstname": "Ada",
            "lastname": "Admin",
            "email": "admin@example.org",
        }
        self.add("users", dict(self.current_user))
        for label in ("admin", "read-write", "read-only"):
            self.add("roles", {"label": label, "_id": f"role-{label}"})

    def new_id(self) -> str:
        return f"{next(self._ids):024x}"

    def add(self, collection: str, item: JSON) -> JSON:
        """Adds an item directly (test set-up); returns it with its id and timestamps."""
        with self._lock:
            item = dict(item)
            item.setdefault("_id", self.new_id())
            item.setdefault("created", now())
            item.setdefault("modified", item["created"])
            if collection in ("groups", "projects"):
                item.setdefault("permissions", [])
            parent_field = CONTAINERS.get(collection)
            parent_id = item.get(parent_field) if parent_field else None
            if isinstance(parent_id, str) and "parents" not in item:
                parent = self.items[f"{parent_field}s"].get(parent_id, {})
                item["parents"] = {**parent.get("parents", {}), str(parent_field): parent_id}
            self.items[collection][item["_id"]] = item
            return item

    def add_file(
        self, collection: str, container_id: str, name: str, content: bytes, **fields: Any
    ) -> JSON:
        """Attaches a file to a container (test set-up); its bytes are served for download."""
        with self._lock:
            container = self._get(collection, container_id)
            entry = {
                "name": name,
                "size": len(content),
                "file_id": self.new_id(),
                "type": fields.pop("type", None),
                "created": now(),
                "modified": now(),
                **fields,
            }
            files = container.setdefault("files", [])
            files[:] = [f for f in files if f["name"] != name] + [entry]
            self.file_contents[(container_id, name)] = content
            return entry

    def find(self, collection: str, **fields: Any) -> list[JSON]:
        """Items of `collection` whose fields equal `fields` (dotted names allowed via __)."""
        with self._lock:
            return [
                item
                for item in self.items[collection].values()
                if all(field_value(item, k.replace("__", ".")) == v for k, v in fields.items())
            ]

    def mutating_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.mutating]

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def inject(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    @contextmanager
    def fault(self, method: str, path_pattern: str, **kwargs: Any) -> Iterator[Fault]:
        fault = self.inject(Fault(method, path_pattern, **kwargs))
        try:
            yield fault
        finally:
            self.faults.remove(fault)

    def _get(self, collection: str, item_id: str) -> JSON:
        item = self.items[collection].get(item_id)
        if item is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"{collection[:-1]} {item_id} not found")
        return item

    def _list(
        self, collection: str, query: dict[str, list[str]], scope: JSON | None = None
    ) -> list[JSON]:
        items = list(self.items[collection].values())
        for key, value in (scope or {}).items():
            items = [item for item in items if field_value(item, key) == value]
        items.sort(key=lambda item: str(item["_id"]))
        for filter_text in query.get("filter", []):
            items = [item for item in items if matches_filter(item, filter_text)]
        if "after_id" in query:
            after = query["after_id"][0]
            items = [item for item in items if str(item["_id"]) > after]
        if "limit" in query:
            items = items[: int(query["limit"][0])]
        return [self._render(collection, item, listed=True) for item in items]

    def _render(self, collection: str, item: JSON, *, listed: bool = False) -> JSON:
        """An item as the API returns it: a container says its `container_type` (the SDK picks
        the class it returns by it); a session embeds its subject (id and label); a job lists its
        input files by name (`GET /jobs/<id>`), or as a list in listings."""
        if collection == "jobs" and listed and isinstance(item.get("inputs"), dict):
            inputs = [{"input": name, **ref} for name, ref in item["inputs"].items()]
            return {**item, "inputs": inputs}
        if collection in CONTAINER_TYPES:
            item = {**item, "container_type": CONTAINER_TYPES[collection]}
        if collection == "sessions" and isinstance(item.get("subject"), str):
            subject = self.items["subjects"].get(item["subject"], {})
            return {**item, "subject": {"_id": item["subject"], "label": subject.get("label")}}
        return item

    def _parent_id(
        self, collection: str, item: JSON, parent_field: str, parent_collection: str
    ) -> Any:
        """The parent a new container names: an id, or (as the SDK sends a session's subject)
        an object with its `_id`; an object without one is a new subject of the session's
        project, made as the site makes it."""
        parent = item.get(parent_field)
        if not isinstance(parent, dict):
            return parent
        if parent.get("_id") or parent.get("id"):
            return parent.get("_id") or parent.get("id")
        if collection == "sessions" and item.get("project"):
            return self._create(parent_collection, {**parent, "project": item["project"]})
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"{collection[:-1]}'s {parent_field} is an object without an _id: {parent!r}",
        )

    def _create(self, collection: str, body: Any) -> str:
        if not isinstance(body, dict):
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"expected a JSON object to create a {collection[:-1]}"
            )
        item = dict(body)
        if collection == "groups":
            group_id = item.get("_id") or item.get("id")
            if not group_id or group_id in self.items["groups"]:
                raise ApiError(HTTPStatus.CONFLICT, f"group {group_id!r} exists or has no id")
            item["_id"] = group_id
            item.pop("id", None)
        parent_field = CONTAINERS[collection]
        if parent_field:
            parent_collection = COLLECTIONS[parent_field]
            parent_id = self._parent_id(collection, item, parent_field, parent_collection)
            item[parent_field] = parent_id
            if not parent_id:
                raise ApiError(HTTPStatus.BAD_REQUEST, f"{collection[:-1]} needs a {parent_field}")
            parent = self._get(parent_collection, parent_id)
            item["parents"] = {**parent.get("parents", {}), parent_field: parent_id}
            if collection == "projects":
                labels = [p["label"] for p in self.find("projects", group=parent_id)]
                if item.get("label") in labels:
                    raise ApiError(
                        HTTPStatus.CONFLICT, f"project {item.get('label')!r} exists in {parent_id}"
                    )
        return str(self.add(collection, item)["_id"])
