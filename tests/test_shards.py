"""Shards (``qa.shards``): stable routing, BM25 with summed statistics against FTS5 itself, and a
sharded index that searches and answers as one index holding every article does.

The fast tests build real stores (SQLite, FTS5, FAISS) with the hashing embedder of
``embedders.py``; the slow one cuts shards from ``built_index`` with its real vectors and asks
the real reader.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from embedders import HashingEmbedder

from qa import QA, Filters, IndexMismatchError, IndexNotFoundError
from qa.cli import main
from qa.embedding import Embedder, Vectors
from qa.models import IndexSettings
from qa.pipeline import sample_corpus
from qa.retrieval import fts_query
from qa.shards import SHARDS_MANIFEST, Shards, global_id, locate, shard_of, split_id
from qa.store import DATABASE, Store
from qa.store.bm25 import scores
from qa.store.lexical import FEW_ALLOWED

QUESTIONS = ("Who built Bushehr?", "What did Iran badly need from Russia?", "When did Tesla move to New York?",
             "Which team won Super Bowl 50?", "nuclear reactor fuel deal", "don't stop_me now", "the of and")


class TieFreeEmbedder(HashingEmbedder):
    """The hashing embedder with a weight per word drawn from its hash: its ±1 counts give many
    cosines exactly equal, and which of several tied hits a top-k keeps is FAISS's choice (the
    one index and the shards may keep different ones). Real embeddings do not tie."""

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                weight = 0.5 + int.from_bytes(digest[5:8], "little") / 2**24
                out[row, int.from_bytes(digest[:4], "little") % self.dimension] += weight if digest[4] & 1 else -weight
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


# Exact vectors: sq8's ranges are learnt from each index's own first write, so an sq8 shard's
# cosines differ from an sq8 single index's by its rounding (about 1e-3), not by the merge.
EXACT = IndexSettings(vector_format="float32")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, small_squad: Path) -> tuple[QA, QA]:
    """The sample corpus and two SQuAD articles as one index and as three shards."""
    root = tmp_path_factory.mktemp("shards")
    one = QA(root / "one", sample=False, embedder=TieFreeEmbedder(), index_settings=EXACT)
    assert one.ingest([sample_corpus(), small_squad]).added
    sharded = QA(root / "sharded", sample=False, embedder=TieFreeEmbedder(), shards=3, index_settings=EXACT)
    assert len(sharded.ingest([sample_corpus(), small_squad]).added) == one.stats().articles
    return one, sharded


def _passages(qa: QA, question: str, **kwargs: object) -> list[tuple[str, int, int, float]]:
    return [(p.article_id, p.start, p.end, p.score) for p in qa.search(question, **kwargs)]  # type: ignore[arg-type]


def _same(a: list[tuple[str, int, int, float]], b: list[tuple[str, int, int, float]]) -> None:
    """The same scores best first, and the same passage at each score; passages whose scores tie
    (BM25 of two equally long chunks with the same hits) may come in either order, and which of
    them makes the last place is either's choice."""
    assert [x[3] for x in a] == pytest.approx([x[3] for x in b], rel=1e-6)  # float32 cosines
    last = min((x[3] for x in a), default=0.0)
    above = [{x[:3] for x in side if x[3] > last + 1e-6} for side in (a, b)]
    assert above[0] == above[1]
    for x, y in zip(a, b, strict=True):
        if x[:3] != y[:3]:  # only tied passages trade places
            assert sum(abs(z[3] - x[3]) <= 1e-6 * abs(x[3]) for z in a) > 1


def test_routing_is_a_stable_hash_of_the_article_id() -> None:
    for article_id in ("putin-and-the-ayatollah-a-bromance-to-watch-8bb33617", "nikola-tesla-1", "ü"):
        digest = hashlib.sha256(article_id.encode("utf-8")).digest()
        assert shard_of(article_id, 7) == int.from_bytes(digest[:8], "big") % 7
    assert [shard_of("nikola-tesla-1", n) for n in (1, 2, 3, 4, 8)] == [0, 0, 0, 2, 2]  # pinned across versions
    counts = [0] * 4
    for i in range(4000):
        counts[shard_of(f"article-{i}", 4)] += 1
    assert min(counts) > 900
    with pytest.raises(ValueError, match="at least one shard"):
        shard_of("a", 0)


