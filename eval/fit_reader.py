"""Measure the in-context reader experiment out of fold: its sentence score, confidence and
threshold fitted on the span model's out-of-fold predictions (``train_reader.py``; not shipped).

Inputs: ``candidates.json.gz`` from ``qa_eval.reader_data`` (every question's candidate
sentences with their features) and ``preds-RECIPE.json.gz`` from ``train_reader.py`` (the span
model's reading of each candidate by the fold model that never saw its article). Everything here
is fitted with the same article folds, so each reported figure is out of fold at both levels:

1. Selection: a conditional logit over each question's ``rerank`` best candidates (sentence
   features plus the span model's has-answer score), fitted to put gold-holding sentences first.
2. Confidence: a logistic model of the chosen sentence being right, on three kinds of question:
   answerable ones (right when the sentence holds the answer), SQuAD v2.0's unanswerable ones and
   questions about articles missing from the index (both always wrong to answer).
3. Threshold: one, chosen on the training folds to maximise the mean of the decision rates (the
   four answered/declined rows of the targets), applied to the held-out fold.

Usage (the figures go to ``eval/reports/reader-oof.json`` and are quoted in ``eval/README.md``):
    python -m qa_eval.fit_reader DATA PREDS [--rerank 4,6,8]
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from qa.metrics import auroc, exact_match, f1_score, normalize_answer
from qa.reader.features import question_type
from qa.settings import FEATURES

from . import defaults

SELECTION = (*FEATURES, "has_answer")
# The confidence reads the chosen sentence's features, its selection score and the span model's
# verdict: its best span's logit against [CLS] (``has_answer``) and the [CLS] logit (``null``).
CONFIDENCE_FEATURES = ("cosine", "bm25_absolute", "coverage", "type_match", "idf_coverage",
                       "window_idf_coverage", "score", "has_answer", "null")


@dataclass
class Asked:
    """One question as the reader saw it: candidates in shipped order with the model's reading."""

    id: str
    question: str
    title: str
    part: str  # v1, v2 (unanswerable), v2-seen (answerable), half
    in_corpus: bool
    answers: list[str]
    features: np.ndarray  # (n, len(FEATURES))
    has: np.ndarray  # (n,) span score - [CLS] score
    null: np.ndarray  # (n,)
    holds: np.ndarray  # (n,) bool
    texts: list[str]  # the candidate sentences
    spans: list[tuple[int, int]]  # the model's span in each sentence
    places: list[tuple[str, int, int, int]]  # (article id, start, end, paragraph)

    @property
    def answerable(self) -> bool:
        return self.in_corpus and bool(self.answers)


