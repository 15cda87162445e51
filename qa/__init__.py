"""article-qa: extractive question answering over a collection of articles.

Every answer is a verbatim quote from an indexed article with a citation (article, character
span), or an honest "the articles don't say". Heavy libraries load on first use, not on import.

Example:
    >>> from qa import answer
    >>> answer("Who built Bushehr?").citations[0].title
    'Putin and the Ayatollah: A Bromance to Watch'
"""

from qa.api import QA, answer, sample_corpus
from qa.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IngestError,
    QAError,
    QueryError,
)
from qa.models import (
    Answer,
    Article,
    Chunk,
    Citation,
    IndexSettings,
    IngestReport,
    Passage,
    Span,
    Turn,
)
from qa.reader import ReaderSettings
from qa.retrieval import Filters, RetrievalSettings

__all__ = [
    "QA",
    "Answer",
    "Article",
    "Chunk",
    "Citation",
    "Filters",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexSettings",
    "IngestError",
    "IngestReport",
    "Passage",
    "QAError",
    "QueryError",
    "ReaderSettings",
    "RetrievalSettings",
    "Span",
    "Turn",
    "answer",
    "sample_corpus",
]
