"""How the way a question is put (its source named, its question mark or its capitals left out)
changes its answer.

People asking a chat about articles often say where the answer should come from: "According to
the article, ...", "... in the article?", and often leave out the question mark or type in lower
case. ``qa.framing.read_as`` drops those words and adds the mark, before retrieval and the reader;
the reader reads a question typed in lower case with its articles' capitals
(``qa.reader.casing``). This asks a fixed sample of the dev half's answerable questions on the
dev half's index (the shipped extractor, or ``QA_EXTRACTOR_WEIGHTS``'s), once as written and once
in each of ``FRAMINGS``. For each it counts how often the answer is the plain question's (found
or not, and the same quote), how often the quote holds a gold answer and how often one is given.
It does the same with a sample of the v2.0 half's unanswerable questions on its index, which
should be declined however they are put.
Usage:
    python -m qa_eval.framing [DATASET] [--v2 FILE] [--questions 500] [--cache DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from qa import QA
from qa.metrics import normalize_answer

from . import defaults
from .indexes import build_index
from .squad import Question, answerable, load_questions, sample

FRAMINGS = {
    "according_to_the_article_first": "According to the article, {lower}{end}",
    "according_to_the_article_last": "{body}, according to the article{end}",
    "in_the_article_last": "{body} in the article{end}",
    "in_the_article_first": "In the article, {lower}{end}",
    "according_to_the_piece_first": "According to the piece, {lower}{end}",
    "no_question_mark": "{body}",
    "lower_case": "{lowered}{end}",
}


def framings(question: str) -> dict[str, str]:
    """``question`` as written ("plain") and in each of ``FRAMINGS``: its body, without the
    question mark it ends with (``end``; a question ending otherwise keeps its end in its body),
    with its first letter in lower case (``lower``) or every letter (``lowered``)."""
    stripped = question.strip()
    end = "?" if stripped.endswith("?") else ""
    body = stripped.removesuffix("?").rstrip()
    lower = body[:1].lower() + body[1:]
    return {"plain": question} | {name: form.format(body=body, lower=lower, lowered=body.lower(), end=end)
                                  for name, form in FRAMINGS.items()}


def measure(qa: QA, questions: list[Question]) -> dict[str, dict[str, float]]:
    """For each framing: the share of answers equal to the plain question's, holding a gold
    answer, and given."""
    same = dict.fromkeys(["plain", *FRAMINGS], 0)
    right = dict.fromkeys(same, 0)
    given = dict.fromkeys(same, 0)
    for q in tqdm(questions, desc="Framed questions", unit="q", dynamic_ncols=True):
        golds = [normalize_answer(t) for _, _, t in q.answers]
        answers = {name: qa.answer(text) for name, text in framings(q.text).items()}
        plain = answers["plain"]
        for name, a in answers.items():
            same[name] += (a.found, a.text) == (plain.found, plain.text)
            right[name] += a.found and any(g in normalize_answer(a.text) for g in golds)
            given[name] += a.found
    n = len(questions)
    return {name: {"same_answer": round(same[name] / n, 4), "answer_accuracy": round(right[name] / n, 4),
                   "answered": round(given[name] / n, 4)} for name in same}


def measure_unanswerable(qa: QA, questions: list[Question]) -> dict[str, dict[str, float]]:
    """For each framing of unanswerable questions (``measure``, which finds no gold answer in
    them): the share of answers equal to the plain question's, and of declines."""
    return {name: {"same_answer": r["same_answer"], "declined": round(1 - r["answered"], 4)}
            for name, r in measure(qa, questions).items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, nargs="?", default=defaults.DEV_SET)
    parser.add_argument("--v2", type=Path, default=defaults.V2_SET,
                        help="a SQuAD v2.0 file whose unanswerable questions are asked too")
    parser.add_argument("--questions", type=int, default=500, help="a fixed sample of this many")
    parser.add_argument("--cache", type=Path, default=None, help="built evaluation indexes (as qa eval)")
    parser.add_argument("--out", type=Path, default=defaults.reports_dir() / "framing.json")
    args = parser.parse_args(argv)
    cache = args.cache or defaults.cache_dir()
    qa = QA(build_index(args.dataset, cache)[0], sample=False, create=False)
    questions = sample(answerable(load_questions(args.dataset)), args.questions)
    v2 = QA(build_index(args.v2, cache)[0], sample=False, create=False)
    unanswerable = sample([q for q in load_questions(args.v2) if q.impossible], args.questions)
    report = {"dataset": args.dataset.name, "questions": len(questions), "framings": FRAMINGS,
              "rates": measure(qa, questions), "v2": args.v2.name, "unanswerable": len(unanswerable),
              "unanswerable_rates": measure_unanswerable(v2, unanswerable)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("rates", "unanswerable_rates")}, indent=2))


if __name__ == "__main__":
    main()
