"""The app as a user first meets it: time to the first page and the first answer, and its memory.

Starts ``scripts/run.sh`` (the README's command: the environment refresh, then ``app.py``) on a
new index folder and, with ``--cold``, an empty model cache, so the run builds the sample corpus
and exports the models as a first run does. It measures, from the moment the command starts:
when the port first answers, with the starting page or the app (until then a browser sees
"connection refused"), when ``/v1/answer``
first returns an answer (what a user waits for), the app's resident memory then, and after
``--questions`` more questions through the REST API (dev-set questions, one client). Writes
``eval/reports/app.json``. Usage:
    python -m qa_eval.app_bench [--cold] [--questions 200] [--port 7877]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from . import defaults
from .squad import answerable, load_questions, sample

ROOT = defaults.HERE.parent


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def _answer(base: str, question: str) -> int:
    request = urllib.request.Request(f"{base}/v1/answer", data=json.dumps({"question": question}).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def _rss_mb(pid: int) -> float:
    """Resident memory of the app: the process that runs ``app.py`` (``run.sh`` execs into it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def _wait(test: Any, timeout: float, process: subprocess.Popen[bytes]) -> float:
    """The monotonic time at which ``test()`` first holds; the app exiting first is an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with status {process.returncode}")
        try:
            if test():
                return time.monotonic()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the app did not get there in {timeout:.0f} s")


def measure(port: int, cold: bool, questions: int, work: Path) -> dict[str, Any]:
    env = dict(os.environ, QA_INDEX=str(work / "index"))
    if cold:
        env["QA_CACHE_DIR"] = str(work / "models")
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    process = subprocess.Popen([str(ROOT / "scripts" / "run.sh"), "--port", str(port), "--index", str(work / "index")],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first_page = _wait(lambda: _get(f"{base}/") in (200, 503), 900, process) - started  # 503: starting
        first_answer = _wait(lambda: _answer(base, "What did Iran badly need from Russia?") == 200,
                             900, process) - started
        after_start = _rss_mb(process.pid)
        asked = sample(answerable(load_questions(defaults.DEV_SET)), questions)
        t = time.monotonic()
        errors = sum(_answer(base, q.text) != 200 for q in asked)
        seconds = time.monotonic() - t
        after = _rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    return {"first_page_s": round(first_page, 1), "first_answer_s": round(first_answer, 1),
            "rss_mb_after_start": after_start, "rss_mb_after_questions": after, "questions": len(asked),
            "question_errors": errors, "questions_per_s": round(len(asked) / seconds, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="an empty model cache too (exports the models)")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--port", type=int, default=7877)
    parser.add_argument("--out", type=Path, default=defaults.reports_dir() / "app.json")
    args = parser.parse_args(argv)
    from qa.settings import Settings

    with tempfile.TemporaryDirectory(prefix="qa-app-bench-") as work:
        figures = measure(args.port, args.cold, args.questions, Path(work))
    report = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
              "command": "scripts/run.sh --index NEW (after the environment is installed)",
              "cold_model_cache": args.cold, "embedding_backend": Settings.from_env().embedding_backend, **figures}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
