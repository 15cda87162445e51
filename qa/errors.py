"""Errors raised by article-qa.

Every error the package raises on purpose derives from one root, so callers (the CLI, the app)
can catch ``QAError`` and show its message as a sentence instead of a traceback::

    QAError
    ├── IngestError                a file could not be read or parsed (names the file and reason)
    ├── IndexUnusableError         the on-disk index cannot be used as it is
    │   ├── IndexNotFoundError     no index in the directory (build one with `qa ingest`)
    │   ├── IndexMismatchError     built with other settings (schema, chunking) or another embedder
    │   ├── IndexCorruptError      SQLite and FAISS disagree, or a file is damaged
    │   ├── IndexBusyError         another process holds the write lock
    │   └── IndexReadOnlyError     the index can be read, not written (read-only media, permissions)
    ├── QueryError                 the question cannot be asked (empty, too long)
    ├── WriteDeniedError           a write was refused: no admin password, a wrong one, or none set
    └── ConfigError                a setting or ``QA_*`` variable holds a value it cannot take

Bad arguments from programmers stay ``ValueError`` / ``TypeError``.
"""

from __future__ import annotations

from pathlib import Path


class QAError(Exception):
    """Root of every error article-qa raises on purpose."""


class IngestError(QAError):
    """A file could not be ingested; the message names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexUnusableError(QAError):
    """The index directory cannot be used as it is."""


class IndexNotFoundError(IndexUnusableError):
    """The directory holds no index (no manifest)."""


class IndexMismatchError(IndexUnusableError):
    """The index was built with settings or an embedder other than the ones asked for."""


class IndexCorruptError(IndexUnusableError):
    """The index files are damaged or disagree with each other."""


class IndexBusyError(IndexUnusableError):
    """Another process is writing to the index."""


class IndexReadOnlyError(IndexUnusableError):
    """A write was asked of an index this process can only read (read-only media, permissions)."""


class QueryError(QAError):
    """The question cannot be answered as asked (empty, or longer than the limit)."""


class WriteDeniedError(QAError):
    """A write (add, replace, delete) was refused by ``qa.access``; the message says what allows it."""


class ConfigError(QAError, ValueError):
    """A setting (or the environment variable it was read from) holds an unusable value."""


def rebuild_hint(directory: str | Path) -> str:
    """The one sentence every damaged-index message ends with: how to rebuild it."""
    return f"Rebuild the index with `qa ingest PATH --index {directory} --rebuild`."
