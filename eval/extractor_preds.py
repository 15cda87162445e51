"""A span extractor's reading of every candidate sentence, in ``train_reader.py``'s predictions
format, so ``fit_reader`` can refit the sentence choice and the confidence around the extractor
(with near-misses in the confidence's data) and measure them out of fold.

The extractor reads each candidate sentence alone with the runtime's key-span hint, exactly as
``Reader.choose`` does. It is the one ``answer()`` runs: the shipped model, or
``$QA_EXTRACTOR_WEIGHTS``'s. The shipped model trained on all 24 v1.1 articles, so
``eval/fit_reader.sh`` runs a fold's model (12 articles; its card lists them), and only questions
about the other 12 give fair figures: pass that card as ``--held-out`` to ``fit_reader``.

Usage (25 to 30 minutes on 2 cores for the 12 candidates of 12,968 questions):
    python -m qa_eval.extractor_preds eval/.cache/reader-fit/candidates.json.gz OUT.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from tqdm import tqdm

from qa.reader import BundledExtractor, Reader
from qa.reader.features import question_type
from qa.settings import Settings

COLUMNS = ["question", "text", "focus_start", "null", "score", "start", "end"]


def read_all(data: Path) -> dict[str, object]:
    """Every candidate's (null logit, best-span logit, span start, span end) in its sentence."""
    with gzip.open(data, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    with gzip.open(data.parent / "bundle" / "windows.json.gz", "rt", encoding="utf-8") as f:
        bundle = json.load(f)
    reader = Reader(BundledExtractor(Settings.from_env().extractor_weights))
    margin = reader.settings.hint_margin
    predictions: list[list[float | int]] = []
    seen: set[tuple[int, int, int]] = set()
    for q in tqdm(raw["questions"], desc="extractor", unit="question"):
        keys = [(q["question"], c["window"], c["focus"][0]) for c in q["candidates"]]
        fresh = [(k, c) for k, c in zip(keys, q["candidates"], strict=True) if k not in seen]
        if not fresh:
            continue
        question = bundle["questions"][q["question"]]
        texts = [bundle["texts"][c["window"]][c["focus"][0]: c["focus"][1]] for _, c in fresh]
        reason = question_type(question) == "reason"
        hints = [None if reason else reader.hint(question, t) for t in texts]
        for (key, _), g in zip(fresh, reader.extractor.spans(question, texts, hints, margin), strict=True):
            seen.add(key)
            predictions.append([*key, round(g.null, 4), round(g.null + g.has_answer, 4), g.start, g.end])
    titles = sorted({q["title"] for q in raw["questions"]})
    return {"recipe": "shipped", "folds": folds_of(titles), "columns": COLUMNS, "predictions": predictions}


def folds_of(titles: list[str], folds: int = 5) -> dict[str, int]:
    """Articles dealt to folds in turn, alphabetically; the fit's folds, not the extractor's."""
    return {t: i % folds for i, t in enumerate(titles)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="candidates.json.gz from qa_eval.reader_data")
    parser.add_argument("out", type=Path, help="where the predictions go (.json.gz)")
    args = parser.parse_args(argv)
    preds = read_all(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        json.dump(preds, f)
    print(f"wrote {args.out}: {len(preds['predictions'])} readings")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
