"""The reliability record that the README's Reliability figures come from, written only when asked.

A test run writes nothing: ``record`` does its work only when ``QA_RELIABILITY_REPORT`` names a
file, as the measurement command ``eval/reliability.py`` does (it writes
``eval/reports/reliability.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

REPORT_ENV = "QA_RELIABILITY_REPORT"


def record(section: str, data: dict[str, object]) -> None:
    """Merge ``data`` under ``section`` into the file named by ``QA_RELIABILITY_REPORT``, if any."""
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    report_path = Path(target)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {}
    report[section] = data
    report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
