"""Which FAISS generation a read uses: the one in force, or the one its snapshot's SQLite names.

A writer swaps in generation n + 1 after its commit and removes the files of n. A read outside a
snapshot takes the newest generation loaded (never older than SQLite's). A read inside a
snapshot (``Store.snapshot``) takes exactly the generation its SQLite read transaction names, so
the sentences, article text and vectors of one question all come from one committed state. An
older generation stays reachable while any snapshot holds it (a weak map), and is loaded from
disk if its files are still there; if they are gone, the snapshot is retried with a newer state.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

from qa.errors import IndexBusyError, IndexCorruptError, rebuild_hint
from qa.store.files import DATABASE, vector_file
from qa.store.rows import Rows
from qa.store.vectors import KINDS, Generation


class Generations:
    """The vector generations of one index directory, shared by every thread of a process."""

    def __init__(self, directory: Path, rows: Rows) -> None:
        self._directory = directory
        self._rows = rows
        self._swap = threading.Lock()
        self._current: Generation | None = None
        self._alive: weakref.WeakValueDictionary[int, Generation] = weakref.WeakValueDictionary()
        self._pinned = threading.local()

    def now(self) -> Generation:
        """This thread's snapshot's generation, else the newest one (reloaded if a writer moved on).

        Outside a snapshot, generations only grow: vectors newer than the generation just read are
        kept (a writer in this process committed meanwhile, and removed the older files). If a
        writer commits and removes the files of the generation just read before they load, the
        load is retried.
        """
        pinned: Generation | None = getattr(self._pinned, "generation", None)
        if pinned is not None:
            return pinned
        attempts = 5
        while True:
            number = self._rows.generation()
            current = self._current
            if current is not None and current.number >= number:
                return current
            with self._swap:
                if self._current is not None and self._current.number >= number:
                    return self._current
                try:
                    loaded = self._load(number)
                except IndexCorruptError:
                    attempts -= 1
                    if attempts == 0 or self._rows.generation() == number:
                        raise
                    continue
                self.replace(loaded)
                return loaded

    def replace(self, new: Generation) -> None:
        """Put ``new`` in force (a writer's new generation, or one just loaded)."""
        self._alive[new.number] = new
        self._current = new

    @contextlib.contextmanager
    def pinned(self) -> Iterator[Generation]:
        """Make ``now()`` return, in this thread, the generation SQLite names at this moment.

        Call it inside a read transaction, so that SQLite keeps naming that generation.

        Raises:
            IndexBusyError: that generation's files were removed before this process loaded it
                (writers committed twice since); the caller retries with a newer state.
        """
        if getattr(self._pinned, "generation", None) is not None:
            yield self._pinned.generation  # nested: the outer snapshot holds
            return
        self._pinned.generation = self._exactly(self._rows.generation())
        try:
            yield self._pinned.generation
        finally:
            self._pinned.generation = None

    def _exactly(self, number: int) -> Generation:
        found = self._alive.get(number)
        if found is not None:
            return found
        with self._swap:
            found = self._alive.get(number)
            if found is not None:
                return found
            try:
                loaded = self._load(number)
            except IndexCorruptError as e:
                if self._rows.generation() == number and not _gone(self._directory, number):
                    raise
                raise IndexBusyError(f"The index in {self._directory} changed while it was read; "
                                     "ask again.") from e
            self._alive[number] = loaded
            if self._current is None or loaded.number > self._current.number:
                self._current = loaded
            return loaded

    def _load(self, number: int) -> Generation:
        """Generation ``number`` from disk, checked against the row counts of SQLite."""
        loaded = Generation.load(self._directory, number)
        _, chunks, sentences = self._rows.counts()
        if (loaded.chunks.ntotal, loaded.sentences.ntotal) != (chunks, sentences):
            raise IndexCorruptError(
                f"The index in {self._directory} is inconsistent: SQLite ({DATABASE}) holds {chunks} "
                f"chunks and {sentences} sentences, the vector files of generation {number} "
                f"{loaded.chunks.ntotal} and {loaded.sentences.ntotal}. {rebuild_hint(self._directory)}"
            )
        return loaded


def _gone(directory: Path, number: int) -> bool:
    """Whether generation ``number``'s vector files are missing (removed by a later writer)."""
    return not all(vector_file(directory, kind, number).exists() for kind in KINDS)
