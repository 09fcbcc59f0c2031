"""A build cache that is down, failing, slow or killed mid-run never fails a build.

    fault_check.py [--repo DIR] [--goal "lint --only=ruff common/src/python/gear_common/errors.py"]
                   [--long-goal "test common/test/python/gear_common_tests/test_config.py"]

Runs `./pants --no-pantsd --no-local-cache GOAL` in the repository (so that every process asks
the remote cache) with GEAR_BUILD_CACHE pointing at:

  down     a port nothing listens on: ./pants says so in one line and runs without the cache
           (checked with `./pants --version`: the launcher decides before Pants starts);
  errors   a gRPC server answering every call UNAVAILABLE (build_cache.faulty_server);
  slow     a gRPC server answering only after 20 s, longer than pants.cache.toml's timeouts;
  killed   a real BuildGrid (bin/build-cache), killed while Pants runs LONG_GOAL;
  token    a real BuildGrid that wants a token (--token-secret): with GEAR_BUILD_CACHE_TOKEN_FILE
           the cache must take Pants' writes without a warning, and the token must not appear.

Each run must exit 0 with at most one remote cache warning for reads and one for writes. It
prints a row per case and exits 1 if any case fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from build_cache.faulty_server import serve

GOAL = "lint --only=ruff common/src/python/gear_common/errors.py"
LONG_GOAL = (
    "test common/test/python/gear_common_tests/test_config.py "
    "common/test/python/gear_common_tests/test_problems.py"
)
WARNING = re.compile(r"\[WARN\].*(Failed to (read from|write to) remote cache)")
DOWN_LINE = "does not answer; this run builds without it"
SLOW_SECONDS = 20.0


@dataclass(frozen=True)
class Result:
    case: str
    exit_code: int
    seconds: float
    warnings: list[str]
    problem: str | None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def judge(case: str, exit_code: int, seconds: float, output: str, *, down: bool = False) -> Result:
    """A run passes when it exits 0 with at most one cache warning for reads and for writes."""
    warnings = [match.group(1) for match in WARNING.finditer(output)]
    problem = None
    if exit_code != 0:
        problem = f"exit code {exit_code}:\n{output[-2000:]}"
    elif any(warnings.count(kind) > 1 for kind in set(warnings)):
        problem = f"repeated warnings: {warnings}"
    elif down and output.count(DOWN_LINE) != 1:
        problem = f"expected the launcher's one line ({DOWN_LINE!r})"
    return Result(case, exit_code, seconds, warnings, problem)


def pants_argv(goal: str, *flags: str) -> list[str]:
    return ["./pants", "--no-pantsd", "--no-local-cache", *flags, *goal.split()]


def cache_env(cache: str, **more: str) -> dict[str, str]:
    return {**os.environ, "GEAR_BUILD_CACHE": cache, **more}


def pants(
    repo: Path, argv: list[str], env: dict[str, str], during: Callable[[], None] | None = None
) -> tuple[int, float, str]:
    """Runs Pants; `during` is called once it has started. Returns its exit code, wall time
    and output (stdout and stderr)."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if during is not None:
        during()
    output, _ = process.communicate()
    return process.returncode, time.monotonic() - started, output


def run_pants(repo: Path, goal: str, cache: str, case: str, *, down: bool = False) -> Result:
    print(f"{case}: ./pants {goal} with the cache at {cache} ...", flush=True)
    exit_code, took, output = pants(repo, pants_argv(goal), cache_env(cache))
    return judge(case, exit_code, took, output, down=down)


def failing_server(repo: Path, goal: str, case: str, delay: float) -> Result:
    server, port, handler = serve(0, grpc.StatusCode.UNAVAILABLE, delay)
    try:
        result = run_pants(repo, goal, f"grpc://127.0.0.1:{port}", case)
    finally:
        server.stop(0)
    if result.problem is None and handler.calls == 0:
        return Result(case, result.exit_code, result.seconds, result.warnings, "no call reached it")
    return result


