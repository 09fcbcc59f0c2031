"""The failing cache server over real gRPC, and how a run with a failing cache is judged."""

from __future__ import annotations

import time
from typing import Any

import grpc
from build_cache.fault_check import DOWN_LINE, judge
from build_cache.faulty_server import serve

GET_ACTION_RESULT = "/build.bazel.remote.execution.v2.ActionCache/GetActionResult"
BYTESTREAM_READ = "/google.bytestream.ByteStream/Read"


def call(port: int, method: str, *, timeout: float = 5.0, stream: bool = False) -> Any:
    """The error (a grpc.Call) a call of `method`, raw bytes in and out, ends with."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        invoke: Any = channel.unary_stream(method) if stream else channel.unary_unary(method)
        try:
            answer = invoke(b"", timeout=timeout)
            if stream:
                list(answer)
        except grpc.RpcError as error:
            return error
    raise AssertionError(f"{method} answered without an error")


def test_every_call_fails_with_the_status_asked_for() -> None:
    server, port, handler = serve(0, grpc.StatusCode.UNAVAILABLE, 0.0)
    try:
        for method, stream in ((GET_ACTION_RESULT, False), (BYTESTREAM_READ, True)):
            error = call(port, method, stream=stream)
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert method in str(error.details())
        assert handler.calls == 2
    finally:
        server.stop(0)


def test_a_slow_server_outlasts_the_clients_deadline() -> None:
    server, port, _ = serve(0, grpc.StatusCode.INTERNAL, 3.0)
    try:
        started = time.monotonic()
        error = call(port, GET_ACTION_RESULT, timeout=0.5)
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 2.5
    finally:
        server.stop(0)


def test_a_run_passes_with_one_warning_for_reads_and_one_for_writes() -> None:
    read = "12:00:00 [WARN] Failed to read from remote cache (1 occurrences so far): Unavailable"
    write = "12:00:01 [WARN] Failed to write to remote cache (1 occurrences so far): Unavailable"
    assert judge("errors", 0, 1.0, f"{read}\n{write}\n").problem is None
    assert "repeated warnings" in str(judge("errors", 0, 1.0, f"{read}\n{read}\n").problem)
    assert "exit code 1" in str(judge("errors", 1, 1.0, "boom").problem)
    down = f"pants launcher: warning: the build cache grpc://x:1 {DOWN_LINE}\n"
    assert judge("down", 0, 1.0, down, down=True).problem is None
    assert "the launcher's one line" in str(judge("down", 0, 1.0, "", down=True).problem)
