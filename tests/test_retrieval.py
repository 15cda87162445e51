"""Retriever: modes, citable spans, filters and hostile query text against FTS5."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from qa.embedding import Embedder
from qa.models import Passage
from qa.retrieval import Filters, Retriever, common_words, fts_query
from qa.settings import LexicalSettings
from qa.store import DATABASE, Store

HOSTILE = ['"', 'NEAR(a b)', "tesla*", "title:tesla", "a AND OR NOT b", "^start", "-x", "{x y}: z",
           "'; DROP TABLE chunks; --", "(((", "\"unbalanced", "*", ":", "NEAR"]


@pytest.fixture(scope="module")
def retriever(built_index: Path, embedder: Embedder) -> Retriever:
    return Retriever(Store.open(built_index), embedder)


def test_fts_query_quotes_every_term() -> None:
    assert fts_query('Who built "Bushehr"?') == '"built" OR "bushehr"'
    assert fts_query("the of") == '"the" OR "of"'  # only stopwords: keep them
    assert fts_query("***") == ""


def test_fts_query_leaves_out_common_words() -> None:
    assert fts_query("Tesla built coils", common={"built"}) == '"tesla" OR "coils"'
    assert fts_query("built", common={"built"}) == '"built"'  # nothing else: keep it


@pytest.mark.slow
def test_term_documents_count_stems_like_match(retriever: Retriever) -> None:
    store = retriever.store
    conn = sqlite3.connect(store.directory / DATABASE)  # MATCH itself, beside the store's counts
    for kind, table in (("chunks", "chunk_fts"), ("sentences", "sentence_fts")):
        total, counts = store.term_documents(["tesla", "needed", "need", "zzyzx", "u.s"], kind)
        assert total == store.count(kind)
        for word in ("tesla", "needed", "zzyzx"):
            expected = conn.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (f'"{word}"',)).fetchone()[0]
            assert counts[word] == expected
        assert counts["needed"] == counts["need"] > 0 and counts["zzyzx"] == 0
        assert counts["u.s"] <= min(store.term_documents(["u", "s"], kind)[1].values())
    conn.close()


@pytest.mark.slow
def test_term_documents_follow_writes(index_copy: Path, embedder: Embedder, tmp_path: Path) -> None:
    from qa.indexing import ingest_paths

    store = Store.open(index_copy)
    assert store.term_documents(["zzyzx"], "sentences")[1]["zzyzx"] == 0
    article = tmp_path / "zzyzx.md"
    article.write_text("# Zzyzx\n\nZzyzx is a place in California. Zzyzx Road leads there.\n", encoding="utf-8")
    ingest_paths(store, [article], embedder)
    total, counts = store.term_documents(["zzyzx"], "sentences")
    assert counts["zzyzx"] == 2 and total == store.count("sentences")


@pytest.mark.slow
def test_common_words_are_those_in_many_rows(retriever: Retriever) -> None:
    question = "In what year did Tesla move to the United States?"
    def common(fraction: float, **above: int) -> set[str]:
        lexical = LexicalSettings(common_fraction=fraction, **above)
        return common_words(retriever.store, question, "chunks", lexical)

    assert "tesla" in common(0.01, common_above=0)
    assert common(1.0, common_above=0) == set()
    assert common(0.01) == set()  # a small index keeps all


@pytest.mark.slow
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_query_text_never_breaks_match(retriever: Retriever, text: str) -> None:
    """Operators and quotes in a question are plain text: BM25 finds what the question's words
    alone find (nothing when it has none), and every passage is citable."""
    plain = " ".join(re.findall(r"\w+", text))
    lexical = retriever.search(text, k=3, mode="lexical")
    assert lexical == (retriever.search(plain, k=3, mode="lexical") if plain else [])
    for passages in (lexical, retriever.search(text, k=3, mode="fused")):
        assert all(isinstance(p, Passage) for p in passages)
        assert [p.rank for p in passages] == list(range(1, len(passages) + 1)) and len(passages) <= 3
        for p in passages:
            article = retriever.store.article(p.article_id)
            assert article is not None and article.text[p.start : p.end] == p.text


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fused", "dense", "lexical"])
def test_passages_are_citable(retriever: Retriever, mode: str) -> None:
    passages = retriever.search("Where did Nikola Tesla die?", k=5, mode=mode)  # type: ignore[arg-type]
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
    for p in passages:
        article = retriever.store.article(p.article_id)
        assert article is not None and article.text[p.start : p.end] == p.text
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.slow
def test_fused_finds_the_seed_passage(retriever: Retriever) -> None:
    top = retriever.search("Who agreed to build Iran's nuclear reactor at Bushehr?", k=1)[0]
    assert top.title.startswith("Putin and the Ayatollah")
    assert "Bushehr" in top.text
    assert top.dense_score is not None and top.lexical_score is not None


@pytest.mark.slow
def test_filters_restrict_articles(retriever: Retriever) -> None:
    only_tesla = retriever.search("Super Bowl champions", k=5, filters=Filters(title_contains="tesla"))
    assert only_tesla and all(p.title == "Nikola Tesla" for p in only_tesla)
    dated = retriever.search("reactor", k=5, filters=Filters(published_from="2016-01-01"))  # type: ignore[arg-type]
    assert dated and all(p.published is not None and p.published.year == 2016 for p in dated)
    none = retriever.search("reactor", k=5, filters=Filters(article_ids=[]))
    assert none == []


@pytest.mark.slow
def test_k_larger_than_index_and_bad_k(retriever: Retriever) -> None:
    chunks = retriever.store.stats().chunks
    assert chunks > 1
    for mode in ("dense", "fused"):  # more than the index holds: every chunk, once
        passages = retriever.search("Tesla", k=chunks + 5, mode=mode)  # type: ignore[arg-type]
        assert len(passages) == len({p.chunk_id for p in passages}) == chunks
        assert len(retriever.search("Tesla", k=chunks - 1, mode=mode)) == chunks - 1  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        retriever.search("Tesla", k=0)
