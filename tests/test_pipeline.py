"""The pipeline's extension points: an embedder written here builds and answers from an index,
the manifest records it, and a mismatched embedder is refused before any model loads."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qa import QA, Embedder, IndexMismatchError, IndexNotFoundError, Settings
from qa.embedding import Vectors
from qa.loading import loaded_keys


class HashingEmbedder:
    """Bag of hashed words, signed, unit length: a real embedder of another name and dimension."""

    def __init__(self, dimension: int = 64) -> None:
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"hashing-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def warm_up(self) -> None:
        pass

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self.encode_documents(texts)

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dimension
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


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
