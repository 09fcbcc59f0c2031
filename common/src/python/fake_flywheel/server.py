"""A stateful, in-memory stand-in for the Flywheel API, served over HTTP on 127.0.0.1.

The real `flywheel.Client` talks to it with an API key of the form
`127.0.0.1:<port>:__force_insecure:<key>`, so tests exercise real SDK calls, request bodies and
response parsing. It serves the endpoints the repository's code uses (auth status, current
user, version, groups, projects, subjects, sessions, acquisitions, analyses, files, jobs, gears
(listing, and registering a new version as `fw-beta gear upload` does, refused when that name
and version exist), a job's config.json (its inputs resolved to file records and parent
containers, as the site writes them), gear rules, roles, permissions and lookup), `find()`
filters and `after_id` paging, records every request, and can inject faults (a status code or a
delay on the Nth match) or a latency on every request. Jobs are created by `POST /jobs/add` or
with an analysis (`POST /<containers>/<id>/analyses`), start `pending`, and are moved on by
tests with `set_job_state` or by clients with `PUT /jobs/<id>` (only from pending or running,
as on a real site).
"""

from __future__ import annotations

import email.policy
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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


def _not_served(method: str, path: str) -> ApiError:
    """An endpoint the fake does not serve: 501, so it does not read as a missing object."""
    return ApiError(
        HTTPStatus.NOT_IMPLEMENTED,
        f"the fake Flywheel API does not implement {method} {path} (see docs/development.md "
        "for what it serves)",
    )


def _form_data(content_type: str, raw: bytes) -> JSON:
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


def _apply_info_delta(info: JSON, delta: Any) -> JSON:
    """`{"set": {...}}`, `{"replace": {...}}` and `{"delete": [keys]}`, as the API takes them."""
    if not isinstance(delta, dict) or not {"set", "replace", "delete"} & set(delta):
        raise ApiError(HTTPStatus.BAD_REQUEST, "expected an info update: set, replace or delete")
    if "replace" in delta:
        info = dict(delta["replace"])
    info = {**info, **delta.get("set", {})}
    for key in delta.get("delete", []):
        info.pop(key, None)
    return info


def _apply_classification_delta(classification: JSON, delta: Any) -> JSON:
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _sdk_version() -> str:
    """The installed SDK's version, so the client's version check passes quietly."""
    return str(SDK_VERSION)


def _field(item: JSON, dotted: str) -> Any:
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


def _matches_filter(item: JSON, filter_text: str) -> bool:
    """Flywheel filter strings: comma-separated `key=value`, `key!=value`, `key=~regex`."""
    for clause in filter(None, (part.strip() for part in filter_text.split(","))):
        match = re.fullmatch(r"([\w.\-]+)\s*(!=|=~|=)\s*(.*)", clause)
        if not match:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"unsupported filter clause {clause!r}")
        key, operator, expected = match.groups()
        expected = expected.strip().strip('"')
        actual = _field(item, key)
        values = [str(v) for v in actual] if isinstance(actual, list) else [str(actual)]
        if operator == "=" and expected not in values:
            return False
        if operator == "!=" and expected in values:
            return False
        if operator == "=~" and not any(re.search(expected, v) for v in values):
            return False
    return True


def _creation_order(item: JSON) -> tuple[str, str]:
    return str(item["created"]), str(item["_id"])


