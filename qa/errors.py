"""Errors raised by article-qa.

Every error the package raises on purpose derives from one root, so callers (the CLI, the app)
can catch ``QAError`` and show its message as a sentence instead of a traceback::

    QAError
    ├── IngestError            a file could not be read or parsed (names the file and reason)
    ├── IndexError_            the on-disk index is missing, damaged or in use
    │   ├── IndexMismatchError built with other settings (model, dimension, chunking, schema)
    │   ├── IndexCorruptError  SQLite and FAISS disagree, or a file is damaged
    │   └── IndexBusyError     another process holds the write lock
    └── QueryError             the question cannot be asked (empty, too long)

Bad arguments from programmers stay ``ValueError`` / ``TypeError``.
"""

from __future__ import annotations


class QAError(Exception):
    """Root of every error article-qa raises on purpose."""


class IngestError(QAError):
    """A file could not be ingested; the message names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexError_(QAError):  # noqa: N801 - avoids shadowing the builtin IndexError
    """The index directory cannot be used as it is."""


class IndexMismatchError(IndexError_):
    """The index was built with settings other than the ones asked for."""


class IndexCorruptError(IndexError_):
    """The index files are damaged or disagree with each other."""


class IndexBusyError(IndexError_):
    """Another process is writing to the index."""


class QueryError(QAError):
    """The question cannot be answered as asked (empty, or longer than the limit)."""
