"""A gear's contract with its users: what a new manifest changes from the released one, and the
version bump each change needs (standard library only).

Gear rules and pipelines run "the latest version" of a gear with the inputs and config they
were set up with. A change that can break them needs a major version: an input or config
key removed or renamed, an input's base or a config's type changed, an optional input made
required, a required config without a default added (or a default taken away), a narrowed
enum, range, length or pattern, fewer file types accepted. An addition (an optional input, a
config with a default, a wider enum) needs at least a minor version. Anything else (labels,
descriptions, command, environment) needs no more than the patch version every release has.

Used by the manifest linter (`pants lint`, against the gear's last `gear/<name>/v<version>`
tag) and by `bin/bump-version --changed-since` (which bumps by the level asked for).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PATCH, MINOR, MAJOR = 1, 2, 3
LEVEL_NAMES = {PATCH: "patch", MINOR: "minor", MAJOR: "major"}
# A release's git tag: gear/<name>/v<version>.
TAG_PREFIX = "gear/"
_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?![\d])")
# Range keywords, and which way is narrower.
_LOWER_BOUNDS = ("minimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "maxLength", "maxItems")


def release_tag(name: str, version: str) -> str:
    return f"{TAG_PREFIX}{name}/v{version}"


def tag_version(tag: str, name: str) -> str | None:
    """The version of a release tag of gear `name`, or None if it is not one."""
    prefix = f"{TAG_PREFIX}{name}/v"
    return tag[len(prefix) :] if tag.startswith(prefix) and len(tag) > len(prefix) else None


def parse_version(version: Any) -> tuple[int, int, int] | None:
    """MAJOR.MINOR.PATCH at the start of a version (`1.2.0_20.0.7` is 1.2.0), or None."""
    match = _VERSION.match(version) if isinstance(version, str) else None
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def latest_release(tags: list[str], name: str) -> tuple[str, str] | None:
    """(tag, version) of the highest released version among `tags`."""
    found = [(parse_version(v), tag, v) for tag in tags if (v := tag_version(tag, name))]
    ranked = [(parsed, tag, v) for parsed, tag, v in found if parsed is not None]
    if not ranked:
        return None
    _, tag, version = max(ranked)
    return tag, version


def bumped(version: str, level: int) -> str:
    """The smallest version after `version` at `level` (the rest of it dropped)."""
    parsed = parse_version(version)
    if parsed is None:
        raise ValueError(f"{version!r} is not a version of the form MAJOR.MINOR.PATCH")
    major, minor, patch = parsed
    if level == MAJOR:
        return f"{major + 1}.0.0"
    if level == MINOR:
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


@dataclass(frozen=True)
class Change:
    level: int
    text: str


@dataclass(frozen=True)
class Release:
    """A gear's last release: its tag, version and manifest."""

    tag: str
    version: str
    manifest: dict[str, Any]


def _quote(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:80] + "..."


