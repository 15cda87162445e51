"""Settings: one model for everything a run can tune, read from the environment in one place.

``Settings.from_env()`` is the only code that reads ``QA_*`` variables; everything else takes a
``Settings`` (or one of its parts) as a constructor argument and validates it there::

    QA_INDEX                index directory                        (Settings.index_dir)
    QA_EMBEDDING_BACKEND    torch | onnx | onnx-int8               (Settings.embedding_backend)
    QA_EXTRACTOR_BACKEND    onnx | onnx-int8                       (Settings.extractor_backend)
    QA_EXTRACTOR_WEIGHTS    a trained span extractor's directory   (Settings.extractor_weights)
    QA_APPROXIMATE_ABOVE    vectors above which search uses HNSW   (Settings.approximate_above)
    QA_BATCH_VECTORS        vectors per ingest commit              (Settings.batch_vectors)
    QA_CACHE_DIR            where model exports are cached         (Settings.cache_dir)
    QA_UPLOAD_MAX_MB        largest file the web app accepts       (Settings.upload_max_mb)
    QA_UPLOAD_TYPES         suffixes it accepts, e.g. ".md,.txt"   (Settings.upload_types)

What shaped an index on disk (model, dimension, chunking) is not here but in ``IndexSettings``,
which the index's manifest records.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qa.errors import ConfigError
from qa.models import RetrievalMode

Backend = Literal["torch", "onnx", "onnx-int8"]
ExtractorBackend = Literal["onnx", "onnx-int8"]
READER_WEIGHTS = Path(str(resources.files("qa") / "data" / "reader" / "weights.json"))
# The sentence features and confidence inputs, in the order the reader computes them.
FEATURES = ("cosine", "bm25_relative", "passage_relative", "type_match", "coverage",
            "neighbour_cosine", "passage_rank", "bm25_absolute", "idf_coverage", "window_idf_coverage")
# What the confidence may read: the chosen sentence's features, its selection score and the
# extractor's has-answer and [CLS] ("null") scores. The calibration names those it uses.
CONFIDENCE_FEATURES = (*FEATURES, "score", "has_answer", "null")


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LexicalSettings(_Settings):
    """When BM25 queries leave common words out (see ``qa.retrieval.common_words``).

    In an index of more than ``common_above`` rows, words held by more than ``common_fraction``
    of them are dropped: one setting for the chunk query of retrieval and the sentence query
    of the reader.
    """

    common_fraction: float = Field(default=0.1, gt=0.0, le=1.0)
    common_above: int = Field(default=50_000, ge=0)


class RetrievalSettings(_Settings):
    """How the retriever searches and fuses; per-call arguments override ``k`` and ``mode``."""

    k: int = Field(default=5, ge=1, le=100, description="passages returned (and read) per question")
    mode: RetrievalMode = "fused"
    candidates: int = Field(default=50, ge=1, description="depth of each list before fusion")
    # Fusion weights, chosen on the dev split by eval/tune_fusion.py (eval/README.md).
    dense_weight: float = Field(default=0.7, ge=0.0, le=1.0)
    sentence_weight: float = Field(default=0.75, ge=0.0, le=1.0)
    lexical: LexicalSettings = LexicalSettings()


@cache
def _weights_file(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def shipped_weights(path: Path = READER_WEIGHTS) -> dict[str, Any]:
    """The reader weights file that ``eval/tune_reader.py`` wrote (with its data hash and date)."""
    return dict(_weights_file(path))


class ReaderSettings(_Settings):
    """Weights of the sentence score and the abstention threshold.

    The weights default to the file ``eval/tune_reader.py`` writes (``qa/data/reader/weights.json``),
    as mappings from feature name to weight, so a weight can never be paired with the wrong
    feature.
    """

    sentence_weights: dict[str, float] = Field(default_factory=lambda: shipped_weights()["sentence_weights"])
    # The extractor re-scores this many best sentences; its has-answer score, times this weight,
    # is added to the sentence score (both chosen by eval/tune_reader.py on its fit half: held-out
    # selection 0.805 re-reading 3, 0.816 re-reading 6). Re-reading 8 fitted one question more in
    # 1,000 but put answer() p95 at 79-83 ms against the 80 ms budget, so the grid stops at 6.
    rerank: int = Field(default_factory=lambda: int(shipped_weights()["rerank"]), ge=1, le=50)
    # Of those, only the sentences scoring within this margin of the best are re-read: one further
    # below rarely overtakes it by its has-answer score. The weights file's 2.5 was chosen by
    # ``qa_eval.fit_reader``'s cross-validation (the narrowest margin that answers as many
    # questions right as re-reading all six: 2.5 on every question, 2.5 to 4 on five article
    # folds); out of fold it re-reads 2.9 sentences instead of 6, for 0.12 points of answer
    # accuracy (eval/README.md). In the sentence score's units, so a weights file without one
    # (fitted on another scale) re-reads all ``rerank``.
    rerank_margin: float = Field(
        default_factory=lambda: float(shipped_weights().get("rerank_margin", math.inf)), ge=0.0)
    extractor_weight: float = Field(default_factory=lambda: float(shipped_weights()["extractor_weight"]))
    # Above ``large_above`` sentences the re-read narrows to ``rerank_large``: there retrieval and
    # scoring take about 25 ms more, and re-reading 6 took the bench's 100x answer() p95 to 102-122 ms
    # (3 runs) against its 100 ms budget. The extractor weight stays the one fitted for 6. What
    # re-reading 3 costs where it can be measured (1x, unseen articles): accuracy 0.803 -> 0.789.
    rerank_large: int = Field(default=3, ge=1, le=50)
    large_above: int = Field(default=100_000, ge=0)
    # The heuristic ``key_span`` wins when the question's opening clause (its subject and verb, at
    # least ``hint_words`` words: ``qa.reader.spans.clause_words``) leads up to it in order and the
    # extractor scores it within ``hint_margin`` logits of its own best: that order says which
    # subject the question names ("Iran badly needed X", not "Russia badly needed Y"), which the
    # extractor often misses. A rule for the failures, not a gain: on the gold sentences
    # of the articles each fold model never saw it costs 0.45 points of span EM against no hint
    # (0.571 against 0.576, ``qa_eval.span_penalty``); the earlier rule, 3 words whatever the
    # clause, cost 0.68 on the same readings (eval/README.md).
    hint_words: int = Field(default=2, ge=1)
    hint_margin: float = Field(default=3.0, ge=0.0)
    # Logistic calibration of the confidence: a weight per ``CONFIDENCE_FEATURES`` name it uses, and "bias".
    calibration: dict[str, float] = Field(default_factory=lambda: shipped_weights()["calibration"])
    # The shipped weights file names it: 0.3, chosen out of fold on both fold models' answers to
    # every question, the near-miss checks and the title's words included (``python -m
    # qa_eval.threshold``; eval/README.md, "The threshold"). 0.2, stop 11's choice on in-corpus
    # and out-of-corpus questions alone, serves a file that names none.
    threshold: float = Field(default_factory=lambda: float(shipped_weights().get("threshold", 0.2)), ge=0.0, le=1.0)
    # A neighbouring sentence of the same paragraph scoring within this margin of the best is
    # joined to it: the evidence then spans both (measured: +3 points of answer accuracy). The
    # margin is in the sentence score's units, so a weights file fitted on another scale names its own.
    join_margin: float = Field(default_factory=lambda: float(shipped_weights().get("join_margin", 1.0)), ge=0.0)

    @field_validator("sentence_weights")
    @classmethod
    def _every_feature(cls, weights: dict[str, float]) -> dict[str, float]:
        if set(weights) != set(FEATURES):
            raise ValueError(f"sentence_weights must name exactly these features: {', '.join(FEATURES)}")
        return weights

    @field_validator("calibration")
    @classmethod
    def _known_inputs(cls, weights: dict[str, float]) -> dict[str, float]:
        if "bias" not in weights or not set(weights) <= {*CONFIDENCE_FEATURES, "bias"}:
            raise ValueError(f"calibration must name a bias and only these: {', '.join(CONFIDENCE_FEATURES)}")
        return weights


class Settings(_Settings):
    """Everything a run can tune; ``Settings.from_env()`` adds the ``QA_*`` variables.

    Example:
        >>> Settings(retrieval=RetrievalSettings(k=3)).retrieval.k
        3
    """

    index_dir: Path = Path("index")
    # ONNX Runtime on the fp32 export: the same vectors as torch (min cosine 1.0, same recall;
    # README, Performance), twice as fast, and a server that never imports torch (about 0.5 GB
    # less) once the export is cached.
    embedding_backend: Backend = "onnx"
    # The span extractor's network: ``onnx`` is the float network; ``onnx-int8`` its weights in
    # int8, which extracts in about 60% of the time but scored 0.2-0.7 points lower on every answer
    # figure over the dev half (eval/README.md, "The extractor's speed"), so it is not the default.
    extractor_backend: ExtractorBackend = "onnx"
    # Another span extractor, as ``qa_eval.train_extractor --out DIR`` writes one: the evaluation
    # runs a fold's model this way to measure the recipe on the articles that model never saw.
    extractor_weights: Path | None = Field(
        default=None, description="a directory with weights.safetensors; None: the shipped extractor")
    approximate_above: int = Field(default=100_000, ge=0,
                                   description="an index of more vectors is searched through HNSW")
    batch_vectors: int = Field(default=2048, ge=1, description="vectors per crash-safe ingest commit")
    cache_dir: Path | None = Field(default=None, description="model exports; default ~/.cache/article-qa")
    max_question_chars: int = Field(default=2000, ge=1)
    # Web uploads: 5 MB holds a long article many times over (the sample's largest is 0.03 MB) and
    # bounds what an upload can cost the one writer and the server's disk.
    upload_max_mb: float = Field(default=5.0, gt=0, le=20, description="largest file the web app accepts")
    upload_types: tuple[str, ...] | None = Field(
        default=None, description="file suffixes the web app accepts; None: every type ingest reads")
    retrieval: RetrievalSettings = RetrievalSettings()
    reader: ReaderSettings = ReaderSettings()

    @field_validator("upload_types", mode="before")
    @classmethod
    def _suffixes(cls, value: object) -> object:
        """".md, TXT" (as ``$QA_UPLOAD_TYPES`` holds it) or a sequence, to lower-case ``.suffix``es."""
        if value is None:
            return None
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            return value  # pydantic says what is wrong with it
        suffixes = tuple("." + str(item).strip().lower().lstrip(".") for item in items if str(item).strip())
        if not suffixes:
            raise ValueError("name at least one file suffix, such as .md")
        return suffixes

    @field_validator("extractor_weights")
    @classmethod
    def _trained(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "weights.safetensors").is_file():
            raise ValueError(f"{value} holds no weights.safetensors (qa_eval.train_extractor --out writes one)")
        return value

    @property
    def upload_max_bytes(self) -> int:
        return int(self.upload_max_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``QA_*`` variables (see the module docstring), then ``overrides``.

        Raises:
            ConfigError: a variable holds a value its setting does not accept (names the variable).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for variable, field in _ENV.items():
            raw = env.get(variable)
            if raw:
                try:
                    cls.model_validate({field: raw})
                except ValidationError as e:
                    reason = e.errors()[0]["msg"]
                    raise ConfigError(f"${variable} is {raw!r}: {reason}.") from None
                values[field] = raw
        return cls.model_validate({**values, **overrides})

    def model_cache(self) -> Path:
        """Where ONNX exports of the embedder and the extractor are kept (one place for both)."""
        if self.cache_dir is not None:
            return self.cache_dir
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(root) / "article-qa"


_ENV = {
    "QA_INDEX": "index_dir",
    "QA_EMBEDDING_BACKEND": "embedding_backend",
    "QA_EXTRACTOR_BACKEND": "extractor_backend",
    "QA_EXTRACTOR_WEIGHTS": "extractor_weights",
    "QA_APPROXIMATE_ABOVE": "approximate_above",
    "QA_BATCH_VECTORS": "batch_vectors",
    "QA_CACHE_DIR": "cache_dir",
    "QA_UPLOAD_MAX_MB": "upload_max_mb",
    "QA_UPLOAD_TYPES": "upload_types",
}