def load(data: Path, preds: Path) -> tuple[list[Asked], dict[str, int]]:
    """Questions with their candidates' out-of-fold readings, and the article folds."""
    with gzip.open(data, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    with gzip.open(preds, "rt", encoding="utf-8") as f:
        p = json.load(f)
    bundle = data.parent / "bundle" / "windows.json.gz"
    with gzip.open(bundle, "rt", encoding="utf-8") as f:
        b = json.load(f)
    questions, texts = b["questions"], b["texts"]
    read = {(r[0], r[1], r[2]): r[3:] for r in p["predictions"]}
    out = []
    for q in raw["questions"]:
        cands = q["candidates"]
        got = [read[(q["question"], c["window"], c["focus"][0])] for c in cands]
        sentences = [texts[c["window"]][c["focus"][0]: c["focus"][1]] for c in cands]
        out.append(Asked(
            id=q["id"], question=questions[q["question"]], title=q["title"], part=q["part"],
            in_corpus=q.get("in_corpus", True) and not q["impossible"],
            answers=[a[2] for a in q["answers"]],
            features=np.array([c["features"] for c in cands]).reshape(len(cands), len(FEATURES)),
            has=np.array([g[1] - g[0] for g in got]), null=np.array([g[0] for g in got]),
            holds=np.array([c["holds"] for c in cands], dtype=bool), texts=sentences,
            spans=[(g[2], g[3]) for g in got],
            places=[(c["article_id"], c["start"], c["end"], c["paragraph"]) for c in cands]))
    return out, p["folds"]


def selection_inputs(a: Asked, width: int) -> np.ndarray:
    """(width, len(SELECTION)) for a question's ``width`` best candidates in shipped order."""
    return np.column_stack([a.features[:width], a.has[:width]])


def fit_selection(asked: Sequence[Asked], width: int, l2: float = 1e-3) -> np.ndarray:
    """Conditional logit weights over ``SELECTION`` (L-BFGS), on questions with a gold candidate."""
    usable = [a for a in asked if a.holds[:width].any()]
    x = np.zeros((len(usable), width, len(SELECTION)))
    valid = np.zeros((len(usable), width), dtype=bool)
    gold = np.zeros_like(valid)
    for i, a in enumerate(usable):
        n = min(width, len(a.holds))
        x[i, :n], valid[i, :n], gold[i, :n] = selection_inputs(a, width), True, a.holds[:n]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.where(valid, x @ w, -np.inf)
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        pos = np.where(gold, p, 0.0)
        mass = pos.sum(1)
        q = pos / mass[:, None]
        value = -np.log(mass).mean() + l2 * w @ w
        grad = -np.einsum("nk,nkd->d", q - p, x) / len(usable) + 2 * l2 * w
        return float(value), grad

    start = np.zeros(len(SELECTION))
    start[0] = 5.0
    return np.asarray(minimize(loss, start, jac=True, method="L-BFGS-B").x)


def choose(a: Asked, w: np.ndarray, width: int) -> tuple[int, float]:
    """The chosen candidate and its selection score."""
    if not len(a.holds):
        return -1, 0.0
    scores = selection_inputs(a, width) @ w
    j = int(np.argmax(scores))
    return j, float(scores[j])


def confidence_inputs(a: Asked, j: int, score: float) -> np.ndarray:
    """The chosen candidate's values of ``CONFIDENCE_FEATURES``."""
    if j < 0:
        return np.zeros(len(CONFIDENCE_FEATURES))
    named = dict(zip(FEATURES, a.features[j], strict=True)) | {
        "score": score, "has_answer": float(a.has[j]), "null": float(a.null[j])}
    return np.array([named[n] for n in CONFIDENCE_FEATURES])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Logistic regression (L-BFGS on standardised inputs); weights then bias, in raw units."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.column_stack([(x - mu) / sd, np.ones(len(x))])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        t = z @ w
        p = 1 / (1 + np.exp(-t))
        value = np.mean(np.logaddexp(0, t) - y * t) + l2 * w[:-1] @ w[:-1]
        grad = z.T @ (p - y) / len(y) + 2 * l2 * np.append(w[:-1], 0.0)
        return float(value), grad

    w = np.asarray(minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B").x)
    scale = w[:-1] / sd
    return np.append(scale, w[-1] - float((w[:-1] * mu / sd).sum()))


@dataclass
class Outcome:
    """What the reader does with one question under some fitted weights."""

    j: int
    confidence: float
    right: bool  # the chosen sentence (with joined neighbours) holds a gold answer
    key: str  # the highlighted text (the sentence for "why/how" questions)


def decide(a: Asked, w: np.ndarray, cal: np.ndarray, width: int, join_margin: float) -> Outcome:
    """The reader's choice, its confidence and whether it is right (before the threshold)."""
    j, score = choose(a, w, width)
    if j < 0:
        return Outcome(-1, 0.0, False, "")
    x = confidence_inputs(a, j, score)
    confidence = float(1 / (1 + np.exp(-(x @ cal[:-1] + cal[-1]))))
    quote = joined(a, j, w, width, join_margin)
    right = bool(a.answers) and any(normalize_answer(g) in normalize_answer(quote) for g in a.answers)
    s, e = a.spans[j]
    key = a.texts[j] if question_type(a.question) == "reason" or e <= s else a.texts[j][s:e]
    return Outcome(j, confidence, right, key)


def joined(a: Asked, j: int, w: np.ndarray, width: int, margin: float) -> str:
    """The chosen sentence with adjacent same-paragraph candidates scoring within ``margin``."""
    scores = selection_inputs(a, width) @ w
    aid, s, e, par = a.places[j]
    parts = {s: a.texts[j]}
    for k, (aid2, s2, e2, par2) in enumerate(a.places[:width]):
        if k != j and aid2 == aid and par2 == par and scores[k] >= scores[j] - margin and (
                0 <= s2 - e <= 2 or 0 <= s - e2 <= 2):
            parts[s2] = a.texts[k]
    return " ".join(parts[k] for k in sorted(parts))


def rates(outcomes: Sequence[Outcome], asked: Sequence[Asked], threshold: float) -> dict[str, float]:
    """The decision rates of the targets table at ``threshold``."""
    def share(flags: list[bool]) -> float:
        return float(np.mean(flags)) if flags else 0.0

    found = [o.confidence >= threshold for o in outcomes]
    by = {part: [f for f, a in zip(found, asked, strict=True) if a.part == part] for part in ("v2", "v2-seen")}
    half_in = [f for f, a in zip(found, asked, strict=True) if a.part == "half" and a.in_corpus]
    half_out = [f for f, a in zip(found, asked, strict=True) if a.part == "half" and not a.in_corpus]
    return {"v2_declined_unanswerable": 1 - share(by["v2"]), "v2_answered_answerable": share(by["v2-seen"]),
            "answered_in_corpus": share(half_in), "declined_out_of_corpus": 1 - share(half_out)}


def best_threshold(outcomes: Sequence[Outcome], asked: Sequence[Asked]) -> float:
    """The threshold (0.05 to 0.95 by 0.01) with the best mean decision rate."""
    grid = [round(0.05 + 0.01 * i, 2) for i in range(91)]
    return max(grid, key=lambda t: float(np.mean(list(rates(outcomes, asked, t).values()))))


@dataclass
class Fitted:
    width: int
    selection: np.ndarray
    calibration: np.ndarray


def fit(asked: Sequence[Asked], width: int, join_margin: float) -> Fitted:
    """Selection on answerable v1 questions, then the confidence on every kind of question."""
    w = fit_selection([a for a in asked if a.part == "v1"], width)
    xs, ys = [], []
    for a in asked:
        if a.part == "v1":
            continue  # the half index asks the same questions; v1 would count them twice
        j, score = choose(a, w, width)
        xs.append(confidence_inputs(a, j, score))
        right = j >= 0 and a.answerable and bool(a.holds[j])
        ys.append(float(right))
    return Fitted(width, w, fit_logistic(np.array(xs), np.array(ys)))


def out_of_fold(asked: list[Asked], folds: dict[str, int], width: int, join_margin: float
                ) -> tuple[list[Outcome], list[float]]:
    """Every question's outcome under weights fitted without its article's fold, and the
    threshold each fold chose on its training side."""
    outcomes: list[Outcome | None] = [None] * len(asked)
    thresholds = [0.0] * len(asked)
    for k in sorted(set(folds.values())):
        train = [a for a in asked if folds[a.title] != k]
        fitted = fit(train, width, join_margin)
        t = best_threshold([decide(a, fitted.selection, fitted.calibration, width, join_margin) for a in train], train)
        for i, a in enumerate(asked):
            if folds[a.title] == k:
                outcomes[i] = decide(a, fitted.selection, fitted.calibration, width, join_margin)
                thresholds[i] = t
    return [o for o in outcomes if o is not None], thresholds


def report(asked: list[Asked], outcomes: list[Outcome], thresholds: list[float]) -> dict[str, Any]:
    """The targets table's out-of-fold figures."""
    found = [o.confidence >= t for o, t in zip(outcomes, thresholds, strict=True)]
    v1 = [(a, o, f) for a, o, f in zip(asked, outcomes, found, strict=True) if a.part == "v1"]

    def mean(values: Sequence[float]) -> float:
        return round(float(np.mean(values)), 4) if values else 0.0

    def pick(part: str, **kw: bool) -> list[float]:
        return [o.confidence for a, o in zip(asked, outcomes, strict=True) if a.part == part
                and all(getattr(a, k) == v for k, v in kw.items())]

    decisions = {"v2_declined_unanswerable": [], "v2_answered_answerable": [], "answered_in_corpus": [],
                 "declined_out_of_corpus": []}
    for a, f in zip(asked, found, strict=True):
        if a.part == "v2":
            decisions["v2_declined_unanswerable"].append(not f)
        elif a.part == "v2-seen":
            decisions["v2_answered_answerable"].append(f)
        elif a.part == "half":
            decisions["answered_in_corpus" if a.in_corpus else "declined_out_of_corpus"].append(
                f if a.in_corpus else not f)
    return {
        "questions": len(v1),
        "answer_accuracy": mean([float(f and o.right) for a, o, f in v1]),
        "selection_accuracy": mean([float(o.right) for a, o, f in v1]),
        "span_em": mean([float(f and any(exact_match(o.key, g) for g in a.answers)) for a, o, f in v1]),
        "span_f1": mean([max(f1_score(o.key, g) for g in a.answers) if f else 0.0 for a, o, f in v1]),
        **{k: mean([float(x) for x in v]) for k, v in decisions.items()},
        "v2_auroc": round(auroc(pick("v2-seen"), pick("v2")), 4),
        "out_of_corpus_auroc": round(auroc(pick("half", in_corpus=True), pick("half", in_corpus=False)), 4),
        "thresholds": sorted(set(thresholds)),
    }


def main(argv: list[str] | None = None, echo: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="candidates.json.gz from qa_eval.reader_data")
    parser.add_argument("preds", type=Path, help="preds-RECIPE.json.gz from train_reader.py")
    parser.add_argument("--rerank", default="4,6,8", help="re-read widths to compare")
    parser.add_argument("--join-margin", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=defaults.reports_dir() / "reader-oof.json")
    args = parser.parse_args(argv)
    asked, folds = load(args.data, args.preds)
    results = {}
    for width in (int(n) for n in args.rerank.split(",")):
        outcomes, thresholds = out_of_fold(asked, folds, width, args.join_margin)
        results[width] = report(asked, outcomes, thresholds)
        echo(f"rerank {width}: {json.dumps(results[width])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"predictions": str(args.preds), "join_margin": args.join_margin,
                                    "by_rerank": results}, indent=1) + "\n", encoding="utf-8")
    echo(f"wrote {args.out}")


if __name__ == "__main__":
    main()
