"""Asking a registry that wants a login, with the login `docker login` saved: a real
distribution registry (Debian's docker-registry) with htpasswd authentication on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gear_tools_tests.registry_server import push_image, registry_server

from gear_tools.release import registry, registry_auth

LOGIN = ("ci-user", "not-a-real-password-8c1f")
FILES = {"bin/run": b"#!/bin/sh\necho hello\n"}


@pytest.fixture
def address(tmp_path: Path) -> Iterator[str]:
    with registry_server(tmp_path / "registry", login=LOGIN) as address:
        yield address


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "docker-config"
    directory.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    return directory / "config.json"


def image(address: str) -> registry.ImageName:
    return registry.ImageName(address, "flywheel-gears/demo", "0.1.0")


def saved_login(username: str, password: str) -> dict[str, str]:
    """An `auths` entry as `docker login` writes it without a credential store."""
    return {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_the_saved_login_is_used(address: str, docker_config: Path) -> None:
    pushed = push_image(address, "flywheel-gears/demo", "0.1.0", FILES, login=LOGIN)
    docker_config.write_text(json.dumps({"auths": {address: saved_login(*LOGIN)}}))
    assert registry.manifest_digest(image(address)) == pushed.manifest_digest
    assert registry.config_digest(image(address)) == pushed.config_digest
    assert registry.tags(address, "flywheel-gears/demo") == ["0.1.0"]


def test_no_login_says_to_log_in(address: str, docker_config: Path) -> None:
    with pytest.raises(registry.RegistryError) as raised:
        registry.manifest_digest(image(address))
    assert str(raised.value) == f"{address} asks for a login: run `docker login {address}`"


def test_a_wrong_password_is_refused_without_showing_it(address: str, docker_config: Path) -> None:
    docker_config.write_text(json.dumps({"auths": {address: saved_login(LOGIN[0], "wrong-9d2e")}}))
    with pytest.raises(registry.RegistryError) as raised:
        registry.manifest_digest(image(address))
    message = str(raised.value)
    assert "answered 401 Unauthorized" in message
    assert f"run `docker login {address}`" in message
    assert "wrong-9d2e" not in message
    assert base64.b64encode(b"ci-user:wrong-9d2e").decode() not in message


def write_helper(directory: Path, name: str, logins: dict[str, tuple[str, str]]) -> None:
    """A credential helper speaking the docker-credential protocol: `get`, server on stdin."""
    directory.mkdir(exist_ok=True)
    helper = directory / f"docker-credential-{name}"
    answers = {server: {"Username": u, "Secret": s} for server, (u, s) in logins.items()}
    helper.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"answers = {answers!r}\n"
        "assert sys.argv[1:] == ['get']\n"
        "server = sys.stdin.read().strip()\n"
        "if server not in answers:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps(answers[server]))\n"
    )
    helper.chmod(0o755)


@pytest.mark.parametrize("setting", ["credHelpers", "credsStore"])
def test_a_credential_helper_gives_the_login(
    address: str,
    docker_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
) -> None:
    pushed = push_image(address, "flywheel-gears/demo", "0.1.0", FILES, login=LOGIN)
    write_helper(tmp_path / "helpers", "vault", {address: LOGIN})
    monkeypatch.setenv("PATH", f"{tmp_path / 'helpers'}:/usr/bin:/bin")
    config: dict[str, object] = {"credHelpers": {address: "vault"}}
    if setting == "credsStore":
        config = {"credsStore": "vault", "auths": {address: {}}}
    docker_config.write_text(json.dumps(config))
    assert registry.manifest_digest(image(address)) == pushed.manifest_digest


def test_a_helper_that_is_not_installed_is_named(address: str, docker_config: Path) -> None:
    docker_config.write_text(json.dumps({"credHelpers": {address: "nowhere"}}))
    with pytest.raises(registry.RegistryError) as raised:
        registry.manifest_digest(image(address))
    assert str(raised.value) == (
        f"{docker_config} names the credential helper 'nowhere' for {address}, "
        "but docker-credential-nowhere is not on PATH"
    )


def test_docker_hub_logins_are_under_dockers_own_key(docker_config: Path) -> None:
    docker_config.write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": saved_login("hub", "pw")}})
    )
    assert registry_auth.login_for("docker.io") == registry_auth.Login("hub", "pw")
    assert registry_auth.login_for("registry.example.org") is None


def test_a_bearer_challenge_is_read_into_its_parameters() -> None:
    scheme, params = registry_auth._challenge(
        'Bearer realm="https://auth.example.org/token",service="registry.example.org",'
        'scope="repository:flywheel-gears/demo:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example.org/token",
        "service": "registry.example.org",
        "scope": "repository:flywheel-gears/demo:pull",
    }
