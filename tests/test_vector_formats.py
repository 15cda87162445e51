"""Vector formats (float32, float16, sq8, pq) with real FAISS and real SQLite: round trips,
searches against numpy brute force over the stored vectors, the manifest, ``qa check`` and the
conversions of ``qa rebuild``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from damage import overwrite_inside
from embedders import HashingEmbedder

from qa.cli import main
from qa.embedding import Embedder
from qa.errors import ConfigError, IndexCorruptError
from qa.models import Article, Chunk, IndexSettings, Sentence, VectorFormat, content_hash
from qa.pipeline import QA, prebuilt_sample
from qa.store import MANIFEST, Prepared, Store, formats, read_manifest
from qa.store.files import vector_file
from qa.store.formats import FORMATS, KEEPS, PQ_TRAIN_MIN, format_of
from qa.store.vectors import add, build_hnsw, new_index, search, search_approximate

DIM = 384


@cache
def _real_sentences() -> np.ndarray:
    """The sample corpus's sentence vectors (all-MiniLM-L6-v2, as shipped): the distribution
    every synthetic vector here is drawn around."""
    import faiss

    [file] = prebuilt_sample().glob("sentences-*.faiss")  # read, never opened as a store: it ships
    index = faiss.read_index(str(file))
    return np.asarray(index.reconstruct_batch(faiss.vector_to_array(index.id_map)), dtype=np.float32)


def real_like(n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors: real sentence vectors plus noise (the bench's 100x recipe), so that
    neighbours are as crowded as in a real index and trained formats learn a real distribution."""
    rng = np.random.default_rng(seed)
    real = _real_sentences()
    x = real[rng.integers(0, len(real), n)] + rng.normal(0, 0.02, (n, DIM)).astype(np.float32)
    if n > 10:
        x[n // 2 : n // 2 + 3] = x[n // 2]  # exact duplicates: ties in the true ranking
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


@pytest.fixture(scope="session")
def pq_template() -> Any:
    """An empty pq index, trained once and quickly (10 points a centroid, 5 k-means rounds): faiss's
    own training on ``PQ_TRAIN_MIN`` vectors takes 30-70 s on two cores, once per store."""
    import faiss

    index = new_index(DIM, "pq")
    inner = faiss.downcast_index(index.index)
    inner.pq.cp.niter = 5
    inner.pq.cp.min_points_per_centroid = 10
    inner.train(real_like(2560, 11))
    index.is_trained = True
    return index


@pytest.fixture
def trained_pq(pq_template: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """New pq indexes start trained, as a store's are once its first write trained them."""
    import faiss

    original = formats.new_index

    def new_index(dimension: int, vector_format: VectorFormat = "float32") -> Any:
        return faiss.clone_index(pq_template) if vector_format == "pq" else original(dimension, vector_format)

    monkeypatch.setattr(formats, "new_index", new_index)


def _prepared(number: int, vectors: np.ndarray) -> Prepared:
    """An article with one sentence (and one chunk) per vector, both given ``vectors``."""
    text = " ".join(f"Sentence {number}-{i} is here." for i in range(len(vectors)))
    title = f"Article {number}"
    article = Article(id=f"a{number}", title=title, source=f"a{number}.txt", text=text,
                      content_hash=content_hash(title, None, None, None, text))
    spans, start = [], 0
    for _ in range(len(vectors)):
        end = text.index(".", start) + 1
        spans.append((start, end))
        start = end + 1
    chunks = [Chunk(article_id=article.id, ordinal=i, start=s, end=e, text=text[s:e], token_count=6)
              for i, (s, e) in enumerate(spans)]
    return Prepared(article, chunks, [Sentence(start=s, end=e, paragraph=0) for s, e in spans], vectors, vectors)


def _store(directory: Path, vector_format: VectorFormat, sizes: Sequence[int], seed: int = 0,
           approximate_above: int = 100_000) -> tuple[Store, dict[str, np.ndarray]]:
    """A new index of ``len(sizes)`` articles in ``vector_format``; returns the vectors by the
    text each was embedded from (a sentence's as the index embeds it: after its title)."""
    store = Store.open(directory, IndexSettings(vector_format=vector_format), create=True,
                       approximate_above=approximate_above)
    vectors = real_like(sum(sizes), seed)
    articles, first = [], 0
    for number, size in enumerate(sizes):
        articles.append(_prepared(number, vectors[first : first + size]))
        first += size
    store.write(articles)
    embedded = {c.text: v for p in articles for c, v in zip(p.chunks, p.chunk_vectors, strict=True)}
    for p in articles:
        for s, v in zip(p.sentences, p.sentence_vectors, strict=True):
            embedded[store.settings.sentence_input(p.article.title, p.article.text[s.start:s.end])] = v
    return store, embedded


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (n, dim) arrays."""
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class KnownVectors:
    """The document encoder that gave each text its vector: ``qa check`` and ``rebuild`` without a model."""

    def __init__(self, by_text: dict[str, np.ndarray]) -> None:
        self.by_text = by_text

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.by_text[t] for t in texts]).astype(np.float32)


def _assert_top_k(store: Store, queries: np.ndarray, k: int, allowed: Sequence[int] | None = None) -> None:
    """Exact top-k equals numpy brute force over the stored (decoded) vectors, ties allowed."""
    ids = store.row_ids("chunks") if allowed is None else sorted(set(allowed) & set(store.row_ids("chunks")))
    stored = store.chunk_vectors(ids)  # (n, dim): what the format keeps
    truth = queries @ stored.T  # (n_q, n)
    scores, got = store.dense_chunks(queries, k, allowed=allowed, exact=True)
    want = min(k, len(ids))
    assert got.shape == (len(queries), want)
    if not want:
        return
    position = {i: p for p, i in enumerate(ids)}
    for q in range(len(queries)):
        assert set(got[q]) <= set(ids) and len(set(got[q])) == want
        kth = np.sort(truth[q])[::-1][want - 1]
        np.testing.assert_allclose(scores[q], [truth[q, position[int(i)]] for i in got[q]], atol=1e-4)
        assert scores[q].min() >= kth - 1e-4  # no better vector was left out


@pytest.mark.parametrize("vector_format", [f for f in FORMATS if f != "pq"])
@pytest.mark.parametrize("sizes", [[1], [3, 4], [100, 157, 3]])
def test_each_format_round_trips_and_searches_like_brute_force(
        tmp_path: Path, vector_format: VectorFormat, sizes: list[int]) -> None:
    store, by_text = _store(tmp_path / "idx", vector_format, sizes)
    queries = real_like(9, seed=99)
    for k in (1, 5, sum(sizes) + 3):  # k above the size is clamped
        _assert_top_k(store, queries, k)
    reopened = Store.open(tmp_path / "idx")
    assert reopened.settings.vector_format == vector_format
    assert read_manifest(tmp_path / "idx").vector_format == vector_format
    assert format_of(reopened._vectors_now().chunks) == vector_format
    ids = reopened.row_ids("chunks")
    np.testing.assert_array_equal(reopened.chunk_vectors(ids), store.chunk_vectors(ids))
    originals = np.stack([by_text[t.text] for t in reopened.chunks(ids).values()])
    assert _cosine(reopened.chunk_vectors(ids), originals).min() > KEEPS[vector_format]
    _assert_top_k(reopened, queries, 5, allowed=ids[::2])
    reopened.delete("a0")
    assert len(reopened.row_ids("chunks")) == sum(sizes) - sizes[0]
    _assert_top_k(reopened, queries, 5)
    assert reopened.check() == []


@pytest.mark.usefixtures("trained_pq")
def test_pq_round_trips_searches_filters_and_deletes(tmp_path: Path) -> None:
    sizes = [500, 150, 77]
    store, by_text = _store(tmp_path / "idx", "pq", sizes)
    queries = real_like(9, seed=98)
    _assert_top_k(store, queries, 10)
    ids = store.row_ids("chunks")
    _assert_top_k(store, queries, 5, allowed=ids[-200:])  # IndexPQ cannot filter: decoded and scored here
    _assert_top_k(store, queries, 5, allowed=[ids[3], ids[3], 10**9])  # repeats and unknown ids
    originals = np.stack([by_text[t.text] for t in store.chunks(ids).values()])
    cosine = _cosine(store.chunk_vectors(ids), originals)
    assert cosine.mean() > 0.9 and cosine.min() > KEEPS["pq"]
    reopened = Store.open(tmp_path / "idx")
    reopened.delete("a1")
    _assert_top_k(reopened, queries, 5)
    assert reopened.inspect(KnownVectors(by_text), sample=50).problems == []


@pytest.mark.slow
def test_pq_trains_on_a_first_write_large_enough(tmp_path: Path) -> None:
    """faiss's own training, as a store runs it (30-70 s on two cores)."""
    store, by_text = _store(tmp_path / "idx", "pq", [PQ_TRAIN_MIN, 20])
    ids = store.row_ids("chunks")
    originals = np.stack([by_text[t.text] for t in store.chunks(ids).values()])
    assert _cosine(store.chunk_vectors(ids), originals).mean() > 0.9
    _assert_top_k(store, real_like(5, 12), 5)
    assert store.inspect(KnownVectors(by_text), sample=50).problems == []


def test_pq_refuses_a_first_write_too_small_to_train_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", IndexSettings(vector_format="pq"), create=True)
    with pytest.raises(ConfigError, match="--vector-format pq --reuse-vectors"):
        store.write([_prepared(0, real_like(50, 0))])
    assert store.row_ids("chunks") == [] and store.check() == []


def test_the_default_is_sq8_and_a_manifest_without_a_format_opens_as_float32(tmp_path: Path) -> None:
    assert IndexSettings().vector_format == "sq8"
    store, _ = _store(tmp_path / "old", "float32", [20])
    manifest = json.loads((tmp_path / "old" / MANIFEST).read_text())
    del manifest["vector_format"]  # as written before the setting existed
    (tmp_path / "old" / MANIFEST).write_text(json.dumps(manifest))
    reopened = Store.open(tmp_path / "old", IndexSettings(vector_format="float32"))
    assert reopened.settings.vector_format == "float32" and reopened.check() == []
    reopened.write([_prepared(5, real_like(4, 5))])  # writes stay float32
    assert format_of(Store.open(tmp_path / "old")._vectors_now().sentences) == "float32"


def test_asking_for_chunking_keeps_an_existing_index_in_its_own_format(tmp_path: Path) -> None:
    """``qa ingest --chunk-tokens 200`` names chunking, not a format: a float32 index stays float32
    (the default format is only for new indexes; converting is ``qa rebuild --vector-format``), and
    an index of sentences embedded alone stays so."""
    old = QA(tmp_path / "old", sample=False, embedder=HashingEmbedder(),
             index_settings=IndexSettings(vector_format="float32", sentence_context="sentence"))
    old.store.close()
    again = QA(tmp_path / "old", sample=False, create=False, embedder=HashingEmbedder(),
               index_settings=IndexSettings(chunk_tokens=200))
    assert again.store.settings.vector_format == "float32"
    assert again.store.settings.sentence_context == "sentence"


@pytest.mark.parametrize("vector_format", FORMATS)
@pytest.mark.usefixtures("trained_pq")
def test_check_accepts_each_format_and_finds_damage_in_it(tmp_path: Path, vector_format: VectorFormat) -> None:
    store, by_text = _store(tmp_path / "idx", vector_format, [300])
    encoder = KnownVectors(by_text)
    report = store.inspect(encoder, sample=30)
    assert report.problems == [] and report.notes == []
    overwrite_inside(vector_file(store.directory, "chunks", store.generation()))
    damaged = Store.open(tmp_path / "idx").inspect(encoder)
    assert any("SHA-256" in p for p in damaged.problems) and damaged.rebuild_repairs
    with pytest.raises(IndexCorruptError, match="Re-embed them"):  # damaged vectors are not converted
        Store.open(tmp_path / "idx").convert(vector_format)
    scores, ids = Store.open(tmp_path / "idx").dense_chunks(real_like(5, 1), 10)
    kept = scores[ids >= 0]  # (pq's codebook may be what the damage hit: then nothing is left)
    assert np.isfinite(kept).all() and (np.abs(kept) <= 1.01).all()  # damage never scores as NaN or 1e38


@pytest.mark.parametrize(("source", "target"), [("float32", "sq8"), ("sq8", "float16"), ("float32", "pq"),
                                                ("sq8", "float32")])
@pytest.mark.usefixtures("trained_pq")
def test_conversion_keeps_ids_and_records_the_format(tmp_path: Path, source: VectorFormat,
                                                     target: VectorFormat) -> None:
    sizes = [300, 40]
    store, by_text = _store(tmp_path / "idx", source, sizes)
    before = {kind: store.row_ids(kind) for kind in ("chunks", "sentences")}  # type: ignore[arg-type]
    vectors = store.chunk_vectors(before["chunks"])
    report = store.convert(target)
    assert report.generation == 2 and (report.chunks, report.sentences) == (sum(sizes), sum(sizes))
    converted = Store.open(tmp_path / "idx")
    assert converted.settings.vector_format == target == read_manifest(tmp_path / "idx").vector_format
    assert {format_of(converted._vectors_now().index(k)) for k in ("chunks", "sentences")} == {target}
    assert {kind: converted.row_ids(kind) for kind in before} == before  # type: ignore[arg-type]
    kept = min(KEEPS[source], KEEPS[target]) - (1 - max(KEEPS[source], KEEPS[target]))  # two roundings
    assert _cosine(converted.chunk_vectors(before["chunks"]), vectors).min() > kept
    _assert_top_k(converted, real_like(5, 3), 5)
    assert converted.inspect(KnownVectors(by_text), sample=20).problems == []
    assert sorted(p.name for p in (tmp_path / "idx").glob("*.faiss")) == ["chunks-2.faiss", "sentences-2.faiss"]


@pytest.mark.usefixtures("trained_pq")
def test_pq_codes_are_re_embedded_not_converted(tmp_path: Path) -> None:
    store, by_text = _store(tmp_path / "idx", "pq", [300])
    with pytest.raises(ConfigError, match="re-embed them"):
        store.convert("sq8")
    store.rebuild(KnownVectors(by_text), vector_format="sq8")
    assert Store.open(tmp_path / "idx").inspect(KnownVectors(by_text)).problems == []


def test_rebuild_re_embeds_into_another_format(tmp_path: Path) -> None:
    store, by_text = _store(tmp_path / "idx", "float32", [200, 13])
    report = Store.open(tmp_path / "idx", vectors=False).rebuild(KnownVectors(by_text), vector_format="sq8")
    assert report.generation == 2
    rebuilt = Store.open(tmp_path / "idx")
    assert rebuilt.settings.vector_format == "sq8" and format_of(rebuilt._vectors_now().chunks) == "sq8"
    assert rebuilt.inspect(KnownVectors(by_text)).problems == []
    _assert_top_k(rebuilt, real_like(5, 4), 5)


def test_qa_rebuild_converts_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _store(tmp_path / "idx", "float32", [120])
    assert main(["rebuild", "--index", str(tmp_path / "idx"), "--vector-format", "sq8", "--reuse-vectors"]) == 0
    assert "converted 120 chunk and 120 sentence vectors to sq8" in capsys.readouterr().out
    assert read_manifest(tmp_path / "idx").vector_format == "sq8"
    assert main(["check", "--index", str(tmp_path / "idx"), "--sample", "0"]) == 0
    assert main(["rebuild", "--index", str(tmp_path / "idx"), "--reuse-vectors"]) == 1
    assert "name the format with --vector-format" in capsys.readouterr().err


def test_check_reports_a_manifest_ahead_of_the_files(tmp_path: Path) -> None:
    _store(tmp_path / "idx", "float32", [30])
    ahead = IndexSettings(vector_format="sq8").model_dump_json()  # as a crash while converting can leave it
    (tmp_path / "idx" / MANIFEST).write_text(ahead)
    report = Store.open(tmp_path / "idx").inspect()
    assert [p for p in report.problems if "manifest records the vector format sq8" in p] and report.rebuild_repairs


def test_sq8_widens_its_ranges_instead_of_clipping_a_later_vector(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "idx", IndexSettings(vector_format="sq8"), create=True)
    small = real_like(5, 0)
    store.write([_prepared(0, small)])
    spike = np.zeros((1, DIM), dtype=np.float32)
    spike[0, 7] = 1.0  # far outside every range the first write set (and the floor)
    store.write([_prepared(1, spike)])
    ids = store.row_ids("chunks")
    np.testing.assert_allclose(store.chunk_vectors(ids[-1:]), spike, atol=0.01)
    assert _cosine(store.chunk_vectors(ids[:-1]), small).min() > KEEPS["sq8"] - 0.001  # rounded twice
    assert store.check() == []


@pytest.mark.parametrize("vector_format", FORMATS)
@pytest.mark.parametrize("n", [257, 3001])
@pytest.mark.usefixtures("trained_pq")
def test_hnsw_over_each_format_finds_what_exact_search_of_the_same_vectors_finds(
        vector_format: VectorFormat, n: int) -> None:
    exact = new_index(DIM, vector_format)
    ids = np.arange(n, dtype=np.int64) * 3 + 11  # ids unlike positions
    add(exact, real_like(n, n), ids.tolist())
    graph = build_hnsw(exact)
    queries = real_like(40, n + 1)
    _, want = search(exact, queries, 10)
    scores, got = search_approximate(graph, queries, 10)
    assert set(got.ravel()) <= set(ids.tolist())
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want, strict=True)])
    assert recall >= 0.98
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


