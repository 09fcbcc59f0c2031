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

The site is split by resource: fake_flywheel.store (state), .gears_jobs, .files and
.containers (the routes of each); this module serves them over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fake_flywheel.containers import ContainerRoutes
from fake_flywheel.store import (
    CONTAINERS,
    ApiError,
    Fault,
    RecordedRequest,
    form_data,
    not_served,
    sdk_version,
)

__all__ = ["ApiError", "FakeFlywheel", "Fault", "RecordedRequest"]


class FakeFlywheel(ContainerRoutes):
    """The fake server and its state. Use as a context manager, or `start()`/`stop()`."""

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

    # --- HTTP ----------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        body: Any
        try:
            if content_type.startswith("multipart/form-data"):
                body = form_data(content_type, raw)
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
        except Exception as exc:  # a bug here: the client gets the reason, not a dropped connection
            traceback.print_exc()
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            message = (
                f"the fake Flywheel API failed on {request.method} {request.path}: "
                f"{type(exc).__name__}: {exc}"
            )
            payload = {"status": int(status), "message": message}
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
            raise not_served(request.method, request.path)
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
            return HTTPStatus.OK, {"release": sdk_version(), "flywheel_release": sdk_version()}
        if parts == ["users", "self"]:
            return HTTPStatus.OK, self.current_user
        if parts == ["modalities"] and method == "GET":
            # The site's modalities and their classifications, as a test adds them.
            return HTTPStatus.OK, self.find("modalities")
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
        raise not_served(request.method, request.path)
