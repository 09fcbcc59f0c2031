"""Whether two clean clones of one commit build bit-identical gear images, and at what cost.

    ./pants run tools/benchmarks/image_reproducibility.py -- [--gear template_gear] [--keep DIR]

Clones HEAD (committed work only) twice, as two machines would have it: different clone paths,
a different umask (022 and 077) and TMPDIR, and each clone its own, empty podman storage (the
base image copied in), so that neither build can reuse an image or a cached step of the other
or of this checkout (gear_tools.images.scratch_build). Each clone runs `./pants package` of the
gear's image, one after the other; then the image IDs (configuration digests) are compared: the same
ID is the same configuration, which names every layer's digest. Pants' own caches are shared:
the pexes are reproducible anyway.

It prints both clones' image IDs and build times, and exits 1 when they differ, naming the
first layer that does and the instruction that made it. With podman only (the engine whose
builds set every file's time: see docs/development.md, "Reproducible images").
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from gear_tools.images.scratch_build import (
    ScratchClone,
    build,
    built_image_id,
    first_difference,
    make_clone,
)
from gear_tools.repo import RepoError, Repository
from gear_tools.table import format_table


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gear", default="template_gear", help="gear directory")
    parser.add_argument("--keep", type=Path, help="make the clones here and keep them")
    args = parser.parse_args(argv)
    source = Path.cwd().resolve()  # ./pants run runs in the repository root
    try:
        target = Repository(source).gear(args.gear).image_target
    except RepoError as exc:
        parser.error(str(exc))
    scratch = (args.keep or Path(tempfile.mkdtemp(prefix="reproducibility-"))).resolve()
    clones: list[ScratchClone] = []
    rows = []
    try:
        for label, depth, umask in (("a", 0, 0o022), ("b", 3, 0o077)):
            clone = make_clone(source, scratch / label, depth=depth, umask=umask)
            clones.append(clone)
            print(f"clone {label} ({clone.repo}, umask {umask:03o}): ./pants package {target} ...")
            seconds = build(source, clone, target)
            rows.append((label, built_image_id(clone, args.gear), f"{seconds:.0f}"))
        same = rows[0][1] == rows[1][1]
        difference = ""
        if not same:
            configs = [clone.image_config(row[1]) for clone, row in zip(clones, rows)]
            difference = first_difference(*configs)
    finally:
        if args.keep is None:
            for clone in clones:
                clone.remove()
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{target} from two clean clones of HEAD (podman, separate storages)")
    print(format_table(("clone", "image ID", "build s"), rows))
    if not same:
        print(f"the images differ: {difference}", file=sys.stderr)
        return 1
    print("the same image in both clones")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
