"""Choose the reader's one threshold out of fold, from whole-reader runs at threshold 0.

Issue 14 asks for one threshold on the reader's confidence, chosen out of fold and documented.
The confidence is the weights file's calibration; this chooses only the threshold, and on what a
user gets: ``answer()`` end to end (definition and metadata answers included), read by span
extractors on articles they never trained on.

- Input: ``qa eval answers --threshold 0 --records FILE`` with each fold's extractor
  (``QA_EXTRACTOR_WEIGHTS=eval/.cache/extractor-halfN``). At threshold 0 every question with a
  candidate is answered, and each record says whether the quote holds a gold answer, the key
  span's EM/F1 and the confidence, so any threshold t is graded exactly: an answer is given
  when its confidence is at least t.
- Only out-of-fold records are used (``oof``: the extractor never trained on the question's
  article, or for the half index's questions never read any of its articles).
- Five folds by article (no article on both sides): each chooses, on the other four, the
  threshold that falls least short of issue 14's targets (``fit_reader.TARGETS``: answer accuracy
  and the four answered/declined rates, shortfalls added up) and is graded at it on its own
  articles. Those pooled figures are the recipe's; the threshold chosen on every record is the
  one the reader's weights file ships.

Usage (writes ``eval/reports/threshold.{json,md}``):
    python -m qa_eval.threshold RECORDS [RECORDS ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from qa.metrics import auroc

from . import defaults
from .fit_reader import TARGETS, THRESHOLDS
from .squad import article_folds

FOLDS = 5
CURVE = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)  # the report's rates at a few thresholds
PARTS = ("v1", "in_corpus", "out_of_corpus", "v2_unanswerable", "v2_answerable")


class Record(BaseModel):
    """One graded answer of ``harness.write_records``."""

    part: str  # one of PARTS
    oof: bool
    threshold: float  # the run's
    id: str
    title: str
    question: str
    found: bool
    confidence: float
    contains: bool
    em: bool
    f1: float
    quote: str
    key: str


def load(paths: Sequence[Path]) -> list[Record]:
    """The out-of-fold records of every file.

    Raises:
        ValueError: a file's run declined by a threshold above the lowest one tried, so some
            thresholds cannot be graded from it.
    """
    rows = []
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            read = [Record.model_validate_json(line) for line in f]
        if any(r.threshold > THRESHOLDS[0] for r in read):
            raise ValueError(f"{path} was run at threshold {max(r.threshold for r in read)}; "
                             f"run qa eval answers with --threshold 0 to grade every threshold")
        rows += [r for r in read if r.oof]
    return rows


def rates(rows: Sequence[Record], threshold: float | Sequence[float]) -> dict[str, float]:
    """Issue 14's rows (those of ``TARGETS``, and the key span's EM/F1) at ``threshold``: one for
    every row, or each row's own."""
    each = [float(threshold)] * len(rows) if isinstance(threshold, int | float) else threshold
    given = [r.found and r.confidence >= t for r, t in zip(rows, each, strict=True)]

    def share(part: str, value: Callable[[Record, bool], float]) -> float:
        values = [value(r, g) for r, g in zip(rows, given, strict=True) if r.part == part]
        return sum(values) / len(values) if values else 0.0

    return {"answer_accuracy": share("v1", lambda r, g: g and r.contains),
            "span_em": share("v1", lambda r, g: g and r.em),
            "span_f1": share("v1", lambda r, g: r.f1 if g else 0.0),
            "v2_declined_unanswerable": 1 - share("v2_unanswerable", lambda r, g: g),
            "v2_answered_answerable": share("v2_answerable", lambda r, g: g),
            "answered_in_corpus": share("in_corpus", lambda r, g: g),
            "declined_out_of_corpus": 1 - share("out_of_corpus", lambda r, g: g)}


def shortfall(rows: Sequence[Record], threshold: float) -> float:
    """How far the rows of ``TARGETS`` fall short of them at ``threshold``, added up."""
    got = rates(rows, threshold)
    return sum(max(0.0, target - got[row]) for row, target in TARGETS.items())


