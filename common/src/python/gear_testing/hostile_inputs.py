"""Hostile input files for the tests: written at test time, small on disk."""

from __future__ import annotations

from pathlib import Path


def alias_bomb(path: Path, levels: int = 8, fan_out: int = 9) -> Path:
    """A YAML file of a dozen lines whose aliases stand for fan_out**levels values."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * fan_out)
        lines.append(f"a{level}: &a{level} [{refs}]")
    path.write_text("\n".join(lines) + "\n")
    return path


def deeply_nested_yaml(path: Path, depth: int = 10_000) -> Path:
    path.write_text("[" * depth + "]" * depth + "\n")
    return path


def study_file(path: Path, centers: int) -> Path:
    """A valid study file with `centers` centers (the shape project-management reads)."""
    lines = ["study: Big Study", "study-id: big", "datatypes: [form, dicom]", "centers:"]
    for index in range(centers):
        lines += [f"  - center-id: c{index}", "    active: true"]
    path.write_text("\n".join(lines) + "\n")
    return path
