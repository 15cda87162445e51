"""Embedding backends: ONNX exports agree with the torch model, load once, cache their export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.chunking import chunk_article, split_sentences
from qa.embedding import BundledEmbedder, Embedder
from qa.embedding.bundled import load_onnx_model
from qa.embedding.onnx import export_onnx
from qa.errors import ConfigError
from qa.ingest import read_file
from qa.models import DEFAULT_MODEL, IndexSettings
from qa.settings import Settings


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export directory for the session: exporting costs seconds, so it happens once."""
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def sample_texts(seed_path: Path) -> list[str]:
    """The seed article's sentences and chunks: short and long real texts, some > 256 tokens."""
    article = read_file(seed_path)[0]
    sentences = split_sentences(article.text)
    chunks = chunk_article(article, sentences, IndexSettings())
    long = " ".join(article.text.split()[:600])  # past the model's 256-token window: truncated
    return [article.text[s.start : s.end] for s in sentences] + [c.text for c in chunks] + [long, "Bushehr?"]


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "floor"), [("onnx", 0.9999), ("onnx-int8", 0.99)])
def test_onnx_backends_agree_with_torch(backend: str, floor: float, embedder: Embedder, onnx_cache: Path,
                                        sample_texts: list[str]) -> None:
    assert isinstance(embedder, BundledEmbedder) and embedder.backend == "torch"
    reference = embedder.encode_documents(sample_texts)
    onnx = BundledEmbedder(backend=backend, cache_dir=onnx_cache)  # type: ignore[arg-type]
    vectors = onnx.encode_documents(sample_texts)
    assert vectors.shape == reference.shape == (len(sample_texts), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * reference).sum(axis=1)
    assert cosine.min() >= floor, f"{backend}: min cosine {cosine.min():.4f} on {sample_texts[cosine.argmin()]!r}"
    query = onnx.encode_queries(["What did Iran badly need from Russia?"])
    np.testing.assert_allclose(query @ embedder.encode_queries(["What did Iran badly need from Russia?"]).T,
                               1.0, atol=1 - floor)


@pytest.mark.slow
def test_onnx_keeps_input_order_across_length_sorted_batches(onnx_cache: Path, sample_texts: list[str]) -> None:
    onnx = BundledEmbedder(backend="onnx", cache_dir=onnx_cache)
    together = onnx.encode_documents(sample_texts)
    alone = np.concatenate([onnx.encode_documents([t]) for t in sample_texts[:5]])
    np.testing.assert_allclose(together[:5], alone, atol=1e-4)  # padding does not change a vector
    assert onnx.encode_documents([]).shape == (0, 384)


@pytest.mark.slow
def test_onnx_model_loads_once_and_export_is_cached(onnx_cache: Path, tmp_path: Path) -> None:
    first = BundledEmbedder(backend="onnx-int8", cache_dir=onnx_cache)
    second = BundledEmbedder(backend="onnx-int8", cache_dir=tmp_path / "elsewhere")
    first.warm_up()
    first.warm_up()
    assert first._onnx() is second._onnx() is load_onnx_model(DEFAULT_MODEL, "onnx-int8", onnx_cache)
    assert not (tmp_path / "elsewhere").exists()  # the loaded model serves; nothing re-exported
    file = export_onnx(DEFAULT_MODEL, "onnx-int8", onnx_cache)
    stamp = file.stat().st_mtime_ns
    assert export_onnx(DEFAULT_MODEL, "onnx-int8", onnx_cache) == file
    assert file.stat().st_mtime_ns == stamp
    assert not list(onnx_cache.glob("*.tmp"))


def test_backend_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="onnx-int8"):
        BundledEmbedder(backend="cuda")  # type: ignore[arg-type]
    assert Settings.from_env(environ={"QA_EMBEDDING_BACKEND": "onnx"}).embedding_backend == "onnx"
    with pytest.raises(ConfigError, match="QA_EMBEDDING_BACKEND"):
        Settings.from_env(environ={"QA_EMBEDDING_BACKEND": "fast"})
    assert isinstance(BundledEmbedder(), Embedder)  # meets the protocol
    assert (BundledEmbedder().name, BundledEmbedder().dimension) == (DEFAULT_MODEL, 384)
    with pytest.raises(ValueError, match="no ONNX export"):
        export_onnx(DEFAULT_MODEL, "torch", Path("unused"))


def test_importing_the_embedding_module_loads_no_runtime() -> None:
    code = ("import sys, qa.embedding; print(sorted(m for m in ('torch', 'onnxruntime', 'onnx', "
            "'tokenizers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_waiting_question_takes_the_model_before_a_waiting_document_batch() -> None:
    """F9 (issue 15): an ingest's next slice must not win the model from a question waiting for it."""
    import threading
    import time

    from qa.embedding.bundled import QueriesFirst

    lock = QueriesFirst()
    order: list[str] = []

    def take(name: str, question: bool) -> None:
        with lock.hold(question):
            order.append(name)

    with lock.hold(question=False):  # a slice is running
        documents = threading.Thread(target=take, args=("documents", False))
        documents.start()
        time.sleep(0.05)  # the next slice asks first...
        question = threading.Thread(target=take, args=("question", True))
        question.start()
        time.sleep(0.05)  # ...and the question after it
    documents.join(5)
    question.join(5)
    assert order == ["question", "documents"]
