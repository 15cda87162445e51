"""Index store: SQLite and FAISS stay in step through build, reopen, re-ingest, update, delete."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from damage import overwrite_inside
from embedders import HashingEmbedder

from qa.chunking import chunk_article, split_sentences
from qa.embedding import Embedder
from qa.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexUnusableError,
    QAError,
    rebuild_hint,
)
from qa.indexing import ingest_paths
from qa.ingest import read_file
from qa.models import ChunkText, IndexSettings
from qa.store import DATABASE, MANIFEST, Prepared, Store, read_manifest
from qa.store.formats import KEEPS

QUERIES = ["Who built Bushehr?", "Who won Super Bowl 50?", "What did Nikola Tesla invent?",
           "Where did Russian bombers fly from?"]
TINY_MD = ("# A Tiny Article About Lighthouses\n\nBy Test Writer\n\nMay 1, 2020\n\n"
           "Lighthouses guide ships along dangerous coasts. The oldest stood in Alexandria.\n\n"
           "Modern lighthouses use automated LED lamps and need no keeper.\n")


# ------------------------------------------------------------------------------ helpers
def _sql(directory: Path, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read the index database directly, bypassing the Store."""
    conn = sqlite3.connect(directory / DATABASE)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def _sql_ids(directory: Path, query: str, params: tuple[object, ...] = ()) -> set[int]:
    return {int(r[0]) for r in _sql(directory, query, params)}  # type: ignore[call-overload]


def _faiss_files(directory: Path, kind: str) -> list[Path]:
    return sorted(directory.glob(f"{kind}-*.faiss"))


def _faiss_ids(directory: Path, kind: str) -> set[int]:
    """Ids in the one FAISS file of ``kind`` on disk, read with faiss itself."""
    import faiss

    [file] = _faiss_files(directory, kind)
    index = faiss.read_index(str(file))
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    assert len(ids) == index.ntotal == len(set(ids.tolist()))
    return set(ids.tolist())


def _assert_consistent(store: Store) -> None:
    """SQLite, FTS and FAISS agree, judged by ``check()`` and by reading the files directly."""
    assert store.check() == []
    d = store.directory
    stats = store.stats()
    assert stats.chunk_vectors == stats.chunks
    assert stats.sentence_vectors == stats.sentences
    generation = store.generation()
    for kind in ("chunks", "sentences"):
        assert [f.name for f in _faiss_files(d, kind)] == [f"{kind}-{generation}.faiss"]
        ids = _sql_ids(d, f"SELECT id FROM {kind}")
        assert _faiss_ids(d, kind) == ids
        assert _sql_ids(d, f"SELECT rowid FROM {kind[:-1]}_fts") == ids
    assert not list(d.glob("*.tmp"))
    assert len(_sql_ids(d, "SELECT id FROM chunks")) == stats.chunks


def _chunk_ids(directory: Path, article_id: str | None = None) -> dict[tuple[str, int], int]:
    rows = _sql(directory, "SELECT article_id, ordinal, id FROM chunks")
    return {(str(a), int(o)): int(i) for a, o, i in rows  # type: ignore[call-overload]
            if article_id is None or a == article_id}


def _seed_id(seed_path: Path) -> str:
    return read_file(seed_path)[0].id


