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

    ./pants run tools/benchmarks/manifest_checker.py -- --hostile

checks hand-made hostile manifests and Dockerfiles (HOSTILE_CASES, none of them a test's), each
alone, in a network namespace of its own (`unshare -n`: no network at all), and prints per case
the wall time, the output's size, whether a traceback showed and whether the verdict is right.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


BASE: dict[str, Any] = {
    "name": "my-gear", "label": "My gear", "description": "d", "version": "1.0.0",
    "author": "a", "license": "MIT", "source": "", "url": "", "command": "/bin/run",
    "custom": {"gear-builder": {"category": "utility", "image": "org/my-gear:1.0.0"}},
    "inputs": {"scan": {"base": "file"}}, "config": {"n": {"type": "integer", "default": 1}},
}  # fmt: skip
GEAR_DOCKERFILE = (
    "FROM python:3.11-slim\nCOPY app/bin.pex /bin/run\n"
    'COPY g/manifest.json /flywheel/v0/manifest.json\nENTRYPOINT ["/bin/run"]\n'
)


def _with(**changes: Any) -> str:
    manifest = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = manifest
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = value
    return json.dumps(manifest)


def _nested(depth: int) -> str:
    """A config value's schema `depth` arrays deep, as JSON text (too deep for json.dumps)."""
    return '{"type": "array", "items": ' * depth + '{"type": "string"}' + "}" * depth


# (name, manifest text, Dockerfile text, what the output must hold): the linter fails the
# manifest unless that is "agrees" or "warning" (a warning does not fail lint).
HOSTILE_CASES: list[tuple[str, str, str, str]] = [
    ("agrees", _with(), GEAR_DOCKERFILE, "agrees"),
    ("integer of 50,000 digits", _with().replace('"default": 1', '"default": ' + "7" * 50000),
     GEAR_DOCKERFILE, "digits"),
    ("-1e999 as a number default", _with(config={"x": {"type": "number", "default": 1}})
     .replace('"default": 1}}', '"default": -1e999}}'), GEAR_DOCKERFILE, "finite"),
    ("unclosed group in a nested items pattern",
     _with(config={"ids": {"type": "array", "items": {"type": "array", "items": {
         "type": "string", "pattern": "([a-z]"}}}}), GEAR_DOCKERFILE, "not a regular expression"),
    ("local $ref to definitions", _with(config={"x": {"$ref": "#/definitions/x"}}),
     GEAR_DOCKERFILE, "$ref"),
    ("file:// $ref", _with(config={"x": {"$ref": "file:///etc/passwd"}}), GEAR_DOCKERFILE, "$ref"),
    ("https $ref", _with(config={"x": {"$ref": "https://example.org/s.json#/x"}}),
     GEAR_DOCKERFILE, "$ref"),
    ("config nested 2,000 deep", _with(config={"x": "DEEP"}).replace('"DEEP"', _nested(2000)),
     GEAR_DOCKERFILE, "deep"),
    ("(x+x+)+y against 5,000 x", _with(config={"s": {"type": "string", "pattern": "^(x+x+)+y$",
     "default": "x" * 5000}}), GEAR_DOCKERFILE, "does not match"),
    ("(.*a){25} against 40 a", _with(config={"s": {"type": "string", "pattern": "^(.*a){25}$",
     "default": "a" * 40 + "b"}}), GEAR_DOCKERFILE, "does not match"),
    ("back-reference that backtracks", _with(config={"s": {"type": "string",
     "pattern": "^(b+)+\\1c$", "default": "b" * 40}}), GEAR_DOCKERFILE, "took more than"),
    ("input key with a Cyrillic a", _with(inputs={"sc\u0430n": {"base": "file"}}),
     GEAR_DOCKERFILE, "U+0430"),
    ("config key ending in a tab", _with(config={"n\t": {"type": "integer"}}), GEAR_DOCKERFILE,
     "U+0009"),
    ("a custom key of its own", _with(custom__lab__image="x"), GEAR_DOCKERFILE, "agrees"),
    ("custom.docker-image differs from gear-builder.image",
     json.dumps({**BASE, "custom": {**BASE["custom"], "docker-image": "org/other:1.0.0"}}),
     GEAR_DOCKERFILE, "docker-image"),
    ("manifest copied only in a builder stage", _with(),
     "FROM python:3.11-slim AS build\nCOPY g/manifest.json /flywheel/v0/manifest.json\n"
     "FROM python:3.11-slim\nCOPY app/bin.pex /bin/run\nENTRYPOINT [\"/bin/run\"]\n",
     "manifest.json"),
    ("BOM, escape directive, ${VAR:-word}", _with(environment={"PATH": "/opt/bin:/usr/bin"}),
     "\ufeff# escape=`\nFROM python:3.11-slim\nENV PATH=/opt/bin:${PATH:-/usr/bin}\n"
     "COPY app/bin.pex /bin/run\nCOPY g/manifest.json /flywheel/v0/manifest.json\n", "agrees"),
    ("command chained with ||", _with(command="/bin/run || true"), GEAR_DOCKERFILE, "warning"),
    ("command through an interpreter", _with(command="python3 -u /bin/run"), GEAR_DOCKERFILE,
     "agrees"),
    ("Infinity literal", _with().replace('"default": 1', '"default": Infinity'), GEAR_DOCKERFILE,
     "Infinity"),
    ("5,000 config keys", _with(config={f"k{i}": {"type": "integer", "default": "x"}
     for i in range(5000)}), GEAR_DOCKERFILE, "5,000 keys"),
    ("400 config values of the wrong type", _with(config={f"k{i}": {"type": "integer",
     "default": "x"} for i in range(400)}), GEAR_DOCKERFILE, "more problems"),
    ("three slow back-references", _with(config={k: {"type": "string",
     "pattern": "^(b+)+\\1c$", "default": "b" * 40} for k in "xyz"}), GEAR_DOCKERFILE,
     "were not checked"),
    ("a 3 MB description", _with(description="d" * 3_000_000), GEAR_DOCKERFILE, "characters"),
    ("duplicate keys", _with().replace('"name": "my-gear"', '"name": "my-gear", "name": "x"'),
     GEAR_DOCKERFILE, "name"),
]  # fmt: skip


def hostile(python: Path, root: Path, work: Path) -> list[list[str]]:
    """Each hostile case alone, with no network, and what came of it."""
    if shutil.which("unshare") is None:
        raise SystemExit("unshare (util-linux) is needed to cut the network")
    rows = []
    for index, (name, manifest, dockerfile, expected) in enumerate(HOSTILE_CASES):
        case = work / f"case-{index}"
        (case / "g").mkdir(parents=True)
        (case / "g/manifest.json").write_text(manifest, encoding="utf-8")
        (case / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        request = {
            "manifest": str(case / "g/manifest.json"),
            "dockerfile": str(case / "Dockerfile"),
            "code": [],
            "target": {
                "address": "g:my-gear", "name": "my-gear", "tags": ["1.0.0", "latest"],
                "repositories": ["org/my-gear"],
            },
        }  # fmt: skip
        (case / "request.json").write_text(json.dumps(request))
        command = ["unshare", "-n", str(python), "-m", "gear_manifest.checker", "request.json"]
        env = {**os.environ, "PYTHONPATH": str(root / CHECKER_DIR)}
        started = time.monotonic()
        try:
            ran = subprocess.run(
                command, cwd=case, env=env, capture_output=True, text=True, timeout=60
            )
            output, code = ran.stdout + ran.stderr, ran.returncode
        except subprocess.TimeoutExpired:
            output, code = "(killed after 60 s)", -9
        took = time.monotonic() - started
        right = expected in output and (expected in ("agrees", "warning")) == (code == 0)
        rows.append(
            [name, f"{took:.2f}", f"{len(output.encode()):,}", str(code),
             "yes" if "Traceback" in output else "no", "right" if right else "WRONG"]
        )  # fmt: skip
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifests", type=int, default=40, help="manifests per lint run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each; the best is shown")
    parser.add_argument(
        "--hostile", action="store_true", help="check the hand-made hostile cases, network cut"
    )
    args = parser.parse_args(argv)
    root = Repository.find().root
    python = linter_python()
    if args.hostile:
        with tempfile.TemporaryDirectory() as scratch:
            rows = hostile(python, root, Path(scratch))
        headers = ["case", "wall s", "output bytes", "exit", "traceback", "verdict"]
        print(format_table(headers, rows))
        print(
            f"worst {max(float(row[1]) for row in rows):.2f} s; largest output "
            f"{max(int(row[2].replace(',', '')) for row in rows):,} bytes; "
            f"{sum(row[5] == 'right' for row in rows)} of {len(rows)} verdicts right"
        )
        return 0 if all(row[5] == "right" and row[4] == "no" for row in rows) else 1
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
