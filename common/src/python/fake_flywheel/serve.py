"""Serves a fake Flywheel API until interrupted, for trying gears from the command line.

    serve.py [--port N] [--seed FILE.json]

The seed file maps collections to items, e.g. {"groups": [{"_id": "nacc", "label": "NACC"}]}.
It prints the API key to use (e.g. as FW_KEY for bin/run-gear) and, on exit, a summary of the
requests it served.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path

from fake_flywheel.server import FakeFlywheel


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake Flywheel API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--seed", type=Path, help="JSON file: {collection: [items]}")
    args = parser.parse_args(argv)
    fake = FakeFlywheel(port=args.port)
    if args.seed:
        for collection, items in json.loads(args.seed.read_text()).items():
            for item in items:
                fake.add(collection, item)
    # Stopped by Ctrl-C or by `kill` (scripts cannot send SIGINT to a background job).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with fake:
        print(f"FW_KEY={fake.api_key}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
        mutating = len(fake.mutating_requests())
        print(f"served {len(fake.requests)} requests ({mutating} changes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
