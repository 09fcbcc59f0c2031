"""What a shared build cache saves: two clones, each with empty Pants caches, one cache server.

    ./pants run tools/benchmarks/build_cache.py -- [--cache grpc://HOST:PORT] [--goals "test ::"]...
                                             [--keep DIR]

Clone A (this repository's HEAD, committed work only) runs each goal with empty local Pants
caches (its own PANTS_LOCAL_STORE_DIR and named caches) and the build cache on, writing to it;
clone B, at another path with its own empty caches, runs the same goals reading from it. Without
--cache it starts a BuildGrid of its own (bin/build-cache, on a free port, store in the scratch
directory, run from a third clone) and stops it at the end. It prints, per clone and goal, the
wall time, the remote cache lookups and hits (Pants' --stats-log counters), the writes, and the
store's size; and B's speed-up per goal. Both clones share this checkout's Pants install
(PANTS_BOOTSTRAP_DIR).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gear_tools.table import format_table

DEFAULT_GOALS = ("test ::", "package ::")
COUNTER = re.compile(r"^\s+(remote_cache_[a-z_]+|local_cache_[a-z_]+): (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Run:
    clone: str
    goal: str
    seconds: float
    counters: dict[str, int]

    @property
    def hits(self) -> str:
        asked = self.counters.get("remote_cache_requests", 0)
        cached = self.counters.get("remote_cache_requests_cached", 0)
        share = f" ({100 * cached / asked:.0f}%)" if asked else ""
        return f"{cached} of {asked}{share}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def store_size(path: Path) -> str:
    sizes = [f.stat().st_size for f in path.rglob("*") if f.is_file()]
    return f"{sum(sizes) / 1e6:.0f} MB in {len(sizes)} blobs"


def pants(clone: Path, goal: str, env: dict[str, str]) -> Run:
    """Runs `./pants <goal>` in the clone (no pantsd, stats logged); stops on a failure."""
    argv = ["./pants", "--no-pantsd", "--stats-log", *goal.split()]
    print(f"{clone.name}: ./pants {goal} ...", flush=True)
    started = time.monotonic()
    result = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(
            f"`{' '.join(argv)}` failed in {clone} (exit {result.returncode}):\n"
            f"{(result.stdout + result.stderr)[-3000:]}"
        )
    counters = {name: int(value) for name, value in COUNTER.findall(result.stderr)}
    run = Run(clone.name, goal, seconds, counters)
    print(f"{clone.name}: ./pants {goal}: {seconds:.0f} s, remote hits {run.hits}", flush=True)
    return run


def clone_env(base: dict[str, str], scratch: Path, name: str, cache: str) -> dict[str, str]:
    """The environment of one clone: its own empty Pants caches, the build cache on."""
    caches = scratch / f"{name}-caches"
    return {
        **base,
        "GEAR_BUILD_CACHE": cache,
        "PANTS_LOCAL_STORE_DIR": str(caches / "lmdb"),
        "PANTS_NAMED_CACHES_DIR": str(caches / "named"),
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", help="the build cache (default: a BuildGrid of its own)")
    parser.add_argument("--goals", action="append", help=f"default: {' and '.join(DEFAULT_GOALS)}")
    parser.add_argument("--keep", type=Path, help="make the clones here and keep them")
    args = parser.parse_args(argv)
    goals = args.goals or list(DEFAULT_GOALS)
    source = Path.cwd().resolve()  # ./pants run runs in the repository root
    scratch = (args.keep or Path(tempfile.mkdtemp(prefix="build-cache-bench-"))).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    base = {**os.environ, "PANTS_BOOTSTRAP_DIR": str(source / ".pants.bootstrap")}
    base.pop("PANTS_CONFIG_FILES", None)
    store = scratch / "cache"
    cache = args.cache
    if cache is None:
        # Started from a clone of its own: `./pants run` holds this checkout's Pants, which
        # bin/build-cache would wait for to build the server.
        server_clone = scratch / "cache-server"
        subprocess.run(["git", "clone", "-q", str(source), str(server_clone)], check=True)
        port = free_port()
        server = [str(server_clone / "bin/build-cache"), "--dir", str(store), "--port", str(port)]
        subprocess.run(
            [server[0], "start", *server[1:]], check=True, env={**base, "PANTS_PANTSD": "false"}
        )
        cache = f"grpc://127.0.0.1:{port}"
    runs: list[Run] = []
    try:
        for name in ("clone-a", "clone-b"):
            clone = scratch / name
            subprocess.run(["git", "clone", "-q", str(source), str(clone)], check=True)
            env = clone_env(base, scratch, name, cache)
            # The launcher's own set-up (Pants' venv is shared; .pants.rc is the clone's).
            subprocess.run(["./pants", "--no-pantsd", "--version"], cwd=clone, env=env, check=True)
            runs += [pants(clone, goal, env) for goal in goals]
    finally:
        if args.cache is None:
            subprocess.run([server[0], "stop", *server[1:]], check=False, env=base)
    rows = [
        (
            run.clone,
            run.goal,
            f"{run.seconds:.0f}",
            run.hits,
            str(run.counters.get("remote_cache_write_successes", 0)),
        )
        for run in runs
    ]
    print()
    print(format_table(("clone", "goal", "seconds", "remote hits", "writes"), rows))
    for goal in goals:
        a, b = (
            next(r for r in runs if r.clone == c and r.goal == goal) for c in ("clone-a", "clone-b")
        )
        print(f"{goal}: clone B {a.seconds / b.seconds:.1f}x faster than clone A")
    if store.is_dir():
        print(f"cache store: {store_size(store / 'cas')}")
    if args.keep is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
