"""bin/verify-gear's reasoning: which commit to rebuild, which image to ask for, and how a
difference is told. (The rebuild itself runs in CI: .ci/run's podman release pass verifies the
released template-gear and an image built from code one byte off.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gear_tools.images.scratch_build import first_difference
from gear_tools.release import registry
from gear_tools.release.verify_gear import VerifyError, choose_commit, verify

SHA = "0123456789abcdef0123456789abcdef01234567"


def config(commit: str | None = SHA, code: str = "sha256:c0de") -> dict[str, object]:
    labels = {"org.opencontainers.image.revision": commit} if commit else {}
    return {
        "config": {"Labels": labels, "User": "1000:1000"},
        "rootfs": {"diff_ids": ["sha256:ba5e", "sha256:0de9", "sha256:aaaa", code]},
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:x in /"},
            {"created_by": "/bin/sh -c #(nop) COPY dir:y in /opt/gear "},
            {"created_by": "/bin/sh -c #(nop) ENV FLYWHEEL=/flywheel/v0", "empty_layer": True},
            {"created_by": "/bin/sh -c #(nop) COPY file:z in /flywheel/v0/manifest.json "},
            {"created_by": "/bin/sh -c #(nop) COPY dir:w in /opt/gear/code "},
        ],
    }


def test_the_commit_comes_from_the_option_the_label_or_the_release_record() -> None:
    other = "f" * 40
    assert choose_commit(other, config(), None) == other
    assert choose_commit(None, config(), {"commit": other}) == SHA
    assert choose_commit(None, config(commit=None), {"commit": other}) == other


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (None, "the image has no org.opencontainers.image.revision label: give --commit SHA"),
        (f"{SHA}-dirty", "built from uncommitted changes"),
        ("main", "'main' is not a full commit SHA"),
    ],
)
def test_an_image_that_cannot_be_rebuilt_is_refused(label: str | None, message: str) -> None:
    with pytest.raises(VerifyError, match=message):
        choose_commit(None, config(commit=label), None)


def test_a_code_change_is_told_as_the_code_layer() -> None:
    told = first_difference(config(code="sha256:beef"), config())
    assert told.startswith("layer 4 of 4 differs, the code layer: the gear's code and common/")
    assert told.endswith("made by: /bin/sh -c #(nop) COPY dir:w in /opt/gear/code")


def test_same_layers_other_configuration_names_the_keys() -> None:
    told = first_difference(config(commit="a" * 40), config())
    assert told == "the layers are the same; the configuration differs (Labels)"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("127.0.0.1:5055/flywheel-gears/x:0.1.0", ("127.0.0.1:5055", "flywheel-gears/x", "0.1.0")),
        (
            "registry.example.org/g/x@sha256:ab",
            ("registry.example.org", "g/x", "sha256:ab"),
        ),
        ("localhost/x", ("localhost", "x", "latest")),
    ],
)
def test_image_references(reference: str, expected: tuple[str, str, str]) -> None:
    image = registry.parse_reference(reference)
    assert (image.registry, image.repository, image.tag) == expected
    assert str(image) == (reference if reference != "localhost/x" else "localhost/x:latest")


def test_a_reference_without_a_registry_is_refused() -> None:
    with pytest.raises(registry.RegistryError, match="names no registry"):
        registry.parse_reference("flywheel-gears/x:0.1.0")


def test_a_release_recorded_as_unverifiable_is_refused_with_why(repo: Path) -> None:
    """release-gear --allow-unverifiable records a docker-built release; nothing is rebuilt."""
    record = repo / "dist/template_gear.src.docker/template-gear.release.json"
    record.parent.mkdir(parents=True)
    image = "127.0.0.1:5055/flywheel-gears/template-gear@sha256:" + "a" * 64
    record.write_text(
        json.dumps({"image": image, "commit": SHA, "engine": "docker", "verifiable": False})
    )
    with pytest.raises(VerifyError, match="built with docker, whose builds do not reproduce"):
        verify(repo, "template-gear", "release", None, None, None)
