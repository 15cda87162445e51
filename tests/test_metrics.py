"""qa.metrics against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from qa.metrics import auroc, exact_match, f1_score, mrr_at, ndcg_at, normalize_answer, percentile, recall_at


def test_recall_and_mrr_by_hand() -> None:
    ranks = [1, 3, None, 7]
    assert recall_at(ranks, 1) == 0.25
    assert recall_at(ranks, 5) == 0.5
    assert recall_at(ranks, 10) == 0.75
    assert mrr_at(ranks, 10) == pytest.approx((1 + 1 / 3 + 1 / 7) / 4)
    assert mrr_at(ranks, 5) == pytest.approx((1 + 1 / 3) / 4)
    assert recall_at([], 5) == 0.0
    assert mrr_at([], 5) == 0.0


def test_ndcg_by_hand() -> None:
    # One relevant item at rank 2: DCG = 1/log2(3), IDCG = 1.
    assert ndcg_at([[False, True]], [1], 10) == pytest.approx(1 / math.log2(3))
    # Two relevant items in the index, both retrieved first: perfect.
    assert ndcg_at([[True, True, False]], [2], 10) == pytest.approx(1.0)
    # Two relevant, only one retrieved at rank 1: 1 / (1 + 1/log2(3)).
    assert ndcg_at([[True, False]], [2], 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at([[False] * 12 + [True]], [1], 10) == 0.0
    assert ndcg_at([], [], 10) == 0.0


def test_auroc_by_hand() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5], [0.5]) == 0.5
    assert auroc([0.9, 0.3], [0.5]) == 0.5
    assert math.isnan(auroc([], [0.5]))


def test_percentile_by_hand() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    assert percentile([], 95) == 0.0


def test_squad_official_metrics() -> None:
    assert normalize_answer("The  Denver-Broncos!") == "denverbroncos"
    assert normalize_answer("an apple, a pear and the fig") == "apple pear and fig"
    assert exact_match("The Denver Broncos", "denver broncos")
    assert not exact_match("Broncos", "Denver Broncos")
    assert f1_score("Denver Broncos", "the Denver Broncos!") == 1.0
    assert f1_score("Carolina Panthers", "Denver Broncos") == 0.0
    assert f1_score("the Denver team", "Denver Broncos") == pytest.approx(0.5)
    assert f1_score("", "Denver") == 0.0
