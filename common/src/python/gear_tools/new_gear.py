"""Creates a new gear from template_gear/, renamed consistently.

    new_gear.py NAME [--label L] [--description D] [--category CATEGORY]
                [--with-api-key] [--repo DIR]

NAME is the gear name (the manifest `name` and the docker_image target): lower-case letters,
digits and '-', starting with a letter. The gear goes in <repo>/<name with '_' for '-'>/, its
app package is <that>_app, and its docs in docs/<that>/. Nothing is written unless every
check passes.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gear_tools.container_engine import manifest_name

TEMPLATE_DIR = "template_gear"
TEMPLATE_APP = "template_app"
TEMPLATE_NAME = "template-gear"
FIRST_VERSION = "0.1.0"
# The gear spec allows ^[a-z0-9\-]+$ (at most 100 characters); the name also becomes a Python
# package, so it must start with a letter. The generated BUILD files and code name the gear's
# directory and package on one line (`pex="<dir>/src/python/<dir>_app:bin"`), which fits
# Ruff's line length for names of up to MAX_NAME_LENGTH characters.
MAX_NAME_LENGTH = 32
NAME_PATTERN = re.compile(rf"^[a-z][a-z0-9\-]{{0,{MAX_NAME_LENGTH - 1}}}$")
# The categories a Flywheel site accepts (flywheel.models.GearCategory).
CATEGORIES = ("utility", "analysis", "converter", "classifier", "qa")
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}
# template_gear/BUILD only exposes the template to this tool's tests.
TEMPLATE_ONLY = {Path("BUILD")}


class NewGearError(Exception):
    """The gear cannot be created as asked; nothing was written."""


@dataclass(frozen=True)
class NewGear:
    name: str
    label: str
    description: str
    category: str
    with_api_key: bool

    @property
    def directory(self) -> str:
        return self.name.replace("-", "_")

    @property
    def app(self) -> str:
        return f"{self.directory}_app"

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("-"))


def existing_gear_names(repo: Path) -> dict[str, Path]:
    """Gear names in use: each manifest's `name`, mapped to its manifest."""
    names: dict[str, Path] = {}
    for manifest in sorted(repo.glob("*/src/docker/manifest.json")):
        name = manifest_name(manifest)
        if name is not None:
            names[name] = manifest
    return names


def default_repository(repo: Path) -> str:
    """`[docker] default_repository` from pants.toml (with `{name}` in it)."""
    text = (repo / "pants.toml").read_text(encoding="utf-8")
    match = re.search(r"(?ms)^\[docker\].*?^default_repository\s*=\s*\"([^\"]+)\"", text)
    if not match:
        raise NewGearError(f"{repo / 'pants.toml'}: no [docker] default_repository")
    return match.group(1)


def check(repo: Path, gear: NewGear) -> None:
    """Raises NewGearError listing every reason the gear cannot be created."""
    problems = []
    if not NAME_PATTERN.match(gear.name):
        problems.append(
            f"{gear.name!r} is not a valid gear name: use lower-case letters, digits and '-', "
            f"starting with a letter (at most {MAX_NAME_LENGTH} characters)"
        )
    else:
        for path in (repo / gear.directory, repo / "docs" / gear.directory):
            if path.exists():
                problems.append(f"{path} already exists")
        taken = existing_gear_names(repo)
        if gear.name in taken:
            problems.append(f"the gear name {gear.name!r} is taken by {taken[gear.name]}")
    if gear.category not in CATEGORIES:
        problems.append(f"category must be one of {', '.join(CATEGORIES)}, not {gear.category!r}")
    if not (repo / TEMPLATE_DIR / "src/docker/manifest.json").is_file():
        problems.append(
            f"{repo / TEMPLATE_DIR} is not a gear template (no src/docker/manifest.json)"
        )
    if problems:
        raise NewGearError("cannot create the gear:\n  " + "\n  ".join(problems))


def _rename(text: str, gear: NewGear) -> str:
    text = re.sub(r"\bTemplate(?=[A-Z])", gear.camel, text)  # TemplateConfig -> DicomQcConfig
    return (
        text.replace(TEMPLATE_APP, gear.app)
        .replace(TEMPLATE_DIR, gear.directory)
        .replace(TEMPLATE_NAME, gear.name)
        .replace("Template gear", gear.label)
        .replace("template gear", gear.name)
    )