@pytest.fixture
def replace_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Record every ``os.replace`` (the real one still runs)."""
    calls: list[tuple[str, str]] = []
    real: Callable[..., None] = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append((os.fspath(src), os.fspath(dst)))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    yield calls


# ------------------------------------------------------------------------------ the built index
@pytest.mark.slow
def test_built_index_is_consistent(built_index: Path, seed_path: Path) -> None:
    store = Store.open(built_index)
    _assert_consistent(store)
    stats = store.stats()
    assert stats.articles == 3
    assert stats.settings == IndexSettings()
    titles = {a.title for a in store.articles()}
    assert titles == {"Putin and the Ayatollah: A Bromance to Watch", "Super Bowl 50",
                      "Nikola Tesla"}
    # Every stored chunk still reproduces its article text at its offsets.
    for article in store.articles():
        text = store.article_text(article.id)
        for start, end, chunk_text in _sql(
                built_index, 'SELECT start, "end", text FROM chunks WHERE article_id = ?',
                (article.id,)):
            assert text[start:end] == chunk_text  # type: ignore[misc]


@pytest.mark.slow
def test_reopen_returns_the_same_dense_results(index_copy: Path, embedder: Embedder) -> None:
    queries = embedder.encode_queries(QUERIES)
    first = Store.open(index_copy)
    scores1, ids1 = first.dense_chunks(queries, 10)
    s_scores1, s_ids1 = first.dense_sentences(queries, 10)
    del first
    again = Store.open(index_copy, IndexSettings())
    scores2, ids2 = again.dense_chunks(queries, 10)
    s_scores2, s_ids2 = again.dense_sentences(queries, 10)
    assert ids1.shape == (len(QUERIES), 10)
    np.testing.assert_array_equal(ids1, ids2)
    np.testing.assert_array_equal(scores1, scores2)
    np.testing.assert_array_equal(s_ids1, s_ids2)
    np.testing.assert_array_equal(s_scores1, s_scores2)
    # Among the nearest chunks to "Who built Bushehr?" is the seed article's chunk about it.
    rows = again.chunks([int(i) for i in ids2[0]])
    assert any(r.title.startswith("Putin and the Ayatollah") and "Bushehr" in r.text
               for r in rows.values())


@pytest.mark.slow
def test_dense_search_matches_brute_force(index_copy: Path, embedder: Embedder) -> None:
    store = Store.open(index_copy)
    queries = embedder.encode_queries(QUERIES)
    all_ids = sorted(_sql_ids(index_copy, "SELECT id FROM chunks"))
    vectors = store.chunk_vectors(all_ids)  # (n, 384)
    exact = queries @ vectors.T  # (n_q, n)
    for k in (1, 7, len(all_ids), len(all_ids) + 5):
        scores, ids = store.dense_chunks(queries, k)
        assert ids.shape == (len(QUERIES), min(k, len(all_ids)))
        for q in range(len(QUERIES)):
            order = np.argsort(-exact[q], kind="stable")[: ids.shape[1]]
            np.testing.assert_allclose(scores[q], exact[q][order], rtol=1e-5, atol=1e-5)
            assert set(ids[q].tolist()) <= set(all_ids)
    allowed = all_ids[::3]
    scores, ids = store.dense_chunks(queries, 5, allowed=allowed)
    assert set(ids.ravel().tolist()) <= set(allowed)


@pytest.mark.slow
def test_stored_vectors_belong_to_their_rows(index_copy: Path, embedder: Embedder) -> None:
    """The vector under each id is the embedding of that id's text (ids are not shuffled)."""
    store = Store.open(index_copy)
    # A fresh embedding against the stored vector: the backends agree to 0.999, and the index's
    # vector format may round a little more; a vector of another row scores far lower.
    floor = min(0.999, KEEPS[store.settings.vector_format])
    chunk_rows = _sql(index_copy, "SELECT id, text FROM chunks ORDER BY id")[::17]
    ids = [int(r[0]) for r in chunk_rows]  # type: ignore[call-overload]
    fresh = embedder.encode_documents([str(r[1]) for r in chunk_rows])
    cosines = np.sum(fresh * store.chunk_vectors(ids), axis=1)
    assert np.all(cosines > floor), cosines
    sentence_rows = _sql(
        index_copy, 'SELECT s.id, a.title, substr(a.text, s.start + 1, s."end" - s.start) FROM sentences s '
        "JOIN articles a ON a.id = s.article_id ORDER BY s.id")[::61]
    ids = [int(r[0]) for r in sentence_rows]  # type: ignore[call-overload]
    assert store.settings.sentence_context == "title"  # each sentence was embedded after its title
    fresh = embedder.encode_documents([store.settings.sentence_input(str(r[1]), str(r[2])) for r in sentence_rows])
    cosines = np.sum(fresh * store.sentence_vectors(ids), axis=1)
    assert np.all(cosines > floor), cosines


# ------------------------------------------------------------------------------ re-ingest and update
@pytest.mark.slow
def test_reingest_of_the_same_files_changes_nothing(
    index_copy: Path, embedder: Embedder, seed_path: Path, small_squad: Path
) -> None:
    store = Store.open(index_copy)
    generation = store.generation()
    before = _chunk_ids(index_copy)
    files = sorted(p.name for p in index_copy.glob("*.faiss"))
    report = ingest_paths(store, [seed_path, small_squad], embedder)
    assert report.added == [] and report.updated == [] and report.rejected == []
    assert len(report.unchanged) == 3
    assert report.chunks_written == 0
    assert store.generation() == generation
    assert _chunk_ids(index_copy) == before
    assert sorted(p.name for p in index_copy.glob("*.faiss")) == files
    _assert_consistent(store)


