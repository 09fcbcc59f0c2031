"""What a moved-in gear's own Dockerfile installs, and what of it this repository can carry.

A gear here gets its Python and its dependencies from gear_image() (pants-plugins/gear_macros),
so of an upstream Dockerfile only the system packages are carried (its `apt-get install` lines,
as Debian packages of the base image); Python packages it installs with pip become pins. What
cannot be carried (downloads, binaries copied to system paths, environment settings, another
distribution's packages) is named in a note, for the author to add by hand.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Packages an upstream image needs for its own Python; gear_image() brings Python here.
_PYTHON_PACKAGE = re.compile(r"^(python[0-9.]*(-dev|-pip|-venv|-setuptools|-minimal)?|pip)$")
_DOWNLOADERS = ("wget", "curl", "git")
_KNOWN_ENV = {"FLYWHEEL", "PATH", "LANG", "LC_ALL", "PYTHONUNBUFFERED", "DEBIAN_FRONTEND"}


@dataclass
class DockerfilePlan:
    """The Debian packages to install, the pip requirements found, and notes on the rest."""

    base_image: str = ""
    apt_packages: list[str] = field(default_factory=list)
    pip_requirements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What COPY and ADD put under /flywheel/v0: (the repository's paths, the destination
    # relative to /flywheel/v0, "" for /flywheel/v0 itself; ending in "/" for a directory).
    flywheel_copies: list[tuple[list[str], str]] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comment lines inside
    them dropped (as Docker does)."""
    result: list[tuple[str, str]] = []
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and current):
            continue
        if not line:
            continue
        if line.endswith("\\"):
            current.append(line[:-1].strip())
            continue
        current.append(line)
        joined = " ".join(part for part in current if part)
        current = []
        word, _, rest = joined.partition(" ")
        result.append((word.upper(), rest.strip()))
    if current:
        joined = " ".join(current)
        word, _, rest = joined.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def _commands(run: str) -> list[list[str]]:
    """The simple commands of a RUN line (split at &&, ||, ; and |)."""
    try:
        words = shlex.split(run, posix=True)
    except ValueError:
        words = run.split()
    commands: list[list[str]] = [[]]
    for word in words:
        if word in ("&&", "||", ";", "|"):
            commands.append([])
        elif word.endswith(";") and word != ";":
            commands[-1].append(word[:-1])
            commands.append([])
        else:
            commands[-1].append(word)
    return [command for command in commands if command]


def _arguments_after(command: list[str], verb: str) -> list[str]:
    """The non-option arguments after `verb` (e.g. the packages of `apt-get install`)."""
    if verb not in command:
        return []
    return [word for word in command[command.index(verb) + 1 :] if not word.startswith("-")]


def _pip_arguments(command: list[str]) -> list[str]:
    """Requirements named on a `pip install` line (not those of `-r file`, read elsewhere)."""
    after = command[command.index("install") + 1 :]
    kept, skip = [], False
    for word in after:
        if skip:
            skip = False
        elif word in ("-r", "--requirement", "-c", "--constraint", "-i", "--index-url"):
            skip = True
        elif not word.startswith("-") and not word.endswith((".txt", ".whl")) and word != ".":
            kept.append(word)
    return kept


FLYWHEEL_DIR = "/flywheel/v0"
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _expand(text: str, environment: dict[str, str]) -> str:
    """`$VAR` and `${VAR}` replaced by what the Dockerfile set (unknown ones kept)."""
    return _VARIABLE.sub(lambda m: environment.get(m.group(1) or m.group(2), m.group(0)), text)


