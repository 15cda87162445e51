"""article-qa: extractive question answering over a collection of articles.

Every answer is a verbatim quote from an indexed article with a citation (article, character
span), or an honest "the articles don't say". Heavy libraries load on first use, not on import.

The stages, in the order a question meets them (and an article, for the first four)::

    ingest -> chunking -> embedding -> store            (qa.indexing runs them for a write)
    question -> conversation -> embedding -> retrieval -> reader -> cited Answer
                                                        (qa.pipeline.QA runs them for a read)

Extension points are protocols: ``Embedder`` (``qa.embedding``) and ``Extractor``
(``qa.reader``); ``QA(index, embedder=..., extractor=...)`` takes any object that meets them.

Example:
    >>> from qa import answer
    >>> answer("Who built Bushehr?").citations[0].title
    'Putin and the Ayatollah: A Bromance to Watch'
"""

from qa.embedding import BundledEmbedder, Embedder
from qa.errors import (
    ConfigError,
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexReadOnlyError,
    IndexUnusableError,
    IngestError,
    QAError,
    QueryError,
)
from qa.models import (
    Answer,
    Article,
    ArticleInfo,
    Chunk,
    Citation,
    IndexSettings,
    IndexStats,
    IngestedArticle,
    IngestReport,
    Passage,
    Rejection,
    Span,
    Turn,
)
from qa.pipeline import QA, answer, sample_corpus
from qa.reader import BundledExtractor, Extractor, Guess
from qa.retrieval import Filters
from qa.settings import LexicalSettings, ReaderSettings, RetrievalSettings, Settings

__all__ = [
    "QA",
    "Answer",
    "Article",
    "ArticleInfo",
    "BundledEmbedder",
    "BundledExtractor",
    "Chunk",
    "Citation",
    "ConfigError",
    "Embedder",
    "Extractor",
    "Filters",
    "Guess",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexReadOnlyError",
    "IndexSettings",
    "IndexStats",
    "IndexUnusableError",
    "IngestError",
    "IngestReport",
    "IngestedArticle",
    "LexicalSettings",
    "Passage",
    "QAError",
    "QueryError",
    "ReaderSettings",
    "Rejection",
    "RetrievalSettings",
    "Settings",
    "Span",
    "Turn",
    "answer",
    "sample_corpus",
]
