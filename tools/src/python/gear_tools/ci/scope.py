"""What a CI run checks: everything, or only what a change touched.

    python3 -m gear_tools.ci.scope scope          (PYTHONPATH=tools/src/python; stdlib only)
    python3 -m gear_tools.ci.scope plan SELECTED  (SELECTED: `pants list` of what is checked)

`scope` prints shell assignments for .ci/run: CI_SCOPE (`all` or `changed`), CI_BASE (the
commit to pass as `--changed-since`) and CI_REASON. Everything is checked when:

- CI_SCOPE=all is set (a scheduled run, a push to main), or the checkout is on main;
- no merge base with the base branch can be found (a shallow clone, an unrelated history);
- a changed file is one Pants cannot see as a change to a target (GLOBAL_INPUTS: Pants' own
  settings, the launcher, lockfiles, the shared image definition in pants-plugins/, the base
  image pin in pants.toml, the tools' settings, CI itself). A gear resolve's own requirements
  and lockfile (gear_tools.author.gear_resolve) are not among them, nor are the tools' own
  (gear-tools-requirements.txt, gear-tools.lock): Pants selects that resolve's targets when
  they change.

Otherwise only what changed since the merge base of HEAD and the base branch (CI_BASE if set,
else GITHUB_BASE_REF on a pull request, else main), with everything that depends on it:
`--changed-since=<base> --changed-dependees=transitive`.

`plan` turns the selected targets into which of .ci/run's later steps run (RUN_SMOKE=1 ...):
each step runs when a target it exercises is selected; on a run of everything the benchmarks
run only with CI_BENCHMARKS=1 (the nightly run), which keeps a full run short.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gear_tools.author import gear_resolve
from gear_tools.repo import DEFAULT_RESOLVE, TOOLS_RESOLVE

MAIN_BRANCH = "main"
# Paths whose change Pants does not see as a change to the targets they affect. A trailing '/'
# means everything below.
GLOBAL_INPUTS = (
    "pants",
    "pants.toml",
    "pants.ci.toml",
    "pyproject.toml",
    "BUILD",
    "3rdparty/",
    "pants-plugins/",
    "bin/",
    # The launcher of bin/ and the machine set-up scripts every image build goes through.
    "tools/launch",
    "tools/src/python/gear_tools/engine/container_engine.sh",
    "tools/src/python/gear_tools/engine/offline_base_image.sh",
    # What every gear image is rewritten by: its rules decide every image ID.
    "tools/src/python/gear_tools/engine/canonical_image.py",
    ".ci/",
    ".github/",
)
# .ci/run's steps after package, and the targets whose selection makes each of them run.
# An entry ending in '/' or ':' selects by prefix.
STEP_TRIGGERS: dict[str, tuple[str, ...]] = {
    "RUN_RELEASE": (
        "template_gear/src/docker:template-gear",
        "tools/src/python/gear_tools/release:release_gear",
        "common/src/python/fake_flywheel/",
        "tools/test/python/gear_tools_tests/registry_server.py",
        # The podman release is verified by a rebuild in a clean clone (bin/verify-gear).
        "tools/src/python/gear_tools/engine/podman_build.py",
        "tools/src/python/gear_tools/images/scratch_build.py",
        "tools/src/python/gear_tools/release/verify_gear.py",
    ),
    "RUN_STARTUP_BENCHMARK": ("tools/benchmarks/gear_image_startup.py",),
    "RUN_BATCH_BENCHMARK": ("tools/benchmarks/batch_run_requests.py",),
    "RUN_NEW_GEAR": (
        "template_gear/",
        "tools/src/python/gear_tools/author/new_gear.py",
        "tools/src/python/gear_tools/author/bump_version.py",
        "tools/src/python/gear_tools/author/changed_gears.py",
    ),
    # The shared build cache's faults (bin/build-cache and pants.cache.toml are global inputs).
    "RUN_BUILD_CACHE": ("tools/src/python/build_cache/",),
    # bin/update-deps on a scratch clone against a package index on 127.0.0.1 (lockfiles are
    # global inputs: a change to one runs everything).
    "RUN_UPDATE_DEPS": (
        "tools/src/python/gear_tools/author/update_deps.py",
        "tools/src/python/gear_tools/author/lock_closure.py",
        "tools/src/python/gear_tools/author/bump_version.py",
        "tools/src/python/gear_tools/ci/update_scenario.py",
    ),
}


# Steps that print figures: a run of everything runs them only with CI_BENCHMARKS=1.
BENCHMARK_STEPS = frozenset({"RUN_STARTUP_BENCHMARK", "RUN_BATCH_BENCHMARK"})


@dataclass(frozen=True)
class Scope:
    kind: str  # "all" or "changed"
    base: str  # the commit to compare with ("" for all)
    reason: str


def own_resolve_files(resolves: Iterable[str]) -> set[str]:
    """The requirements and lockfile of each resolve other than the default: Pants sees
    a change to them as a change to that resolve's targets (and only theirs)."""
    return {
        str(path(resolve))
        for resolve in resolves
        if resolve != DEFAULT_RESOLVE
        for path in (gear_resolve.requirements_file, gear_resolve.lockfile)
    }


