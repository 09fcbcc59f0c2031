"""Serves a fake Flywheel API until interrupted, for trying gears from the command line.

    serve.py [--port N] [--seed FILE.json]

The seed file maps collections to items, e.g. {"groups": [{"_id": "nacc", "label": "NACC"}]},
and may also hold
  "gears": [{"manifest_file": "PATH", "category": "utility"}]  (or {"gear": {manifest}, ...})
  "files": [{"container": "ID", "name": "NAME", "text": "..." | "path": "PATH", ...record}]
  "jobs":  [{"_id": "ID", "gear": "NAME", "destination": {...}, "inputs": {...}, "config": {...},
             "state": "failed"}]
with relative paths taken from the seed file's directory. It prints the API key to use (e.g.
as FW_KEY for bin/run-gear) and, on exit, a summary of the requests it served.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from fake_flywheel.server import FakeFlywheel

# Seed keys that are not collections of items, applied after the collections.
SPECIAL_KEYS = ("gears", "files", "jobs")


def seed(fake: FakeFlywheel, data: dict[str, Any], base_dir: Path) -> None:
    """Fills the fake site from a seed document (see the module doc)."""
    for collection, items in data.items():
        if collection not in SPECIAL_KEYS:
            for item in items:
                fake.add(collection, item)
    for gear in data.get("gears", []):
        manifest = gear.get("gear")
        if "manifest_file" in gear:
            manifest = json.loads((base_dir / gear["manifest_file"]).read_text())
        fake.add_gear(manifest, gear.get("category", "utility"))
    for entry in data.get("files", []):
        entry = dict(entry)
        container_id = entry.pop("container")
        collection = next(name for name, items in fake.items.items() if container_id in items)
        content = (
            (base_dir / entry.pop("path")).read_bytes()
            if "path" in entry
            else str(entry.pop("text", "")).encode()
        )
        fake.add_file(collection, container_id, entry.pop("name"), content, **entry)
    for job in data.get("jobs", []):
        job = dict(job)
        job_id = fake.add_job(job, state=job.pop("state", "pending"))
        print(f"job {job_id}: {job.get('gear') or job.get('gear_id')}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake Flywheel API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--seed", type=Path, help="JSON file: {collection: [items]}")
    args = parser.parse_args(argv)
    fake = FakeFlywheel(port=args.port)
    if args.seed:
        seed(fake, json.loads(args.seed.read_text()), args.seed.parent)
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
