"""The reliability report (``test-output/reliability.json``) that the README's figures come from."""

from __future__ import annotations

import json
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "test-output" / "reliability.json"


def record(section: str, data: dict[str, object]) -> None:
    """Merge ``data`` into the reliability report under ``section``."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = json.loads(REPORT.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {}
    report[section] = data
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