@pytest.mark.parametrize("vector_format", FORMATS)
@pytest.mark.usefixtures("trained_pq")
def test_the_graph_shares_the_stored_vectors_and_survives_a_reopen(tmp_path: Path,
                                                                    vector_format: VectorFormat) -> None:
    size = 1500
    store, _ = _store(tmp_path / "idx", vector_format, [size, 40], approximate_above=1000)
    queries = real_like(20, 7)
    _, approx = store.dense_chunks(queries, 10)
    _, exact = store.dense_chunks(queries, 10, exact=True)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact, strict=True)]) >= 0.98
    graph = tmp_path / "idx" / "chunks-1.hnsw.faiss"
    links = (size + 40) * 2 * 32 * 4  # level 0 of a 32-link graph: int32 neighbours, no vectors
    assert graph.stat().st_size < links * 1.3
    reopened = Store.open(tmp_path / "idx", approximate_above=1000)
    np.testing.assert_array_equal(reopened.dense_chunks(queries, 10)[1], approx)  # loaded, same links


def test_a_graph_file_of_the_earlier_kind_is_built_again(tmp_path: Path) -> None:
    import faiss

    store, _ = _store(tmp_path / "idx", "float32", [1200], approximate_above=1000)
    old = faiss.IndexIDMap(faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT))  # vectors inside
    old.add_with_ids(real_like(1200, 1), np.arange(1200, dtype=np.int64))
    faiss.write_index(old, str(tmp_path / "idx" / "chunks-1.hnsw.faiss"))
    queries = real_like(10, 2)
    _, approx = store.dense_chunks(queries, 5)
    _, exact = store.dense_chunks(queries, 5, exact=True)
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(approx, exact, strict=True)]) >= 0.98


@pytest.mark.slow
def test_every_format_passes_qa_check_with_the_real_model(index_copy: Path, embedder: Embedder,
                                                          tmp_path: Path) -> None:
    """The index of real text and the real model: the sample of fresh embeddings agrees with
    each format's stored vectors, and dense search finds what float32 finds."""
    queries = embedder.encode_queries(["Who won Super Bowl 50?", "What did Tesla invent?", "Who built Bushehr?"])
    tops = {}
    for vector_format in ("float32", "float16", "sq8"):
        directory = tmp_path / vector_format
        shutil.copytree(index_copy, directory)
        Store.open(directory, vectors=False).rebuild(embedder, vector_format=vector_format)
        store = Store.open(directory)
        assert store.inspect(embedder, sample=40).problems == []
        tops[vector_format] = store.dense_chunks(queries, 5)[1]
    for vector_format in ("float16", "sq8"):
        overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(tops[vector_format], tops["float32"], strict=True)])
        assert overlap >= 0.8, vector_format