def _values(values: list[Any]) -> str:
    shown = ", ".join(_quote(v) for v in values[:5])
    return shown + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def _section(manifest: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    items = manifest.get(key)
    if not isinstance(items, dict):
        return {}
    return {name: spec if isinstance(spec, dict) else {} for name, spec in items.items()}


def _same_contract(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def contract(spec: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in spec.items() if k not in ("description", "label")}

    return contract(old) == contract(new)


def _renames(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Removed names whose spec reappears, unchanged, under exactly one added name that no
    other removed name matches."""
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    renames = {}
    for name in removed:
        matches = [a for a in added if _same_contract(old[name], new[a])]
        if len(matches) == 1 and [
            r for r in removed if _same_contract(old[r], new[matches[0]])
        ] == [name]:
            renames[name] = matches[0]
    return renames


def _enum_changes(what: str, old: Any, new: Any) -> Iterator[Change]:
    """An `enum` narrowed (values taken away, or one set where there was none) or widened."""
    if old == new:
        return
    if isinstance(new, list) and not isinstance(old, list):
        yield Change(MAJOR, f"{what} now allows only {_values(new)}")
    elif isinstance(old, list) and not isinstance(new, list):
        yield Change(MINOR, f"{what} no longer limits its values")
    elif isinstance(old, list) and isinstance(new, list):
        removed = [v for v in old if v not in new]
        added = [v for v in new if v not in old]
        if removed:
            yield Change(MAJOR, f"{what} no longer allows {_values(removed)}")
        if added:
            yield Change(MINOR, f"{what} also allows {_values(added)}")


def _bound_changes(what: str, old: dict[str, Any], new: dict[str, Any]) -> Iterator[Change]:
    for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        lower = key in _LOWER_BOUNDS
        if after is None:
            yield Change(MINOR, f"{what} drops its {key} {_quote(before)}")
            continue
        narrower = before is None or (
            isinstance(before, (int, float))
            and isinstance(after, (int, float))
            and (after > before if lower else after < before)
        )
        level = MAJOR if narrower else MINOR
        yield Change(level, f"{what} {key} is {_quote(after)}, was {_quote(before)}")
    if old.get("pattern") != new.get("pattern") and new.get("pattern") is not None:
        yield Change(MAJOR, f"{what} pattern is {_quote(new.get('pattern'))}")


def _required_input(spec: dict[str, Any]) -> bool:
    return not spec.get("optional", False) and spec.get("base") in ("file", "context")


def _removals(
    kind: str, before: dict[str, Any], after: dict[str, Any], renames: dict[str, str]
) -> Iterator[Change]:
    """Keys of `before` that `after` renamed or removed: each breaks what used them."""
    for name in before:
        if name in renames:
            yield Change(MAJOR, f'renames {kind} "{name}" to "{renames[name]}"')
        elif name not in after:
            yield Change(MAJOR, f'removes {kind} "{name}"')


def _file_types(spec: dict[str, Any]) -> Any:
    """An input's accepted file types (`type.enum`), or None when any is accepted."""
    kind = spec.get("type")
    return kind.get("enum") if isinstance(kind, dict) else None


def input_changes(old: dict[str, Any], new: dict[str, Any]) -> Iterator[Change]:
    before, after = _section(old, "inputs"), _section(new, "inputs")
    renames = _renames(before, after)
    yield from _removals("input", before, after, renames)
    for name, spec in after.items():
        if name in renames.values():
            continue
        if name not in before:
            if _required_input(spec):
                yield Change(MAJOR, f'adds required {spec.get("base")} input "{name}"')
            else:
                yield Change(MINOR, f'adds input "{name}"')
            continue
        was = before[name]
        if was.get("base") != spec.get("base"):
            yield Change(
                MAJOR,
                f'changes input "{name}" from base {_quote(was.get("base"))} to '
                f"{_quote(spec.get('base'))}",
            )
            continue
        if was.get("optional", False) and not spec.get("optional", False):
            yield Change(MAJOR, f'makes input "{name}" required')
        elif not was.get("optional", False) and spec.get("optional", False):
            yield Change(MINOR, f'makes input "{name}" optional')
        yield from _enum_changes(f'input "{name}" file type', _file_types(was), _file_types(spec))


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> Iterator[Change]:
    before, after = _section(old, "config"), _section(new, "config")
    renames = _renames(before, after)
    yield from _removals("config", before, after, renames)
    for name, spec in after.items():
        if name in renames.values():
            continue
        required = not spec.get("optional", False) and "default" not in spec
        if name not in before:
            if required:
                yield Change(MAJOR, f'adds required config "{name}" with no default')
            else:
                yield Change(MINOR, f'adds config "{name}"')
            continue
        was = before[name]
        what = f'config "{name}"'
        if was.get("type") != spec.get("type"):
            yield Change(
                MAJOR,
                f"changes {what} from type {_quote(was.get('type'))} to "
                f"{_quote(spec.get('type'))}",
            )
            continue
        was_required = not was.get("optional", False) and "default" not in was
        if required and not was_required:
            yield Change(MAJOR, f"makes {what} required with no default")
        elif was_required and not required:
            yield Change(MINOR, f"makes {what} optional or gives it a default")
        elif "default" in was and "default" in spec and was["default"] != spec["default"]:
            yield Change(
                MINOR,
                f"changes the default of {what} from {_quote(was['default'])} to "
                f"{_quote(spec['default'])}",
            )
        yield from _enum_changes(what, was.get("enum"), spec.get("enum"))
        yield from _bound_changes(what, was, spec)


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """What `new` changes in the contract of `old`, each with the bump it needs."""
    return [*input_changes(old, new), *config_changes(old, new)]


def required_level(found: list[Change]) -> int:
    """The bump the changes need: MAJOR, MINOR, or PATCH when none needs more."""
    return max((change.level for change in found), default=PATCH)


def gate(release: Release, manifest: dict[str, Any]) -> list[str]:
    """Problems of `manifest` as the next version after `release`: each change that needs
    a bigger bump than its version has, naming the change and the version it needs."""
    version = manifest.get("version")
    released = parse_version(release.version)
    current = parse_version(version)
    if released is None:
        return []  # A tag that is not MAJOR.MINOR.PATCH: nothing to compare with.
    if current is None:
        return [
            f"version is {_quote(version)}; the last release ({release.tag}) is compared by "
            "MAJOR.MINOR.PATCH, so give a version that starts with one"
        ]
    if current < released:
        return [f"version {version} is lower than the last release, {release.tag}"]
    problems = []
    for change in changes(release.manifest, manifest):
        if change.level < MINOR:
            continue
        needed = bumped(release.version, change.level)
        if current < parse_version(needed):  # type: ignore[operator]
            problems.append(
                f"{change.text} since {release.tag}: that needs a {LEVEL_NAMES[change.level]} "
                f"version ({needed} or later), but version is {version}"
            )
    return problems