def test_global_ids_keep_the_shard_and_its_own_id() -> None:
    for shard, local in ((0, 1), (3, 12345), (255, 2**40 - 1)):
        assert split_id(global_id(shard, local)) == (shard, local)


def test_bm25_with_one_index_statistics_equals_fts5(corpus: tuple[QA, QA]) -> None:
    store = corpus[0].store
    assert isinstance(store, Store)
    for question in QUESTIONS:
        match = fts_query(question)
        ours = scores([store.lexical_postings(match, "chunks")])[0]
        fts5 = dict(store.lexical_chunks(match, 100_000))
        assert set(ours) == set(fts5)
        assert [ours[i] for i in fts5] == pytest.approx(list(fts5.values()), rel=1e-9, abs=1e-12)
        sentences = scores([store.lexical_postings(match, "sentences")])[0]
        some = sorted(sentences)[:200]
        assert store.lexical_sentences(match, some) == pytest.approx({i: sentences[i] for i in some}, rel=1e-9)


def test_filtered_chunk_bm25_is_fts5s_over_the_allowed_chunks(corpus: tuple[QA, QA]) -> None:
    """A filter's allowed chunks are scored as the unfiltered query scores them, whether there are
    few (named in the query) or many (every match scored once, then kept): ``Lexical.chunks``."""
    store = corpus[0].store
    assert isinstance(store, Store)
    every = sorted(store.chunk_ids_where())
    few, many = every[:20], every[::3]
    assert len(few) <= FEW_ALLOWED < len(many)
    for allowed in (few, many):
        for question in QUESTIONS:
            match = fts_query(question)
            unfiltered = dict(store.lexical_chunks(match, 100_000))
            got = store.lexical_chunks(match, 100_000, allowed)
            expected = {i: s for i, s in unfiltered.items() if i in set(allowed)}
            assert dict(got) == pytest.approx(expected, rel=1e-9)
            assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
            top = store.lexical_chunks(match, 3, allowed)
            assert [s for _, s in top] == pytest.approx([s for _, s in got[:3]], rel=1e-9)


@pytest.mark.parametrize("question", [*QUESTIONS, "Céloron's U.S. expedition", "zzyzx qwertyuiop", "x"])
def test_sentence_bm25_equals_fts5s_own(corpus: tuple[QA, QA], question: str) -> None:
    """The reader's sentence BM25, counted from the candidates' own tokens (``Lexical.sentences``),
    gives what FTS5's ``bm25()`` gives for the same rows: phrases of two tokens ("u.s"), accents,
    words no row holds, rows holding no phrase (left out) included."""
    store = corpus[0].store
    assert isinstance(store, Store)
    match = fts_query(question)
    conn = sqlite3.connect(store.directory / DATABASE)
    try:
        every = [int(r[0]) for r in conn.execute("SELECT rowid FROM sentence_fts ORDER BY rowid")]
        ids = every[::7] + every[-3:]
        marks = ",".join("?" * len(ids))
        fts5 = {int(r[0]): float(r[1]) for r in conn.execute(
            f"SELECT rowid, -bm25(sentence_fts) FROM sentence_fts WHERE sentence_fts MATCH ? AND rowid IN ({marks})",
            (match, *ids))}
    finally:
        conn.close()
    ours = store.lexical_sentences(match, ids)
    assert set(ours) == set(fts5)
    assert [ours[i] for i in fts5] == pytest.approx(list(fts5.values()), rel=1e-9, abs=1e-12)
    if question in QUESTIONS[:4]:
        assert fts5, "the question's words are in some of these sentences"
    assert store.lexical_sentences(match, []) == {}


def test_each_article_is_in_the_shard_its_id_routes_to(corpus: tuple[QA, QA]) -> None:
    one, sharded = corpus
    assert isinstance(sharded.store, Shards)
    stores = sharded.store.stores
    assert [s.directory.name for s in stores] == ["shard-00", "shard-01", "shard-02"]
    manifest = json.loads((sharded.directory / SHARDS_MANIFEST).read_text())
    assert manifest == {"version": 1, "routing": "sha256", "shards": ["shard-00", "shard-01", "shard-02"]}
    for n, store in enumerate(stores):
        assert store.articles(), "every shard got some articles"
        assert all(shard_of(a.id, 3) == n for a in store.articles())
    assert [a.id for a in sharded.articles()] == [a.id for a in one.articles()]
    stats, single = sharded.stats(), one.stats()
    assert (stats.articles, stats.chunks, stats.sentences) == (single.articles, single.chunks, single.sentences)


