"""The pipeline: ``QA`` owns the read path from a question to a cited quote, and ``answer()``.

One question goes through these steps, each a call into one stage, all in ``QA.answer``::

    validate -> resolve follow-up -> drop framing -> embed -> retrieve -> read -> cite
    (here)      qa.conversation      qa.framing      embedder  qa.retrieval  qa.reader  (here)

Only the last step turns offsets into quoted text, so every quote is the article's text at the
offsets it cites. A question about the article itself ("Who wrote the article about ...?") is
read from the first passage's article's metadata instead (``qa.reader.metadata``), and cited
as that metadata field.

Example:
    >>> from qa import QA
    >>> qa = QA("index")
    >>> qa.answer("Who built Bushehr?").text
    "Russia and Iran have enjoyed strong economic links since 1991, when Moscow agreed ..."
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import TypeVar

from qa.conversation import resolve_followup
from qa.embedding import BundledEmbedder, Embedder
from qa.errors import (
    IndexBusyError,
    IndexMismatchError,
    IndexNotFoundError,
    QAError,
    QueryError,
)
from qa.framing import read_as, unframed
from qa.indexing import ingest_paths
from qa.ingest import DEFAULT_MAX_BYTES
from qa.models import (
    Answer,
    Article,
    ArticleInfo,
    AuditEntry,
    Citation,
    IndexSettings,
    IndexStats,
    IngestReport,
    Passage,
    RetrievalMode,
    Span,
    Turn,
)
from qa.progress import Progress
from qa.reader import BundledExtractor, Extractor, Reader, Reading
from qa.reader.metadata import CONFIDENCE as METADATA_CONFIDENCE
from qa.reader.metadata import (
    MetadataAnswer,
    answer_from_metadata,
    asked_field,
    is_title,
    naming,
    refers_back,
    titled_field,
)
from qa.retrieval import Filters, Retriever
from qa.settings import Settings
from qa.shards import IndexLocation, ShardLayout, Shards, locate
from qa.store import MANIFEST, Store, read_manifest
from qa.store.files import copy_index, present, refuse_lost_manifest

DECLINE = "The articles don't say."
_WORDLIKE = re.compile(r"\w", re.UNICODE)
SNAPSHOT_ATTEMPTS = 3  # a snapshot outrun by writers twice in a row is rare; three is "the index is busy"
T = TypeVar("T")


def sample_corpus() -> Path:
    """The directory of the built-in sample corpus (inside the installed package)."""
    return Path(str(resources.files("qa") / "data" / "sample"))


def prebuilt_sample() -> Path:
    """The sample corpus already indexed, shipped in the package (``python -m qa_eval.sample_index``
    writes it; ``tests/test_sample_index.py`` checks it against the corpus and the model)."""
    return Path(str(resources.files("qa") / "data" / "sample_index"))


def _reader(settings: Settings, extractor: Extractor | None) -> Reader:
    """The reader over ``extractor``, or over the bundled one that ``settings`` names (its
    weights and backend), exported to the model cache."""
    extractor = extractor or BundledExtractor(settings.extractor_weights, settings.model_cache() / "extractor",
                                              settings.extractor_backend)
    return Reader(extractor, settings.reader, settings.retrieval.lexical)


def _prebuilt_matches(wanted: IndexSettings) -> bool:
    """Whether the prebuilt sample index was made with ``wanted``'s model and chunking."""
    try:
        return read_manifest(prebuilt_sample()) == wanted
    except QAError:  # absent or from another version: build the sample instead
        return False


