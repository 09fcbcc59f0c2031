"""gear_tools.repo: a gear of the repository, found by name or directory, and its parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_tools.author import gear_resolve
from gear_tools.repo import (
    ROOT_ENV,
    RepoError,
    Repository,
    dist_path,
    find_root,
    main,
)


def test_a_gear_by_name_or_directory_and_where_its_parts_are(repo: Path) -> None:
    by_name = Repository(repo).gear("template-gear")
    assert Repository(repo).gear("template_gear/") == by_name
    assert by_name.directory == "template_gear"
    assert by_name.manifest_path == repo / "template_gear/src/docker/manifest.json"
    assert by_name.build_file == repo / "template_gear/src/docker/BUILD"
    assert by_name.changelog == repo / "docs/template_gear/CHANGELOG.md"
    assert by_name.image_target == "template_gear/src/docker:template-gear"
    assert by_name.image_repository == "flywheel-gears/template-gear"
    assert by_name.app_package == "template_app"
    assert by_name.pex_target == "template_gear/src/python/template_app:bin"
    assert by_name.pex() == repo / "dist/template_gear.src.python.template_app/bin.pex"
    assert (
        by_name.docker_info == repo / "dist/template_gear.src.docker/template-gear.docker-info.json"
    )
    assert (
        by_name.release_record == repo / "dist/template_gear.src.docker/template-gear.release.json"
    )
    assert by_name.resolve == "python-default"
    assert by_name.version == json.loads(by_name.manifest_path.read_text())["version"]


def test_no_such_gear_is_one_error_naming_the_gears(repo: Path) -> None:
    with pytest.raises(RepoError) as error:
        Repository(repo).gear("no-gear")
    assert str(error.value) == (
        f"{repo}: no gear 'no-gear' (by name or directory); the gears are: template-gear"
    )


def test_a_gear_resolve_comes_from_its_root_build(repo: Path) -> None:
    (repo / "template_gear/BUILD").write_text(gear_resolve.gear_build("gear-legacy"))
    assert Repository(repo).gear("template-gear").resolve == "gear-legacy"


def test_settings_are_pants_toml_with_the_ci_files_over_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Repository(repo).settings
    assert settings.registry_address("release") == "registry.example.org"
    assert settings.base_image.startswith("docker.io/library/python:3.11-slim")
    assert "python-default" in settings.resolves
    with pytest.raises(RepoError, match=r"no registry 'ci' in \[docker.registries\]"):
        settings.registry_address("ci")

    (repo / "ci.toml").write_text('[docker.registries.ci]\naddress = "127.0.0.1:5055"\n')
    monkeypatch.setenv("PANTS_CONFIG_FILES", "ci.toml")
    merged = Repository(repo).settings
    assert merged.registry_address("ci") == "127.0.0.1:5055"
    assert merged.registry_address("release") == "registry.example.org"


def test_a_broken_pants_toml_is_named(repo: Path) -> None:
    (repo / "pants.toml").write_text("[docker\n")
    with pytest.raises(RepoError, match=r"pants.toml: not valid TOML"):
        Repository(repo).settings.default_repository  # noqa: B018 (reading it raises)


def test_the_root_is_given_or_the_launchers_or_found_above(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(repo / "template_gear/src")
    assert find_root() == repo.resolve()
    assert find_root(Path("..")) == (repo / "template_gear").resolve()
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    assert find_root() == tmp_path.resolve()
    monkeypatch.delenv(ROOT_ENV)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RepoError, match="not in a gear repository"):
        find_root()


def test_dist_paths_follow_pants_naming() -> None:
    assert dist_path("a/src/docker/", "x.json") == Path("dist/a.src.docker/x.json")
    assert dist_path("a/src/python/b", "bin.pex", Path("/out")) == Path(
        "/out/a.src.python.b/bin.pex"
    )


def test_the_command_line_prints_settings_for_scripts(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ROOT_ENV, str(repo))
    assert main(["registry", "release"]) == 0
    assert main(["registry", "nowhere"]) == 1
    assert main(["nonsense"]) == 2
    out, err = capsys.readouterr()
    assert out == "registry.example.org\n"
    assert "error: pants.toml: no registry 'nowhere'" in err