@pytest.mark.slow
def test_changed_article_replaces_its_chunks_and_vectors(
    index_copy: Path, embedder: Embedder, seed_path: Path, tmp_path: Path
) -> None:
    store = Store.open(index_copy)
    seed_id = _seed_id(seed_path)
    old_seed = set(_chunk_ids(index_copy, seed_id).values())
    old_sentences = _sql_ids(index_copy, "SELECT id FROM sentences WHERE article_id = ?",
                             (seed_id,))
    others = {k: v for k, v in _chunk_ids(index_copy).items() if k[0] != seed_id}
    generation = store.generation()

    edited = tmp_path / "edited" / seed_path.name
    edited.parent.mkdir()
    addition = ("A new closing paragraph mentions the Caspian Sea flotilla and its cruise "
                "missiles fired at Syria.")
    edited.write_text(seed_path.read_text(encoding="utf-8").replace(
        "Original url:", f"{addition}\n\nOriginal url:"), encoding="utf-8")

    report = ingest_paths(store, [edited], embedder)
    assert report.added == [] and report.rejected == []
    assert [a.source for a in report.updated] == [str(edited)]
    assert store.generation() == generation + 1

    new_seed = set(_chunk_ids(index_copy, seed_id).values())
    assert new_seed and not (new_seed & old_seed)
    assert report.chunks_written == len(new_seed)
    chunk_faiss = _faiss_ids(index_copy, "chunks")
    sentence_faiss = _faiss_ids(index_copy, "sentences")
    assert not (old_seed & chunk_faiss) and new_seed <= chunk_faiss
    assert not (old_sentences & sentence_faiss)
    assert not (old_seed & _sql_ids(index_copy, "SELECT rowid FROM chunk_fts"))
    assert {k: v for k, v in _chunk_ids(index_copy).items() if k[0] != seed_id} == others
    article = store.article(seed_id)
    assert article is not None and addition in article.text
    _assert_consistent(store)

    # The new text is searchable, densely and lexically.
    query = embedder.encode_queries(["Caspian Sea flotilla cruise missiles"])
    _, ids = store.dense_chunks(query, 1)
    assert "Caspian" in store.chunks([int(ids[0, 0])])[int(ids[0, 0])].text
    assert store.lexical_chunks("caspian", 5)


# ------------------------------------------------------------------------------ delete
@pytest.mark.slow
def test_delete_removes_the_article_everywhere(index_copy: Path, seed_path: Path) -> None:
    store = Store.open(index_copy)
    seed_id = _seed_id(seed_path)
    chunk_ids = set(_chunk_ids(index_copy, seed_id).values())
    sentence_ids = _sql_ids(index_copy, "SELECT id FROM sentences WHERE article_id = ?",
                            (seed_id,))
    assert chunk_ids and sentence_ids
    assert store.lexical_chunks("bushehr", 5)
    stats = store.stats()

    assert store.delete(seed_id) is True

    assert store.article(seed_id) is None
    assert _sql(index_copy, "SELECT 1 FROM articles WHERE id = ?", (seed_id,)) == []
    assert _sql(index_copy, "SELECT 1 FROM chunks WHERE article_id = ?", (seed_id,)) == []
    assert _sql(index_copy, "SELECT 1 FROM sentences WHERE article_id = ?", (seed_id,)) == []
    assert not (chunk_ids & _sql_ids(index_copy, "SELECT rowid FROM chunk_fts"))
    assert not (sentence_ids & _sql_ids(index_copy, "SELECT rowid FROM sentence_fts"))
    assert not (chunk_ids & _faiss_ids(index_copy, "chunks"))
    assert not (sentence_ids & _faiss_ids(index_copy, "sentences"))
    assert store.lexical_chunks("bushehr", 5) == []
    after = store.stats()
    assert after.articles == stats.articles - 1
    assert after.chunks == stats.chunks - len(chunk_ids)
    assert after.sentences == stats.sentences - len(sentence_ids)
    assert store.check() == []
    _assert_consistent(store)

    assert store.delete(seed_id) is False
    _assert_consistent(Store.open(index_copy))


@pytest.mark.slow
def test_a_second_store_sees_writes_of_the_first(
    index_copy: Path, seed_path: Path, embedder: Embedder
) -> None:
    reader = Store.open(index_copy)
    writer = Store.open(index_copy)
    query = embedder.encode_queries(["Who built Bushehr?"])
    _, before = reader.dense_chunks(query, 5)
    seed_chunks = set(_chunk_ids(index_copy, _seed_id(seed_path)).values())
    assert set(before.ravel().tolist()) & seed_chunks
    writer.delete(_seed_id(seed_path))
    _, after = reader.dense_chunks(query, 5)
    assert not (set(after.ravel().tolist()) & seed_chunks)
    assert reader.stats() == writer.stats()


# ------------------------------------------------------------------------------ opening
def test_manifest_mismatch_says_how_to_rebuild(tmp_path: Path) -> None:
    Store.open(tmp_path / "idx", create=True)
    with pytest.raises(IndexMismatchError) as info:
        Store.open(tmp_path / "idx", IndexSettings(chunk_tokens=100))
    message = str(info.value)
    assert message.endswith(rebuild_hint(tmp_path / "idx")) and "chunk_tokens" in message and "100" in message
    assert "\n" not in message
    assert isinstance(info.value, QAError)
    # Opening with the recorded settings, or none, works.
    assert Store.open(tmp_path / "idx", IndexSettings()).settings == IndexSettings()
    assert Store.open(tmp_path / "idx").settings == IndexSettings()


