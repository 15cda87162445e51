"""The pipeline: an embedder written for the tests (``embedders.py``) builds and answers from an
index, the manifest records it, a mismatched embedder is refused before any model loads, and
questions of any text get an answer or a clear error."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from embedders import HashingEmbedder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa import QA, Embedder, IndexCorruptError, IndexMismatchError, IndexNotFoundError, QueryError, Settings
from qa.loading import loaded_keys
from qa.store import Store


def test_hashing_embedder_meets_the_protocol() -> None:
    assert isinstance(HashingEmbedder(), Embedder)


def test_new_directory_opens_as_an_empty_index(tmp_path: Path) -> None:
    qa = QA(tmp_path / "new", sample=False, embedder=HashingEmbedder())
    assert (qa.stats().articles, qa.stats().chunks) == (0, 0)
    assert qa.articles() == []
    declined = qa.answer("Who built Bushehr?")
    assert not declined.found and not declined.citations and declined.passages == []
    with pytest.raises(IndexNotFoundError, match="qa ingest"):
        QA(tmp_path / "missing", create=False, embedder=HashingEmbedder())


def test_k_must_be_positive_for_answer_and_search(tmp_path: Path) -> None:
    qa = QA(tmp_path / "new", sample=False, embedder=HashingEmbedder())
    for call in (qa.answer, qa.search):
        with pytest.raises(ValueError, match="k must be positive"):
            call("Who built Bushehr?", k=0)


def test_mismatched_embedder_is_refused_before_a_model_loads(tmp_path: Path) -> None:
    QA(tmp_path / "idx", sample=False, embedder=HashingEmbedder(64))
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert (manifest["model_name"], manifest["dimension"]) == ("hashing-64", 64)
    before = set(loaded_keys())
    with pytest.raises(IndexMismatchError, match="hashing-64.*not bundled"):
        QA(tmp_path / "idx")  # the default embedder is the bundled model
    with pytest.raises(IndexMismatchError, match="'hashing-64' \\(64 dimensions\\), not 'hashing-32'"):
        QA(tmp_path / "idx", embedder=HashingEmbedder(32))
    assert set(loaded_keys()) == before


@pytest.mark.slow
def test_index_built_with_an_injected_embedder_answers(tmp_path: Path, seed_path: Path) -> None:
    qa = QA(tmp_path / "idx", sample=False, embedder=HashingEmbedder(), settings=Settings(batch_vectors=50))
    report = qa.ingest([seed_path])
    assert report.added and not report.rejected
    assert qa.stats().chunks > 0 and qa.stats().settings.model_name == "hashing-64"
    a = qa.answer("What did Iran badly need from Russia?")
    assert a.found, a.text
    article = qa.article(a.citations[0].article_id)
    assert article is not None and article.text[a.citations[0].start : a.citations[0].end] == a.text
    assert "Iran" in a.text
    reopened = QA(tmp_path / "idx", embedder=HashingEmbedder())
    assert reopened.answer("What did Iran badly need from Russia?").text == a.text


def test_invalid_unicode_in_a_question_is_a_query_error(tmp_path: Path) -> None:
    qa = QA(tmp_path / "new", sample=False, embedder=HashingEmbedder())
    with pytest.raises(QueryError, match="not valid Unicode"):
        qa.answer("Where did Tesla die\ud800?")


@pytest.fixture(scope="module")
def seeded(built_index: Path) -> QA:
    return QA(built_index, sample=False)


@pytest.mark.slow
def test_a_long_question_up_to_the_limit_is_read(seeded: QA) -> None:
    """The span extractor reads at most 128 wordpieces of a question; the question itself is kept."""
    question = ("Where did Nikola Tesla die, and in which hotel room of New York City did he spend "
                "the last ten years of his life? ") * 16
    assert 1400 < len(question.strip()) <= seeded.settings.max_question_chars
    a = seeded.answer(question)
    assert a.question == " ".join(question.split())
    assert a.found and "New Yorker" in a.text


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=2300)
       | st.text("Tesla Bushehr die where who 1943 ?!'\"", min_size=1500, max_size=2300))
def test_any_text_gets_an_answer_or_a_query_error(seeded: QA, text: str) -> None:
    try:
        a = seeded.answer(text)
    except QueryError as e:
        assert str(e)
        return
    assert 0.0 <= a.confidence <= 1.0
    for c in a.citations:
        article = seeded.article(c.article_id)
        assert article is not None and article.text[c.start : c.end] == c.quote == a.text


def test_index_files_without_a_manifest_are_never_filled_with_the_sample(tmp_path: Path) -> None:
    directory = tmp_path / "idx"
    QA(directory, sample=False, embedder=HashingEmbedder())
    (directory / "manifest.json").unlink()
    database = (directory / "qa.sqlite3").read_bytes()
    with pytest.raises(IndexCorruptError, match="holds index files .* but no manifest.json.*--rebuild"):
        QA(directory, embedder=HashingEmbedder())  # sample=True: would have indexed the sample corpus
    assert (directory / "qa.sqlite3").read_bytes() == database
    assert not (directory / "manifest.json").exists()
    with pytest.raises(IndexCorruptError, match="but no manifest.json"):
        Store.open(directory, create=True)  # the store refuses it too, whoever asks
    assert (directory / "qa.sqlite3").read_bytes() == database


# The child makes an index and is killed (SIGKILL) just before its manifest is written.
_KILLED_CREATING = """
import os, signal, sys
from qa.store import Store, files
files.write_manifest = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
Store.open(sys.argv[1], create=True)
"""


def test_a_creation_killed_before_its_manifest_is_made_again(tmp_path: Path, seed_path: Path) -> None:
    directory = tmp_path / "idx"
    child = subprocess.run([sys.executable, "-c", _KILLED_CREATING, str(directory)], capture_output=True,
                           cwd=Path(__file__).parent.parent, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert (directory / "qa.sqlite3").exists() and (directory / ".creating").exists()
    assert not (directory / "manifest.json").exists()

    qa = QA(directory, sample=False, embedder=HashingEmbedder())
    assert qa.ingest([seed_path]).added
    assert not (directory / ".creating").exists()
    assert QA(directory, create=False, embedder=HashingEmbedder()).stats().articles == 1