def _env_pairs(arguments: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of an ENV instruction (`A=1 B=2` or the old `A 1`)."""
    try:
        words = shlex.split(arguments)
    except ValueError:
        words = arguments.split()
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    return [tuple(word.split("=", 1)) for word in words if "=" in word]  # type: ignore[misc]


def _under_flywheel(destination: str, workdir: str) -> str | None:
    """The destination relative to /flywheel/v0 ("" for it; a trailing "/" kept), None when it
    is elsewhere."""
    if not destination.startswith("/"):
        destination = f"{workdir.rstrip('/')}/{destination}"
    trailing = "/" if destination.endswith(("/", "/.")) else ""
    parts: list[str] = []
    for part in destination.split("/"):
        if part == "..":
            parts = parts[:-1]
        elif part not in ("", "."):
            parts.append(part)
    path = "/" + "/".join(parts)
    if path == FLYWHEEL_DIR:
        return ""
    if path.startswith(FLYWHEEL_DIR + "/"):
        return path[len(FLYWHEEL_DIR) + 1 :] + trailing
    return None


def read_dockerfile(path: Path) -> DockerfilePlan:
    """The plan for a gear's Dockerfile (an empty one when there is no Dockerfile)."""
    plan = DockerfilePlan()
    if not path.is_file():
        return plan
    environment = {"FLYWHEEL": FLYWHEEL_DIR}
    workdir = "/"
    for instruction, arguments in instructions(path.read_text(encoding="utf-8", errors="replace")):
        if instruction == "WORKDIR":
            workdir = _expand(arguments.strip(), environment) if arguments.strip() else workdir
        if instruction in ("ENV", "ARG"):
            for name, value in _env_pairs(arguments):
                if value or instruction == "ENV":
                    environment[name] = _expand(value, environment)
        if instruction == "FROM":
            plan.base_image = arguments.split()[0] if arguments else ""
            if not re.match(
                r"^(docker\.io/)?(library/)?(python|debian|ubuntu)(:|@|$)", plan.base_image
            ):
                plan.notes.append(
                    f"FROM {plan.base_image}: what that image adds to its system is not carried "
                    "(add the packages the gear needs to its Dockerfile)"
                )
        elif instruction == "RUN":
            _read_run(arguments, plan)
        elif instruction == "ENV":
            words = arguments.split()
            if words and "=" in words[0]:
                names = [word.split("=")[0] for word in words if "=" in word]
            else:
                names = words[:1]
            if set(names) - _KNOWN_ENV:
                plan.notes.append(
                    f"ENV {arguments}: not carried (set it in the manifest's environment if the "
                    "gear needs it)"
                )
        elif instruction in ("COPY", "ADD"):
            try:
                listed = json.loads(arguments) if arguments.startswith("[") else None
            except json.JSONDecodeError:
                listed = None
            words = listed if isinstance(listed, list) else arguments.split()
            parts = [str(p) for p in words if not str(p).startswith("--")]
            target = parts[-1] if parts else ""
            from_stage = any(str(p).startswith("--from") for p in words)
            inside = _under_flywheel(_expand(target, environment), workdir) if target else None
            if inside is not None and not from_stage and len(parts) > 1:
                sources = [_expand(p, environment) for p in parts[:-1]]
                plan.flywheel_copies.append((sources, inside))
                continue
            if (
                target
                and not target.startswith(
                    ("/flywheel/v0", "${FLYWHEEL}", "$FLYWHEEL", ".", "/opt/requirements")
                )
                and not any(p.endswith("requirements.txt") for p in parts[:-1])
            ):
                plan.notes.append(
                    f"{instruction} {arguments}: not carried (files outside the gear's code; "
                    "add them to the gear's Dockerfile)"
                )
    return plan


def _read_run(run: str, plan: DockerfilePlan) -> None:
    for command in _commands(run):
        program = Path(command[0]).name
        if program in ("apt-get", "apt") and "install" in command:
            for package in _arguments_after(command, "install"):
                name = package.split("=")[0]
                if name != package:
                    plan.notes.append(
                        f"apt package {package}: the version is the upstream distribution's; "
                        f"installed as {name}"
                    )
                if _PYTHON_PACKAGE.match(name):
                    continue
                if name not in plan.apt_packages:
                    plan.apt_packages.append(name)
        elif program == "apk" and "add" in command:
            packages = " ".join(_arguments_after(command, "add"))
            plan.notes.append(
                f"apk add {packages}: Alpine packages, not carried (add the Debian packages the "
                "gear needs to its Dockerfile)"
            )
        elif program in ("pip", "pip3") or (
            program.startswith("python") and command[1:3] == ["-m", "pip"]
        ):
            if "install" in command:
                plan.pip_requirements += [
                    r for r in _pip_arguments(command) if r not in ("pip", "setuptools", "wheel")
                ]
        elif program in _DOWNLOADERS and (program != "git" or "clone" in command):
            urls = [word for word in command if "://" in word]
            plan.notes.append(
                f"{' '.join(command[:1] + urls)}: a download, not carried (this repository's "
                "image builds reach only package registries)"
            )
        elif program == "add-apt-repository":
            plan.notes.append(f"{' '.join(command)}: another package source, not carried")


def available_packages(packages: list[str]) -> tuple[list[str], list[str]]:
    """(available, unknown) by the machine's apt (Debian, like the base image); every package is
    taken as available where there is no apt-cache."""
    if not shutil.which("apt-cache"):
        return packages, []
    available: list[str] = []
    unknown: list[str] = []
    for package in packages:
        shown = subprocess.run(
            ["apt-cache", "show", "--no-all-versions", package], capture_output=True, text=True
        )
        (available if shown.returncode == 0 and shown.stdout.strip() else unknown).append(package)
    return available, unknown


def dockerfile_text(packages: list[str], notes: list[str], upstream_base: str) -> str:
    """The gear's own Dockerfile: the base image and the carried system packages."""
    lines = [
        "# The gear's own part of its image: the base image and the system packages it needs.",
        "# BUILD's gear_image() adds the rest (docs/images.md). The apt line's last part removes",
        "# what apt and ldconfig write with the build's time in it (a reproducible image).",
    ]
    if upstream_base or notes:
        lines.append("# Moved in from a gear built FROM " + (upstream_base or "(none)") + ".")
    for note in notes:
        lines.append(f"# From the gear's Dockerfile: {note}")
    lines += ["ARG BASE_IMAGE", "FROM ${BASE_IMAGE}"]
    if packages:
        lines += [
            "RUN apt-get update \\",
            f" && apt-get install -y --no-install-recommends {' '.join(packages)} \\",
            " && apt-get clean && rm -rf /var/lib/apt/lists/* \\",
            " && rm -rf /var/log/apt /var/log/dpkg.log /var/cache/ldconfig/aux-cache",
        ]
    return "\n".join(lines) + "\n"
