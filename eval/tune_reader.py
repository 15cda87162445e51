"""Fit the reader's sentence weights, extractor weight and confidence calibration on a SQuAD file.

1. Selection: a conditional logit over each question's candidate sentences (features named in
   ``qa.settings.FEATURES``), trained to put the sentences holding a gold answer first.
2. Re-scoring: how many of the best sentences the extractor re-reads (``rerank``) and the weight
   of its has-answer score added to their scores, by grid search over both (a tie goes to the
   narrower re-read, which costs less time per question).
3. Confidence: a logistic model over ``CALIBRATION_INPUTS`` of the chosen sentence,
   trained on an index of every other article: label 1 when an in-corpus question's sentence holds
   the answer, 0 for wrong sentences and for out-of-corpus questions.
Steps 1 and 2 use questions of the articles the extractor was not trained on (its card lists
them), split in two by a seeded shuffle: weights are fitted on one half and the printed accuracy
is measured on the other (``qa_eval.tuning.reader_tuning`` holds every sample). The result is
written as the reader's weights file (``qa/data/reader/weights.json`` unless ``--out``), with the
dataset's hash and the date, which ``ReaderSettings`` loads by feature name. Usage:
    python -m qa_eval.tune_reader eval/data/squad-dev-v1.1-half.json [--limit N] [--reranks 3,4,5,6]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from qa import QA
from qa.metrics import normalize_answer
from qa.reader import Extractor
from qa.settings import FEATURES, READER_WEIGHTS, ReaderSettings

from . import defaults
from .indexes import build_index
from .squad import Question, read_squad, squad_title
from .tuning import TUNING_LIMIT, reader_candidates, reader_tuning

# What the shipped confidence reads (a subset of ``qa.settings.CONFIDENCE_FEATURES``).
CALIBRATION_INPUTS = ("cosine", "bm25_absolute", "coverage", "score", "has_answer")


@dataclass
class Collected:
    """Each question's candidate features (n, n_features), labels (n,), sentence texts and their
    articles' titles (which a title-reading extractor reads first)."""

    question: str
    features: np.ndarray
    labels: np.ndarray
    texts: list[str]
    titles: list[str]


def collect(qa: QA, questions: list[Question], desc: str) -> list[Collected]:
    """Each question's candidate sentences, labelled by whether they hold a gold answer."""
    rows = []
    for q in tqdm(questions, desc=desc):
        golds = [normalize_answer(t) for _, _, t in q.answers]
        cands = reader_candidates(qa, q.text)
        feats = np.array([f for _, _, f in cands]) if cands else np.zeros((0, len(FEATURES)))
        labels = np.array([q.article_id == r.article_id and any(g in normalize_answer(r.text) for g in golds)
                           for r, _, _ in cands], dtype=bool)
        rows.append(Collected(q.text, feats, labels, [r.text for r, _, _ in cands], [p.title for _, p, _ in cands]))
    return rows


