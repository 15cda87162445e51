"""What ``device_ranker.py`` needs to train a sentence ranker on a lent GPU, written on the CPU
machine from ``reader_data``'s candidates: every question with its candidate sentences (each
with the words before and after it in its paragraph window, and whether it holds an answer), the
fold model that predicts it, and each fold's held-out titles (``train_extractor``'s halves, so a
ranker fold sits beside the extractor fold of the same articles).

The ranker is issue 14's test of whether a cross-encoder trained on the choice itself (a
softmax over each question's candidates) picks the answering sentence better than the features
and the extractor's has-answer score do (eval/README.md, "A sentence ranker").

Usage:
    python -m qa_eval.ranker_inputs eval/.cache/reader-fit/candidates.json.gz OUT.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

from .fit_reader import reader_of, unseen_titles


def inputs(data: Path) -> dict[str, Any]:
    """Questions (bundle index, text, title, predicting fold, candidates) and held-out titles."""
    with gzip.open(data, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    with gzip.open(data.parent / "bundle" / "windows.json.gz", "rt", encoding="utf-8") as f:
        bundle = json.load(f)
    texts = bundle["texts"]
    unseen = {half: unseen_titles(half) for half in ("0", "1")}
    questions = []
    for q in raw["questions"]:
        candidates = []
        for c in q["candidates"]:
            window, (start, end) = texts[c["window"]], c["focus"]
            candidates.append([c["window"], start, window[start:end], window[:start], window[end:], c["holds"]])
        questions.append({"key": q["question"], "text": bundle["questions"][q["question"]], "title": q["title"],
                          "reader": reader_of(q, unseen), "candidates": candidates})
    return {"held_out": {half: sorted(titles) for half, titles in unseen.items()}, "questions": questions}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="candidates.json.gz from qa_eval.reader_data")
    parser.add_argument("out", type=Path, help="where the inputs go (.json.gz)")
    args = parser.parse_args(argv)
    got = inputs(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8") as f:
        json.dump(got, f)
    print(f"wrote {args.out}: {len(got['questions'])} questions")


if __name__ == "__main__":
    main()
