"""Compare two sentence segmenters (blingfire, pysbd) on the seed article and a SQuAD article.

Prints sentence counts, speed, boundaries where they disagree, and how many sentences each
splits inside a SQuAD gold answer (a split answer cannot be quoted as one sentence).
Usage: python eval/compare_segmenters.py
"""

from __future__ import annotations

import time
from pathlib import Path

import blingfire
import pysbd

from qa.chunking import paragraphs
from qa.evaluation import load_questions
from qa.ingest import read_file

SEED = Path("qa/data/sample/putin-and-the-ayatollah.md")
SQUAD = Path("eval/data/squad-dev-v1.1-half.json")


def blingfire_starts(text: str) -> set[int]:
    starts = set()
    for p_start, p_end in paragraphs(text):
        _, offsets = blingfire.text_to_sentences_and_offsets(text[p_start:p_end])
        starts.update(p_start + s for s, _ in offsets)
    return starts


def pysbd_starts(text: str) -> set[int]:
    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    starts = set()
    for p_start, p_end in paragraphs(text):
        for span in segmenter.segment(text[p_start:p_end]):
            block = text[p_start:p_end]
            lead = len(block[span.start:span.end]) - len(block[span.start:span.end].lstrip())
            starts.add(p_start + span.start + lead)
    return starts


def main() -> None:
    seed = read_file(SEED)[0]
    squad = {a.title: a for a in read_file(SQUAD)}
    questions = load_questions(SQUAD)
    for article in (seed, squad["Nikola Tesla"], squad["Super Bowl 50"]):
        print(f"\n== {article.title} ({len(article.text):,} characters)")
        results = {}
        for name, fn in (("blingfire", blingfire_starts), ("pysbd", pysbd_starts)):
            started = time.perf_counter()
            starts = fn(article.text)
            seconds = time.perf_counter() - started
            answers = [a for q in questions if q.article_id == article.id for a in q.answers]
            broken = sum(1 for s, e, _ in answers if any(s < b < e for b in starts))
            results[name] = starts
            print(f"{name:10s} {len(starts):4d} sentences in {seconds * 1000:7.1f} ms; "
                  f"gold answers split: {broken}")
        for name, other in (("blingfire", "pysbd"), ("pysbd", "blingfire")):
            for b in sorted(results[name] - results[other])[:4]:
                print(f"  only {name}: ...{article.text[max(0, b - 40):b]!r} | {article.text[b:b + 30]!r}")


if __name__ == "__main__":
    main()
