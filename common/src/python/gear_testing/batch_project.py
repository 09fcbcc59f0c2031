"""A fake Flywheel project shaped for batch runs: sessions with acquisitions and earlier analyses.

Used by the batch-run tests and by `tools/benchmarks/batch_run_requests.py`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from fake_flywheel.server import FakeFlywheel

ANALYSIS_GEAR_MANIFEST: dict[str, Any] = {
    "name": "dwi-qa",
    "label": "DWI QA",
    "version": "1.2.0",
    "inputs": {
        "dwi": {"base": "file", "type": {"enum": ["nifti"]}},
        "license": {"base": "file", "optional": True},
        "api-key": {"base": "api-key"},
    },
    "config": {
        "threshold": {"type": "number", "default": 0.5, "minimum": 0, "maximum": 1},
        "mode": {"type": "string", "enum": ["fast", "full"], "default": "fast"},
        "debug": {"type": "boolean", "default": False},
    },
}
DEFAULT_CONFIG = {"threshold": 0.5, "mode": "fast", "debug": False}
ACQUISITION_LABELS = ("T1w", "dwi", "fmap", "rest-bold")


@dataclass
class BatchProject:
    fake: FakeFlywheel
    group_id: str
    project_label: str
    project_id: str
    gear_id: str
    session_ids: list[str] = field(default_factory=list)
    # Sessions that have a dwi acquisition (the usual selection).
    dwi_session_ids: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"{self.group_id}/{self.project_label}"


def build_batch_project(
    fake: FakeFlywheel,
    *,
    sessions: int = 12,
    subjects: int | None = None,
    dwi_every: int = 4,
    earlier_analyses: bool = True,
    seed: int = 7,
) -> BatchProject:
    """A project of `sessions` sessions (4 acquisitions each except every `dwi_every`-th, which
    lacks dwi), and with `earlier_analyses` 0-3 earlier analyses of the gear per session in
    mixed states, versions and configs."""
    rng = random.Random(seed)
    group = fake.add("groups", {"_id": "lab", "label": "Lab"})
    project = fake.add(
        "projects", {"label": "DWI Study", "group": group["_id"], "parents": {"group": "lab"}}
    )
    fake.add_file("projects", project["_id"], "license.txt", b"licensed", type="text")
    gear = fake.add_gear(ANALYSIS_GEAR_MANIFEST, category="analysis")
    old_gear = fake.add_gear({**ANALYSIS_GEAR_MANIFEST, "version": "1.1.0"}, category="analysis")
    built = BatchProject(fake, "lab", "DWI Study", project["_id"], gear["_id"])
    subject_count = subjects or sessions
    subject_ids = []
    for number in range(subject_count):
        parents = {"group": "lab", "project": project["_id"]}
        subject = fake.add(
            "subjects",
            {"label": f"sub-{number:04d}", "project": project["_id"], "parents": parents},
        )
        subject_ids.append(subject["_id"])
    for number in range(sessions):
        subject_id = subject_ids[number % subject_count]
        parents = {"group": "lab", "project": project["_id"], "subject": subject_id}
        session = fake.add(
            "sessions",
            {"label": f"ses-{number:04d}", "subject": subject_id, "parents": parents},
        )
        built.session_ids.append(session["_id"])
        has_dwi = number % dwi_every != dwi_every - 1
        for label in ACQUISITION_LABELS:
            if label == "dwi" and not has_dwi:
                continue
            acquisition = fake.add(
                "acquisitions",
                {
                    "label": label,
                    "session": session["_id"],
                    "parents": {**parents, "session": session["_id"]},
                },
            )
            fake.add_file(
                "acquisitions", acquisition["_id"], f"{label}.nii.gz", b"nifti", type="nifti"
            )
            fake.add_file(
                "acquisitions", acquisition["_id"], f"{label}.dicom.zip", b"d", type="dicom"
            )
        if has_dwi:
            built.dwi_session_ids.append(session["_id"])
        if not earlier_analyses:
            continue
        for index in range(rng.randint(0, 3)):
            gear_id = rng.choice([gear["_id"], old_gear["_id"]])
            config = rng.choice([DEFAULT_CONFIG, {**DEFAULT_CONFIG, "mode": "full"}])
            state = rng.choice(["complete", "failed", "cancelled"])
            fake.add_analysis(
                "session", session["_id"], gear_id, f"earlier-{index}", config=config, state=state
            )
    return built
