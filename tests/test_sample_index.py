"""The prebuilt sample index shipped in the package (``qa/data/sample_index``).

A first run copies it instead of indexing the sample corpus for minutes (issue 16's first answer
within a minute). These tests fail when it no longer matches the sample files, the chunking or
the model; ``python -m qa_eval.sample_index`` rebuilds it then.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qa import QA
from qa.chunking import chunk_article, split_sentences
from qa.embedding import BundledEmbedder
from qa.ingest import iter_paths, read_articles
from qa.models import Article, IndexSettings
from qa.pipeline import prebuilt_sample, sample_corpus
from qa.store import read_manifest
from qa.store.files import copy_index


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> QA:
    """The shipped index, opened from a copy (opening writes a lock file, never in the package)."""
    copy = tmp_path_factory.mktemp("shipped") / "index"
    copy_index(prebuilt_sample(), copy)
    return QA(copy, create=False, sample=False)


def test_a_copy_removes_what_killed_copies_left_beside_it_and_nothing_else(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            stale, busy = tmp_path / f".index.{dead.pid}.copying", tmp_path / f".index.{live.pid}.copying"
            other = tmp_path / f".other.{dead.pid}.copying"  # beside another index: not this copy's
            for folder in (stale, busy, other):
                folder.mkdir()
                (folder / "qa.sqlite3").write_bytes(b"half")
            copy_index(prebuilt_sample(), tmp_path / "index")
            assert not stale.exists() and busy.exists() and other.exists()
            assert read_manifest(tmp_path / "index") == read_manifest(prebuilt_sample())
        finally:
            live.kill()


def _sample_articles() -> list[Article]:
    articles, rejected = read_articles(iter_paths([sample_corpus()]))
    assert rejected == []
    return articles


def test_a_new_index_is_a_copy_of_the_prebuilt_sample_made_without_a_model(tmp_path: Path,
                                                                          shipped: QA) -> None:
    qa = QA(tmp_path / "new", progress=False)  # the fast lane's guard fails it if a model loads
    ignore = {"size_bytes", "directory"}
    assert qa.stats().model_dump(exclude=ignore) == shipped.stats().model_dump(exclude=ignore)
    assert qa.store.inspect(None, sample=0).problems == []
    assert all(a.source.startswith("qa/data/sample/") for a in qa.articles())  # the same on every machine
    assert [e.actor for e in qa.store.audit_log()] == [e.actor for e in shipped.store.audit_log()]
    (tmp_path / "empty").mkdir()
    assert QA(tmp_path / "empty", progress=False).stats().articles == qa.stats().articles


def test_the_prebuilt_sample_holds_the_sample_files_as_ingest_reads_them_now(shipped: QA) -> None:
    assert read_manifest(prebuilt_sample()) == IndexSettings()
    assert shipped.store.content_hashes() == {a.id: a.content_hash for a in _sample_articles()}


def test_the_prebuilt_sample_is_chunked_as_the_chunker_chunks_now(shipped: QA) -> None:
    spans = shipped.store.chunk_spans()
    for article in _sample_articles():
        sentences = split_sentences(article.text)
        assert spans[article.id] == [(c.start, c.end) for c in chunk_article(article, sentences, IndexSettings())]
        stored = shipped.store.sentences_in(article.id, 0, len(article.text))
        assert [(s.start, s.end) for s in stored] == [(s.start, s.end) for s in sentences]


@pytest.mark.slow
def test_the_prebuilt_vectors_are_the_models(shipped: QA) -> None:
    report = shipped.store.inspect(BundledEmbedder("onnx"), sample=40)
    assert report.problems == []
