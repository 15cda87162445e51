"""Compare two sentence segmenters (blingfire, pysbd) on the seed article and a SQuAD article.

Prints sentence counts, speed, boundaries where they disagree, and how many sentences each
splits inside a SQuAD gold answer (a split answer cannot be quoted as one sentence).
Usage: python -m qa_eval.compare_segmenters [--squad FILE] (pysbd is a dev dependency)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import blingfire
import pysbd

from qa import sample_corpus
from qa.chunking import paragraphs
from qa.ingest import read_file

from . import defaults
from .squad import load_questions

SEED = sample_corpus() / "putin-and-the-ayatollah.md"


def blingfire_starts(text: str) -> set[int]:
    starts: set[int] = set()
    for p_start, p_end in paragraphs(text):
        _, offsets = blingfire.text_to_sentences_and_offsets(text[p_start:p_end])
        starts.update(p_start + s for s, _ in offsets)
    return starts


def pysbd_starts(text: str) -> set[int]:
    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    starts: set[int] = set()
    for p_start, p_end in paragraphs(text):
        for span in segmenter.segment(text[p_start:p_end]):
            block = text[p_start:p_end]
            lead = len(block[span.start:span.end]) - len(block[span.start:span.end].lstrip())
            starts.add(p_start + span.start + lead)
    return starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=defaults.DEV_SET,
                        help=f"a SQuAD file with 'Nikola Tesla' and 'Super Bowl 50' (default: {defaults.DEV_SET})")
    squad_file = parser.parse_args().squad
    seed = read_file(SEED)[0]
    squad = {a.title: a for a in read_file(squad_file)}
    questions = load_questions(squad_file)
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