class QA:
    """An index opened for questions, with its embedder, retriever and reader.

    Args:
        index: the index directory (default ``settings.index_dir``: ``$QA_INDEX`` or ``index``).
            With no index there, a new one is made: the built-in sample corpus is indexed into
            it when ``sample`` is true, else it starts empty (unless ``create`` is false). With
            the default model and chunking, and an absent or empty folder, the sample comes
            indexed with the package (``prebuilt_sample``) and is copied in seconds. A directory
            holding ``shards.json``, or a list of index directories, opens as one index over
            all of them (``qa.shards``).
        sample: fill a new index with the sample corpus.
        create: make a new index where there is none; false raises ``IndexNotFoundError``.
        settings: everything tunable (default ``Settings.from_env()``).
        index_settings: chunking of a new index; an existing one must match it if given.
        embedder: any ``qa.embedding.Embedder``; its name and dimension must be those the
            index's manifest records (default: the bundled model, if the index was built with it).
        extractor: any ``qa.reader.Extractor`` (default: the shipped span extractor).
        progress: while the sample corpus is indexed, a progress bar (True) or a callback
            ``(done, total)`` in vectors.
        shards: make a new index there as this many shards (``qa.shards``); new articles go to
            a shard by a stable hash of their id. An existing shard set must have this many.

    Raises:
        IndexMismatchError: the index was built with another embedder or other settings, or
            ``shards`` asks for another layout than the directory holds.

    Example:
        >>> qa = QA("index")
        >>> a = qa.answer("What did Iran badly need from Russia?")
        >>> a.text[a.highlight.start : a.highlight.end]
        'the expertise'
    """

    def __init__(
        self, index: IndexLocation | None = None, *, sample: bool = True, create: bool = True,
        settings: Settings | None = None, index_settings: IndexSettings | None = None,
        embedder: Embedder | None = None, extractor: Extractor | None = None,
        progress: bool | Progress = True, shards: int | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        located = locate(index if index is not None else self.settings.index_dir, shards)
        if isinstance(located, ShardLayout):
            self._open_shards(located, sample=sample, create=create, index_settings=index_settings,
                              embedder=embedder, extractor=extractor, progress=progress)
            return
        self.directory = located
        cache = self.settings.model_cache()
        new = not present(self.directory / MANIFEST)  # a folder it may not search is an error, not "new"
        if new:
            refuse_lost_manifest(self.directory)  # before any model loads
        if new and not create:
            read_manifest(self.directory)  # raises IndexNotFoundError, naming the directory
        # The manifest is read before any model loads: a mismatched embedder costs nothing.
        self.embedder = embedder or BundledEmbedder(self.settings.embedding_backend, cache / "onnx")
        recorded = None if new else read_manifest(self.directory)
        if recorded is not None:
            _check_embedder(self.directory, recorded, self.embedder, injected=embedder is not None)
        wanted = _wanted(index_settings, recorded, self.embedder)
        if new and sample and _prebuilt_matches(wanted) and not any(self.directory.glob("*")):
            copy_index(prebuilt_sample(), self.directory)  # the sample corpus, already indexed
            new = False
        self.store: Store | Shards = Store.open(self.directory, wanted, create=new,
                                               approximate_above=self.settings.approximate_above)
        self.retriever = Retriever(self.store, self.embedder, self.settings.retrieval)
        self.reader = _reader(self.settings, extractor)
        if new and sample:
            self.ingest([sample_corpus()], progress=progress)

    def _open_shards(self, layout: ShardLayout, *, sample: bool, create: bool, index_settings: IndexSettings | None,
                     embedder: Embedder | None, extractor: Extractor | None, progress: bool | Progress) -> None:
        """Open (or make) a shard set as ``__init__`` opens one index: the shards' manifests are
        read before any model loads, and a new set gets the sample corpus, routed, if asked."""
        self.directory = layout.root
        cache = self.settings.model_cache()
        new = layout.new()
        if new and not create:
            raise IndexNotFoundError(f"No index in {layout.root}: build one with "
                                     f"`qa ingest PATH --index {layout.root} --shard-by N`.")
        self.embedder = embedder or BundledEmbedder(self.settings.embedding_backend, cache / "onnx")
        recorded = layout.recorded()
        if recorded is not None:
            _check_embedder(layout.root, recorded, self.embedder, injected=embedder is not None)
        wanted = _wanted(index_settings, recorded, self.embedder)
        self.store = Shards.open(layout, wanted, create=create, approximate_above=self.settings.approximate_above)
        self.retriever = Retriever(self.store, self.embedder, self.settings.retrieval)
        self.reader = _reader(self.settings, extractor)
        if new and sample:
            self.ingest([sample_corpus()], progress=progress)

    def warm_up(self) -> None:
        """Load the embedding model and the span extractor now; safe to call twice."""
        self.embedder.warm_up()
        self.reader.extractor.warm_up()

    # ----------------------------------------------------------------------------- writing
    def ingest(
        self, paths: Iterable[str | os.PathLike[str]], max_bytes: int = DEFAULT_MAX_BYTES,
        progress: bool | Progress = False, *, replace: bool = True, actor: str | None = None,
    ) -> IngestReport:
        """Add or update articles from files, directories or globs (see ``qa ingest``).

        Args:
            replace: False holds back articles whose id is stored with other content (listed in
                the report's ``held``, not written) until a caller confirms them.
            actor: who the audit log names for these writes (default: this process's user).

        Raises:
            IndexReadOnlyError: the index is on media this process cannot write (checked first,
                before anything is read or embedded).
        """
        self.store.writable()
        if isinstance(self.store, Shards):  # each article to its shard (qa.shards.shard_of)
            return self.store.ingest(paths, self.embedder, max_bytes=max_bytes, progress=progress,
                                     batch_vectors=self.settings.batch_vectors, replace=replace, actor=actor)
        return ingest_paths(self.store, paths, self.embedder, max_bytes=max_bytes, progress=progress,
                            batch_vectors=self.settings.batch_vectors, replace=replace, actor=actor)

    def delete(self, article_id: str, actor: str | None = None) -> bool:
        """Remove an article from the index (the audit log names ``actor``); returns whether it was there."""
        return self.store.delete(article_id, actor=actor)

    def audit_log(self, limit: int | None = None) -> list[AuditEntry]:
        """Every add, replace and delete of this index, newest first (at most ``limit``)."""
        return self.store.audit_log(limit)

    # ----------------------------------------------------------------------------- reading
    def stats(self) -> IndexStats:
        """Counts of what the index holds, its settings and size."""
        return self.store.stats()

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article's metadata (no text), by title."""
        return self.store.articles()

    def article(self, article_id: str) -> Article | None:
        """One article with its text, or None when there is no such article."""
        return self.store.article(article_id)

    def check(self) -> list[str]:
        """Verify the index (ids, counts, offsets, hashes); returns the problems found."""
        return self.store.check()

    def search(
        self, question: str, k: int | None = None, mode: RetrievalMode | None = None,
        filters: Filters | None = None,
    ) -> list[Passage]:
        """Best-first passages for ``question``, read without a framing by its source ("According
        to the article, ...", ``qa.framing.unframed``), as ``answer`` reads it.

        Raises:
            ValueError: ``k`` is not positive.
        """
        query = unframed(question)
        return self._consistently(lambda: self.retriever.search(query, k=k, mode=mode, filters=filters))

    def answer(
        self, question: str, k: int | None = None, history: Sequence[Turn | str] = (),
        mode: RetrievalMode | None = None, filters: Filters | None = None,
    ) -> Answer:
        """Answer ``question`` with a verbatim, cited quote, or decline (``found=False``).

        Args:
            k: passages to read (default ``settings.retrieval.k``); must be positive.
            history: earlier turns, newest last, for reading a follow-up question.
            mode: retrieval mode (default ``settings.retrieval.mode``).
            filters: read only the articles these allow.

        Raises:
            QueryError: the question is empty or longer than ``settings.max_question_chars``.
            ValueError: ``k`` is not positive.
        """
        started = time.perf_counter()
        question = self._validated(question)
        if k is not None and k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        resolved = resolve_followup(question, history)
        asked = read_as(resolved)  # unframed, ending in "?" as SQuAD's questions end (qa.framing)
        query_vector = self.embedder.encode_queries([asked])
        timings = {"embed_ms": (time.perf_counter() - started) * 1000}

        def read() -> tuple[Answer, dict[str, float]]:
            began = time.perf_counter()
            passages = self.retriever.search(asked, k=k, mode=mode, filters=filters, query_vector=query_vector)
            spent = {"retrieve_ms": (time.perf_counter() - began) * 1000}
            from_metadata = self._from_metadata(question, passages, history)
            if from_metadata is not None:
                named = naming(question, from_metadata.article.title) if history and refers_back(question) else None
                return _cited_metadata(question, from_metadata, passages, named), spent
            reading = self.reader.read(asked, query_vector, passages, self.store)
            return self._cited(question, reading, passages), spent | reading.timings_ms

        answer, spent = self._consistently(read)
        timings |= spent
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        shown = answer.resolved_question or (resolved if resolved != question else None)
        return answer.model_copy(update={"resolved_question": shown, "timings_ms": timings})

    def _consistently(self, read: Callable[[], T]) -> T:
        """``read()`` inside one snapshot of the index (``Store.snapshot``): its passages,
        sentences, article text and vectors all come from one committed state. Tried again in
        the rare case that writers moved on before this state's vectors were loaded."""
        attempts = SNAPSHOT_ATTEMPTS
        while True:
            try:
                with self.store.snapshot():
                    return read()
            except IndexBusyError:
                attempts -= 1
                if attempts == 0:
                    raise

    def _validated(self, question: str) -> str:
        """The question on one line, or a ``QueryError`` saying why it cannot be asked."""
        question = " ".join(question.split())
        try:
            question.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, as JSON's "\ud800" decodes to
            raise QueryError("The question holds characters that are not valid Unicode "
                             "(lone surrogates); please retype it.") from None
        if not _WORDLIKE.search(question):
            raise QueryError("Please ask a question: it has no words in it.")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QueryError(
                f"The question is {len(question):,} characters long; the limit is {limit:,}. Please shorten it.")
        return question

    def _from_metadata(self, question: str, passages: list[Passage],
                       history: Sequence[Turn | str]) -> MetadataAnswer | None:
        """The answer from an article's metadata, if the question (as asked) asks for a field.

        The article is the first passage's; for "Who wrote it?" after an earlier turn, the first
        passage of that turn's question, which is what "it" names; for "Who wrote X?", the first
        retrieved article titled X (``_by_title``).
        """
        field = asked_field(question)
        if field is None:
            return self._by_title(question, passages)
        if history and refers_back(question):
            previous = history[-1]
            passages = self.search(previous.question if isinstance(previous, Turn) else previous, k=1)
        if not passages:
            return None
        return answer_from_metadata(field, question, passages, self.store.article(passages[0].article_id))

    def _by_title(self, question: str, passages: list[Passage]) -> MetadataAnswer | None:
        """The metadata answer to a question that asks for a field of a work it names, when a
        retrieved article has that title ("Who wrote Putin and the Ayatollah?"); None otherwise,
        for the reader ("Who wrote the Declaration of Independence?")."""
        asked = titled_field(question)
        if asked is None:
            return None
        field, named = asked
        titled = next((p for p in passages if is_title(named, p.title)), None)  # a passage holds its title
        if titled is None:
            return None
        return answer_from_metadata(field, question, [p for p in passages if p.article_id == titled.article_id],
                                    self.store.article(titled.article_id))

    def _cited(self, question: str, reading: Reading, passages: list[Passage]) -> Answer:
        """The reader's choice as an ``Answer``: the quote cut from the article at its offsets."""
        confidence = round(reading.confidence, 4)
        if reading.quote is None or reading.passage is None:
            return Answer(question=question, found=False, text=DECLINE, confidence=confidence, passages=passages,
                          unmentioned=list(reading.unmentioned), respelled=reading.respelled,
                          contrary=reading.contrary,
                          unnegated=reading.unnegated)
        article_id, start, end = reading.quote
        article = self.store.article(article_id)
        quote = article.text[start:end] if article is not None else ""
        citation = Citation(number=1, article_id=article_id, title=reading.passage.title,
                            url=reading.passage.url, start=start, end=end, quote=quote,
                            page=article.page_at(start) if article is not None else None,
                            author=article.author if article is not None else None,
                            published=article.published if article is not None else None)
        highlight = Span(start=reading.highlight[0], end=reading.highlight[1]) if reading.highlight else None
        return Answer(question=question, found=True, text=quote, highlight=highlight, confidence=confidence,
                      citations=[citation], passages=passages)


def _cited_metadata(question: str, found: MetadataAnswer, passages: list[Passage], named: str | None) -> Answer:
    """A metadata answer: the field's value, cited as that field of its article; ``named`` is the
    question as shown when it named its article only as "it" (``naming``)."""
    article = found.article
    citation = Citation(number=1, article_id=article.id, title=article.title, url=article.url, start=0, end=0,
                        quote=found.value, kind="metadata", field=found.field, author=article.author,
                        published=article.published)
    return Answer(question=question, found=True, text=found.value, confidence=METADATA_CONFIDENCE,
                  citations=[citation], passages=passages, resolved_question=named)


def _wanted(asked: IndexSettings | None, recorded: IndexSettings | None, embedder: Embedder) -> IndexSettings:
    """The settings to open with: those asked for, else the recorded ones, else the defaults, with
    the embedder's model. A vector format or sentence context the caller did not name is the
    index's own, so asking for other chunking (which an existing index refuses anyway) is never
    read as asking to convert its vectors (that is ``qa rebuild --vector-format``), and an index
    built before sentences were embedded with their title opens as it is."""
    wanted = asked or recorded or IndexSettings()
    update: dict[str, object] = {"model_name": embedder.name, "dimension": embedder.dimension}
    if asked is not None and recorded is not None:
        update |= {k: getattr(recorded, k) for k in ("vector_format", "sentence_context")
                   if k not in asked.model_fields_set}
    return wanted.model_copy(update=update)


def _check_embedder(directory: Path, recorded: IndexSettings, embedder: Embedder, injected: bool) -> None:
    """Refuse an embedder whose vectors the index's were not made with.

    Raises:
        IndexMismatchError: another name or dimension than the manifest records.
    """
    if (embedder.name, embedder.dimension) == (recorded.model_name, recorded.dimension):
        return
    if injected:
        raise IndexMismatchError(
            f"The index in {directory} was built with the embedder {recorded.model_name!r} "
            f"({recorded.dimension} dimensions), not {embedder.name!r} ({embedder.dimension}). Open it "
            f"with the embedder it was built with, or rebuild it with this one.")
    raise IndexMismatchError(
        f"The index in {directory} was built with the embedder {recorded.model_name!r} "
        f"({recorded.dimension} dimensions), which is not bundled: pass it as QA(..., embedder=...).")


_default: QA | None = None
_opened: dict[Path, QA] = {}
_lock = threading.Lock()


def answer(
    question: str, index: str | os.PathLike[str] | QA | None = None, k: int | None = None,
    history: Sequence[Turn | str] = (), mode: RetrievalMode | None = None, filters: Filters | None = None,
) -> Answer:
    """Answer a question from the articles (the sample corpus unless ``index`` says otherwise).

    An index directory is opened once per process and reused by later calls.

    Raises:
        IndexNotFoundError: ``index`` names a directory that holds no index.

    Example:
        >>> answer("Who built Bushehr?").found
        True
    """
    global _default
    if isinstance(index, QA):
        qa = index
    else:
        with _lock:
            if index is None:
                if _default is None:
                    _default = QA()
                qa = _default
            else:
                key = Path(index).resolve()
                if key not in _opened:
                    _opened[key] = QA(index, sample=False, create=False)
                qa = _opened[key]
    return qa.answer(question, k=k, history=history, mode=mode, filters=filters)

