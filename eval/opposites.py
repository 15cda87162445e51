"""Choose opposite-word pairs for the reader's near-miss check out of fold, from whole-reader records.

``qa.reader.contrary.opposite`` declines a quote that uses the opposite of a word of the question
("low" where the question asks "high"). Which pairs earn their place is measured on what a user
gets: the out-of-fold records of ``qa eval answers --threshold 0 --records`` (both fold models,
as ``qa_eval.threshold`` reads them). A pair's flags are the answers it would decline; each of
five article folds keeps, on the other four, the pairs that each on its own lower the total
shortfall from issue 14's targets at the shipped threshold, and is graded with them on its own
articles. The pairs every fold keeps are the ones to ship.

Usage (writes ``eval/reports/opposites.json``):
    python -m qa_eval.opposites RECORDS [RECORDS ...] [--threshold T] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.reader.contrary import by_word, opposite

from . import defaults
from .squad import article_folds
from .threshold import FOLDS, Record, rates, read, shortfall

# Written on 2026-11-28 (stop 39) before any was measured, after reading some of fold 0's
# answered near-misses (the agree/disagree pairs came from that reading): contraries,
# comparatives, directions and changes, none of them in OPPOSITES then and none that stop 33
# named as dropped (win/lose, start/end, first/last).
SECOND_LIST: tuple[tuple[str, str], ...] = (
    ("victory", "defeat"), ("victory", "loss"), ("grew", "declined"), ("grow", "decline"), ("growth", "decline"),
    ("increase", "decrease"), ("increases", "decreases"), ("increasing", "decreasing"), ("rose", "fell"),
    ("risen", "fallen"), ("gain", "loss"), ("gained", "lost"), ("whole", "part"), ("full", "partial"),
    ("allowed", "banned"), ("allowed", "prohibited"), ("legal", "illegal"), ("support", "oppose"),
    ("supported", "opposed"), ("approved", "rejected"), ("agreed", "refused"), ("positive", "negative"),
    ("early", "late"), ("earlier", "later"), ("older", "younger"), ("oldest", "youngest"), ("east", "west"),
    ("eastern", "western"), ("northern", "southern"), ("left", "right"), ("upper", "lower"),
    ("longest", "shortest"), ("longer", "shorter"), ("long", "short"), ("heavy", "light"), ("faster", "slower"),
    ("fastest", "slowest"), ("hot", "cold"), ("warm", "cold"), ("wet", "dry"), ("rich", "poor"),
    ("best", "worst"), ("better", "worse"), ("easy", "difficult"), ("easier", "harder"), ("import", "export"),
    ("imports", "exports"), ("imported", "exported"), ("buy", "sell"), ("bought", "sold"), ("born", "died"),
    ("birth", "death"), ("minor", "major"), ("minority", "majority"), ("direct", "indirect"),
    ("temporary", "permanent"), ("domestic", "foreign"), ("national", "international"), ("urban", "rural"),
    ("offensive", "defensive"), ("offense", "defense"), ("innate", "adaptive"), ("active", "passive"),
    ("natural", "artificial"), ("ally", "enemy"), ("allies", "enemies"), ("friendly", "hostile"),
    ("peace", "war"), ("winning", "losing"), ("increased", "reduced"), ("expanded", "reduced"),
    ("strengthen", "weaken"), ("strengthened", "weakened"), ("common", "rare"), ("many", "few"),
    ("more", "fewer"), ("most", "fewest"), ("include", "exclude"), ("included", "excluded"),
    ("same", "different"), ("similar", "different"), ("simple", "complex"), ("large", "small"), ("big", "small"),
    ("high", "low"), ("wide", "narrow"), ("deep", "shallow"), ("thick", "thin"), ("young", "old"), ("new", "old"),
    ("newer", "older"), ("newest", "oldest"), ("initial", "final"), ("agree", "disagree"),
    ("agrees", "disagrees"), ("past", "future"), ("previous", "next"), ("input", "output"),
    ("arrival", "departure"),
)


def flags(rows: Sequence[Record], pair: tuple[str, str]) -> set[int]:
    """The indexes of the answered records whose quote ``pair`` alone would decline."""
    pairs = by_word([pair])
    return {i for i, r in enumerate(rows) if r.found and opposite(r.question, r.quote, pairs) is not None}


def graded(rows: Sequence[Record], at: Sequence[int], declined: set[int]) -> list[Record]:
    """The records ``at``, those in ``declined`` declined."""
    return [rows[i].model_copy(update={"found": False}) if i in declined else rows[i] for i in at]


def choose(rows: Sequence[Record], candidates: Sequence[tuple[str, str]], threshold: float) -> dict[str, Any]:
    """Each article fold's kept pairs (chosen on the other folds), the pooled out-of-fold figures,
    and the pairs every fold kept with what they decline."""
    flagged = {pair: flags(rows, pair) for pair in candidates}
    fold = article_folds((r.title for r in rows), FOLDS)
    everything = list(range(len(rows)))
    kept: list[list[tuple[str, str]]] = []
    declined: set[int] = set()
    for k in range(FOLDS):
        train = [i for i in everything if fold[rows[i].title] != k]
        before = shortfall(graded(rows, train, set()), threshold)
        chosen = [p for p in candidates if shortfall(graded(rows, train, flagged[p]), threshold) < before - 1e-12]
        kept.append(chosen)
        declined |= {i for p in chosen for i in flagged[p] if fold[rows[i].title] == k}
    unchanged, out_of_fold = graded(rows, everything, set()), graded(rows, everything, declined)
    every = [p for p in candidates if all(p in chosen for chosen in kept)]

    def counts(pair: tuple[str, str]) -> dict[str, int]:
        given = [rows[i] for i in flagged[pair] if rows[i].confidence >= threshold]
        return {part: sum(r.part == part for r in given) for part in sorted({r.part for r in given})}

    return {
        "threshold": threshold, "folds": FOLDS, "candidates": len(candidates),
        "kept_by_fold": [["/".join(p) for p in chosen] for chosen in kept],
        "shortfall_before": round(shortfall(unchanged, threshold), 4),
        "shortfall_out_of_fold": round(shortfall(out_of_fold, threshold), 4),
        "before": {k: round(v, 4) for k, v in rates(unchanged, threshold).items()},
        "out_of_fold": {k: round(v, 4) for k, v in rates(out_of_fold, threshold).items()},
        "kept_by_every_fold": {"/".join(p): counts(p) for p in every},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa_eval.opposites", description=__doc__.split("\n")[0])
    parser.add_argument("records", type=Path, nargs="+", help="qa eval answers --threshold 0 --records files")
    parser.add_argument("--threshold", type=float, default=None, help="(default: the shipped one)")
    parser.add_argument("--out", type=Path, default=None, help=f"(default: {defaults.reports_dir()})")
    args = parser.parse_args(argv)
    rows = read(args.records)
    if rows is None:
        return 1
    from qa.settings import ReaderSettings

    # Records of a reader that already ships some of these pairs hold no answers for them to
    # decline: run this on the records of the code before them.
    report = choose(rows, SECOND_LIST, args.threshold if args.threshold is not None else ReaderSettings().threshold)
    out = args.out or defaults.reports_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / "opposites.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "kept_by_fold"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