def reread(extractor: Extractor, rows: list[Collected], w: np.ndarray, top: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Indexes of each question's ``top`` best candidates under ``w`` and their has-answer scores."""
    out = []
    for r in tqdm(rows, desc="Extractor", leave=False):
        best = np.argsort(-(r.features @ w))[:top] if len(r.labels) else np.zeros(0, dtype=int)
        guesses = extractor.spans(r.question, [r.texts[i] for i in best], titles=[r.titles[i] for i in best])
        out.append((best, np.array([g.has_answer for g in guesses])))
    return out


def cut(reads: list[tuple[np.ndarray, np.ndarray]], width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The re-reads of a narrower ``rerank``: the best sentences come first, so a prefix of each."""
    return [(b[:width], h[:width]) for b, h in reads]


def rescored_accuracy(rows: list[Collected], w: np.ndarray, reads: list[tuple[np.ndarray, np.ndarray]],
                      beta: float) -> float:
    """Share of questions whose best re-read sentence (score + ``beta`` x has-answer) holds an answer."""
    hits = [bool(r.labels[b[np.argmax(r.features[b] @ w + beta * h)]]) if len(b) else False
            for r, (b, h) in zip(rows, reads, strict=True)]
    return float(np.mean(hits))


def best_weight(rows: list[Collected], w: np.ndarray, reads: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """The extractor weight (0 to 3 in steps of 0.1; a tie goes to the smaller) that selects best."""
    return max((round(0.1 * i, 1) for i in range(31)), key=lambda b: rescored_accuracy(rows, w, reads, b))


def fit_selection(rows: list[Collected], steps: int = 400, lr: float = 0.5) -> np.ndarray:
    """Conditional logit: maximise log of the softmax mass on gold-holding candidates."""
    usable = [(r.features, r.labels) for r in rows if len(r.labels) and r.labels.any()]
    w = np.zeros(len(FEATURES))
    w[0] = 5.0
    for _ in range(steps):
        grad = np.zeros_like(w)
        for f, lab in usable:
            z = f @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            pos = p * lab
            q = pos / pos.sum()
            grad += f.T @ (q - p)
        w += lr * grad / len(usable)
    return w


def accuracy(rows: list[Collected], w: np.ndarray) -> float:
    """Share of questions whose best candidate under ``w`` holds an answer."""
    return float(np.mean([bool(r.labels[np.argmax(r.features @ w)]) if len(r.labels) else False for r in rows]))


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 3000, lr: float = 0.5) -> np.ndarray:
    """Logistic regression by gradient descent on standardised features; returns weights + bias."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    w = np.zeros(x.shape[1] + 1)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w[:-1] + w[-1])))
        w[:-1] -= lr * z.T @ (p - y) / len(y)
        w[-1] -= lr * float(np.mean(p - y))
    scale = w[:-1] / sd
    return np.append(scale, w[-1] - float((w[:-1] * mu / sd).sum()))


def chosen(rows: list[Collected], w: np.ndarray, reads: list[tuple[np.ndarray, np.ndarray]],
           beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Confidence features and correctness of each question's chosen sentence."""
    xs, ys = [], []
    for r, (best, has) in zip(rows, reads, strict=True):
        if not len(best):
            xs.append(np.zeros(len(CALIBRATION_INPUTS)))
            ys.append(0.0)
            continue
        scores = r.features[best] @ w + beta * has
        j = int(np.argmax(scores))
        named = dict(zip(FEATURES, r.features[best[j]], strict=True)) | {
            "score": float(scores[j]), "has_answer": float(has[j])}
        xs.append(np.array([named[n] for n in CALIBRATION_INPUTS]))
        ys.append(float(r.labels[best[j]]))
    return np.array(xs), np.array(ys)


def weights_file(dataset: Path, w: np.ndarray, rerank: int, extractor_weight: float,
                 calibration: np.ndarray) -> dict[str, Any]:
    """The reader's weights file: fitted values by name, with where and when they were fitted.

    Raises:
        ValueError: the values do not make valid ``ReaderSettings`` (checked before writing).
    """
    values = {
        "sentence_weights": {f: round(float(v), 3) for f, v in zip(FEATURES, w, strict=True)},
        "rerank": rerank, "extractor_weight": extractor_weight,
        "calibration": {**{f: round(float(v), 3) for f, v in zip(CALIBRATION_INPUTS, calibration[:-1], strict=True)},
                        "bias": round(float(calibration[-1]), 3)},
    }
    ReaderSettings.model_validate(values)
    return {
        "written_by": " ".join(["python -m qa_eval.tune_reader", *sys.argv[1:]]),
        "date": dt.date.today().isoformat(), "dataset": dataset.name,
        "dataset_sha256": hashlib.sha256(dataset.read_bytes()).hexdigest(), **values,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, default=TUNING_LIMIT)
    parser.add_argument("--keep-weights", action="store_true",
                        help="keep the current sentence weights; fit only the extractor weight and calibration")
    parser.add_argument("--reranks", type=lambda v: [int(n) for n in v.split(",")], default=[3, 4, 5, 6],
                        help="re-read widths to try, comma-separated (wider ones exceed the latency budget)")
    parser.add_argument("--cache", type=Path, default=None, help="built evaluation indexes (as qa eval)")
    parser.add_argument("--out", type=Path, default=READER_WEIGHTS,
                        help=f"the weights file to write (default: the package's, {READER_WEIGHTS})")
    args = parser.parse_args()
    cache = args.cache or defaults.cache_dir()
    titles = sorted(a["title"] for a in read_squad(args.dataset)["data"])
    tuning = reader_tuning(args.dataset, args.limit)
    train, test = tuning.fit, tuning.held_out

    qa = QA(build_index(args.dataset, cache)[0], sample=False, create=False)
    train_rows, test_rows = collect(qa, train, "Features (fit)"), collect(qa, test, "Features (held out)")
    shipped = np.array([qa.reader.settings.sentence_weights[f] for f in FEATURES])
    w = shipped if args.keep_weights else fit_selection(train_rows)
    print(f"oracle {np.mean([r.labels.any() for r in test_rows]):.4f}; held-out accuracy "
          f"{accuracy(test_rows, w):.4f} (current weights {accuracy(test_rows, shipped):.4f})")
    widths = sorted(args.reranks)
    train_reads = reread(qa.reader.extractor, train_rows, w, widths[-1])
    test_reads = reread(qa.reader.extractor, test_rows, w, widths[-1])
    fits = {n: best_weight(train_rows, w, cut(train_reads, n)) for n in widths}
    for n, b in fits.items():
        print(f"re-read {n}, extractor weight {b}: fit {rescored_accuracy(train_rows, w, cut(train_reads, n), b):.4f}, "
              f"held out {rescored_accuracy(test_rows, w, cut(test_reads, n), b):.4f}")
    top = max(widths, key=lambda n: rescored_accuracy(train_rows, w, cut(train_reads, n), fits[n]))
    beta = fits[top]
    print(f"chosen: re-read {top}, extractor weight {beta}: held-out accuracy "
          f"{rescored_accuracy(test_rows, w, cut(test_reads, top), beta):.4f} "
          f"(without the extractor {rescored_accuracy(test_rows, w, cut(test_reads, top), 0.0):.4f})")

    inside = {squad_title(t) for t in titles[::2]}
    half = QA(build_index(args.dataset, cache, titles=set(titles[::2]))[0], sample=False, create=False)
    pool = tuning.calibration
    half_rows = collect(half, pool, "Features (half index)")
    x, y = chosen(half_rows, w, reread(half.reader.extractor, half_rows, w, top), beta)
    y = y * np.array([q.title in inside for q in pool])
    written = weights_file(args.dataset, w, top, beta, fit_logistic(x, y))
    args.out.write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
