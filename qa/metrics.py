"""Evaluation metrics: pure functions of ranks, relevance, scores and answer strings.

They live in the runtime package (light: numpy only) so an application can measure its own
index the way ``qa eval`` does; the harness that builds indexes and writes reports is ``qa_eval``.
"""

from __future__ import annotations

import collections
import math
import re
import string
from collections.abc import Sequence

import numpy as np

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose first hit is at rank <= k (ranks start at 1; None = no hit)."""
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mrr_at(ranks: Sequence[int | None], k: int) -> float:
    """Mean reciprocal rank of the first hit, counting only hits within the top k."""
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def ndcg_at(relevance: Sequence[Sequence[bool]], n_relevant: Sequence[int], k: int) -> float:
    """Mean nDCG@k with binary relevance; ``n_relevant`` counts relevant items in the index."""
    total = 0.0
    for rel, n in zip(relevance, n_relevant, strict=True):
        dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rel[:k]) if r)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n, k)))
        total += dcg / ideal if ideal else 0.0
    return total / len(relevance) if relevance else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (numpy's linear interpolation); 0.0 for no values, so an empty
    sample never breaks a report."""
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    neg = np.sort(np.asarray(negatives))
    pos = np.asarray(positives)
    below = np.searchsorted(neg, pos, side="left")
    equal = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * equal).sum() / (len(pos) * len(neg)))


def normalize_answer(text: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, articles or extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def f1_score(prediction: str, gold: str) -> float:
    """SQuAD's official token F1."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(gold).split()
    same = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> bool:
    """SQuAD's official exact match: equal after ``normalize_answer``."""
    return normalize_answer(prediction) == normalize_answer(gold)
