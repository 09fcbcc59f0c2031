"""Prints one closing line for the JUnit reports of `pants test`: 'tests: N passed, N failed'."""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

reports = sorted(Path(sys.argv[1]).glob("*.xml"))
totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for report in reports:
    root = ET.parse(report).getroot()
    for suite in root.iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"{len(reports)} test files")
print(f"tests: {passed} passed, {failed} failed, {totals['skipped']} skipped")
sys.exit(1 if not reports or totals["tests"] == 0 else 0)
