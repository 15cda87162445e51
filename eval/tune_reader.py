"""Fit the reader's sentence weights and confidence calibration on a SQuAD file.

1. Selection: a conditional logit over each question's candidate sentences (features named in
   ``qa.reader.FEATURES``), trained to put the sentences holding a gold answer first.
2. Confidence: a logistic model over ``qa.reader.CONFIDENCE_FEATURES`` of the chosen sentence,
   trained on an index of every other article: label 1 when an in-corpus question's sentence holds
   the answer, 0 for wrong sentences and for out-of-corpus questions.
Questions are split in two by a seeded shuffle: weights are fitted on one half and the printed
accuracy is measured on the other. Usage:
    python eval/tune_reader.py eval/data/squad-dev-v1.1-half.json [--limit N]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.api import QA
from qa.evaluation import Question, build_index, load_questions, normalize_answer, sample
from qa.reader import CONFIDENCE_FEATURES, FEATURES

Rows = list[tuple[np.ndarray, np.ndarray]]


def collect(qa: QA, questions: list[Question], desc: str) -> Rows:
    """Features (n_candidates, n_features) and labels (n_candidates,) per question."""
    rows = []
    for q in tqdm(questions, desc=desc):
        vector = qa.embedder.encode_queries([q.text])
        passages = qa.retriever.search(q.text, k=qa.reader.settings.k, query_vector=vector)
        golds = [normalize_answer(t) for _, _, t in q.answers]
        cands = qa.reader.candidates(q.text, vector, passages)
        feats = np.array([f for _, _, f in cands]) if cands else np.zeros((0, len(FEATURES)))
        labels = np.array([q.article_id == r.article_id and any(g in normalize_answer(r.text) for g in golds)
                           for r, _, _ in cands], dtype=bool)
        rows.append((feats, labels))
    return rows


def fit_selection(rows: Rows, steps: int = 400, lr: float = 0.5) -> np.ndarray:
    """Conditional logit: maximise log of the softmax mass on gold-holding candidates."""
    usable = [(f, lab) for f, lab in rows if len(lab) and lab.any()]
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


def accuracy(rows: Rows, w: np.ndarray) -> float:
    return float(np.mean([bool(lab[np.argmax(f @ w)]) if len(lab) else False for f, lab in rows]))


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


def chosen(rows: Rows, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence features and correctness of each question's chosen sentence."""
    xs, ys = [], []
    for f, lab in rows:
        if not len(lab):
            xs.append(np.zeros(len(CONFIDENCE_FEATURES)))
            ys.append(0.0)
            continue
        i = int(np.argmax(f @ w))
        named = dict(zip(FEATURES, f[i], strict=True)) | {"score": float(f[i] @ w)}
        xs.append(np.array([named[n] for n in CONFIDENCE_FEATURES]))
        ys.append(float(lab[i]))
    return np.array(xs), np.array(ys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args()
    data = json.loads(args.dataset.read_text(encoding="utf-8"))
    titles = sorted(a["title"] for a in data["data"])
    questions = sample([q for q in load_questions(args.dataset) if not q.impossible], args.limit, seed=1)
    random.Random(0).shuffle(questions)
    train, test = questions[: len(questions) // 2], questions[len(questions) // 2 :]

    qa = QA(build_index(args.dataset)[0], sample=False)
    train_rows, test_rows = collect(qa, train, "Features (fit)"), collect(qa, test, "Features (held out)")
    w = fit_selection(train_rows)
    current = accuracy(test_rows, np.array(qa.reader.settings.weights))
    print(f"oracle {np.mean([lab.any() for _, lab in test_rows]):.4f}; held-out accuracy "
          f"{accuracy(test_rows, w):.4f} (current weights {current:.4f})")

    inside = {t.replace("_", " ") for t in titles[::2]}
    half = QA(build_index(args.dataset, titles=set(titles[::2]))[0], sample=False)
    half_rows = collect(half, train, "Features (half index)")
    x, y = chosen(half_rows, w)
    y = y * np.array([q.title in inside for q in train])
    cal = fit_logistic(x, y)
    print(json.dumps({"weights": [round(float(v), 3) for v in w],
                      "calibration": [round(float(v), 3) for v in cal]}))


if __name__ == "__main__":
    main()