def is_global(path: str, left_to_pants: Collection[str] = frozenset()) -> bool:
    """Whether a change to `path` (relative to the repository) must select everything; paths
    in `left_to_pants` (see own_resolve_files) never do."""
    if path in left_to_pants:
        return False
    return any(
        path.startswith(entry) if entry.endswith("/") else path == entry for entry in GLOBAL_INPUTS
    )


def decide(changed_files: Iterable[str], base: str, own_resolves: Sequence[str] = ()) -> Scope:
    """The scope of a change, given the files it changes since `base` and the gear resolves."""
    changed = sorted(set(changed_files))
    left_to_pants = own_resolve_files(own_resolves)
    global_changes = [path for path in changed if is_global(path, left_to_pants)]
    if global_changes:
        shown = ", ".join(global_changes[:5]) + (" ..." if len(global_changes) > 5 else "")
        return Scope("all", "", f"changes files Pants cannot see as target changes: {shown}")
    return Scope("changed", base, f"{len(changed)} changed files since {base[:12]}")


def _git(repo: Path, *args: str) -> str | None:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def base_branch(env: Mapping[str, str]) -> str:
    """The branch a change is compared with."""
    if env.get("CI_BASE"):
        return env["CI_BASE"]
    if env.get("GITHUB_BASE_REF"):
        return f"origin/{env['GITHUB_BASE_REF']}"
    return MAIN_BRANCH


def scope_of(repo: Path, env: Mapping[str, str]) -> Scope:
    """What a CI run in `repo` checks (see the module doc)."""
    if env.get("CI_SCOPE") == "all":
        return Scope("all", "", "CI_SCOPE=all")
    if env.get("CI_SCOPE") not in (None, "", "changed"):
        raise SystemExit(f"ci scope: CI_SCOPE must be 'all' or 'changed', not {env['CI_SCOPE']!r}")
    branch = base_branch(env)
    explicit_base = env.get("CI_BASE") or env.get("GITHUB_BASE_REF")
    if not explicit_base and _git(repo, "rev-parse", "--abbrev-ref", "HEAD") == MAIN_BRANCH:
        return Scope("all", "", f"on {MAIN_BRANCH}")
    candidates = [branch] if "/" in branch else [branch, f"origin/{branch}"]
    base = None
    for candidate in candidates:
        base = _git(repo, "merge-base", "HEAD", candidate)
        if base:
            break
    if not base:
        return Scope("all", "", f"no merge base of HEAD and {' or '.join(candidates)}")
    if base == _git(repo, "rev-parse", "HEAD") and not env.get("CI_BASE"):
        return Scope("all", "", f"HEAD is {branch} itself")
    changed = _git(repo, "diff", "--name-only", base, "HEAD")
    if changed is None:
        return Scope("all", "", f"cannot list the files changed since {base}")
    return decide(changed.splitlines(), base, [*_gear_resolves(repo), TOOLS_RESOLVE])


def _gear_resolves(repo: Path) -> list[str]:
    """The repository's gear resolves; none when it names none (everything is then global)."""
    try:
        return gear_resolve.gear_resolves(repo)
    except (OSError, gear_resolve.ResolveError):
        return []


def plan(selected: Iterable[str], everything: bool, benchmarks: bool = False) -> dict[str, bool]:
    """Which later steps run, given the addresses of the selected targets. A run of everything
    runs every step but the benchmarks, which run there only when asked (`benchmarks`, the
    nightly run); a changed-only run runs them when their targets are selected."""
    addresses = set(selected)

    def hit(trigger: str) -> bool:
        if trigger.endswith(("/", ":")):
            return any(address.startswith(trigger) for address in addresses)
        return trigger in addresses

    def runs(step: str, triggers: tuple[str, ...]) -> bool:
        if step in BENCHMARK_STEPS and (everything or benchmarks):
            return benchmarks
        return everything or any(hit(trigger) for trigger in triggers)

    return {step: runs(step, triggers) for step, triggers in STEP_TRIGGERS.items()}


def _assignments(values: Mapping[str, object]) -> str:
    return "\n".join(f"{name}={shlex.quote(str(value))}" for name, value in values.items())


def main(argv: Sequence[str]) -> int:
    if len(argv) == 1 and argv[0] == "scope":
        scope = scope_of(Path.cwd(), os.environ)
        print(
            _assignments({"CI_SCOPE": scope.kind, "CI_BASE": scope.base, "CI_REASON": scope.reason})
        )
        return 0
    if len(argv) == 3 and argv[0] == "plan" and argv[2] in ("all", "changed"):
        selected = Path(argv[1]).read_text(encoding="utf-8").split()
        steps = plan(
            selected,
            everything=argv[2] == "all",
            benchmarks=os.environ.get("CI_BENCHMARKS") == "1",
        )
        print(_assignments({step: int(run) for step, run in steps.items()}))
        return 0
    print(
        "usage: python3 -m gear_tools.ci.scope scope\n"
        "       python3 -m gear_tools.ci.scope plan SELECTED_TARGETS_FILE all|changed",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
