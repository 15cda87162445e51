"""Measure the README's Reliability figures: run the crash, concurrency, damage and hostile-input
tests with the reliability record switched on, and write ``eval/reports/reliability.json``.

Usage, from the repository root after ``scripts/env.sh`` (it runs slow tests: minutes)::

    .venv/bin/python eval/reliability.py                      # -> eval/reports/reliability.json
    .venv/bin/python eval/reliability.py --out /tmp/rel.json  # somewhere else
    .venv/bin/python eval/reliability.py -- -k sigkill        # extra pytest arguments after --

The tests (``tests/test_reliability.py``, ``tests/test_hostile_input.py``) are the evidence and
these numbers their by-product: ``tests/reliability_report.py`` writes only when
``QA_RELIABILITY_REPORT`` names a file, which this command does, so a plain test run writes
nothing. The report is replaced only when every selected test passed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "eval" / "reports" / "reliability.json"
TESTS = ["tests/test_reliability.py", "tests/test_hostile_input.py",
         "tests/test_web_access.py::test_eight_clients_ask_while_an_admin_uploads"]
REPORT_ENV = "QA_RELIABILITY_REPORT"  # read by tests/reliability_report.py


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the report to write (JSON)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    partial.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *TESTS, *args.pytest_args]
    env = {**os.environ, REPORT_ENV: str(partial), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = dt.datetime.now(dt.UTC)
    status = subprocess.run(command, cwd=ROOT, env=env).returncode
    try:
        if status != 0:
            print(f"tests failed (exit {status}); {out} is left as it was", file=sys.stderr)
            return status
        if not partial.exists():
            print("the selected tests recorded nothing; no report written", file=sys.stderr)
            return 1
        report = json.loads(partial.read_text(encoding="utf-8"))
        report["measured"] = {
            "date": started.date().isoformat(),
            "seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1),
            "tests": TESTS, "pytest_args": args.pytest_args,
            "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        }
        out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {out}")
        return 0
    finally:
        partial.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