@pytest.mark.slow
def test_manifest_mismatch_on_a_built_index(index_copy: Path) -> None:
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        Store.open(index_copy, IndexSettings(chunk_tokens=100))
    with pytest.raises(IndexMismatchError, match="overlap_sentences"):
        Store.open(index_copy, IndexSettings(overlap_sentences=2))


def test_created_index_records_its_settings(tmp_path: Path) -> None:
    settings = IndexSettings(chunk_tokens=120, overlap_sentences=0)
    Store.open(tmp_path / "idx", settings, create=True)
    recorded = IndexSettings.model_validate_json((tmp_path / "idx" / MANIFEST).read_bytes())
    assert recorded == settings
    assert Store.open(tmp_path / "idx").settings == settings
    with pytest.raises(IndexMismatchError):
        Store.open(tmp_path / "idx", IndexSettings())


@pytest.mark.parametrize("make", ["missing", "empty-dir", "stray-files"])
def test_opening_a_directory_without_an_index(tmp_path: Path, make: str) -> None:
    directory = tmp_path / "nothing"
    if make != "missing":
        directory.mkdir()
    if make == "stray-files":
        (directory / "notes.txt").write_text("not an index", encoding="utf-8")
    with pytest.raises(QAError) as info:
        Store.open(directory)
    assert isinstance(info.value, IndexNotFoundError)
    assert str(directory) in str(info.value) and "qa ingest" in str(info.value)
    with pytest.raises(IndexNotFoundError):
        read_manifest(directory)
    assert not (directory / MANIFEST).exists()


def test_damaged_manifest_is_a_mismatch(tmp_path: Path) -> None:
    Store.open(tmp_path / "idx", create=True)
    assert read_manifest(tmp_path / "idx") == IndexSettings()
    (tmp_path / "idx" / MANIFEST).write_text("{not json", encoding="utf-8")
    for read in (Store.open, read_manifest):
        with pytest.raises(IndexMismatchError) as info:
            read(tmp_path / "idx")
        assert MANIFEST in str(info.value) and str(info.value).endswith(rebuild_hint(tmp_path / "idx"))


def test_missing_vector_file_is_reported_as_corrupt(tmp_path: Path) -> None:
    Store.open(tmp_path / "idx", create=True)
    for file in (tmp_path / "idx").glob("chunks-*.faiss"):
        file.unlink()
    with pytest.raises(IndexCorruptError) as info:
        Store.open(tmp_path / "idx")
    assert "chunks-0.faiss" in str(info.value) and str(info.value).endswith(rebuild_hint(tmp_path / "idx"))
    for file in (tmp_path / "idx").glob(f"{DATABASE}*"):
        file.unlink()
    with pytest.raises(IndexCorruptError) as info:
        Store.open(tmp_path / "idx")
    assert DATABASE in str(info.value) and str(info.value).endswith(rebuild_hint(tmp_path / "idx"))


