"""The approximate (HNSW) search above a size threshold, checked against numpy brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.models import Article, Chunk, IndexSettings, Sentence, content_hash
from qa.settings import Settings
from qa.store import DEFAULT_APPROXIMATE_ABOVE, Prepared, Store
from qa.store.vectors import build_hnsw, new_index, search_approximate

DIM = 384


def clustered(n: int, seed: int, clusters: int = 40) -> np.ndarray:
    """Unit vectors around a few centres, as real embeddings are (uniform ones are too easy)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, DIM))
    x = centres[rng.integers(0, clusters, n)] + rng.normal(0, 0.35, (n, DIM))
    x[n // 2 : n // 2 + 5] = x[n // 2]  # a few exact duplicates: ties in the true ranking
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall_by_score(queries: np.ndarray, base: np.ndarray, ids: np.ndarray, got: np.ndarray, k: int) -> float:
    """Share of returned ids scoring at least the true k-th score (so tied neighbours count)."""
    scores = queries @ base.T  # (n_q, n)
    kth = -np.sort(-scores, axis=1)[:, k - 1]
    position = {int(i): p for p, i in enumerate(ids)}
    hits = [scores[q, position[int(i)]] >= kth[q] - 1e-5 for q in range(len(queries)) for i in got[q] if i >= 0]
    return sum(hits) / (len(queries) * k)


@pytest.mark.parametrize("n", [257, 1000, 3001])
def test_hnsw_recall_at_10_against_brute_force(n: int) -> None:
    base = clustered(n, seed=n)
    ids = np.arange(n, dtype=np.int64) * 3 + 11  # ids unlike positions, as after deletes
    exact = new_index(DIM)
    exact.add_with_ids(base, ids)
    graph = build_hnsw(exact)
    assert graph.ntotal == n
    queries = clustered(50, seed=n + 1)
    scores, got = search_approximate(graph, queries, 10)
    assert got.shape == (50, 10)
    assert set(got.ravel()) <= set(ids)
    assert recall_by_score(queries, base, ids, got, 10) >= 0.98
    # scores are the true inner products of the returned vectors, best first
    position = {int(i): p for p, i in enumerate(ids)}
    np.testing.assert_allclose(scores[0], [base[position[int(i)]] @ queries[0] for i in got[0]], atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_k_above_size_is_clamped() -> None:
    base = clustered(20, seed=3)
    exact = new_index(DIM)
    exact.add_with_ids(base, np.arange(20, dtype=np.int64))
    scores, got = search_approximate(build_hnsw(exact), base[:2], 50)
    assert got.shape == (2, 20)
    assert sorted(got[0]) == list(range(20))


def _article(number: int, sentences: int) -> Article:
    text = " ".join(f"Sentence {number}-{i} talks about topic {i % 7}." for i in range(sentences))
    title = f"Article {number}"
    return Article(id=f"a{number}", title=title, source=f"a{number}.txt", text=text,
                   content_hash=content_hash(title, None, None, None, text))


def _prepared(number: int, sentences: int, vectors: np.ndarray) -> Prepared:
    """An article whose chunks are its sentences, with the given vectors for both."""
    a = _article(number, sentences)
    spans, start = [], 0
    for _ in range(sentences):
        end = a.text.index(".", start) + 1
        spans.append((start, end))
        start = end + 1
    chunks = [Chunk(article_id=a.id, ordinal=i, start=s, end=e, text=a.text[s:e], token_count=8)
              for i, (s, e) in enumerate(spans)]
    return Prepared(a, chunks, [Sentence(start=s, end=e, paragraph=0) for s, e in spans], vectors, vectors)


def test_store_switches_to_hnsw_above_the_threshold_and_stays_consistent(tmp_path: Path) -> None:
    base = clustered(1500, seed=7)
    # float32, as the brute force below; tests/test_vector_formats.py checks the compressed formats.
    store = Store.open(tmp_path / "index", IndexSettings(vector_format="float32"), create=True, approximate_above=1000)
    store.write([_prepared(n, 300, base[n * 300 : (n + 1) * 300]) for n in range(5)])
    assert store.stats().approximate
    queries = clustered(40, seed=8)
    ids = np.asarray(store.row_ids("chunks"))  # as base
    _, exact = store.dense_chunks(queries, 10, exact=True)
    _, approx = store.dense_chunks(queries, 10)
    assert recall_by_score(queries, base, ids, approx, 10) >= 0.98
    assert recall_by_score(queries, base, ids, exact, 10) == 1.0
    graphs = sorted(p.name for p in (tmp_path / "index").glob("*.hnsw.faiss"))
    assert graphs == ["chunks-1.hnsw.faiss"]  # built on first use, saved beside its generation

    # A new process loads the saved graph and finds the same neighbours.
    reopened = Store.open(tmp_path / "index", approximate_above=1000)
    np.testing.assert_array_equal(reopened.dense_chunks(queries, 10)[1], approx)

    # A filter keeps the exact scan; a delete is reflected at once (the graph follows generations).
    allowed = [int(i) for i in ids[:300]]
    _, filtered = reopened.dense_chunks(queries, 5, allowed=allowed)
    assert set(filtered.ravel()) <= set(allowed)
    reopened.delete("a0")
    for search in (reopened.dense_chunks, reopened.dense_sentences):
        _, after = search(queries, 10)
        assert not set(after.ravel()) & set(allowed)
    assert sorted(p.name for p in (tmp_path / "index").glob("*.hnsw.faiss")) == [
        "chunks-2.hnsw.faiss", "sentences-2.hnsw.faiss"]
    assert reopened.check() == []


def test_below_the_threshold_search_stays_exact(tmp_path: Path) -> None:
    base = clustered(300, seed=9)
    store = Store.open(tmp_path / "index", create=True, approximate_above=300)
    store.write([_prepared(0, 300, base)])
    assert not store.stats().approximate
    store.dense_chunks(base[:3], 10)
    assert not list((tmp_path / "index").glob("*.hnsw.faiss"))


def test_threshold_comes_from_the_settings(tmp_path: Path) -> None:
    """The store reads no environment: ``Settings.from_env`` reads the variable, callers pass it."""
    assert Store.open(tmp_path / "i", create=True).approximate_above == DEFAULT_APPROXIMATE_ABOVE
    assert Settings().approximate_above == DEFAULT_APPROXIMATE_ABOVE
    assert Settings.from_env(environ={"QA_APPROXIMATE_ABOVE": "12"}).approximate_above == 12
    assert Settings.from_env(environ={}).approximate_above == DEFAULT_APPROXIMATE_ABOVE
    with pytest.raises(ValueError, match="QA_APPROXIMATE_ABOVE"):
        Settings.from_env(environ={"QA_APPROXIMATE_ABOVE": "many"})
    settings = Settings.from_env(environ={"QA_APPROXIMATE_ABOVE": "12"})
    assert Store.open(tmp_path / "i", approximate_above=settings.approximate_above).approximate_above == 12
    with pytest.raises(ValueError, match="approximate_above"):
        Store.open(tmp_path / "i", approximate_above=-1)
