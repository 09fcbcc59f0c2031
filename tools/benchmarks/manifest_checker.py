"""What the gear-manifest linter costs per manifest, as `pants lint` runs it.

    ./pants lint --only=gear-manifest ::
    ./pants run tools/benchmarks/manifest_checker.py -- [--manifests 40] [--rounds 3]

It runs this checkout's checker (pants-plugins/gear_manifest) with the interpreter of the
linter's virtualenv as `pants lint` built it (fw-gear and its dependencies from the lockfile,
nothing else), the way the lint rule does: one process for every manifest linted. Manifests
are the repository's gears' and the real public ones in pants-plugins/gear_manifest/testdata,
repeated up to --manifests (each checked against a docker_image of its own name and version).
It prints the best of --rounds wall times for one process checking one manifest and for one
process checking all, and the cost per manifest of each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gear_tools.repo import Repository
from gear_tools.table import format_table

CHECKER_DIR = "pants-plugins"
TESTDATA = "pants-plugins/gear_manifest/testdata"
DOCKERFILE = 'FROM python:3.11-slim\nCOPY app/bin.pex /bin/run\nENTRYPOINT ["/bin/run"]\n'


def linter_python() -> Path:
    """The interpreter of the linter's virtualenv, as the last `pants lint` built it."""
    caches = Path(
        os.environ.get("PANTS_NAMED_CACHES_DIR", Path.home() / ".cache/pants/named_caches")
    )
    found = sorted(
        caches.glob("pex_root/venvs/*/*/lib/python3*/site-packages/gear_manifest/checker.py"),
        key=lambda path: path.stat().st_mtime,
    )
    if not found:
        raise SystemExit(
            f"no gear-manifest linter virtualenv under {caches}; run "
            "`./pants lint --only=gear-manifest ::` first"
        )
    return found[-1].parents[4] / "bin/python"


def requests(root: Path, work: Path, count: int) -> list[dict[str, Any]]:
    """`count` checker requests, each with its own copy of a manifest."""
    sources = [gear.manifest_path for gear in Repository(root).gears()]
    sources += sorted((root / TESTDATA).glob("*.json"))
    (work / "Dockerfile").write_text(DOCKERFILE)
    made = []
    for index in range(count):
        manifest = json.loads(sources[index % len(sources)].read_text())
        name, version = str(manifest.get("name")), str(manifest.get("version"))
        image = manifest.setdefault("custom", {}).setdefault("gear-builder", {}).get("image", "")
        path = work / f"manifest-{index}.json"
        path.write_text(json.dumps(manifest))
        made.append(
            {
                "manifest": str(path),
                "dockerfile": str(work / "Dockerfile"),
                "code": [],
                "target": {
                    "address": f"bench/{index}:{name}",
                    "name": name,
                    "tags": [version, "latest"],
                    "repositories": [image.rsplit(":", 1)[0]],
                },
            }
        )
    return made


def timed(python: Path, root: Path, request_file: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(root / CHECKER_DIR)}
    started = time.monotonic()
    subprocess.run(
        [str(python), "-m", "gear_manifest.checker", str(request_file)],
        env=env,
        capture_output=True,
        check=False,
    )
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifests", type=int, default=40, help="manifests per lint run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each; the best is shown")
    args = parser.parse_args(argv)
    root = Repository.find().root
    python = linter_python()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        made = requests(root, work, args.manifests)
        one, every = work / "one.json", work / "every.json"
        one.write_text(json.dumps({"checks": made[:1]}))
        every.write_text(json.dumps({"checks": made}))
        single = min(timed(python, root, one) for _ in range(args.rounds))
        batch = min(timed(python, root, every) for _ in range(args.rounds))
    rows = [
        ["1 manifest, 1 process", f"{single:.2f}", f"{single:.3f}"],
        [
            f"{args.manifests} manifests, 1 process (as pants lint runs it)",
            f"{batch:.2f}",
            f"{batch / args.manifests:.3f}",
        ],
    ]
    print(format_table(["run", "wall s", "s per manifest"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