def test_empty_index_is_consistent_and_searchable(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", create=True)
    _assert_consistent(store)
    assert store.stats().chunks == 0
    scores, ids = store.dense_chunks(np.ones((2, 384), dtype=np.float32), 5)
    assert scores.shape == ids.shape == (2, 0)
    assert store.lexical_chunks("anything", 5) == []


# ------------------------------------------------------------------------------ batches and files
@pytest.mark.slow
def test_a_bad_file_in_a_batch_loses_nothing(
    index_copy: Path, embedder: Embedder, tmp_path: Path
) -> None:
    store = Store.open(index_copy)
    before_articles = {a.id for a in store.articles()}
    before_chunks = _chunk_ids(index_copy)
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "empty.md").write_bytes(b"")
    (batch / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (batch / "broken.json").write_text('{"data": [', encoding="utf-8")
    (batch / "tiny.md").write_text(TINY_MD, encoding="utf-8")

    report = ingest_paths(store, [batch, tmp_path / "missing.md"], embedder)

    assert [a.source for a in report.added] == [str(batch / "tiny.md")]
    assert sorted(Path(r.path).name for r in report.rejected) == [
        "binary.txt", "broken.json", "empty.md", "missing.md"]
    assert all(r.reason and "\n" not in r.reason for r in report.rejected)
    after_articles = {a.id for a in store.articles()}
    assert before_articles < after_articles and len(after_articles) == len(before_articles) + 1
    after_chunks = _chunk_ids(index_copy)
    assert {k: after_chunks[k] for k in before_chunks} == before_chunks
    _assert_consistent(store)


@pytest.mark.slow
def test_faiss_files_are_written_by_temp_and_rename(
    tmp_path: Path, embedder: Embedder, replace_calls: list[tuple[str, str]]
) -> None:
    directory = tmp_path / "idx"
    store = Store.open(directory, create=True)
    source = tmp_path / "docs" / "tiny.md"
    source.parent.mkdir()

    def assert_written_by_rename(generation: int) -> None:
        assert store.generation() == generation
        for kind in ("chunks", "sentences"):
            target = str(directory / f"{kind}-{generation}.faiss")
            assert (target + ".tmp", target) in replace_calls
            assert not Path(target + ".tmp").exists()
        assert not list(directory.glob("*.tmp"))
        _assert_consistent(store)
        replace_calls.clear()

    assert (str(directory / MANIFEST) + ".tmp", str(directory / MANIFEST)) in replace_calls
    assert_written_by_rename(0)

    source.write_text(TINY_MD, encoding="utf-8")
    assert [a.source for a in ingest_paths(store, [source], embedder).added] == [str(source)]
    assert_written_by_rename(1)

    source.write_text(TINY_MD.replace("LED lamps", "solar-powered LED lamps"), encoding="utf-8")
    assert [a.source for a in ingest_paths(store, [source], embedder).updated] == [str(source)]
    assert_written_by_rename(2)

    article_id = read_file(source)[0].id
    assert store.delete(article_id)
    assert_written_by_rename(3)
    assert store.stats().articles == 0


def _prepared(path: Path, text: str, dimension: int, store: Store) -> Prepared:
    """A real article read from ``path`` with real chunks, but synthetic unit vectors."""
    path.write_text(text, encoding="utf-8")
    [article] = read_file(path)
    sentences = split_sentences(article.text)
    chunks = chunk_article(article, sentences, store.settings)
    rng = np.random.default_rng(0)

    def unit(n: int) -> np.ndarray:
        v = rng.normal(size=(n, dimension)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return Prepared(article, chunks, sentences, unit(len(chunks)), unit(len(sentences)))


def test_a_failed_write_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", create=True)
    good = _prepared(tmp_path / "good.txt", "A first article. It has two sentences.", 384, store)
    store.write([good])
    _assert_consistent(store)
    generation = store.generation()
    before = _chunk_ids(store.directory)

    bad = _prepared(tmp_path / "bad.txt", "A second article with vectors of the wrong size.",
                    16, store)
    with pytest.raises((AssertionError, ValueError)):  # faiss checks the dimension by assert
        store.write([bad], deletes=[good.article.id])
    assert store.generation() == generation
    assert _chunk_ids(store.directory) == before
    assert store.article(good.article.id) is not None and store.article(bad.article.id) is None
    _assert_consistent(store)
    _assert_consistent(Store.open(store.directory))


def test_copied_index_opens_elsewhere(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", create=True)
    store.write([_prepared(tmp_path / "p.txt", "Portable text. It moves with its directory.",
                           384, store)])
    shutil.copytree(tmp_path / "idx", tmp_path / "moved")
    moved = Store.open(tmp_path / "moved")
    assert moved.stats().chunks == store.stats().chunks == 1
    _assert_consistent(moved)


def test_public_reads_agree_with_the_database(tmp_path: Path) -> None:
    """The reads evaluation and the bench use instead of SQL, against SQL on the file itself."""
    store = Store.open(tmp_path / "idx", create=True)
    assert store.count("chunks") == store.count("sentences") == 0 and store.mean_chunk_tokens() == 0.0
    assert store.row_ids("chunks") == [] and store.chunk_spans() == {} and store.ids_by_article("sentences") == {}
    long = "\n\n".join(f"Paragraph {n} has its own sentence about item {n}." for n in range(60))
    first = _prepared(tmp_path / "first.txt", "A first article. It has two sentences.", 384, store)
    second = _prepared(tmp_path / "second.txt", long, 384, store)
    store.write([first, second])
    store.delete(first.article.id)
    store.write([first])  # re-written: its ids now follow the second article's
    d = store.directory
    for kind in ("chunks", "sentences"):
        assert store.count(kind) == len(_sql_ids(d, f"SELECT id FROM {kind}"))  # type: ignore[arg-type]
        assert store.row_ids(kind) == sorted(_sql_ids(d, f"SELECT id FROM {kind}"))  # type: ignore[arg-type]
    chunks = store.ids_by_article("chunks")
    assert list(chunks) == sorted(chunks) == sorted([first.article.id, second.article.id])
    assert len(chunks[second.article.id]) == len(second.chunks) > 1
    for article_id, ids in chunks.items():
        assert ids == [int(r[0]) for r in _sql(  # type: ignore[call-overload]
            d, "SELECT id FROM chunks WHERE article_id = ? ORDER BY ordinal", (article_id,))]
    sentences = store.ids_by_article("sentences")
    assert {a: len(ids) for a, ids in sentences.items()} == {
        first.article.id: len(first.sentences), second.article.id: len(second.sentences)}
    starts = dict(_sql(d, "SELECT id, start FROM sentences"))
    assert all(ids == sorted(ids, key=lambda i: starts[i]) for ids in sentences.values())  # type: ignore[index]
    spans = store.chunk_spans()
    assert spans[second.article.id] == [(c.start, c.end) for c in second.chunks]
    tokens = [c.token_count for p in (first, second) for c in p.chunks]
    assert store.mean_chunk_tokens() == pytest.approx(sum(tokens) / len(tokens))
    rows = store.chunks([*chunks[first.article.id], 10**9])
    assert set(rows) == set(chunks[first.article.id])  # unknown ids are left out
    row = rows[chunks[first.article.id][0]]
    assert isinstance(row, ChunkText) and row.chunk_id == chunks[first.article.id][0]
    assert row.title == first.article.title and row.text == first.article.text[row.start:row.end]
    with pytest.raises(ValueError, match="kind"):
        store.count("articles")  # type: ignore[arg-type]


def test_close_only_closes_this_threads_connection(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", create=True)
    store.write([_prepared(tmp_path / "p.txt", "Closed and opened. It still reads.", 384, store)])
    store.close()
    assert store.stats().articles == 1  # a new connection opens on the next read
    assert store.term_documents(["reads"])[1] == {"reads": 1}
    store.close()
    assert store.term_documents(["still"], "sentences")[1] == {"still": 1}  # stemming tables again


# ------------------------------------------------------------------------------ checksums, damage, rebuild
def _hashed(directory: Path, seed_path: Path, small_squad: Path) -> tuple[Store, HashingEmbedder]:
    """An index of real text (the seed and two SQuAD articles) embedded by the hashing embedder:
    real vectors of their text, no model to load."""
    embedder = HashingEmbedder(384)
    # float32: these tests compare vectors to 1e-4; tests/test_vector_formats.py covers the others.
    settings = IndexSettings(model_name=embedder.name, dimension=384, vector_format="float32")
    store = Store.open(directory, settings, create=True)
    assert not ingest_paths(store, [seed_path, small_squad], embedder, batch_vectors=500).rejected
    return store, embedder


def _record(directory: Path) -> dict[str, Any]:
    [record] = directory.glob("vectors-*.json")
    return dict(json.loads(record.read_text(encoding="utf-8")))


def test_each_generation_records_the_checksums_of_its_vector_files(
        tmp_path: Path, replace_calls: list[tuple[str, str]]) -> None:
    store = Store.open(tmp_path / "idx", create=True)
    store.write([_prepared(tmp_path / "a.txt", "A first article. It has two sentences.", 384, store)])
    store.write([_prepared(tmp_path / "b.txt", "A second article. It has two as well.", 384, store)])
    d, generation = store.directory, store.generation()
    record = _record(d)
    assert (record["format"], record["algorithm"], record["generation"]) == (1, "sha256", generation)
    for kind in ("chunks", "sentences"):
        file = d / f"{kind}-{generation}.faiss"
        data = file.read_bytes()
        assert record["files"][file.name] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # Written like the vector files (temp, rename) and before the commit; older records are gone.
    assert (str(d / f"vectors-{generation}.json.tmp"), str(d / f"vectors-{generation}.json")) in replace_calls
    assert [f.name for f in d.glob("vectors-*.json")] == [f"vectors-{generation}.json"]
    assert store.inspect().problems == [] and store.inspect().notes == []
    _assert_consistent(Store.open(d))


def test_opening_compares_vector_file_sizes_with_their_record(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", create=True)
    store.write([_prepared(tmp_path / "a.txt", "A first article. It has two sentences.", 384, store)])
    file = store.directory / f"sentences-{store.generation()}.faiss"
    with file.open("ab") as f:
        f.write(b"\0" * 16)  # faiss reads such a file without complaint
    with pytest.raises(IndexCorruptError) as info:
        Store.open(store.directory)
    message = str(info.value)
    assert str(file) in message and f"qa rebuild --index {store.directory}" in message
    assert message.endswith(rebuild_hint(store.directory)) and "\n" not in message


def test_an_index_without_a_checksum_record_opens_and_check_notes_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", create=True)
    store.write([_prepared(tmp_path / "a.txt", "An older index. It has no record.", 384, store)])
    [record] = store.directory.glob("vectors-*.json")
    record.unlink()  # as an index written before checksums were recorded
    reopened = Store.open(store.directory)
    report = reopened.inspect()
    assert report.problems == []
    assert len(report.notes) == 1 and "not recorded" in report.notes[0] and "qa rebuild" in report.notes[0]
    record.write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=re.escape(record.name)):
        Store.open(store.directory)


def test_overwritten_vectors_fail_the_checksum_and_never_score_as_nan(
        tmp_path: Path, seed_path: Path, small_squad: Path) -> None:
    store, embedder = _hashed(tmp_path / "idx", seed_path, small_squad)
    assert store.inspect(embedder).problems == []
    file = store.directory / f"chunks-{store.generation()}.faiss"
    overwrite_inside(file)

    damaged = Store.open(store.directory)  # the size is unchanged: opening cannot tell
    report = damaged.inspect(embedder)
    assert report.problems and all(str(file) in p for p in report.problems), report.problems
    assert "checksum" in report.problems[0] and report.rebuild_repairs
    queries = embedder.encode_queries(QUERIES)
    scores, ids = damaged.dense_chunks(queries, 20)
    assert np.isfinite(scores[ids >= 0]).all() and (np.abs(scores[ids >= 0]) <= 1.01).all()
    assert ((ids >= 0).sum(axis=1) == 20).all()  # sound vectors fill the places of dropped ones
    every = damaged.chunk_vectors(damaged.row_ids("chunks"))
    assert np.isfinite(every).all() and (np.linalg.norm(every, axis=1) <= 1.01).all()
    assert (np.linalg.norm(every, axis=1) == 0).any()  # the damaged ones, zeroed
    approximate = Store.open(store.directory, approximate_above=0)  # through an HNSW graph
    scores, ids = approximate.dense_chunks(queries, 5)
    assert np.isfinite(scores[ids >= 0]).all() and (np.abs(scores[ids >= 0]) <= 1.01).all()


def test_check_re_embeds_a_sample_and_finds_vectors_unlike_their_text(tmp_path: Path) -> None:
    """Vectors written whole (checksums sound) but not of their text: only re-embedding tells."""
    embedder = HashingEmbedder(384)
    store = Store.open(tmp_path / "idx", IndexSettings(model_name=embedder.name, dimension=384), create=True)
    long = "\n\n".join(f"Paragraph {n} tells of lighthouse number {n} on the coast." for n in range(30))
    store.write([_prepared(tmp_path / "random.txt", long, 384, store)])  # random unit vectors
    report = store.inspect(embedder, sample=10)
    assert len(report.problems) == 2 and report.rebuild_repairs
    chunks, sentences = report.problems
    assert chunks.startswith(str(store.directory / "chunks-1.faiss")) and "3 of 3 sampled chunk vectors" in chunks
    assert sentences.startswith(str(store.directory / "sentences-1.faiss")) and "10 of 10 sampled" in sentences
    assert all("differ from a fresh embedding of their text" in p for p in report.problems)
    assert store.inspect(embedder, sample=0).problems == []  # no sample, no finding
    store.rebuild(embedder)
    assert store.inspect(embedder, sample=10).problems == []


def test_rebuild_re_embeds_every_vector_from_the_stored_text(
        tmp_path: Path, seed_path: Path, small_squad: Path) -> None:
    store, embedder = _hashed(tmp_path / "idx", seed_path, small_squad)
    d, before = store.directory, store.generation()
    ids = {kind: store.row_ids(kind) for kind in ("chunks", "sentences")}  # type: ignore[arg-type]
    original = {"chunks": store.chunk_vectors(ids["chunks"]), "sentences": store.sentence_vectors(ids["sentences"])}
    overwrite_inside(d / f"chunks-{before}.faiss")
    (d / f"sentences-{before}.faiss").write_bytes(b"garbage")  # unreadable: opening fails
    with pytest.raises(IndexCorruptError, match="qa rebuild"):
        Store.open(d)
    seen: list[tuple[int, int]] = []

    report = Store.open(d, vectors=False).rebuild(embedder, progress=lambda done, total: seen.append((done, total)))

    total = len(ids["chunks"]) + len(ids["sentences"])
    assert (report.chunks, report.sentences, report.articles, report.generation) == (
        len(ids["chunks"]), len(ids["sentences"]), 3, before + 1)
    assert seen[-1] == (total, total) and len(seen) > 2
    rebuilt = Store.open(d)
    _assert_consistent(rebuilt)
    assert rebuilt.inspect(embedder).problems == []
    for kind, read in (("chunks", rebuilt.chunk_vectors), ("sentences", rebuilt.sentence_vectors)):
        cosine = np.einsum("ij,ij->i", read(ids[kind]), original[kind])
        assert cosine.min() > 0.9999, kind
    assert sorted(f.name for f in d.iterdir() if f.name.startswith(("chunks", "sentences", "vectors"))) == [
        f"chunks-{before + 1}.faiss", f"sentences-{before + 1}.faiss", f"vectors-{before + 1}.json"]


def test_a_failed_rebuild_leaves_the_old_generation_in_force(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path / "idx", create=True)
    store.write([_prepared(tmp_path / "a.txt", "Kept as it was. A failed rebuild changes nothing.", 384, store)])
    generation, names = store.generation(), sorted(f.name for f in store.directory.iterdir())
    embedder = HashingEmbedder(384)

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("qa.store.checksums.atomic_write", full)  # vector files written, the record not
    with pytest.raises(IndexUnusableError, match="No space left") as info:
        store.rebuild(embedder)
    assert "\n" not in str(info.value) and str(store.directory) in str(info.value)
    assert store.generation() == generation
    assert sorted(f.name for f in store.directory.iterdir()) == names  # the new files were removed
    _assert_consistent(Store.open(store.directory))


def test_rebuild_keeps_what_another_writer_committed_meanwhile(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", IndexSettings(vector_format="float32"), create=True)  # exact compare below
    first = _prepared(tmp_path / "a.txt", "The first article. It is there before the rebuild.", 384, store)
    gone = _prepared(tmp_path / "b.txt", "The second article. It is deleted during the rebuild.", 384, store)
    store.write([first, gone])
    late = _prepared(tmp_path / "c.txt", "The third article. It arrives during the rebuild.", 384, store)
    other = Store.open(store.directory)  # another writer, as another process would be
    embedder = HashingEmbedder(384)
    calls = 0

    class Meanwhile:
        def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
            nonlocal calls
            calls += 1
            if calls == 1:  # while the rebuild embeds outside the lock
                other.write([late], deletes=[gone.article.id])
            return embedder.encode_documents(texts)

    store.rebuild(Meanwhile())
    assert {a.id for a in store.articles()} == {first.article.id, late.article.id}
    _assert_consistent(store)
    late_ids = store.ids_by_article("sentences")[late.article.id]
    title, text = late.article.title, late.article.text
    embedded = [store.settings.sentence_input(title, text[s.start:s.end]) for s in late.sentences]
    fresh = embedder.encode_documents(embedded)
    assert np.allclose(store.sentence_vectors(late_ids), fresh, atol=1e-6)  # embedded, not copied


def test_a_damaged_database_page_says_how_to_rebuild(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", create=True)
    long = "\n\n".join(f"Paragraph {n} has its own sentence about item {n}." for n in range(400))
    store.write([_prepared(tmp_path / "long.txt", long, 384, store)])
    store.close()
    with sqlite3.connect(store.directory / DATABASE) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database = store.directory / DATABASE
    pages = database.stat().st_size // 4096
    with database.open("r+b") as f:
        f.seek(pages * 3 // 5 * 4096)  # a page mid-file, as the finding
        f.write(random.Random(1).randbytes(4096))
    try:
        opened = Store.open(store.directory)
    except IndexCorruptError as e:  # the page held what opening reads
        message = str(e)
    else:
        report = opened.inspect()
        assert len(report.problems) == 1 and not report.rebuild_repairs
        assert "SQLite integrity_check" in report.problems[0]
        with pytest.raises(IndexCorruptError) as info:
            opened.verify_database()
        message = str(info.value)
    assert message.endswith(rebuild_hint(store.directory)) and "qa check" not in message, message
    assert "\n" not in message


def _embedded_sentences(store: Store, embedder: HashingEmbedder, wanted: Callable[[str, str], str]) -> bool:
    """Whether every stored sentence vector is ``embedder``'s vector of ``wanted(title, sentence)``."""
    for article in store.articles():
        text = store.article(article.id)
        assert text is not None
        ids = store.ids_by_article("sentences")[article.id]
        rows = split_sentences(text.text)
        fresh = embedder.encode_documents([wanted(article.title, text.text[s.start:s.end]) for s in rows])
        if not np.allclose(store.sentence_vectors(ids), fresh, atol=1e-6):
            return False
    return True


def test_sentences_are_embedded_after_their_title_and_an_older_index_keeps_its_own_way(tmp_path: Path) -> None:
    """A new index embeds "Title: sentence" (``IndexSettings.sentence_context``); an index whose
    manifest predates the setting held sentences alone, opens as such and keeps writing, checking
    and rebuilding them that way, so its vectors never mix the two."""
    embedder = HashingEmbedder(384)
    (tmp_path / "a.md").write_text("# Genghis Khan\n\nHe died in 1227. His sons divided it.\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Martin Luther\n\nHe died in 1546 in Eisleben.\n", encoding="utf-8")
    exact = IndexSettings(model_name=embedder.name, dimension=384, vector_format="float32")  # compared to 1e-6
    new = Store.open(tmp_path / "new", exact, create=True)
    ingest_paths(new, [tmp_path / "a.md"], embedder)
    assert new.settings.sentence_context == "title"
    assert new.settings.sentence_input("Genghis Khan", "He died in 1227.") == "Genghis Khan: He died in 1227."
    assert _embedded_sentences(new, embedder, lambda title, s: f"{title}: {s}")
    assert new.inspect(embedder, sample=10).problems == []

    manifest = json.loads((tmp_path / "new" / MANIFEST).read_text())
    old = tmp_path / "old"
    ingest_paths(Store.open(old, exact.model_copy(update={"sentence_context": "sentence"}), create=True),
                 [tmp_path / "a.md"], embedder)
    del manifest["sentence_context"]  # as written before the setting existed
    (old / MANIFEST).write_text(json.dumps(manifest))
    reopened = Store.open(old)
    assert reopened.settings.sentence_context == "sentence"
    ingest_paths(reopened, [tmp_path / "b.md"], embedder)
    reopened.rebuild(embedder)
    assert _embedded_sentences(Store.open(old), embedder, lambda title, s: s)
    assert Store.open(old).inspect(embedder, sample=10).problems == []
