"""Measure how much a long upload slows questions: question p95 while one ingest runs vs idle.

Usage, from the repository root (loads the real models; about two minutes on two cores)::

    .venv/bin/python eval/write_latency.py                     # -> eval/reports/write_latency.json
    .venv/bin/python eval/write_latency.py --clients 4 --kb 227

Method: one process holds a ``QA`` over a private copy of the sample index, as the web app
does. First ``--clients`` threads each ask ``--questions`` questions back to back (the idle
latencies). Then one thread ingests a single generated Markdown article of ``--kb`` kilobytes
(paragraphs of the sample corpus under a new title: the size of F9's upload in issue 15) through
``QA.ingest``, the web upload's path, while the same client threads keep asking until it ends.
The figure is p95 of ``QA.answer`` wall time during the ingest over idle p95; the promise in the
README is at most 3x.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHOD = " ".join(__doc__.split("Method: ")[1].split())
DEFAULT_OUT = ROOT / "eval" / "reports" / "write_latency.json"
QUESTIONS = (
    "What did Iran badly need from Russia?",
    "Who built Iran's nuclear reactor at Bushehr?",
    "Which NFL team represented the AFC at Super Bowl 50?",
    "Where did Nikola Tesla die?",
    "When did Moscow agree to finish the Bushehr reactor?",
    "Who was the MVP of Super Bowl 50?",
)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def big_article(kilobytes: int) -> str:
    """A Markdown article of about ``kilobytes`` KB: sample paragraphs under a title of its own."""
    data = json.loads((ROOT / "qa" / "data" / "sample" / "squad-wikipedia-articles.json").read_text("utf-8"))
    paragraphs = [p["context"] for article in data["data"] for p in article["paragraphs"]]
    parts = ["# A long upload for the write-latency measurement", ""]
    size, index = 0, 0
    while size < kilobytes * 1024:
        paragraph = paragraphs[index % len(paragraphs)]
        parts += [paragraph, ""]
        size += len(paragraph.encode("utf-8")) + 2
        index += 1
    return "\n".join(parts)


def ask_until(qa: object, stop: threading.Event, minimum: int, latencies: list[float],
              errors: list[str], offset: int) -> None:
    """Ask questions back to back: at least ``minimum``, then until ``stop`` is set."""
    asked = 0
    while asked < minimum or not stop.is_set():
        question = QUESTIONS[(offset + asked) % len(QUESTIONS)]
        started = time.perf_counter()
        try:
            qa.answer(question)  # type: ignore[attr-defined]
        except Exception as e:  # counted, not raised: the figure is how many fail
            errors.append(f"{type(e).__name__}: {e}")
        latencies.append(time.perf_counter() - started)
        asked += 1


def run_clients(qa: object, clients: int, minimum: int, stop: threading.Event) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    threads = [threading.Thread(target=ask_until, args=(qa, stop, minimum, latencies, errors, i))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4, help="question threads (default 4, as in F9)")
    parser.add_argument("--questions", type=int, default=10, help="idle questions per client (default 10)")
    parser.add_argument("--kb", type=int, default=227, help="size of the uploaded article (default 227 KB)")
    parser.add_argument("--index", type=Path, default=None,
                        help="a sample index to copy (default: build one from the sample corpus)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    from qa import QA

    work = Path(tempfile.mkdtemp(prefix="qa-write-latency-"))
    try:
        if args.index is not None:
            shutil.copytree(args.index, work / "index")
        qa = QA(work / "index", progress=False)  # a new directory gets the sample corpus
        qa.warm_up()
        for question in QUESTIONS:  # one-off costs before anything is timed
            qa.answer(question)
        done = threading.Event()
        done.set()
        idle, idle_errors = run_clients(qa, args.clients, args.questions, done)

        upload = work / "long-upload.md"
        upload.write_text(big_article(args.kb), encoding="utf-8")
        writing = threading.Event()
        outcome: dict[str, object] = {}

        def ingest() -> None:
            started = time.perf_counter()
            report = qa.ingest([upload], actor="eval:write_latency")
            outcome.update(seconds=time.perf_counter() - started, chunks=report.chunks_written,
                           added=len(report.added))
            writing.set()

        writer = threading.Thread(target=ingest)
        writer.start()
        during, during_errors = run_clients(qa, args.clients, 1, writing)
        writer.join()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    idle_p95, during_p95 = percentile(idle, 0.95), percentile(during, 0.95)
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "method": METHOD,
        "clients": args.clients,
        "upload_kb": args.kb,
        "ingest_seconds": round(float(outcome.get("seconds", 0.0)), 2),  # type: ignore[arg-type]
        "ingest_chunks": outcome.get("chunks"),
        "idle": {"questions": len(idle), "p50_s": round(statistics.median(idle), 3),
                 "p95_s": round(idle_p95, 3), "errors": len(idle_errors)},
        "during_upload": {"questions": len(during), "p50_s": round(statistics.median(during), 3),
                          "p95_s": round(during_p95, 3), "errors": len(during_errors)},
        "p95_ratio": round(during_p95 / idle_p95, 2) if idle_p95 else None,
        "errors": sorted(set(idle_errors + during_errors))[:5],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0 if not (idle_errors or during_errors) else 1


if __name__ == "__main__":
    sys.exit(main())