@pytest.mark.parametrize("mode", ["fused", "lexical", "dense"])
def test_sharded_search_equals_the_one_index(corpus: tuple[QA, QA], mode: str) -> None:
    one, sharded = corpus
    for question in QUESTIONS:
        _same(_passages(one, question, k=12, mode=mode), _passages(sharded, question, k=12, mode=mode))


def test_filters_apply_across_shards(corpus: tuple[QA, QA]) -> None:
    one, sharded = corpus
    picked = [a.id for a in one.articles()[::4]]
    for filters in (Filters(article_ids=picked), Filters(title_contains="tesla"), Filters(article_ids=[])):
        for question in QUESTIONS[:4]:
            _same(_passages(one, question, k=8, filters=filters), _passages(sharded, question, k=8, filters=filters))


def test_the_reader_sees_one_index_through_the_shards(corpus: tuple[QA, QA]) -> None:
    """The reader's inputs (sentences, their vectors, BM25 and term counts) equal the one index's."""
    one, sharded = corpus
    question = "What did Iran badly need from Russia?"
    match = fts_query(question)
    assert sharded.store.term_documents(["iran", "the", "tesla"], "sentences") == one.store.term_documents(
        ["iran", "the", "tesla"], "sentences")
    for p_one, p_sharded in zip(one.search(question, k=5), sharded.search(question, k=5), strict=True):
        rows_one = one.store.sentences_in(p_one.article_id, p_one.start, p_one.end)
        rows_sharded = sharded.store.sentences_in(p_sharded.article_id, p_sharded.start, p_sharded.end)
        assert [(r.start, r.end, r.text) for r in rows_one] == [(r.start, r.end, r.text) for r in rows_sharded]
        ids_one, ids_sharded = [r.id for r in rows_one], [r.id for r in rows_sharded]
        assert (one.store.sentence_vectors(ids_one) == sharded.store.sentence_vectors(ids_sharded)).all()
        bm25_one = one.store.lexical_sentences(match, ids_one)
        bm25_sharded = sharded.store.lexical_sentences(match, ids_sharded)
        assert [bm25_one.get(i) for i in ids_one] == pytest.approx([bm25_sharded.get(i) for i in ids_sharded])


def test_reingest_and_delete_find_the_articles_shard(tmp_path: Path, seed_path: Path) -> None:
    sharded = QA(tmp_path / "idx", sample=False, embedder=HashingEmbedder(), shards=4)
    first = sharded.ingest([seed_path])
    article_id = first.added[0].id
    assert isinstance(sharded.store, Shards)
    home = sharded.store.stores[shard_of(article_id, 4)]
    assert home.has_article(article_id)
    assert sharded.ingest([seed_path]).unchanged  # the same shard is asked, so nothing is written twice
    changed = tmp_path / seed_path.name
    changed.write_text(seed_path.read_text(encoding="utf-8") + "\n\nA paragraph added later.\n", encoding="utf-8")
    assert [a.id for a in sharded.ingest([changed]).updated] == [article_id]
    assert [s.stats().articles for s in sharded.store.stores] == [int(s is home) for s in sharded.store.stores]
    assert sharded.search("What did Iran need?", k=3)  # three shards are empty
    reopened = QA(tmp_path / "idx", sample=False, create=False, embedder=HashingEmbedder())
    assert reopened.delete(article_id) and not home.has_article(article_id)
    assert not reopened.delete(article_id)
    assert reopened.stats().articles == 0
    assert [e.action for e in reopened.audit_log()] == ["delete", "replace", "add"]


def test_a_list_of_index_directories_opens_as_one(corpus: tuple[QA, QA]) -> None:
    one, sharded = corpus
    assert isinstance(sharded.store, Shards)
    listed = QA([s.directory for s in sharded.store.stores], create=False, embedder=TieFreeEmbedder())
    assert listed.stats().chunks == one.stats().chunks
    _same(_passages(one, QUESTIONS[0], k=5), _passages(listed, QUESTIONS[0], k=5))


