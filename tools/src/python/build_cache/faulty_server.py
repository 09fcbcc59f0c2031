"""A build cache that fails: a gRPC server answering every REAPI call with an error, or late.

    faulty_server.py --port N [--status UNAVAILABLE] [--delay SECONDS]

It speaks gRPC like a real REAPI server (Pants connects, sends its requests and gets a gRPC
status back), but every call fails with `--status` after waiting `--delay` seconds; with a
delay longer than Pants' timeouts it is a server that is slow rather than failing. It runs until
interrupted, printing `listening on 127.0.0.1:N` once it accepts connections.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

# REAPI methods whose request or response is a stream; every other method is unary.
STREAMING_RESPONSES = frozenset(
    {
        "/google.bytestream.ByteStream/Read",
        "/build.bazel.remote.execution.v2.ContentAddressableStorage/GetTree",
    }
)
STREAMING_REQUESTS = frozenset({"/google.bytestream.ByteStream/Write"})


class FailingHandler(grpc.GenericRpcHandler):
    """Answers every method with `status` after `delay` seconds."""

    def __init__(self, status: grpc.StatusCode, delay: float) -> None:
        self.status = status
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def _fail(self, method: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls += 1
        time.sleep(self.delay)
        context.abort(self.status, f"injected {self.status.name} for {method}")

    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler[Any, Any]:
        method = str(handler_call_details.method)

        def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
            self._fail(method, context)
            return b""

        def stream_out(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            self._fail(method, context)
            yield b""

        def stream_in(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
            self._fail(method, context)
            return b""

        if method in STREAMING_RESPONSES:
            return grpc.unary_stream_rpc_method_handler(stream_out)
        if method in STREAMING_REQUESTS:
            return grpc.stream_unary_rpc_method_handler(stream_in)
        return grpc.unary_unary_rpc_method_handler(unary)


def serve(
    port: int, status: grpc.StatusCode, delay: float
) -> tuple[grpc.Server, int, FailingHandler]:
    """Starts the server on 127.0.0.1 (`port` 0: any free one); returns it, its port, and its
    handler (which counts the calls)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    handler = FailingHandler(status, delay)
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound, handler


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--status", default="UNAVAILABLE", choices=grpc.StatusCode.__members__)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    server, port, _ = serve(args.port, grpc.StatusCode[args.status], args.delay)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"listening on 127.0.0.1:{port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