def best_threshold(rows: Sequence[Record]) -> float:
    """The threshold of ``fit_reader.THRESHOLDS`` with the least ``shortfall`` (the lowest of equals)."""
    return min(THRESHOLDS, key=lambda t: shortfall(rows, t))


def by_folds(rows: Sequence[Record]) -> tuple[dict[str, float], list[float]]:
    """Each article fold graded at the threshold chosen on the others: the pooled rates (each
    fold's rows at its own threshold) and the thresholds chosen."""
    fold = article_folds((r.title for r in rows), FOLDS)
    chosen = [best_threshold([r for r in rows if fold[r.title] != k]) for k in range(FOLDS)]
    return _rounded(rates(rows, [chosen[fold[r.title]] for r in rows])), chosen


def report(paths: Sequence[Path], rows: Sequence[Record], shipped: float) -> dict[str, Any]:
    """The choice, its out-of-fold figures, and the rates at the shipped and chosen thresholds."""
    pooled, chosen = by_folds(rows)
    best = best_threshold(rows)
    confidences = {part: [r.confidence for r in rows if r.part == part] for part in PARTS}
    return {
        "records": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths},
        "questions": {part: len(c) for part, c in confidences.items()},
        "targets": TARGETS,
        "folds": FOLDS,
        "thresholds_by_fold": chosen,
        "out_of_fold": pooled,
        "chosen_on_all": best,
        "at_chosen": _rounded(rates(rows, best)),
        "shipped": shipped,
        "at_shipped": _rounded(rates(rows, shipped)),
        "curve": {str(t): _rounded(rates(rows, t)) for t in CURVE},
        "v2_auroc": round(auroc(confidences["v2_answerable"], confidences["v2_unanswerable"]), 4),
        "out_of_corpus_auroc": round(auroc(confidences["in_corpus"], confidences["out_of_corpus"]), 4),
    }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def markdown(r: dict[str, Any]) -> str:
    """The report as a table: out of fold, at the shipped threshold and at the one chosen on all."""
    rows = list(r["out_of_fold"])
    lines = [f"# The reader's threshold, chosen out of fold ({r['folds']} article folds)", "",
             "| threshold | " + " | ".join(rows) + " |", "|---" * (len(rows) + 1) + "|"]
    for label, values in ((f"by folds ({', '.join(map(str, r['thresholds_by_fold']))})", r["out_of_fold"]),
                          (f"shipped ({r['shipped']})", r["at_shipped"]),
                          (f"chosen on all ({r['chosen_on_all']})", r["at_chosen"])):
        lines.append(f"| {label} | " + " | ".join(f"{values[k]:.3f}" for k in rows) + " |")
    for t, values in r["curve"].items():
        lines.append(f"| {t} | " + " | ".join(f"{values[k]:.3f}" for k in rows) + " |")
    lines += ["", f"Questions (out of fold): {r['questions']}. v2 AUROC {r['v2_auroc']}, "
              f"out-of-corpus AUROC {r['out_of_corpus_auroc']} (neither depends on the threshold).", ""]
    return "\n".join(lines)


def read(paths: Sequence[Path]) -> list[Record] | None:
    """``load``'s records for a command, or None once it has said on stderr, in a sentence, why
    there are none to grade (a file missing, a run at a threshold, no out-of-fold records)."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print(f"error: no records at {missing[0]}", file=sys.stderr)
        return None
    try:
        rows = load(paths)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return None
    if not rows:
        print("error: no out-of-fold records: run each fold's extractor (QA_EXTRACTOR_WEIGHTS)", file=sys.stderr)
        return None
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa_eval.threshold", description=__doc__.split("\n")[0])
    parser.add_argument("records", type=Path, nargs="+", help="qa eval answers --threshold 0 --records files")
    parser.add_argument("--out", type=Path, default=None, help=f"(default: {defaults.reports_dir()})")
    args = parser.parse_args(argv)
    rows = read(args.records)
    if rows is None:
        return 1
    from qa.settings import ReaderSettings

    r = report(args.records, rows, ReaderSettings().threshold)
    out = args.out or defaults.reports_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / "threshold.json").write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    (out / "threshold.md").write_text(markdown(r), encoding="utf-8")
    print(markdown(r), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
