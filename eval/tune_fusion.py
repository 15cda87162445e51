"""Choose the fusion of dense and lexical retrieval by measurement on a SQuAD file.

Scores every candidate chunk of every question once (dense cosine, best-sentence cosine,
normalised BM25, as ``Retriever.candidate_scores`` gives them), then ranks them offline by the
retriever's own ``fuse`` under each weighted-sum setting, and by reciprocal-rank fusion. Usage:
    python -m qa_eval.tune_fusion eval/data/squad-dev-v1.1-half.json [--limit N] [--cache DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from qa import QA
from qa.metrics import mrr_at, recall_at
from qa.retrieval import Retriever
from qa.settings import RetrievalSettings

from . import defaults
from .indexes import build_index
from .squad import answerable, load_questions, sample

Scores = dict[int, tuple[float, float, float]]  # chunk id -> (dense, best sentence, BM25 / top BM25)
Ranking = Callable[[Scores], list[int]]


def weighted(qa: QA, dense_weight: float, sentence_weight: float) -> Ranking:
    """Rank by ``Retriever.fuse`` with these weights: the fusion ``search`` runs."""
    retriever = Retriever(qa.store, qa.embedder, RetrievalSettings(dense_weight=dense_weight,
                                                                   sentence_weight=sentence_weight))
    return lambda scores: sorted(scores, key=lambda c: -retriever.fuse(*scores[c]))


def reciprocal_rank(k: int) -> Ranking:
    """Rank by reciprocal-rank fusion of the three scores (the alternative to a weighted sum)."""
    def rank(scores: Scores) -> list[int]:
        total = dict.fromkeys(scores, 0.0)
        for part in range(3):
            for position, c in enumerate(sorted(scores, key=lambda c: -scores[c][part])):
                total[c] += 1.0 / (k + position + 1)
        return sorted(total, key=lambda c: -total[c])
    return rank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="built evaluation indexes (as qa eval)")
    args = parser.parse_args()
    qa = QA(build_index(args.dataset, args.cache or defaults.cache_dir())[0], sample=False, create=False)
    questions = sample(answerable(load_questions(args.dataset)), args.limit)
    vectors = qa.embedder.encode_queries([q.text for q in questions])
    rows: list[tuple[Scores, set[int]]] = []
    for i, q in enumerate(tqdm(questions, desc="Scoring candidates")):
        scores = qa.retriever.candidate_scores(q.text, vectors[i : i + 1], RetrievalSettings().candidates)
        hits = {c for c, r in qa.store.chunks(list(scores)).items() if r.article_id == q.article_id
                and any(r.start <= a and b <= r.end for a, b, _ in q.answers)}
        rows.append((scores, hits))

    def evaluate(rank: Ranking) -> dict[str, float]:
        ranks = [next((i + 1 for i, c in enumerate(rank(scores)[:20]) if c in hits), None) for scores, hits in rows]
        return {"r@1": recall_at(ranks, 1), "r@5": recall_at(ranks, 5), "mrr@10": mrr_at(ranks, 10)}

    results: list[dict[str, str | float]] = []
    for w, s in itertools.product([0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9], [0.0, 0.5, 0.75, 1.0]):
        results.append({"fusion": f"weighted dense_weight={w} sentence_weight={s}", **evaluate(weighted(qa, w, s))})
    for k in (10, 60):
        results.append({"fusion": f"rrf k={k}", **evaluate(reciprocal_rank(k))})
    results.sort(key=lambda r: -sum(v for v in r.values() if isinstance(v, float)))
    for r in results[:12]:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}))


if __name__ == "__main__":
    main()
