"""Evaluation indexes: a SQuAD file's articles built into an index once, then reused.

An index is built with the project's own public API (``QA`` and its ingest), so it is what a
user would get, and cached under ``cache/index-KEY`` where KEY hashes the articles, the index
settings and the embedding backend. A build that is cut off leaves no ``build_seconds.txt`` and
is rebuilt from scratch the next time.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from qa import QA
from qa.models import IndexSettings
from qa.settings import Settings

from .squad import read_squad

_BUILD_SECONDS = "build_seconds.txt"


def build_index(dataset: Path, cache: Path | None, *, titles: set[str] | None = None,
                settings: Settings | None = None,
                index_settings: IndexSettings | None = None) -> tuple[Path, float]:
    """Index a SQuAD file's articles (only ``titles``, raw SQuAD titles, when given).

    Args:
        cache: where built indexes are kept; None builds in a new temporary directory.
        settings: run settings (embedding backend, commit size); default ``Settings.from_env()``.

    Returns:
        The index directory and the seconds its build took when it was first built.
    """
    settings = settings or Settings.from_env()
    index_settings = index_settings or IndexSettings()
    data = read_squad(dataset)
    if titles is not None:
        data = {"version": data.get("version", ""), "data": [a for a in data["data"] if a["title"] in titles]}
    # A float32 index keeps the key it had before ``vector_format`` existed (it held float32 then).
    legacy = {"vector_format"} if index_settings.vector_format == "float32" else None
    fingerprint = (json.dumps(data["data"], sort_keys=True) + index_settings.model_dump_json(exclude=legacy)
                   + settings.embedding_backend)
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    root = cache if cache is not None else Path(tempfile.mkdtemp(prefix="qa-eval-"))
    directory = root / f"index-{key}"
    timing = directory / _BUILD_SECONDS
    if timing.exists():
        return directory, float(timing.read_text())
    source = root / f"source-{key}" / dataset.name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(json.dumps(data), encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)  # an earlier build that was cut off
    start = time.perf_counter()
    report = QA(directory, sample=False, settings=settings, index_settings=index_settings).ingest(
        [source], progress=True)
    seconds = time.perf_counter() - start
    if report.rejected:
        raise RuntimeError(f"evaluation data was rejected: {report.rejected}")
    timing.write_text(f"{seconds:.3f}")
    return directory, seconds
