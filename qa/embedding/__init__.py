"""Embedding: the ``Embedder`` protocol every embedder meets, and the bundled one.

An index records the name and dimension of the embedder that built it (``IndexSettings``);
``QA`` reads that before loading any model and refuses an embedder that does not match. Any
object with the five members below can be passed as ``QA(..., embedder=...)``: a test builds
an index with a hashing embedder written in the test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from qa.embedding.bundled import BACKENDS, BundledEmbedder, load_model
from qa.embedding.onnx import Vectors, model_path
from qa.models import DEFAULT_MODEL


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to unit-length float32 vectors, questions and passages alike."""

    @property
    def name(self) -> str:
        """What the index manifest records; another name means other vectors."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector; known without loading the model."""
        ...

    def warm_up(self) -> None:
        """Load the model now rather than on first use; safe to call twice."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed questions: (len(texts), dimension) float32, unit length."""
        ...

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages or sentences: (len(texts), dimension) float32, unit length, in order."""
        ...


__all__ = ["BACKENDS", "DEFAULT_MODEL", "BundledEmbedder", "Embedder", "Vectors", "load_model", "model_path"]
