"""Registry logins as `docker login` keeps them, for asking a registry over its HTTP API.

The Docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) holds, per
registry, a credential helper (`credHelpers`), else the default store (`credsStore`), else the
login itself (`auths`: base64 of `user:password`); the same order as the docker client. A
helper is the program `docker-credential-<name>`, asked with `get` and the registry on stdin.

A registry answers 401 with a challenge: `Basic` (the distribution registry with htpasswd) is
answered with the login; `Bearer realm=...,service=...,scope=...` (Docker Hub, cloud
registries, the distribution registry with token auth) by fetching a token from the realm with
the login, or anonymously without one. Credentials never appear in an error message.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# The key `docker login` stores Docker Hub's login under.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
TIMEOUT_SECONDS = 30


class LoginError(Exception):
    """The login could not be read, or the registry refused it."""


@dataclass(frozen=True)
class Login:
    username: str
    secret: str

    def basic(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()
        return f"Basic {token}"


def docker_config_file() -> Path:
    directory = os.environ.get("DOCKER_CONFIG")
    return Path(directory) / "config.json" if directory else Path.home() / ".docker/config.json"


def _keys(registry: str) -> list[str]:
    """The keys the Docker config may hold `registry`'s login under."""
    if registry in DOCKER_HUB_HOSTS:
        return [DOCKER_HUB_KEY, *DOCKER_HUB_HOSTS]
    return [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]


def _from_helper(helper: str, registry: str) -> Login | None:
    program = f"docker-credential-{helper}"
    if shutil.which(program) is None:
        raise LoginError(
            f"{docker_config_file()} names the credential helper {helper!r} for {registry}, "
            f"but {program} is not on PATH"
        )
    server = DOCKER_HUB_KEY if registry in DOCKER_HUB_HOSTS else registry
    answer = subprocess.run(
        [program, "get"], input=server, capture_output=True, text=True, check=False
    )
    if answer.returncode != 0:
        if "credentials not found" in (answer.stdout + answer.stderr).lower():
            return None
        raise LoginError(f"{program} get {server} failed with exit code {answer.returncode}")
    try:
        found = json.loads(answer.stdout)
        return Login(str(found["Username"]), str(found["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise LoginError(f"{program} get {server} did not answer a login in JSON") from None


def login_for(registry: str) -> Login | None:
    """The login `docker login registry` saved, or None when there is none."""
    path = docker_config_file()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LoginError(f"cannot read the Docker config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise LoginError(f"the Docker config {path} is not a JSON object")
    helpers = config.get("credHelpers") or {}
    for key in _keys(registry):
        if isinstance(helpers, dict) and helpers.get(key):
            return _from_helper(str(helpers[key]), registry)
    if config.get("credsStore"):
        return _from_helper(str(config["credsStore"]), registry)
    auths = config.get("auths") or {}
    for key in _keys(registry):
        entry = auths.get(key) if isinstance(auths, dict) else None
        if isinstance(entry, dict) and entry.get("auth"):
            try:
                username, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise LoginError(
                    f"{path}: the login for {key} is not base64 of user:password"
                ) from None
            return Login(username, secret)
    return None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="r",service="s"` -> ("bearer", {"realm": "r", "service": "s"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {key.lower(): value for key, value in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


def authorization(registry: str, challenge: str) -> str:
    """The Authorization header that answers a registry's 401 `challenge`."""
    scheme, params = _challenge(challenge)
    login = login_for(registry)
    if scheme == "basic":
        if login is None:
            raise LoginError(f"{registry} asks for a login: run `docker login {registry}`")
        return login.basic()
    if scheme != "bearer" or "realm" not in params:
        raise LoginError(
            f"{registry} asks for an authentication this tool does not speak: {scheme}"
        )
    query = urllib.parse.urlencode(
        {key: params[key] for key in ("service", "scope") if key in params}
    )
    request = urllib.request.Request(f"{params['realm']}{'?' + query if query else ''}")
    if login is not None:
        request.add_header("Authorization", login.basic())
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        hint = f"; run `docker login {registry}`" if exc.code in (401, 403) else ""
        realm = params["realm"]
        raise LoginError(
            f"{registry}: the token service {realm} answered {exc.code} {exc.reason}{hint}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise LoginError(f"{registry}: no token from {params['realm']}: {exc}") from None
    token = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
    if not token:
        raise LoginError(f"{registry}: the token service {params['realm']} gave no token")
    return f"Bearer {token}"
