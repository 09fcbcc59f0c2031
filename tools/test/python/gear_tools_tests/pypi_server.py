"""A package index on 127.0.0.1 that answers PyPI's JSON API from given documents."""

from __future__ import annotations

import html
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def release_files(
    version: str,
    *wheel_tags: str,
    sdist: bool = True,
    python: str = "",
    uploaded: str = "",
    project: str = "demo",
) -> list[dict[str, Any]]:
    """A release's files: a wheel per tag (`cp311-cp311-manylinux_2_17_x86_64`) and an sdist,
    each with `requires_python` (`python`) and, if given, its upload time (`uploaded`); named
    after `project` (files of the same name and version are one project's)."""
    files = [
        {
            "filename": f"{project}-{version}-{tag}.whl",
            "packagetype": "bdist_wheel",
            "yanked": False,
            "requires_python": python or None,
            "upload_time_iso_8601": uploaded or None,
            # Relative to the index (PyPI's are absolute); its core metadata at `<url>.metadata`.
            "url": f"/files/{version}/{project}-{version}-{tag}.whl",
        }
        for tag in wheel_tags
    ]
    if sdist:
        files.append(
            {
                "filename": f"{project}-{version}.tar.gz",
                "packagetype": "sdist",
                "requires_python": python or None,
            }
        )
    return files


def _core_metadata(project: dict[str, Any], version: str) -> str:
    """A release's core metadata: its name, version and `requires`."""
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in project.get("requires", {}).get(version, [])]
    return "\n".join(lines) + "\n"


def _wheel_name(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


def _named_files(name: str, project: dict[str, Any]) -> dict[str, Any]:
    """The project with its files named after it (release_files names them `demo` unless
    told), as pip expects of an index."""
    releases = {
        version: [
            {
                **f,
                "filename": f["filename"].replace("demo-", f"{_wheel_name(name)}-", 1),
                **(
                    {"url": f["url"].replace("demo-", f"{_wheel_name(name)}-")}
                    if "url" in f
                    else {}
                ),
            }
            if f["filename"].startswith("demo-")
            else f
            for f in files
        ]
        for version, files in project["releases"].items()
    }
    return {**project, "releases": releases}


@contextmanager
def pypi_server(projects: dict[str, dict[str, Any]]) -> Iterator[str]:
    """Serves /pypi/<project>/json and each wheel's core metadata (PEP 658,
    /files/<version>/<wheel>.metadata, for the project named in the request's Referer-free
    lookup below); yields its URL.

    `projects` maps a project to {"releases": {version: files}, "requires": {version: [...]},
    "modules": {path: text}} (the content of each of its wheels; "modules_by_version":
    {version: {path: text}} for a release's own).
    """

    projects = {name: _named_files(name, project) for name, project in projects.items()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = self.path.strip("/").split("/")
            if parts[0] == "files" and self.path.endswith(".whl"):
                self._wheel(parts[1], parts[2])
                return
            if parts[0] == "files" and self.path.endswith(".metadata"):
                self._metadata(parts[1], parts[2].removesuffix(".metadata"))
                return
            if len(parts) == 2 and parts[0] == "simple":
                self._simple(parts[1])
                return
            document = None
            if len(parts) == 3 and parts[0] == "pypi" and parts[-1] == "json":
                project = projects.get(parts[1])
                if project is not None:
                    document = {"info": {"name": parts[1]}, "releases": project["releases"]}
            body = json.dumps(document or {"message": "Not Found"}).encode()
            self.send_response(200 if document else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _project_of(self, version: str, wheel: str) -> dict[str, Any] | None:
            """The project whose release `version` has the file `wheel`."""
            for name, project in projects.items():
                if any(f["filename"] == wheel for f in project["releases"].get(version, [])):
                    return {"name": name, **project}
            return None

        def _simple(self, name: str) -> None:
            """The project's page of the simple repository API (PEP 503) for pip: a link to
            each wheel, with its Requires-Python and core metadata (PEP 658)."""
            wanted = re.sub(r"[-_.]+", "-", name).lower()
            found = next(
                (p for n, p in projects.items() if re.sub(r"[-_.]+", "-", n).lower() == wanted),
                None,
            )
            if found is None:
                self._send(None)
                return
            links = [
                f'<a href="{f["url"]}" data-dist-info-metadata="true" data-core-metadata="true"'
                f' data-requires-python="{html.escape(f.get("requires_python") or "")}">'
                f'{f["filename"]}</a>'
                for files in found["releases"].values()
                for f in files
                if f.get("url") and not f.get("yanked")
            ]
            body = "<!DOCTYPE html><html><body>\n" + "<br>\n".join(links) + "\n</body></html>\n"
            self._send(body.encode(), "text/html")

        def _send(self, body: bytes | None, content_type: str = "") -> None:
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _metadata(self, version: str, wheel: str) -> None:
            """The wheel's core metadata: its project's `requires` for the release."""
            project = self._project_of(version, wheel)
            self._send(None if project is None else _core_metadata(project, version).encode())

        def _wheel(self, version: str, wheel: str) -> None:
            """A wheel holding the release's modules ({path: text}) and its top_level.txt."""
            project = self._project_of(version, wheel)
            if project is None:
                self._send(None)
                return
            modules = project.get("modules_by_version", {}).get(version, project.get("modules", {}))
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for path, text in modules.items():
                    archive.writestr(path, text)
                top = sorted({path.split("/")[0].removesuffix(".py") for path in modules})
                info = f"{_wheel_name(project['name'])}-{version}.dist-info"
                archive.writestr(f"{info}/top_level.txt", "\n".join(top))
                # What pip needs to install it.
                archive.writestr(f"{info}/METADATA", _core_metadata(project, version))
                tag = wheel.removesuffix(".whl").split("-", 2)[2]
                archive.writestr(
                    f"{info}/WHEEL",
                    f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n",
                )
                record = [*modules, f"{info}/top_level.txt", f"{info}/METADATA", f"{info}/WHEEL"]
                archive.writestr(
                    f"{info}/RECORD",
                    "".join(f"{path},,\n" for path in record) + f"{info}/RECORD,,\n",
                )
            self._send(buffer.getvalue())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