@contextlib.contextmanager
def buildgrid(repo: Path, *start_flags: str) -> Iterator[tuple[list[str], str]]:
    """A BuildGrid started by bin/build-cache in a scratch directory, stopped at the end:
    yields bin/build-cache's command with the directory and port, and the cache's address."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="build-cache-check-") as scratch:
        command = [str(repo / "bin/build-cache"), "--dir", f"{scratch}/cache", "--port", str(port)]
        subprocess.run(
            [command[0], "start", *command[1:], *start_flags], check=True, capture_output=True
        )
        try:
            yield command, f"grpc://127.0.0.1:{port}"
        finally:
            subprocess.run([command[0], "stop", *command[1:]], check=False, capture_output=True)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def killed_server(repo: Path, goal: str) -> Result:
    """BuildGrid answers at first, and is killed (SIGKILL) while Pants is working."""
    with buildgrid(repo) as (command, cache):
        pid = int((Path(command[2]) / "server.pid").read_text())
        print(f"killed: ./pants {goal}, BuildGrid (pid {pid}) killed 8 s in ...", flush=True)
        killer = threading.Timer(8.0, _kill, (pid,))
        exit_code, took, output = pants(repo, pants_argv(goal), cache_env(cache), killer.start)
        killer.cancel()
    result = judge("killed", exit_code, took, output)
    if result.problem is None and took < 8.0:
        return Result("killed", result.exit_code, took, result.warnings, "ended before the kill")
    return result


def token_server(repo: Path, goal: str) -> Result:
    """BuildGrid that wants a token: ./pants passes it from GEAR_BUILD_CACHE_TOKEN_FILE, the
    cache takes Pants' writes, and the token appears nowhere in the output."""
    with tempfile.TemporaryDirectory(prefix="build-cache-token-") as scratch:
        secret, token_file = Path(scratch) / "secret", Path(scratch) / "token"
        secret.write_text(f"{os.urandom(24).hex()}\n")
        with buildgrid(repo, "--token-secret", str(secret)) as (command, cache):
            minted = subprocess.run(
                [command[0], "token", *command[1:]], check=True, capture_output=True, text=True
            ).stdout.strip()
            token_file.write_text(minted)
            token_file.chmod(0o600)
            print(f"token: ./pants {goal} with a token the cache wants ...", flush=True)
            env = cache_env(cache, GEAR_BUILD_CACHE_TOKEN_FILE=str(token_file))
            exit_code, took, output = pants(repo, pants_argv(goal, "--stats-log"), env)
    judged = judge("token", exit_code, took, output)
    writes = re.search(r"remote_cache_write_successes: (\d+)", output)
    if judged.problem is None and minted in output:
        return Result("token", judged.exit_code, took, judged.warnings, "the token was printed")
    if judged.problem is None and (judged.warnings or not writes or writes.group(1) == "0"):
        return Result("token", judged.exit_code, took, judged.warnings, "the cache took no write")
    return judged


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--goal", default=GOAL)
    parser.add_argument("--long-goal", default=LONG_GOAL)
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    results = [
        # ./pants drops a cache that does not answer before Pants starts: its version will do.
        run_pants(repo, "--version", f"grpc://127.0.0.1:{free_port()}", "down", down=True),
        failing_server(repo, args.goal, "errors", 0.0),
        failing_server(repo, args.goal, "slow", SLOW_SECONDS),
        killed_server(repo, args.long_goal),
        token_server(repo, args.goal),
    ]
    print()
    for result in results:
        verdict = "ok  " if result.problem is None else "FAIL"
        warned = ", ".join(result.warnings) or "no Pants warning"
        print(
            f"{verdict} {result.case:<7} exit {result.exit_code}, {result.seconds:.0f} s, {warned}"
        )
        if result.problem:
            print(f"     {result.problem}")
    failed = [result.case for result in results if result.problem]
    print(f"build cache faults: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