class FakeFlywheel:
    """The fake server and its state. Use as a context manager, or `start()`/`stop()`."""

    def __init__(self, api_key_secret: str = "fake-key", port: int = 0) -> None:
        self.api_key_secret = api_key_secret
        self.requested_port = port
        self.items: dict[str, dict[str, JSON]] = {name: {} for name in CONTAINERS}
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

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeFlywheel:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            # http.server dispatches to do_<METHOD>.
            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", self.requested_port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeFlywheel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the fake Flywheel is not started"
        return int(self._server.server_address[1])

    @property
    def api_key(self) -> str:
        """An API key that makes `flywheel.Client` talk plain HTTP to this server."""
        return f"127.0.0.1:{self.port}:__force_insecure:{self.api_key_secret}"

    # --- state ---------------------------------------------------------------------------

    def new_id(self) -> str:
        return f"{next(self._ids):024x}"

    def add(self, collection: str, item: JSON) -> JSON:
        """Adds an item directly (test set-up); returns it with its id and timestamps."""
        with self._lock:
            item = dict(item)
            item.setdefault("_id", self.new_id())
            item.setdefault("created", _now())
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
                "created": _now(),
                "modified": _now(),
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
                if all(_field(item, k.replace("__", ".")) == v for k, v in fields.items())
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

    # --- HTTP ----------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        body: Any
        try:
            if content_type.startswith("multipart/form-data"):
                body = _form_data(content_type, raw)
            else:
                body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        request = RecordedRequest(handler.command, url.path, parse_qs(url.query), body)
        with self._lock:
            self.requests.append(request)
            fault = self._matching_fault(request)
        delay = self.latency + (fault.delay if fault is not None else 0.0)
        if delay:
            time.sleep(delay)
        try:
            if fault is not None and fault.status:
                raise ApiError(HTTPStatus(fault.status), f"injected fault on {request.path}")
            self._check_key(handler.headers.get("Authorization", ""))
            with self._lock:
                status, payload = self._route(request)
        except ApiError as exc:
            status, payload = exc.status, {"status": int(exc.status), "message": exc.message}
        if isinstance(payload, bytes):
            data, content_type = payload, "application/octet-stream"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _matching_fault(self, request: RecordedRequest) -> Fault | None:
        for fault in self.faults:
            if fault.matches(request.method, request.path):
                fault.seen += 1
                if fault.seen == fault.nth:
                    return fault
        return None

    def _check_key(self, authorization: str) -> None:
        if not authorization.endswith(self.api_key_secret):
            raise ApiError(HTTPStatus.UNAUTHORIZED, "invalid API key")

    def _route(self, request: RecordedRequest) -> tuple[HTTPStatus, Any]:
        parts = [unquote(part) for part in request.path.split("/") if part]
        if not parts or parts[0] != "api":
            raise _not_served(request.method, request.path)
        parts = parts[1:]
        method = request.method
        if parts == ["auth", "status"]:
            return HTTPStatus.OK, {
                "origin": {"type": "user", "id": self.current_user["_id"]},
                "user_id": self.current_user["_id"],
                "user_is_admin": True,
                "is_device": False,
            }
        if parts == ["config"] and method == "GET":
            # No signed URLs: the SDK uploads files straight to the API.
            return HTTPStatus.OK, {"site": {"name": "fake"}, "features": {"signed_url": False}}
        if parts == ["version"]:
            return HTTPStatus.OK, {"release": _sdk_version(), "flywheel_release": _sdk_version()}
        if parts == ["users", "self"]:
            return HTTPStatus.OK, self.current_user
        if parts == ["lookup"] and method == "POST":
            return HTTPStatus.OK, self._lookup(request.body)
        if parts == ["jobs", "add"] and method == "POST":
            return HTTPStatus.OK, {"_id": self._add_job(request.body)}
        if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "config.json" and method == "GET":
            return HTTPStatus.OK, self._get("jobs", parts[1])["config"]
        if len(parts) == 2 and parts[0] == "jobs" and method == "PUT":
            return HTTPStatus.OK, self._modify_job(parts[1], request.body)
        if len(parts) == 3 and parts[2] == "analyses" and method == "POST":
            return HTTPStatus.OK, {"_id": self._add_analysis(parts[0], parts[1], request.body)}
        if parts and parts[0] == "gears" and len(parts) <= 2:
            return self._gears(method, parts[1:], request)
        if len(parts) >= 2 and parts[0] == "containers":
            found = [name for name, items in self.items.items() if parts[1] in items]
            if not found:
                raise ApiError(HTTPStatus.NOT_FOUND, f"no container {parts[1]}")
            return self._container(method, [found[0], *parts[1:]], request)
        if parts and parts[0] in CONTAINERS:
            return self._container(method, parts, request)
        raise _not_served(request.method, request.path)

    # --- gears, jobs and analyses ---------------------------------------------------------

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
            job["modified"] = _now()

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
        versions = [g for g in self.items["gears"].values() if _field(g, "gear.name") == name]
        return sorted(versions, key=_creation_order)

    def _latest_gears(self, gears: list[JSON]) -> list[JSON]:
        latest: dict[Any, JSON] = {}
        for gear in sorted(gears, key=_creation_order):
            latest[_field(gear, "gear.name")] = gear
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
        raise _not_served(method, request.path)

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
        if any(_field(g, "gear.version") == version for g in self._gear_versions(name)):
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
        job["modified"] = _now()
        return {"modified": 1}

    def _get(self, collection: str, item_id: str) -> JSON:
        item = self.items[collection].get(item_id)
        if item is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"{collection[:-1]} {item_id} not found")
        return item

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
                item["modified"] = _now()
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
            item["info"] = _apply_info_delta(item.get("info", {}), request.body)
            item["modified"] = _now()
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
        raise _not_served(method, request.path)

    def _list(
        self, collection: str, query: dict[str, list[str]], scope: JSON | None = None
    ) -> list[JSON]:
        items = list(self.items[collection].values())
        for key, value in (scope or {}).items():
            items = [item for item in items if _field(item, key) == value]
        items.sort(key=lambda item: str(item["_id"]))
        for filter_text in query.get("filter", []):
            items = [item for item in items if _matches_filter(item, filter_text)]
        if "after_id" in query:
            after = query["after_id"][0]
            items = [item for item in items if str(item["_id"]) > after]
        if "limit" in query:
            items = items[: int(query["limit"][0])]
        return [self._render(collection, item, listed=True) for item in items]

    def _render(self, collection: str, item: JSON, *, listed: bool = False) -> JSON:
        """An item as the API returns it: a session embeds its subject (id and label); a job
        lists its input files by name (`GET /jobs/<id>`), or as a list in listings."""
        if collection == "jobs" and listed and isinstance(item.get("inputs"), dict):
            inputs = [{"input": name, **ref} for name, ref in item["inputs"].items()]
            return {**item, "inputs": inputs}
        if collection == "sessions" and isinstance(item.get("subject"), str):
            subject = self.items["subjects"].get(item["subject"], {})
            return {**item, "subject": {"_id": item["subject"], "label": subject.get("label")}}
        return item

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
            parent_collection = {
                "group": "groups",
                "project": "projects",
                "subject": "subjects",
                "session": "sessions",
            }[parent_field]
            parent_id = item.get(parent_field)
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
        raise _not_served(method, request.path)

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
        raise _not_served(method, request.path)

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
        raise _not_served(method, request.path)

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
                "created": _now(),
                "modified": _now(),
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
            entry["info"] = _apply_info_delta(entry.get("info", {}), request.body)
        elif rest == ["classification"] and method in ("PATCH", "POST", "PUT"):
            delta = request.body
            entry["classification"] = _apply_classification_delta(
                entry.get("classification", {}), delta
            )
            if isinstance(delta, dict) and "modality" in delta:
                entry["modality"] = delta["modality"]
        else:
            raise _not_served(method, request.path)
        entry["modified"] = _now()
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
