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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from qa.reader import BundledExtractor, Reader
from qa.settings import Settings

from .squad import article_folds

COLUMNS = ["question", "text", "focus_start", "null", "score", "start", "end"]


Reading = tuple[tuple[int, int, int], str, str, "tuple[int, int] | None"]  # key, question, text, hint


def candidates(data: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``reader_data``'s candidates file and the windows of its bundle, read once."""
    with gzip.open(data, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    with gzip.open(data.parent / "bundle" / "windows.json.gz", "rt", encoding="utf-8") as f:
        return raw, json.load(f)


def to_read(raw: dict[str, Any], bundle: dict[str, Any], reader: Reader) -> Iterator[list[Reading]]:
    """Each question's candidates not read before, as ``Reader.choose`` reads them: the sentence
    alone, with the key-span hint (none for "why/how" questions). Keys are (question, window,
    focus start), as the predictions file names them."""
    seen: set[tuple[int, int, int]] = set()
    for q in tqdm(raw["questions"], desc="extractor", unit="question"):
        question = bundle["questions"][q["question"]]
        fresh = []
        for c in q["candidates"]:
            key = (q["question"], c["window"], c["focus"][0])
            if key not in seen:
                seen.add(key)
                text = bundle["texts"][c["window"]][c["focus"][0]: c["focus"][1]]
                fresh.append((key, question, text, reader.hint(question, text)))
        if fresh:
            yield fresh


def read_all(data: Path) -> dict[str, object]:
    """Every candidate's (null logit, best-span logit, span start, span end) in its sentence."""
    raw, bundle = candidates(data)
    extractor = BundledExtractor(Settings.from_env().extractor_weights)
    if extractor.reads_title:
        raise SystemExit("This extractor reads each sentence after its article's title, and reader_data's "
                         "candidates do not carry titles: its readings here would not be the runtime's. "
                         "Name a model trained without --title in QA_EXTRACTOR_WEIGHTS.")
    reader = Reader(extractor)
    predictions: list[list[float | int]] = []
    for fresh in to_read(raw, bundle, reader):
        question = fresh[0][1]
        guesses = reader.extractor.spans(question, [r[2] for r in fresh], [r[3] for r in fresh],
                                         reader.settings.hint_margin)
        for (key, *_), g in zip(fresh, guesses, strict=True):
            predictions.append([*key, round(g.null, 4), round(g.null + g.has_answer, 4), g.start, g.end])
    return {"recipe": "shipped", "folds": folds_of(raw), "columns": COLUMNS, "predictions": predictions}


def device_inputs(data: Path, target: Path) -> None:
    """What ``device_extractor.py`` needs, in ``target``: ``items.json.gz`` (every reading's key,
    question, sentence and hint, the hint margin and the fit's article folds), ``examples.json.gz``
    (``train_extractor.export``: each half's training and held-out examples and near-misses) and
    ``bundle/`` (the bundled model cut to the wordpieces of all of them)."""
    from .reader_data import write_base
    from .train_extractor import export

    raw, bundle = candidates(data)
    reader = Reader(BundledExtractor(Settings.from_env().extractor_weights))
    items = [[*key, question, text, hint] for fresh in to_read(raw, bundle, reader)
             for key, question, text, hint in fresh]
    target.mkdir(parents=True, exist_ok=True)
    with gzip.open(target / "items.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"margin": reader.settings.hint_margin, "folds": folds_of(raw), "items": items}, f)
    v1, v2 = (Path(p) for p in raw["datasets"])  # the SQuAD files the candidates came from
    halves = export(v1, v2, target / "examples.json.gz")
    texts = {t for i in items for t in i[3:5]}
    for half in halves.values():
        for ex in half["train"] + half["test"]:
            texts.update([ex["question"], ex["text"], *ex["negatives"]])
        for ex in half["train_misses"] + half["test_misses"]:
            texts.update([ex["question"], ex["text"]])
    write_base(target / "bundle", sorted(texts))


def folds_of(raw: dict[str, Any], folds: int = 5) -> dict[str, int]:
    """The candidates' articles dealt to folds in turn, alphabetically; the fit's folds, not the
    extractor's."""
    return article_folds((q["title"] for q in raw["questions"]), folds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="candidates.json.gz from qa_eval.reader_data")
    parser.add_argument("out", type=Path, help="where the predictions go (.json.gz)")
    parser.add_argument("--device", action="store_true",
                        help="write device_extractor.py's inputs to the folder OUT instead of reading")
    args = parser.parse_args(argv)
    if args.device:
        device_inputs(args.data, args.out)
        print(f"wrote {args.out}")
        return
    preds = read_all(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        json.dump(preds, f)
    print(f"wrote {args.out}: {len(preds['predictions'])} readings")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
