"""Metrics against hand-computed cases, gold-span mapping, and a small end-to-end evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from qa.evaluation import (
    auroc,
    evaluate_retrieval,
    exact_match,
    f1_score,
    load_questions,
    mrr_at,
    ndcg_at,
    recall_at,
)
from qa.ingest import read_file


def test_recall_and_mrr_by_hand() -> None:
    ranks = [1, 3, None, 7]
    assert recall_at(ranks, 1) == 0.25
    assert recall_at(ranks, 5) == 0.5
    assert recall_at(ranks, 10) == 0.75
    assert mrr_at(ranks, 10) == pytest.approx((1 + 1 / 3 + 1 / 7) / 4)
    assert mrr_at(ranks, 5) == pytest.approx((1 + 1 / 3) / 4)
    assert recall_at([], 5) == 0.0


def test_ndcg_by_hand() -> None:
    # One relevant item at rank 2: DCG = 1/log2(3), IDCG = 1.
    assert ndcg_at([[False, True]], [1], 10) == pytest.approx(1 / math.log2(3))
    # Two relevant items in the index, both retrieved first: perfect.
    assert ndcg_at([[True, True, False]], [2], 10) == pytest.approx(1.0)
    # Two relevant, only one retrieved at rank 1: 1 / (1 + 1/log2(3)).
    assert ndcg_at([[True, False]], [2], 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at([[False] * 12 + [True]], [1], 10) == 0.0


def test_auroc_by_hand() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5], [0.5]) == 0.5
    assert auroc([0.9, 0.3], [0.5]) == 0.5


def test_squad_official_metrics() -> None:
    assert exact_match("The Denver Broncos", "denver broncos")
    assert not exact_match("Broncos", "Denver Broncos")
    assert f1_score("Denver Broncos", "the Denver Broncos!") == 1.0
    assert f1_score("Carolina Panthers", "Denver Broncos") == 0.0
    assert f1_score("the Denver team", "Denver Broncos") == pytest.approx(0.5)


def test_gold_spans_map_to_article_offsets(small_squad: Path) -> None:
    articles = {a.id: a for a in read_file(small_squad)}
    questions = load_questions(small_squad)
    assert len(questions) > 100
    for q in questions:
        text = articles[q.article_id].text
        for start, end, answer in q.answers:
            assert text[start:end] == answer


@pytest.mark.slow
def test_small_end_to_end_retrieval_eval(small_squad: Path, tmp_path: Path, embedder: object) -> None:
    out = tmp_path / "reports"
    report = evaluate_retrieval(small_squad, limit=40, out=out, cache=tmp_path / "cache")
    written = json.loads((out / "retrieval.json").read_text())
    assert written["questions"] == 40
    assert set(written["modes"]) == {"fused", "dense", "lexical"}
    for values in written["modes"].values():
        assert {"recall@1", "recall@5", "recall@20", "mrr@10", "ndcg@10", "latency_ms_p50",
                "latency_ms_p95"} <= set(values)
        assert 0.0 <= values["recall@1"] <= values["recall@5"] <= values["recall@20"] <= 1.0
    assert (out / "retrieval.md").read_text().count("| fused |") == 1
    assert (out / "recall_at_k.png").stat().st_size > 1000
    # On two articles the fused mode finds the gold passage in its top 5 for most questions.
    assert report["modes"]["fused"]["recall@5"] >= 0.85
