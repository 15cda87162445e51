"""Choose the fusion of dense and lexical retrieval by measurement on a SQuAD file.

Scores every candidate chunk of every question once (dense cosine, best-sentence cosine,
normalised BM25), then compares weighted-sum settings and reciprocal-rank fusion offline.
Usage: python eval/tune_fusion.py eval/data/squad-dev-v1.1-half.json [--limit N]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from tqdm import tqdm

from qa.embedding import Embedder
from qa.evaluation import build_index, load_questions, mrr_at, recall_at, sample
from qa.retrieval import Retriever
from qa.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    directory, _ = build_index(args.dataset)
    store = Store.open(directory)
    retriever = Retriever(store, Embedder())
    questions = sample([q for q in load_questions(args.dataset) if not q.impossible], args.limit)
    vectors = retriever.embedder.encode_queries([q.text for q in questions])
    rows = []
    for i, q in enumerate(tqdm(questions, desc="Scoring candidates")):
        scores = retriever.candidate_scores(q.text, vectors[i : i + 1], 50)
        spans = store.chunks(list(scores))
        hits = {c for c, r in spans.items() if r.article_id == q.article_id
                and any(r.start <= a and b <= r.end for a, b, _ in q.answers)}
        rows.append((scores, hits))

    def evaluate(score_fn: object) -> dict[str, float]:
        ranks = []
        for scores, hits in rows:
            order = score_fn(scores)  # type: ignore[operator]
            ranks.append(next((i + 1 for i, c in enumerate(order[:20]) if c in hits), None))
        return {"r@1": recall_at(ranks, 1), "r@5": recall_at(ranks, 5), "mrr@10": mrr_at(ranks, 10)}

    results = []
    for w, s in itertools.product([0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9], [0.0, 0.5, 0.75, 1.0]):
        def weighted(scores: dict[int, tuple[float, float, float]], w: float = w, s: float = s) -> list[int]:
            return sorted(scores, key=lambda c: -(w * ((1 - s) * scores[c][0] + s * scores[c][1])
                                                 + (1 - w) * scores[c][2]))
        results.append({"fusion": f"weighted dense_weight={w} sentence_weight={s}", **evaluate(weighted)})
    for k in (10, 60):
        def rrf(scores: dict[int, tuple[float, float, float]], k: int = k) -> list[int]:
            total = dict.fromkeys(scores, 0.0)
            for part in range(3):
                for rank, c in enumerate(sorted(scores, key=lambda c: -scores[c][part])):
                    total[c] += 1.0 / (k + rank + 1)
            return sorted(total, key=lambda c: -total[c])
        results.append({"fusion": f"rrf k={k}", **evaluate(rrf)})
    results.sort(key=lambda r: -(r["r@1"] + r["r@5"] + r["mrr@10"]))
    for r in results[:12]:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}))


if __name__ == "__main__":
    main()
