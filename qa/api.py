"""The public entry points: ``QA`` (an opened index with its models) and ``answer()``.

Example:
    >>> from qa import QA
    >>> qa = QA("index")
    >>> qa.answer("Who built Bushehr?").text
    "Russia and Iran have enjoyed strong economic links since 1991, when Moscow agreed ..."
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

from qa.embedding import Embedder
from qa.errors import IndexError_
from qa.indexing import Progress, ingest_paths
from qa.ingest import DEFAULT_MAX_BYTES
from qa.models import Answer, IndexSettings, IngestReport, Passage, RetrievalMode, Turn
from qa.reader import Reader, ReaderSettings
from qa.retrieval import Filters, RetrievalSettings, Retriever
from qa.store import Store

DEFAULT_INDEX = Path("index")


def sample_corpus() -> Path:
    """The directory of the built-in sample corpus (inside the installed package)."""
    return Path(str(resources.files("qa") / "data" / "sample"))


def default_index_dir() -> Path:
    """``$QA_INDEX`` if set, else ``index/`` in the working directory."""
    return Path(os.environ.get("QA_INDEX", DEFAULT_INDEX))


class QA:
    """An index opened for questions, with the retriever and reader on top of it.

    Args:
        index: an index directory; when it holds no index and ``sample`` is true, the built-in
            sample corpus is indexed there first (with a progress bar).
        sample: build the sample corpus into an empty index directory.

    Example:
        >>> qa = QA("index")
        >>> qa.answer("What did Iran badly need from Russia?").highlight_text
        'the expertise'
    """

    def __init__(
        self, index: str | os.PathLike[str] | None = None, *, sample: bool = True,
        settings: IndexSettings | None = None, retrieval: RetrievalSettings | None = None,
        reader: ReaderSettings | None = None, progress: bool = True,
    ) -> None:
        directory = Path(index) if index is not None else default_index_dir()
        # ONNX backends keep their export beside the index (exported once, on first use).
        self.embedder = Embedder((settings or IndexSettings()).model_name, cache_dir=directory / "onnx")
        try:
            self.store = Store.open(directory, settings)
        except IndexError_:
            if (directory / "manifest.json").exists() or not sample:
                raise
            self.store = Store.open(directory, settings, create=True)
            self.ingest([sample_corpus()], progress=progress)
        self.retriever = Retriever(self.store, self.embedder, retrieval)
        self.reader = Reader(self.store, reader)

    def warm_up(self) -> None:
        """Load the embedding model and the span extractor now; safe to call twice."""
        self.embedder.warm_up()
        self.reader.extractor.warm_up()

    def ingest(
        self, paths: Iterable[str | os.PathLike[str]], max_bytes: int = DEFAULT_MAX_BYTES,
        progress: bool | Progress = False,
    ) -> IngestReport:
        """Add or update articles from files, directories or globs (see ``qa ingest``)."""
        return ingest_paths(self.store, paths, self.embedder, max_bytes=max_bytes, progress=progress)

    def delete(self, article_id: str) -> bool:
        """Remove an article from the index; returns whether it was there."""
        return self.store.delete(article_id)

    def search(
        self, question: str, k: int | None = None, mode: RetrievalMode | None = None,
        filters: Filters | None = None,
    ) -> list[Passage]:
        """Best-first passages for ``question``."""
        return self.retriever.search(question, k=k, mode=mode, filters=filters)

    def answer(
        self, question: str, k: int | None = None, history: Sequence[Turn | str] = (),
        mode: RetrievalMode | None = None, filters: Filters | None = None,
    ) -> Answer:
        """Answer ``question`` with a verbatim, cited quote, or decline (``found=False``)."""
        return self.reader.answer(
            question, self.retriever, k=k, history=history, mode=mode, filters=filters)


_default: QA | None = None
_default_lock = threading.Lock()


def answer(
    question: str, index: str | os.PathLike[str] | QA | None = None, k: int | None = None,
    history: Sequence[Turn | str] = (), mode: RetrievalMode | None = None,
) -> Answer:
    """Answer a question from the articles (the sample corpus unless ``index`` says otherwise).

    Example:
        >>> answer("Who built Bushehr?").found
        True
    """
    global _default
    if isinstance(index, QA):
        qa = index
    elif index is not None:
        qa = _opened(Path(index))
    else:
        with _default_lock:
            if _default is None:
                _default = QA()
            qa = _default
    return qa.answer(question, k=k, history=history, mode=mode)


_opened_cache: dict[Path, QA] = {}


def _opened(directory: Path) -> QA:
    key = directory.resolve()
    with _default_lock:
        if key not in _opened_cache:
            _opened_cache[key] = QA(directory, sample=False)
        return _opened_cache[key]