def _manifest(template: dict[str, Any], gear: NewGear, repository: str) -> dict[str, Any]:
    manifest = dict(template)
    manifest.update(name=gear.name, label=gear.label, description=gear.description)
    manifest["version"] = FIRST_VERSION
    custom = dict(manifest.get("custom", {}))
    custom["gear-builder"] = {
        **custom.get("gear-builder", {}),
        "category": gear.category,
        "image": f"{repository.format(name=gear.name)}:{FIRST_VERSION}",
    }
    manifest["custom"] = custom
    if gear.with_api_key:
        manifest["inputs"] = {**manifest.get("inputs", {}), "api-key": {"base": "api-key"}}
    return manifest


def _docker_build(text: str) -> str:
    """The gear_image() call with the version reset."""
    return re.sub(r'\bversion="[^"]*"', f'version="{FIRST_VERSION}"', text)


def _copied_trees(repo: Path, gear: NewGear) -> list[tuple[Path, Path]]:
    """(template directory, new directory relative to the repository) pairs."""
    trees = [(repo / TEMPLATE_DIR, Path(gear.directory))]
    if (repo / "docs" / TEMPLATE_DIR).is_dir():
        trees.append((repo / "docs" / TEMPLATE_DIR, Path("docs") / gear.directory))
    return trees


def render(repo: Path, gear: NewGear) -> dict[Path, bytes]:
    """Every file of the new gear (paths relative to the repository) and its content."""
    files: dict[Path, bytes] = {}
    repository = default_repository(repo)
    for source_root, target_root in _copied_trees(repo, gear):
        for source in sorted(source_root.rglob("*")):
            relative = source.relative_to(source_root)
            if source.is_dir() or SKIPPED_PARTS & set(relative.parts):
                continue
            if source_root.name == TEMPLATE_DIR and relative in TEMPLATE_ONLY:
                continue
            target = target_root / Path(*(_rename(part, gear) for part in relative.parts))
            data = source.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                files[target] = data
                continue
            if relative == Path("src/docker/manifest.json"):
                text = json.dumps(_manifest(json.loads(text), gear, repository), indent=2) + "\n"
            elif relative == Path("src/docker/BUILD"):
                text = _docker_build(_rename(text, gear))
            elif target_root.parts[0] == "docs" and relative.name == "CHANGELOG.md":
                text = (
                    f"# {gear.name} changelog\n\n## Unreleased\n\n## {FIRST_VERSION}\n\n"
                    f"- First version, created from {TEMPLATE_DIR}.\n"
                )
            elif target_root.parts[0] == "docs" and relative.name == "README.md":
                text = _rename(text, gear).replace(
                    "\n", f"\n\n> Created from {TEMPLATE_DIR}: describe {gear.name} here.\n", 1
                )
            else:
                text = _rename(text, gear)
            files[target] = text.encode("utf-8")
    return files


def create(repo: Path, gear: NewGear) -> list[Path]:
    """Checks, then writes the gear; on any failure nothing is left behind."""
    check(repo, gear)
    files = render(repo, gear)
    # Written to a staging directory in the repository first, then moved into place.
    with tempfile.TemporaryDirectory(dir=repo, prefix=".new-gear-") as staging:
        for path, content in files.items():
            target = Path(staging) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        moved: list[Path] = []
        try:
            for _, root in _copied_trees(repo, gear):
                (repo / root).parent.mkdir(parents=True, exist_ok=True)
                (Path(staging) / root).rename(repo / root)
                moved.append(repo / root)
        except OSError as exc:
            for path in moved:
                shutil.rmtree(path, ignore_errors=True)
            raise NewGearError(f"cannot write the gear: {exc}") from None
    return sorted(repo / path for path in files)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bin/new-gear", description="Create a new gear from template_gear/."
    )
    parser.add_argument("name", help="gear name, e.g. dicom-qc")
    parser.add_argument("--label", help="human-readable label (default: from the name)")
    parser.add_argument("--description", help="one-line description")
    parser.add_argument(
        "--category", default="utility", help=f"one of {', '.join(CATEGORIES)} (default: utility)"
    )
    parser.add_argument("--with-api-key", action="store_true", help="add an api-key input")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository root")
    args = parser.parse_args(argv)
    gear = NewGear(
        name=args.name,
        label=args.label or args.name.replace("-", " ").capitalize(),
        description=args.description or f"{args.name} (created from {TEMPLATE_DIR}).",
        category=args.category,
        with_api_key=args.with_api_key,
    )
    try:
        created = create(args.repo.resolve(), gear)
    except NewGearError as exc:
        print(f"new-gear: {exc}", file=sys.stderr)
        return 1
    print(f"Created gear {gear.name} in {gear.directory}/ ({len(created)} files).")
    print("Next:")
    print(f"  ./pants lint check test package {gear.directory}::")
    print(
        f"  edit {gear.directory}/src/python/{gear.app}/main.py and docs/{gear.directory}/README.md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
