"""bin/verify-gear's reasoning: which commit to rebuild, which image to ask for, and how a
difference is told. (The rebuild itself runs in CI: .ci/run's podman release pass verifies the
released template-gear and an image built from code one byte off.)"""

from __future__ import annotations

from typing import Any

import pytest

from gear_tools.images.scratch_build import first_difference
from gear_tools.release import registry
from gear_tools.release.verify_gear import (
    MirrorMovedError,
    VerifyError,
    choose_commit,
    layer_verdict,
    released_debian_packages,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


def config(commit: str | None = SHA, code: str = "sha256:c0de") -> dict[str, Any]:
    """A canonical gear image's configuration: one history entry a layer, naming its files."""
    labels = {"org.opencontainers.image.revision": commit} if commit else {}
    return {
        "config": {"Labels": labels, "User": "1000:1000"},
        "rootfs": {"diff_ids": ["sha256:ba5e", "sha256:0de9", "sha256:aaaa", "sha256:bbbb", code]},
        "history": [
            {"created_by": "/bin, /etc/... (5876 files)"},
            {"created_by": "/etc/passwd, /usr/bin/run (18 files)"},
            {"created_by": "/opt/gear/bin, /opt/gear/lib (1430 files)"},
            {"created_by": "/flywheel/v0/manifest.json (1 files)"},
            {"created_by": "/opt/gear/code (28 files)"},
        ],
    }


def with_system_layer(system: str, code: str = "sha256:c0de") -> dict[str, Any]:
    """dicom-to-nifti's shape: the base image, one layer of system packages (apt), then the four
    layers every gear image has."""
    image = config(code=code)
    image["rootfs"]["diff_ids"].insert(1, system)
    image["history"].insert(1, {"created_by": "/usr/bin/dcm2niix, /var/lib/dpkg (812 files)"})
    return image


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
    assert told.startswith("layer 5 of 5 differs, the code layer: the gear's code and common/")
    assert told.endswith("holding: /opt/gear/code (28 files)")


def deb(name: str, version: str) -> dict[str, str]:
    return {"name": name, "version": version, "purl": f"pkg:deb/debian/{name}@{version}?arch=amd64"}


RELEASED_SBOM = {
    "components": [
        deb("dcm2niix", "1.0.20220720-1"),
        deb("pigz", "2.6-1"),
        {"name": "pydicom", "version": "2.4.4", "purl": "pkg:pypi/pydicom@2.4.4"},
    ]
}


def test_a_moved_mirror_is_told_apart_from_tampering() -> None:
    """The system-package layer alone differs, and the rebuild installed another dcm2niix than
    the release's SBOM lists: the mirror moved, and the verdict names the package."""
    released = released_debian_packages(RELEASED_SBOM)
    assert released == {"dcm2niix": "1.0.20220720-1", "pigz": "2.6-1"}
    rebuilt = {"dcm2niix": "1.0.20230411-1", "pigz": "2.6-1"}
    verdict = layer_verdict(
        with_system_layer("sha256:a971"), with_system_layer("sha256:a972"), 1, released, rebuilt
    )
    assert isinstance(verdict, MirrorMovedError)
    assert "(dcm2niix 1.0.20220720-1 -> 1.0.20230411-1)" in str(verdict)
    assert "the other 5 of 6 layers are what the commit builds" in str(verdict)
    assert "layer 2 of 6 differs, the gear's system packages" in str(verdict)


def test_a_system_layer_that_differs_with_the_same_packages_is_not_verified() -> None:
    released = released_debian_packages(RELEASED_SBOM)
    verdict = layer_verdict(
        with_system_layer("sha256:a971"), with_system_layer("sha256:a972"), 1, released, released
    )
    assert not isinstance(verdict, MirrorMovedError)
    assert str(verdict).startswith("NOT verified:")


def test_tampered_code_is_not_verified_even_when_the_mirror_moved() -> None:
    """A moved mirror explains the system-package layers only: a code layer that differs too
    is named, and the verdict is NOT verified."""
    released = released_debian_packages(RELEASED_SBOM)
    rebuilt = {"dcm2niix": "1.0.20230411-1", "pigz": "2.6-1"}
    verdict = layer_verdict(
        with_system_layer("sha256:a971", code="sha256:beef"),
        with_system_layer("sha256:a972"),
        1,
        released,
        rebuilt,
    )
    assert not isinstance(verdict, MirrorMovedError)
    told = str(verdict)
    assert told.startswith("NOT verified:")
    assert "layer 2 of 6 differs, the gear's system packages" in told
    assert "layer 6 of 6 differs, the code layer" in told


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


def test_another_number_of_layers_is_told_as_such() -> None:
    """A release with a system layer the rebuild lacks: the counts, not a layer past the end."""
    released = released_debian_packages(RELEASED_SBOM)
    verdict = layer_verdict(with_system_layer("sha256:a971"), config(), 1, released, released)
    assert not isinstance(verdict, MirrorMovedError)
    assert str(verdict) == (
        "NOT verified: the image is not what the commit builds: it has 6 layers, the rebuilt "
        "image 5"
    )
