"""Metrics against hand-computed cases, gold-span mapping, and a small end-to-end evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from qa.evaluation import (
    auroc,
    evaluate_answers,
    evaluate_retrieval,
    exact_match,
    extractor_card,
    f1_score,
    load_questions,
    mrr_at,
    ndcg_at,
    reader_tuning,
    recall_at,
)
from qa.ingest import read_file

SQUAD = Path(__file__).resolve().parents[1] / "eval" / "data" / "squad-dev-v1.1-half.json"


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


def test_reader_tuning_fits_and_measures_on_unseen_articles_only() -> None:
    tuning = reader_tuning(SQUAD)
    assert len(tuning.fit) == len(tuning.held_out) == 1000
    assert len(tuning.calibration) == 2000
    assert not {q.id for q in tuning.fit} & {q.id for q in tuning.held_out}
    unseen = {t.replace("_", " ") for t in extractor_card()["held_out_titles"]}
    assert all(q.title in unseen and not q.impossible for q in tuning.fit + tuning.held_out)
    assert {q.title for q in tuning.calibration} - unseen, "calibration also asks about training articles"
    assert tuning.fitted_ids == {q.id for q in tuning.fit + tuning.calibration}
    assert [q.id for q in reader_tuning(SQUAD).fit] == [q.id for q in tuning.fit]


@pytest.mark.slow
def test_small_end_to_end_answer_eval(small_squad: Path, tmp_path: Path, embedder: object) -> None:
    out = tmp_path / "reports"
    report = evaluate_answers(small_squad, limit=30, out=out, v2_dataset=None, cache=tmp_path / "cache")
    written = json.loads((out / "answers.json").read_text())
    assert written == json.loads(json.dumps(report))
    assert written["questions"] == 30
    assert written["citation_validity"] == 1.0
    assert {"answer_accuracy", "span_em", "span_f1", "latency_ms_p50", "latency_ms_p95"} <= set(written)
    assert {"auroc", "answered_in_corpus", "declined_out_of_corpus"} <= set(written["abstention"])
    # Both articles are unseen by the extractor; the reader was tuned on some of their questions.
    assert written["extractor_unseen_articles"]["questions"] == 30
    assert 0 < written["fitted_on_nothing"]["questions"] < 30
    assert "none used to fit the reader" in (out / "answers.md").read_text()
    # Two articles, questions about them: most answers hold a gold answer.
    assert written["answer_accuracy"] >= 0.6