def test_one_directory_stays_one_index(tmp_path: Path, seed_path: Path) -> None:
    qa = QA(tmp_path / "plain", sample=False, embedder=HashingEmbedder())
    qa.ingest([seed_path])
    assert isinstance(qa.store, Store) and qa.directory == tmp_path / "plain"
    assert locate(tmp_path / "plain") == tmp_path / "plain"
    assert not (tmp_path / "plain" / SHARDS_MANIFEST).exists()
    with pytest.raises(IndexMismatchError, match="one index, not a shard set"):
        QA(tmp_path / "plain", embedder=HashingEmbedder(), shards=2)


def test_shard_layout_mistakes_are_refused(tmp_path: Path) -> None:
    QA(tmp_path / "set", sample=False, embedder=HashingEmbedder(), shards=2)
    with pytest.raises(IndexMismatchError, match="split into 2 shards, not 3"):
        QA(tmp_path / "set", embedder=HashingEmbedder(), shards=3)
    with pytest.raises(IndexNotFoundError, match="--shard-by"):
        QA(tmp_path / "none", embedder=HashingEmbedder(), shards=2, create=False)
    with pytest.raises(ValueError, match="at least one shard"):
        QA(tmp_path / "zero", embedder=HashingEmbedder(), shards=0)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / SHARDS_MANIFEST).write_text('{"shards": ["../elsewhere"]}')
    with pytest.raises(IndexMismatchError, match="not a directory"):
        QA(tmp_path / "bad", embedder=HashingEmbedder())


def test_a_half_made_shard_set_is_not_an_index(tmp_path: Path) -> None:
    """The shards' manifest comes last: shards without it are refused until it is written."""
    QA(tmp_path / "set", sample=False, embedder=HashingEmbedder(), shards=2)
    (tmp_path / "set" / SHARDS_MANIFEST).unlink()
    with pytest.raises(IndexNotFoundError):
        QA(tmp_path / "set", embedder=HashingEmbedder(), shards=2, create=False)
    QA(tmp_path / "set", sample=False, embedder=HashingEmbedder(), shards=2)  # made again, shards reused
    assert (tmp_path / "set" / SHARDS_MANIFEST).exists()


@pytest.mark.slow
def test_cli_ingests_into_shards_and_stats_sums_them(tmp_path: Path, seed_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "cli"
    assert main(["ingest", str(seed_path), "--index", str(index), "--shard-by", "2"]) == 0
    assert main(["ingest", str(seed_path), "--index", str(index)]) == 0  # routes by the set's own count
    capsys.readouterr()
    assert main(["stats", "--index", str(index)]) == 0
    shown = capsys.readouterr().out
    assert "1 articles" in shown and shown.count("  shard ") == 2
    assert main(["log", "--index", str(index)]) == 0
    assert capsys.readouterr().out.count(" add ") == 1
    assert main(["ingest", str(seed_path), "--index", str(index), "--shard-by", "3"]) == 1
    assert "split into 2 shards, not 3" in capsys.readouterr().err


@pytest.mark.slow
def test_sharded_answers_equal_the_one_index(built_index: Path, embedder: Embedder, tmp_path: Path,
                                             seed_path: Path, small_squad: Path) -> None:
    """Shards cut from ``built_index`` (its own vectors, through the sharded ingest) answer
    every question as the one index does: the same quote, citation and confidence."""
    from qa_eval.shard_eval import ReplayEncoder
    from qa_eval.squad import load_questions

    source = tmp_path / "one"
    shutil.copytree(built_index, source)
    one = QA(source, sample=False, create=False, embedder=embedder)
    assert isinstance(one.store, Store)
    # float32 shards hold the one index's decoded vectors exactly (sq8 shards would round them again)
    exact = one.store.settings.model_copy(update={"vector_format": "float32"})
    shards = Shards.open(locate(tmp_path / "shards", 3), exact, create=True)
    shards.ingest([seed_path, small_squad], ReplayEncoder(one.store))
    sharded = QA(tmp_path / "shards", sample=False, create=False, embedder=embedder, extractor=one.reader.extractor)
    questions = [q.text for q in load_questions(small_squad)[::12]] + list(QUESTIONS[:2])
    for question in questions:
        a, b = one.answer(question), sharded.answer(question)
        assert (a.found, a.text, [(c.article_id, c.start, c.end) for c in a.citations]) == (
            b.found, b.text, [(c.article_id, c.start, c.end) for c in b.citations]), question
        assert a.confidence == pytest.approx(b.confidence, abs=1e-6)
