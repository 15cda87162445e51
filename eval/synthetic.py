"""The bench's synthetic corpora: perturbed copies of the sample corpus, and vectors for them
that need no model.

A copy's articles are real text with marked titles and seeded word drops and swaps, so they are
distinct articles that chunk like real ones. Embedding 100 copies on two cores would take hours,
so large scales get their vectors from ``NoisyCopies``: an encoder for ``qa.indexing`` that gives
each text the real vector of the 1x text it was copied from, plus seeded noise. Query latency,
size, memory and approximate recall depend on how many vectors there are and how they cluster
(around real vectors, as copies do), not on where they came from.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.embedding import Vectors
from qa.indexing import DocumentEncoder
from qa.models import Article

SYNTHETIC = " (synthetic copy {})"
NOISE = 0.02  # per-dimension sigma of the synthetic vectors' noise: cosine ~0.93 to the source
_RARE_WORDS = 3  # a text's source is looked for among the 1x texts holding its rarest words
_WORD = re.compile(r"\w+")


def perturb(text: str, rng: random.Random, rate: float = 0.03) -> str:
    """Drop and swap neighbouring words at ``rate`` each, paragraph by paragraph."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        words = [w for w in paragraph.split(" ") if rng.random() >= rate] or paragraph.split(" ")
        for i in range(len(words) - 1):
            if rng.random() < rate:
                words[i], words[i + 1] = words[i + 1], words[i]
        paragraphs.append(" ".join(words))
    return "\n\n".join(paragraphs)


def write_corpus(articles: Sequence[Article], sources: Path, scale: int, directory: Path) -> None:
    """The files of the scaled corpus: the articles' own files (from ``sources``) and ``scale - 1``
    SQuAD-format files, copy r holding every article perturbed with seed r."""
    directory.mkdir(parents=True, exist_ok=True)
    names = {a.source for a in articles}
    for file in sorted(sources.iterdir()):
        if str(file) in names:
            shutil.copy(file, directory / file.name)
    for copy in range(1, scale):
        rng = random.Random(copy)
        data = [{"title": a.title + SYNTHETIC.format(copy),
                 "paragraphs": [{"context": p, "qas": []} for p in perturb(a.text, rng).split("\n\n")]}
                for a in articles]
        (directory / f"synthetic-{copy:03d}.json").write_text(
            json.dumps({"version": "1.1", "data": data}), encoding="utf-8")


class Recorder:
    """Passes texts to a real encoder and keeps every text with its vector (the 1x build's)."""

    def __init__(self, encoder: DocumentEncoder) -> None:
        self.encoder = encoder
        self.texts: list[str] = []
        self.vectors: list[Vectors] = []

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        vectors = self.encoder.encode_documents(texts)
        self.texts.extend(texts)
        self.vectors.append(vectors)
        return vectors

    def noisy_copies(self, seed: int = 0) -> NoisyCopies:
        """An encoder of copies of what was recorded."""
        return NoisyCopies(self.texts, np.concatenate(self.vectors), seed)


class NoisyCopies:
    """An encoder for perturbed copies of known texts, without a model.

    A text's source is the known text that shares the largest part of its words (Jaccard), among
    those holding its rarest words: a copied chunk finds its chunk, a copied sentence its
    sentence. Its vector is the source's plus Gaussian noise (``NOISE``), renormalised; the noise
    is drawn in call order from one seeded generator, so a run is repeatable.
    """

    def __init__(self, texts: Sequence[str], vectors: Vectors, seed: int = 0) -> None:
        if len(texts) != len(vectors) or not len(texts):
            raise ValueError(f"need one vector per known text, got {len(texts)} texts, {len(vectors)} vectors")
        self._vectors = vectors
        self._words = [_words(t) for t in texts]
        self._holders: dict[str, list[int]] = {}
        for i, words in enumerate(self._words):
            for w in words:
                self._holders.setdefault(w, []).append(i)
        self._rng = np.random.default_rng(seed)

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        picked = self._vectors[[self.source(t) for t in texts]]  # (n, dim)
        noisy = picked + self._rng.normal(0.0, NOISE, picked.shape).astype(np.float32)
        return np.ascontiguousarray(noisy / np.linalg.norm(noisy, axis=1, keepdims=True), dtype=np.float32)

    def source(self, text: str) -> int:
        """Index of the known text ``text`` was most likely copied from (0 when no word is known)."""
        words = _words(text)
        known = sorted((w for w in words if w in self._holders), key=lambda w: len(self._holders[w]))
        candidates = {i for w in known[:_RARE_WORDS] for i in self._holders[w]}
        return max(sorted(candidates), key=lambda i: len(words & self._words[i]) / len(words | self._words[i]),
                   default=0)


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))
